// G4 (and the budget part of G3), middleware level: cleanup's after/onError settle to
// nothing — never a value (that would replace Middy's response or end its onError chain),
// never a rejection —, within the invocation's budget, whatever a disposer, a deleter,
// onReport or the logger does; the early-return dispose function never rejects; the
// budget is the remaining time minus safetyMarginMs, capped by timeoutMs, and timeoutMs
// when the context cannot tell. outcome-is-the-handlers.test.ts proves the outcome end to
// end (fast-check over Middy 5/6/7); these call the middleware directly or through real
// Middy with one fault at a time, so the mutation run (npm run mutation) can afford them
// per mutant. The failing hooks are test doubles: faults of user code, no server makes them.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import middy from '@middy/core'
import { existsSync } from 'node:fs'
import { cleanup, type CleanupReport, type CleanupScope, type RemoteDeleter, type RemoteResource } from '../src/index.js'
import { INTERNAL_DISPOSE_KEY } from './support/internals.js'
import { lambdaContext, recordingLogger } from './support/middy.js'

const throwing = { warn: () => { throw new Error('logger down') }, error: () => { throw new Error('logger down') }, debug: () => { throw new Error('logger down') } }
const request = (context: unknown = lambdaContext()): any => ({ event: {}, context, response: undefined, error: undefined, internal: {} })

/** A deleter that records the budget it was given (the deadline's budgetMs), then deletes. */
const budgetProbe = (seen: number[]): RemoteDeleter<RemoteResource> => ({
  kind: 'memory',
  delete: async (resources, { deadline }) => { seen.push(deadline.budgetMs); return { cleaned: resources, failed: [] } },
})

// The first invocation of a process starts the sweep of stale dirs in the background (and
// waits for it): done here, so each test sees a warm process.
// The throwing logger is said once on console.error (by design): kept out of the test output.
beforeAll(async () => {
  jest.spyOn(console, 'error').mockImplementation(() => {})
  const mw = cleanup({ logger: false })
  const r = request()
  mw.before(r)
  await mw.after(r)
})
afterAll(() => { jest.restoreAllMocks() })

describe('after and onError resolve to nothing, never reject', () => {
  it('nothing declared: both return undefined at once (no promise), and the scope is ended', async () => {
    const mw = cleanup({ logger: false })
    const r = request()
    mw.before(r)
    const scope = r.context.cleanup as CleanupScope
    expect(scope).toBe(r.context.cleanup)
    expect(mw.after(r)).toBeUndefined()
    expect(scope.state).toBe('disposed')
    const e = request()
    mw.before(e)
    e.error = new Error('x')
    expect(mw.onError(e)).toBeUndefined()
    expect((e.context.cleanup as CleanupScope).state).toBe('disposed')
  })

  it('with work, a throwing logger, a throwing onReport and a failing disposer: a promise of undefined, the work done', async () => {
    const reports: CleanupReport[] = []
    const mw = cleanup({ logger: throwing, onReport: (report) => { reports.push(report); throw new Error('onReport down') } })
    for (const path of ['after', 'onError'] as const) {
      const r = request()
      mw.before(r)
      const file = await r.context.cleanup.tempFile()
      r.context.cleanup.defer(() => { throw new Error('disposer failed') })
      if (path === 'onError') r.error = new Error('handler failed')
      const settled = mw[path](r)
      expect(settled).toBeInstanceOf(Promise)
      await expect(settled).resolves.toBeUndefined()
      expect(existsSync(file)).toBe(false)
    }
    expect(reports.map((rep) => [rep.exitPath, rep.resources, rep.cleaned, rep.failed.length])).toEqual([['success', 2, 1, 1], ['error', 2, 1, 1]])
  })

  it('onError takes a TimeoutError for the timeout exit path, anything else (or nothing) for error', async () => {
    const reports: CleanupReport[] = []
    const mw = cleanup({ logger: false, onReport: (report) => { reports.push(report) } })
    for (const error of [Object.assign(new Error('late'), { name: 'TimeoutError' }), new Error('x'), null, 'a string']) {
      const r = request()
      mw.before(r)
      r.context.cleanup.defer(() => {})
      r.error = error
      await expect(mw.onError(r)).resolves.toBeUndefined()
    }
    expect(reports.map((rep) => rep.exitPath)).toEqual(['timeout', 'error', 'error', 'error'])
  })

  it('a disposer that never settles: after still settles (the budget, plus half the safety margin) and returns the handler\'s value through Middy', async () => {
    const logger = recordingLogger()
    const value = { ok: true }
    const handler = middy()
      .use(cleanup({ logger, timeoutMs: 30, safetyMarginMs: 20 }))
      .handler(async (_e: unknown, context: any) => {
        context.cleanup.defer(() => new Promise(() => {}))
        return value
      })
    await expect(handler({}, lambdaContext())).resolves.toBe(value)
  })

  it('failOnCleanupError: a CleanupError on the success path when something failed, never on the error path, nothing when all was cleaned', async () => {
    const mw = cleanup({ logger: false, failOnCleanupError: true })
    const ok = request()
    mw.before(ok)
    ok.context.cleanup.defer(() => {})
    await expect(mw.after(ok)).resolves.toBeUndefined()
    const failed = request()
    mw.before(failed)
    failed.context.cleanup.defer(() => { throw new Error('disposer failed') })
    await expect(mw.after(failed)).rejects.toMatchObject({ name: 'CleanupError' })
    const onError = request()
    mw.before(onError)
    onError.context.cleanup.defer(() => { throw new Error('disposer failed') })
    onError.error = new Error('handler failed')
    await expect(mw.onError(onError)).resolves.toBeUndefined()
  })

  it('the early-return dispose function cleans now, resolves to the report, and never rejects', async () => {
    const mw = cleanup({ logger: throwing })
    const r = request()
    mw.before(r)
    const file = await r.context.cleanup.tempFile()
    r.context.cleanup.defer(() => { throw new Error('disposer failed') })
    const report = await (r.internal[INTERNAL_DISPOSE_KEY] as () => Promise<CleanupReport>)()
    expect(report).toMatchObject({ exitPath: 'early-return', resources: 2, cleaned: 1 })
    expect(existsSync(file)).toBe(false)
    // a request whose context cannot tell the time: the budget is timeoutMs, still no rejection
    const odd = request({ awsRequestId: 'odd' })
    mw.before(odd)
    await expect((odd.internal[INTERNAL_DISPOSE_KEY] as () => Promise<CleanupReport>)()).resolves.toMatchObject({ exitPath: 'early-return' })
  })

  it('a request without internal (a harness calling the middleware by hand) is fine', async () => {
    const mw = cleanup({ logger: false })
    const r = { event: {}, context: lambdaContext() } as any
    expect(() => mw.before(r)).not.toThrow()
    const file = await r.context.cleanup.tempFile()
    await expect(mw.after(r)).resolves.toBeUndefined()
    expect(existsSync(file)).toBe(false)
  })
})

