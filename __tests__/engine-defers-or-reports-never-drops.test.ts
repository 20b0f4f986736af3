// G3 and G6, engine level: runDisposal releases LIFO with disposers as barriers, and what it
// cannot finish it defers (to the leftovers list, in declaration order, using no attempt)
// or reports — given up only after real attempts, with its reason. Never dropped. The
// edges the mutation run (npm run mutation) found untested: sync, thenable and hanging
// disposers with and without time, a deleter's abort error after the deadline, failure
// entries it was not asked about, a deleter that forgets a resource, an answer moments
// after the deadline, and the per-invocation dir freed when its last journaled resource
// is given up. Pure engine logic with in-memory deleters (the property is about the
// engine's bookkeeping, not a service) and the real file system.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addToPlan, emptyPlan, runDisposal } from '../src/disposal.js'
import { CleanupDeadlineError } from '../src/errors.js'
import type { CleanupReport } from '../src/report.js'
import { MAX_ATTEMPTS, type DeleteContext, type DeleteOutcome, type DisposerItem, type PathItem, type RemoteDeleter, type RemoteItem, type RemoteResource, type TrackedItem, journaledIn } from '../src/scope-items.js'

const quiet = { warn: () => {}, error: () => {} }
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const defer = (id: string, run: () => unknown): DisposerItem => ({ type: 'disposer', kind: 'defer', id, run, attempts: 0 })
const remote = (deleter: RemoteDeleter<any>, id: string): RemoteItem => ({ type: 'remote', kind: deleter.kind, id, deleter, resource: { kind: deleter.kind, id }, attempts: 0 })
const memory = (deleted: string[]): RemoteDeleter<RemoteResource> => ({
  kind: 'memory',
  delete: async (resources, { countRequests }) => { countRequests(1); deleted.push(...resources.map((r) => r.id)); return { cleaned: resources, failed: [] } },
})
/** A deleter whose every call is `answer`. */
const deleterOf = (answer: (resources: RemoteResource[], context: DeleteContext) => Promise<DeleteOutcome<RemoteResource>>): RemoteDeleter<RemoteResource> => ({ kind: 'memory', delete: answer })

const runOnce = async (items: TrackedItem[], budgetMs: number): Promise<{ report: CleanupReport, later: TrackedItem[] }> => {
  const work = emptyPlan()
  for (const item of items) addToPlan(work, item)
  const later: TrackedItem[] = []
  const report = await runDisposal(work, { exitPath: 'leftovers', budgetMs, logger: quiet, retryLater: (i) => later.push(i) })
  return { report, later }
}
const runUntilSettled = async (items: TrackedItem[], budgetMs: number, max: number): Promise<CleanupReport[]> => {
  const reports: CleanupReport[] = []
  let pending = items
  for (let i = 0; i < max && pending.length > 0; i++) {
    const { report, later } = await runOnce(pending, budgetMs)
    reports.push(report)
    pending = later
  }
  return reports
}
const reasons = (report: CleanupReport): Array<[string, string, boolean | undefined]> => report.failed.map((f) => [f.id, f.error.message, f.retrying])

let base: string
beforeAll(async () => { base = await mkdtemp(join(tmpdir(), 'mc-engine-units-')) })
afterAll(async () => { await rm(base, { recursive: true, force: true }) })
let n = 0
const file = (): PathItem => {
  const real = join(base, `f${++n}`)
  writeFileSync(real, 'x')
  return { type: 'path', kind: 'path', id: real, real, roots: [base], attempts: 0, covers: 1 }
}

