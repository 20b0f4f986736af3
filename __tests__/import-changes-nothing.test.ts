// Importing the package changes nothing in the process: no globalThis property (the
// process-wide slots are created on first use), no listener, no timer, no handle. So
// `"sideEffects": false` is true, and a bundler that drops an unused import changes nothing.
// A real fresh process, as a Lambda cold start: jest's module registry would hide what
// an earlier test file created.
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

const script = `
const seen = () => ({
  globals: [...Object.getOwnPropertyNames(globalThis), ...Object.getOwnPropertySymbols(globalThis).map(String)],
  listeners: ['SIGTERM', 'SIGINT', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection'].map((e) => process.listenerCount(e)),
  resources: process.getActiveResourcesInfo(),
})
const before = seen()
const m = await import(${JSON.stringify(entry)})
const after = seen()
// the import worked: its first use creates the slots, which proves this script can see them
m.cleanup()
const used = seen()
console.log(JSON.stringify({ before, after, used }))
`

describe('importing middy-cleanup in a fresh process', () => {
  it('adds no globalThis property, listener or handle; the first cleanup() call creates its slots', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    const { before, after, used } = JSON.parse(r.stdout) as Record<'before' | 'after' | 'used', { globals: string[], listeners: number[], resources: string[] }>
    expect(after.globals.filter((g) => !before.globals.includes(g))).toEqual([])
    expect(after.listeners).toEqual(before.listeners)
    // tsx's loader settles its own requests meanwhile: only what the import added counts
    const added = [...after.resources]
    for (const r of before.resources) { const i = added.indexOf(r); if (i >= 0) added.splice(i, 1) }
    expect(added).toEqual([])
    expect(used.globals.filter((g) => !before.globals.includes(g))).toEqual(expect.arrayContaining(['Symbol(middy-cleanup.flush)']))
  })
})