describe('the budget: remaining time minus safetyMarginMs, capped by timeoutMs', () => {
  const budgetOf = async (context: unknown, options: { timeoutMs: number, safetyMarginMs: number }): Promise<{ budget: number | undefined, warnings: string[] }> => {
    const logger = recordingLogger()
    const seen: number[] = []
    const mw = cleanup({ logger, ...options })
    const r = request(context)
    mw.before(r)
    r.context.cleanup.trackRemote(budgetProbe(seen), { kind: 'memory', id: 'memory://budget' })
    await mw.after(r)
    return { budget: seen[0], warnings: logger.lines.filter((l) => l.level === 'warn').map((l) => l.message) }
  }
  const fixed = (ms: unknown): any => ({ awsRequestId: `fixed-${String(ms)}`, getRemainingTimeInMillis: () => ms })

  it('remaining 600 ms, margin 100, timeoutMs 1000: 500 ms', async () => {
    expect((await budgetOf(fixed(600), { timeoutMs: 1000, safetyMarginMs: 100 })).budget).toBe(500)
  })

  it('remaining 5000 ms, margin 100, timeoutMs 1000: 1000 ms', async () => {
    expect((await budgetOf(fixed(5000), { timeoutMs: 1000, safetyMarginMs: 100 })).budget).toBe(1000)
  })

  it('a context without getRemainingTimeInMillis: timeoutMs, silently', async () => {
    expect(await budgetOf({ awsRequestId: 'no-clock' }, { timeoutMs: 700, safetyMarginMs: 100 })).toEqual({ budget: 700, warnings: [] })
  })

  // One warning per process for a context that cannot tell the time (the first one here).
  it('a getRemainingTimeInMillis() that returns NaN, a string or throws: timeoutMs, and the first says so', async () => {
    const nan = await budgetOf(fixed(Number.NaN), { timeoutMs: 700, safetyMarginMs: 100 })
    expect(nan.budget).toBe(700)
    expect(nan.warnings).toEqual(['cleanup: context.getRemainingTimeInMillis() returned NaN, not a number of milliseconds; cleanup uses its timeoutMs (700 ms) as budget.'])
    expect(await budgetOf(fixed('500'), { timeoutMs: 700, safetyMarginMs: 100 })).toEqual({ budget: 700, warnings: [] })
    const throws = { awsRequestId: 'throws', getRemainingTimeInMillis: () => { throw new Error('no clock') } }
    expect(await budgetOf(throws, { timeoutMs: 700, safetyMarginMs: 100 })).toEqual({ budget: 700, warnings: [] })
  })
})