describe('disposers are barriers, released LIFO, each once', () => {
  it('a sync disposer (returning undefined, null, a value) is released; a throwing one is given up with its reason; the rest still runs', async () => {
    const ran: string[] = []
    const { report, later } = await runOnce([
      defer('d1', () => { ran.push('d1') }),
      defer('d2', () => { ran.push('d2'); return null }),
      defer('d3', () => { ran.push('d3'); return 42 }),
      defer('d4', () => { ran.push('d4'); throw new Error('flush failed') }),
    ], 5000)
    expect(ran).toEqual(['d4', 'd3', 'd2', 'd1'])
    expect(report).toMatchObject({ resources: 4, cleaned: 3, leftovers: 0, deferred: 0 })
    expect(reasons(report)).toEqual([['d4', 'flush failed', undefined]])
    expect(later).toEqual([])
  })

  it('a thenable (promise, plain object, function with then) is awaited before anything declared earlier is released', async () => {
    const events: string[] = []
    const thenable = <T extends object>(target: T, name: string): T => Object.assign(target, {
      then (resolve: () => void) { events.push(`${name} awaited`); void turn().then(turn).then(() => { events.push(`${name} settled`); resolve() }) },
    })
    await runOnce([
      defer('first', () => { events.push('first') }),
      defer('fn', () => thenable(() => {}, 'fn')),
      defer('object', () => thenable({}, 'object')),
      defer('promise', async () => { await turn(); events.push('promise settled') }),
    ], 5000)
    expect(events).toEqual(['promise settled', 'object awaited', 'object settled', 'fn awaited', 'fn settled', 'first'])
  })

  it('an async disposer that rejects is given up with its reason; what was declared before it is still released', async () => {
    const ran: string[] = []
    const { report, later } = await runOnce([defer('before', () => { ran.push('before') }), defer('rejects', async () => { throw new Error('close failed') })], 5000)
    expect(ran).toEqual(['before'])
    expect(report).toMatchObject({ resources: 2, cleaned: 1 })
    expect(reasons(report)).toEqual([['rejects', 'close failed', undefined]])
    expect(later).toEqual([])
  })

  it('a disposer still running at the deadline is given up (it never runs twice); what was declared before it is deferred, not dropped', async () => {
    const deleted: string[] = []
    const p = file()
    const r = remote(memory(deleted), 'memory://before-the-hang')
    let runs = 0
    const hang = defer('hangs', () => { runs++; return new Promise(() => {}) })
    const { report, later } = await runOnce([p, r, hang], 30)
    expect(runs).toBe(1)
    expect(report).toMatchObject({ resources: 3, cleaned: 0, leftovers: 2, deferred: 2 })
    expect(report.failed.map((f) => [f.id, f.error.name, f.retrying])).toEqual([
      ['hangs', 'CleanupDeadlineError', undefined], [p.id, 'CleanupDeadlineError', true], [r.id, 'CleanupDeadlineError', true],
    ])
    expect(later).toEqual([p, r]) // declaration order, no attempt used
    expect([p.attempts, r.attempts]).toEqual([0, 0])
    expect(existsSync(p.real)).toBe(true)
    expect(deleted).toEqual([])
  })

  it('with no time left a disposer is still started: one that settles within a turn is released, one that rejects or hangs is given up; what came before is deferred', async () => {
    const p1 = file()
    const quick = await runOnce([p1, defer('quick', async () => {}), defer('sync', () => {})], 0)
    expect(quick.report).toMatchObject({ resources: 3, cleaned: 2, leftovers: 1, deferred: 1 })
    expect(quick.later).toEqual([p1])
    const rejects = await runOnce([defer('rejects', async () => { throw new Error('late close failed') })], 0)
    expect(reasons(rejects.report)).toEqual([['rejects', 'late close failed', undefined]])
    expect(rejects.later).toEqual([])
    const p2 = file()
    const hangs = await runOnce([p2, defer('hangs', () => new Promise(() => {}))], 0)
    expect(hangs.report.failed.map((f) => [f.id, f.error.name, f.retrying])).toEqual([['hangs', 'CleanupDeadlineError', undefined], [p2.id, 'CleanupDeadlineError', true]])
    expect(hangs.report.deferred).toBe(1)
    expect(hangs.later).toEqual([p2])
    expect(existsSync(p2.real)).toBe(true)
  })
})

