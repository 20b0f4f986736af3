// G3, file-system part: a path whose removal fails with a transient error (EBUSY,
// ENOTEMPTY, EMFILE, ENFILE, EAGAIN) or is still running at the deadline is retried later,
// and given up only after MAX_ATTEMPTS real attempts, with its reason; any other error is
// given up at once, with its reason. node:fs/promises' rm is mocked for the declared paths
// only: these are faults the file system gives only under conditions a test cannot set up
// without privileges or races (a mount point, descriptor exhaustion, a concurrent writer);
// every other file-system call is real.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CleanupReport } from '../src/report.js'
import { MAX_ATTEMPTS, type PathItem, type TrackedItem } from '../src/scope-items.js'

const actual = await import('node:fs/promises')
/** Declared paths whose rm() fails this way; every other path is removed for real. */
const faults = new Map<string, () => Promise<void>>()
jest.unstable_mockModule('node:fs/promises', () => ({
  ...actual,
  default: actual.default,
  rm: (path: string, options?: Parameters<typeof actual.rm>[1]) => faults.get(path)?.() ?? actual.rm(path, options),
}))
const { addToPlan, emptyPlan, runDisposal } = await import('../src/disposal.js')

const quiet = { warn: () => {}, error: () => {} }
const fsError = (code: string): Error => Object.assign(new Error(`${code}: simulated, rm '…'`), { code })

let base: string
beforeAll(async () => { base = await mkdtemp(join(tmpdir(), 'mc-transient-')) })
afterAll(async () => { faults.clear(); await actual.rm(base, { recursive: true, force: true }) })
let n = 0
const declared = (): PathItem => {
  const real = join(base, `f${++n}`)
  writeFileSync(real, 'x')
  return { type: 'path', kind: 'path', id: real, real, roots: [base], attempts: 0, covers: 1 }
}

const runUntilSettled = async (items: TrackedItem[], budgetMs: number, max: number): Promise<CleanupReport[]> => {
  const reports: CleanupReport[] = []
  let pending = items
  for (let i = 0; i < max && pending.length > 0; i++) {
    const work = emptyPlan()
    for (const item of pending) addToPlan(work, item)
    const next: TrackedItem[] = []
    reports.push(await runDisposal(work, { exitPath: 'leftovers', budgetMs, logger: quiet, retryLater: (x) => next.push(x) }))
    pending = next
  }
  return reports
}

describe('removing a declared path', () => {
  it.each(['EBUSY', 'ENOTEMPTY', 'EMFILE', 'ENFILE', 'EAGAIN'])('%s: retried, given up after the real attempts with its reason', async (code) => {
    const p = declared()
    faults.set(p.real, () => Promise.reject(fsError(code)))
    const reports = await runUntilSettled([p], 5000, MAX_ATTEMPTS + 1)
    expect(reports.map((r) => r.failed.map((f) => [f.id, f.retrying]))).toEqual([...Array(MAX_ATTEMPTS - 1).fill([[p.id, true]]), [[p.id, undefined]]])
    expect(reports.at(-1)!.failed[0]!.error).toMatchObject({ code, message: expect.stringContaining(code) })
    expect(p.attempts).toBe(MAX_ATTEMPTS)
  })

  it.each(['EACCES', 'EPERM', 'EROFS'])('%s: given up at once, with its reason', async (code) => {
    const p = declared()
    faults.set(p.real, () => Promise.reject(fsError(code)))
    const reports = await runUntilSettled([p], 5000, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(1)
    expect(reports[0]!.failed).toEqual([{ kind: 'path', id: p.id, error: expect.objectContaining({ code }) }])
  })

  it('an error whose code cannot even be read is not transient: given up at once', async () => {
    const p = declared()
    const hostile = new Error('strange')
    Object.defineProperty(hostile, 'code', { get () { throw new Error('no code for you') } })
    faults.set(p.real, () => Promise.reject(hostile))
    const reports = await runUntilSettled([p], 5000, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(1)
    expect(reports[0]!.failed.map((f) => [f.id, f.retrying])).toEqual([[p.id, undefined]])
  })

  it('a removal still running at the deadline is retried (the attempt counts), and removed once it can be', async () => {
    const p = declared()
    let hangs = true
    faults.set(p.real, () => hangs ? new Promise<void>(() => {}) : actual.rm(p.real, { force: true }))
    const first = await runUntilSettled([p], 30, 1)
    expect(first[0]!.failed.map((f) => [f.id, f.error.name, f.retrying])).toEqual([[p.id, 'CleanupDeadlineError', true]])
    expect(p.attempts).toBe(1)
    hangs = false
    const second = await runUntilSettled([p], 5000, 1)
    expect(second[0]).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
  })
})
