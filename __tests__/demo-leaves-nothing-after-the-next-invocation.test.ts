// `npm run demo` is the README's first command: run it as a user would and read its
// table, so the demo cannot rot. Every path must leave nothing after the next invocation.
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

describe('npm run demo', () => {
  it('runs every exit path on the embedded servers and leaves nothing behind', () => {
    const root = fileURLToPath(new URL('..', import.meta.url))
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'demo/demo.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
    expect(run.status).toBe(0)
    const rows = run.stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| exit path'))
    expect(rows.length).toBeGreaterThanOrEqual(9)
    for (const row of rows) {
      const [path, , declared, , leftAfterNext, requests] = row.split('|').slice(1, -1).map((c) => c.trim())
      expect([path, Number(declared) > 0, leftAfterNext, Number(requests) > 0]).toEqual([path, true, '0', true])
    }
  })
})