describe('attempts: only a request sent uses one', () => {
  const untilAborted = (signal: AbortSignal): Promise<void> => new Promise((resolve) => { signal.addEventListener('abort', () => resolve(), { once: true }) })

  it('a deleter that throws once the budget is spent, having sent nothing, uses no attempt', async () => {
    const item = remote(deleterOf(async (_r, { signal }) => { await untilAborted(signal); throw new Error('socket hang up') }), 'memory://a')
    const reports = await runUntilSettled([item], 20, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(MAX_ATTEMPTS + 1) // never given up
    expect(item.attempts).toBe(0)
    expect(reports.every((r) => r.failed[0]!.retrying === true)).toBe(true)
  })

  // What the SDK's send() rejects with once the signal fired, reported by a deleter that answers in time.
  const abortError = (): Error => Object.assign(new Error('Request aborted'), { name: 'AbortError' })
  const answersAfterAbort = (error: (signal: AbortSignal) => unknown) => deleterOf(async (resources, { signal }) => {
    await untilAborted(signal)
    return { cleaned: [], failed: resources.map((resource) => ({ resource, error: error(signal), retryable: true })) }
  })

  it.each([
    ['the deadline\'s own reason', (signal: AbortSignal) => signal.reason],
    ['an AbortError', abortError],
  ])('a failure entry with %s once the budget is spent, nothing sent: no attempt used', async (_what, error) => {
    const item = remote(answersAfterAbort(error), 'memory://aborted')
    const reports = await runUntilSettled([item], 20, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(MAX_ATTEMPTS + 1)
    expect(item.attempts).toBe(0)
  })

  it('a failure entry with another error after the deadline, or an AbortError while time remains, is a real attempt', async () => {
    const late = remote(answersAfterAbort(() => new Error('socket hang up')), 'memory://late')
    expect(await runUntilSettled([late], 20, MAX_ATTEMPTS + 1)).toHaveLength(MAX_ATTEMPTS)
    expect(late.attempts).toBe(MAX_ATTEMPTS)
    const early = remote(deleterOf(async (resources) => ({ cleaned: [], failed: resources.map((resource) => ({ resource, error: abortError(), retryable: true })) })), 'memory://early')
    const reports = await runUntilSettled([early], 5000, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(MAX_ATTEMPTS)
    expect(reasons(reports.at(-1)!)).toEqual([['memory://early', 'Request aborted', undefined]])
  })

  it('a failure entry carrying the deadline error uses no attempt when nothing was sent, one when a request was counted', async () => {
    const answer = (count: boolean) => deleterOf(async (resources, { countRequests }) => {
      if (count) countRequests(1)
      return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new CleanupDeadlineError(20), retryable: true })) }
    })
    const unsent = remote(answer(false), 'memory://unsent')
    expect(await runUntilSettled([unsent], 5000, MAX_ATTEMPTS + 1)).toHaveLength(MAX_ATTEMPTS + 1)
    expect(unsent.attempts).toBe(0)
    const sent = remote(answer(true), 'memory://sent')
    expect(await runUntilSettled([sent], 5000, MAX_ATTEMPTS + 1)).toHaveLength(MAX_ATTEMPTS)
    expect(sent.attempts).toBe(MAX_ATTEMPTS)
  })

  it('a non-retryable failure is given up at once, with its reason', async () => {
    const item = remote(deleterOf(async (resources, { countRequests }) => {
      countRequests(1)
      return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new Error('AccessDenied'), retryable: false })) }
    }), 'memory://denied')
    const { report, later } = await runOnce([item], 5000)
    expect(reasons(report)).toEqual([['memory://denied', 'AccessDenied', undefined]])
    expect(report.leftovers).toBe(0)
    expect(later).toEqual([])
  })
})

