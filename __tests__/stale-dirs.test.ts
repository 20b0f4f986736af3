// Exit path 11: per-invocation temp dirs left in /tmp by a previous process
// (crash, timeout: Lambda keeps /tmp) are swept by the first invocation of the next.
// Its own file: the sweep runs once per process (per jest module registry).
// A dir named for this very pid is never swept by name (G1: its orphans go through the
// registry) unless it provably predates this process; cold-start-sweep.test.ts has the rest.
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { existsSync, utimesSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { cleanup } from '../src/index.js'
import { lambdaContext, middyVersions, recordingLogger } from './support/middy.js'

const deadPid = (): number => {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(child.stdout)
}

describe('11. stale per-invocation dirs of an earlier process', () => {
  it('are swept by the next process\'s first invocation; a live process\'s dirs are left alone', async () => {
    const dead = join(tmpdir(), `middy-cleanup-${deadPid()}-0-abcdefghij012345`)
    const ownPid = join(tmpdir(), `middy-cleanup-${process.pid}-${threadId}-zzzzzzzzzzzzzzzz`)
    const earlierIncarnation = join(tmpdir(), `middy-cleanup-${process.pid}-${threadId}-eeeeeeeeeeeeeeee`)
    const live = join(tmpdir(), `middy-cleanup-${process.ppid}-0-livelivelive0000`)
    const unrelated = join(tmpdir(), 'middy-cleanup-not-ours')
    const all = [dead, ownPid, earlierIncarnation, live, unrelated]
    for (const dir of all) {
      await mkdir(join(dir, 'sub'), { recursive: true })
      await writeFile(join(dir, 'sub', 'big.bin'), 'x'.repeat(1000))
    }
    const hourAgo = new Date(Date.now() - 3_600_000)
    utimesSync(earlierIncarnation, hourAgo, hourAgo) // last written before this process started
    try {
      const logger = recordingLogger()
      const handler = middyVersions[2]!.middy().use(cleanup({ logger })).handler(async () => 'ok')
      await expect(handler({}, lambdaContext())).resolves.toBe('ok')
      expect(existsSync(dead)).toBe(false)
      expect(existsSync(earlierIncarnation)).toBe(false)
      expect(existsSync(ownPid)).toBe(true)
      expect(existsSync(live)).toBe(true)
      expect(existsSync(unrelated)).toBe(true)
      // at least our 2: other test files running beside this one share os.tmpdir() and may
      // leave dirs of their own dead children for this sweep too
      const removals = logger.lines.map((l) => /removed (\d+) per-invocation temp dir/.exec(l.message)).filter((m) => m !== null)
      expect(removals).toHaveLength(1)
      expect(Number(removals[0]![1])).toBeGreaterThanOrEqual(2)
    } finally {
      for (const dir of all) await rm(dir, { recursive: true, force: true })
    }
  })
})
