import { enterScope } from './context.js'
import { leakDetectorFor } from './leaks/detector.js'
import { CleanupError, describeError } from './errors.js'
import { TIGHT_BUDGET_MS, TIMED_OUT, budgetFor, streamCapFor, waitAtMost } from './middleware-budget.js'
import { type CleanupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { noteInvocationStart, requestIdOf } from './end-proof.js'
import { registerShutdownFlush, warnOnce } from './process-state.js'
import { type CleanupReport, type ExitPath, emptyReport } from './report.js'
import { type CleanupScope, coreOf, invocationScope } from './scope.js'
import type { ScopeCore } from './scope-core.js'
import { type BodyEnd, type Hold, holdUntilStreamed } from './streaming.js'
import { flushLeftovers, hasPendingWork, runningSweep, startBackgroundSweep } from './sweep.js'

/**
 * Lambda's `Context`, written out structurally so `@types/aws-lambda` stays
 * optional, and complete so Middy 5/6's `MiddlewareObj` constraint accepts it.
 *
 * @example
 * ```ts
 * // a handler typed without @types/aws-lambda
 * const handler = async (event: unknown, context: LambdaContextLike & CleanupContext) => {
 *   const file = await context.cleanup.tempFile({ suffix: '.csv' })
 *   console.log(context.awsRequestId, context.getRemainingTimeInMillis())
 * }
 * ```
 */
export interface LambdaContextLike {
  callbackWaitsForEmptyEventLoop: boolean
  functionName: string
  functionVersion: string
  invokedFunctionArn: string
  memoryLimitInMB: string
  awsRequestId: string
  logGroupName: string
  logStreamName: string
  getRemainingTimeInMillis: () => number
  done: (error?: Error, result?: any) => void
  fail: (error: Error | string) => void
  succeed: (messageOrObject: any) => void
}

/**
 * What `.use(cleanup())` adds to the handler's `context`: `context.cleanup`.
 *
 * @example
 * ```ts
 * const handler = async (event: unknown, context: Context & CleanupContext) => {
 *   const file = await context.cleanup.tempFile()
 * }
 * ```
 */
export interface CleanupContext {
  cleanup: CleanupScope
}

/**
 * The Middy request as cleanup sees it (structural: works with Middy 5, 6 and 7).
 *
 * @example
 * ```ts
 * // a middleware registered after cleanup() can declare resources in its own `before`
 * const download = {
 *   before: async (request: CleanupRequest) => {
 *     request.event.localPath = await request.context.cleanup.tempFile({ suffix: '.zip' })
 *   },
 * }
 * export const handler = middy().use(cleanup()).use(download).handler(async (event) => {})
 * ```
 */
export interface CleanupRequest<TContext = LambdaContextLike & CleanupContext> {
  event: any
  context: TContext
  response: any
  error: any
  internal: any
  earlyResponse?: any
}

/**
 * The middleware object `cleanup()` returns. Its context type is what makes
 * `context.cleanup` typed in the handler after `.use(cleanup())`.
 *
 * @example
 * ```ts
 * const cleanupMiddleware: CleanupMiddleware = cleanup({ timeoutMs: 1000 })
 * export const handler = middy().use(cleanupMiddleware).handler(async (event, context) => {
 *   await context.cleanup.tempDir()
 * })
 * ```
 */
export interface CleanupMiddleware {
  before: (request: CleanupRequest) => void
  after: (request: CleanupRequest) => Promise<void> | undefined
  onError: (request: CleanupRequest) => Promise<void> | undefined
}

/**
 * @internal Key on `request.internal` of a function that cleans the invocation now
 * (exit path `early-return`) and resolves, never rejects, to its {@link CleanupReport}:
 * what `cleanOnEarlyReturn` calls when the middleware it wraps returns early.
 *
 * @example
 * ```ts
 * await request.internal[INTERNAL_DISPOSE_KEY]() // clean now, not at the next invocation
 * ```
 */
export const INTERNAL_DISPOSE_KEY = 'middy-cleanup.dispose'

const SCOPE = Symbol('middy-cleanup.scope')
const HOLD = Symbol('middy-cleanup.hold')
type WithScope = CleanupRequest & { [SCOPE]?: ScopeCore, [HOLD]?: () => void }

/** What one `cleanup()` call resolved once, shared by its invocations. */
interface Setup {
  readonly config: ResolvedOptions
  readonly logger: ResolvedOptions['logger']
  readonly leaks: ReturnType<typeof leakDetectorFor>
}

// Nothing in cleanup's own bookkeeping may fail the invocation: what goes wrong
// here is logged, and the invocation goes on with its scope.
const contained = (s: Setup, what: string, fn: () => void): void => {
  try { fn() } catch (e) { s.logger.error(`cleanup: ${what} failed: ${describeError(e)}`) }
}

const startInvocation = (s: Setup, request: WithScope): void => {
  const scope = invocationScope(s.config, request)
  const core = coreOf(scope)
  request[SCOPE] = core
  request.context.cleanup = scope
  contained(s, 'attaching leak detection', () => { if (s.leaks !== undefined) s.leaks.attach(core) })
  const internal = request.internal
  if (internal !== undefined && internal !== null) {
    // For a middleware that returns early from `before` (cleanOnEarlyReturn): calling
    // this first cleans now instead of at the next invocation. It must not reject.
    internal[INTERNAL_DISPOSE_KEY] = (): Promise<CleanupReport> =>
      core.disposeFor('early-return', budgetFor(s.config, request.context)).then(undefined, (e: unknown) => {
        s.logger.error(`cleanup: early-return cleanup failed: ${describeError(e)}`)
        return emptyReport('early-return')
      })
  }
  enterScope(scope)
  contained(s, 'sweeping what earlier invocations left', () => {
    noteInvocationStart(requestIdOf(request.context))
    if (hasPendingWork()) void startBackgroundSweep(budgetFor(s.config, request.context), s.config)
  })
}

const disposeAndAwaitSweep = async (s: Setup, request: WithScope, exitPath: ExitPath, budget: number): Promise<CleanupReport | undefined> => {
  const scope = request[SCOPE]
  const background = runningSweep()
  if (scope === undefined && background === undefined) return undefined
  if (exitPath === 'timeout' && budget < TIGHT_BUDGET_MS) {
    warnOnce(s.logger, 'tight-budget', `cleanup: the invocation timed out with ${budget} ms left for cleanup; what did not finish is retried at the next invocation. Give cleanup time: middy(handler, { timeoutEarlyInMillis: 500 }) (and keep cleanup({ timeoutMs }) below it).`)
  }
  const started = performance.now()
  const report = scope === undefined ? undefined : await scope.disposeFor(exitPath, budget)
  // The sweep of earlier invocations' leftovers gets what is left of this one budget.
  if (background !== undefined) await waitAtMost(background, Math.max(0, budget - (performance.now() - started)))
  return report
}

// The whole of an invocation's cleanup, bounded: whatever a disposer, deleter, onReport
// or logger does, this resolves by the end of the budget (taken now, plus half the
// safety margin, still before Lambda's deadline) and never rejects. Past that, disposal
// goes on in the background and the invocation returns its own outcome.
const cleanUpWithinBudget = (s: Setup, request: WithScope, exitPath: ExitPath): Promise<CleanupReport | undefined> => {
  const budget = budgetFor(s.config, request.context)
  let work: Promise<CleanupReport | undefined>
  try { work = disposeAndAwaitSweep(s, request, exitPath, budget) } catch (e) { work = Promise.reject(e) }
  const guarded = work.then(undefined, (e: unknown) => {
    s.logger.error(`cleanup: cleaning up after the invocation (exit path ${exitPath}) failed: ${describeError(e)}; the handler's outcome is unchanged.`)
    return undefined
  })
  return waitAtMost(guarded, budget + Math.floor(s.config.safetyMarginMs / 2)).then((r) => {
    if (r === TIMED_OUT) s.logger.warn(`cleanup: cleanup after the invocation (exit path ${exitPath}) ran past its budget of ${budget} ms; it goes on in the background, the handler's outcome is returned now.`)
    return r === TIMED_OUT ? undefined : r
  })
}

// The one documented exception to "the outcome is the handler's" (opt-in, success path only).
const failureOf = (s: Setup, report: CleanupReport | undefined): CleanupError | undefined =>
  s.config.failOnCleanupError && report !== undefined && Array.isArray(report.failed) && report.failed.length > 0 ? new CleanupError(report) : undefined

const BODY_EXIT: Record<BodyEnd, ExitPath> = { ended: 'success', failed: 'error', aborted: 'error', unread: 'timeout' }

// Response streaming: Middy pipes the body after every `after` has run, so a streamed
// body's invocation is cleaned once the body is over (src/streaming.ts), within the
// budget left then. True when the body is held; false: clean up now.
const holdStreamedBody = (s: Setup, request: WithScope): boolean => {
  let hold: Hold
  try {
    const capMs = streamCapFor(s.config, request.context)
    hold = holdUntilStreamed(request, (end) => {
      if (end === 'unread' && request[SCOPE]?.state === 'active') s.logger.warn(`cleanup: the streamed response body was not over ${capMs} ms after the handler returned (nobody reads it, or too slowly for the time left); cleaning up now, the body may still be streaming.`)
      return cleanUpWithinBudget(s, request, BODY_EXIT[end]).then((report) => end === 'ended' ? failureOf(s, report) : undefined)
    }, capMs)
  } catch (e) {
    s.logger.error(`cleanup: waiting for the streamed body failed: ${describeError(e)}; cleaning up now.`)
    return false
  }
  if (hold.held) { request[HOLD] = hold.release; request[SCOPE]?.holdOutput() }
  else if (hold.reason !== undefined) warnOnce(s.logger, 'stream-hold', `cleanup: the response is a stream, but ${hold.reason}: cleanup runs now, before Middy streams the body.`)
  return hold.held
}

/**
 * Middy middleware that gives every invocation its own {@link CleanupScope} at
 * `context.cleanup`, and releases what it declared on every exit path: success
 * (`after`; with a streamed body, once the body is over), errors and Middy's early
 * timeout (`onError`), and — for paths that skip both (another middleware returning
 * early) — once the invocation's end is proven: at the next invocation on Middy 6/7
 * or in a sequential Lambda runtime, by the next process otherwise
 * (docs/exit-paths.md). A running invocation's resources are never touched by
 * another one.
 *
 * The outcome is the handler's: the very same value or error object comes back
 * (a streamed body: a pass-through delivering every chunk and the same error)
 * whatever the logger, `onReport`, a deleter or a disposer does. The one exception is
 * opt-in: `failOnCleanupError: true` makes a *successful* invocation throw (a streamed
 * body: fail at its end with) {@link CleanupError} when something could not be cleaned.
 *
 * Register it last (`middy().use(httpErrorHandler()).use(cleanup())`): its
 * `after`/`onError` then run first, so no error handler returning a response can
 * skip them. Register it first only when other middlewares' `before` must declare
 * resources; see docs/exit-paths.md for the full matrix.
 *
 * @example
 * ```ts
 * export const handler = middy()
 *   .use(cleanup({ timeoutMs: 1000 }))
 *   .handler(async (event, context) => {
 *     const file = await context.cleanup.tempFile({ suffix: '.jpg' })
 *   })
 * ```
 */
export const cleanup = (options?: CleanupOptions): CleanupMiddleware => {
  const config = resolveOptions(options)
  const s: Setup = { config, logger: config.logger, leaks: leakDetectorFor(config) }
  // shutdown() finds the flush here on SIGTERM, without importing the sweep
  registerShutdownFlush(flushLeftovers)
  const cleanupMiddlewareBefore = (request: WithScope): void => { startInvocation(s, request) }
  // Plain functions, not async: Middy awaits only what returns a promise, and an
  // invocation that declared nothing should not pay for a promise chain.
  const cleanupMiddlewareAfter = (request: WithScope): Promise<void> | undefined => {
    try {
      if (runningSweep() === undefined && request[SCOPE]?.endNowIfEmpty('success') === true) return undefined
    } catch (e) {
      s.logger.error(`cleanup: ${describeError(e)}`)
    }
    if (holdStreamedBody(s, request)) return undefined
    return cleanUpWithinBudget(s, request, 'success').then((report) => {
      const failure = failureOf(s, report)
      if (failure !== undefined) throw failure
      // resolves to nothing: a value here would replace the response
    })
  }
  const cleanupMiddlewareOnError = (request: WithScope): Promise<void> | undefined => {
    let exitPath: ExitPath = 'error'
    try {
      request[HOLD]?.() // a later `after` failed after the body was held: it is cleaned here
      const name = (request.error as { name?: unknown } | null | undefined)?.name
      if (name === 'TimeoutError') exitPath = 'timeout'
      if (runningSweep() === undefined && request[SCOPE]?.endNowIfEmpty(exitPath) === true) return undefined
    } catch (e) {
      s.logger.error(`cleanup: ${describeError(e)}`)
    }
    // resolves to nothing: a value here would end Middy's onError chain
    return cleanUpWithinBudget(s, request, exitPath).then(() => undefined)
  }
  return { before: cleanupMiddlewareBefore, after: cleanupMiddlewareAfter, onError: cleanupMiddlewareOnError }
}