describe('what a deleter answers: only about what it was given', () => {
  it('a failure entry for a resource it was not given, or null, is ignored; the others keep their own reason', async () => {
    const item = remote(deleterOf(async (resources, { countRequests }) => {
      countRequests(1)
      return { cleaned: [{ kind: 'memory', id: 'stranger' }], failed: [null, { resource: { kind: 'memory', id: 'stranger' }, error: new Error('not yours'), retryable: true }, { resource: resources[0]!, error: new Error('real reason'), retryable: false }] } as never
    }), 'memory://mine')
    const { report } = await runOnce([item], 5000)
    expect(report).toMatchObject({ resources: 1, cleaned: 0 })
    expect(reasons(report)).toEqual([['memory://mine', 'real reason', undefined]])
  })

  it('a resource it does not report is retried; given up after real attempts only when it sent requests (countRequests or outcome.requests)', async () => {
    const forgets = (requests: number) => deleterOf(async () => ({ cleaned: [], failed: [], requests }))
    const sent = remote(forgets(1), 'memory://sent')
    const reports = await runUntilSettled([sent], 5000, MAX_ATTEMPTS + 1)
    expect(reports).toHaveLength(MAX_ATTEMPTS)
    expect(reports.map((r) => r.failed[0]!.retrying)).toEqual([...Array(MAX_ATTEMPTS - 1).fill(true), undefined])
    expect(reports[0]!.failed[0]!.error.message).toBe("deleter 'memory' did not report this resource")
    expect(reports.map((r) => r.requests)).toEqual(Array(MAX_ATTEMPTS).fill(1))
    for (const requests of [0, -2]) {
      const unsent = remote(forgets(requests), `memory://unsent${requests}`)
      const quiet = await runUntilSettled([unsent], 5000, MAX_ATTEMPTS + 1)
      expect(quiet).toHaveLength(MAX_ATTEMPTS + 1)
      expect(unsent.attempts).toBe(0)
      expect(quiet.every((r) => r.requests === 0)).toBe(true) // a negative count is not a count
    }
  })

  it('an answer that comes moments after the deadline is taken: what it confirmed is cleaned, not failed', async () => {
    const item = remote(deleterOf(async (resources, { signal }) => {
      await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { setImmediate(resolve) }, { once: true }) })
      return { cleaned: resources, failed: [] }
    }), 'memory://late-answer')
    const { report, later } = await runOnce([item], 20)
    expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
    expect(later).toEqual([])
  })
})

describe('the per-invocation dir holds the journal until its last journaled resource settles', () => {
  const invocationDir = (): PathItem => {
    const real = join(base, `middy-cleanup-${++n}`)
    mkdirSync(real)
    writeFileSync(join(real, '.journal'), '{}\n')
    return { type: 'path', kind: 'path', id: `dir:${real}`, real, roots: [base], attempts: 0, covers: 0 }
  }

  it('kept while a journaled resource is retried; removed by the run that gives it up after real attempts', async () => {
    const item = remote(deleterOf(async (resources, { countRequests }) => {
      countRequests(1)
      return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new Error('SlowDown'), retryable: true })) }
    }), 'memory://journaled')
    const dir = invocationDir()
    journaledIn(dir, [item])
    let { report, later } = await runOnce([item, dir], 5000)
    expect(later).toEqual([item])
    expect(existsSync(join(dir.real, '.journal'))).toBe(true)
    expect(report.failed.map((f) => f.id)).toEqual([item.id])
    ;({ later } = await runOnce(later, 5000))
    expect(existsSync(join(dir.real, '.journal'))).toBe(true)
    ;({ report, later } = await runOnce(later, 5000))
    expect(reasons(report)).toEqual([[item.id, 'SlowDown', undefined]])
    expect(later).toEqual([])
    expect(existsSync(dir.real)).toBe(false)
  })

  it('failing to remove it is bookkeeping (not a reported failure); a declared path failing is reported; with no time left it is deferred', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'mc-engine-outside-'))
    try {
      const dir: PathItem = { ...invocationDir(), roots: [outside] } // refused by removePath
      const declared: PathItem = { ...file(), roots: [outside] }
      const { report } = await runOnce([declared, dir], 5000)
      expect(report.failed.map((f) => [f.id, f.error.name])).toEqual([[declared.id, 'CleanupDeclarationError']])
      expect(existsSync(dir.real)).toBe(true)
      const starved = invocationDir()
      const { report: r0, later } = await runOnce([starved], 0)
      expect(later).toEqual([starved])
      expect(r0.failed).toEqual([])
      expect(existsSync(starved.real)).toBe(true)
    } finally { await rm(outside, { recursive: true, force: true }) }
  })
})
