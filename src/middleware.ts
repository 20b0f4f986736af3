import { enterScope } from './context.js'
import { leakDetectorFor } from './leaks/detector.js'
import { CleanupError, describeError } from './errors.js'
import { hasPendingWork, noteInvocationStart, startBackgroundSweep, state, warnOnce } from './leftovers.js'
import { type CleanupOptions, type ResolvedOptions, describeValue, resolveOptions } from './options.js'
import { type CleanupReport, type ExitPath, emptyReport } from './report.js'
import { CleanupScope } from './scope.js'

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
 * Keys on `request.internal`, for cooperative middlewares that return early.
 * This one holds the invocation's {@link CleanupScope} (the same object as
 * `context.cleanup`), set by cleanup's `before`.
 *
 * @example
 * ```ts
 * const audit = {
 *   before: (request: CleanupRequest) => {
 *     const scope = request.internal[INTERNAL_SCOPE_KEY] as CleanupScope | undefined
 *     scope?.defer(() => auditLog.flush())
 *   },
 * }
 * export const handler = middy().use(cleanup()).use(audit).handler(async () => {})
 * ```
 */
export const INTERNAL_SCOPE_KEY = 'middy-cleanup.scope'
/**
 * Key on `request.internal` of a function that cleans the invocation now (exit
 * path `early-return`) and resolves to its {@link CleanupReport}. For a
 * middleware that returns early from `before` (a cache hit): calling it first
 * cleans at once instead of at the next invocation. Register `cleanup()` before
 * that middleware, so its `before` has run.
 *
 * @example
 * ```ts
 * const cache = {
 *   before: async (request: CleanupRequest) => {
 *     const hit = store.get(request.event.key)
 *     if (hit === undefined) return
 *     await request.internal[INTERNAL_DISPOSE_KEY]() // clean now, not at the next invocation
 *     return hit // Middy returns this response early
 *   },
 * }
 * export const handler = middy().use(cleanup()).use(cache).handler(async (event, context) => {})
 * ```
 */
export const INTERNAL_DISPOSE_KEY = 'middy-cleanup.dispose'

const SCOPE = Symbol('middy-cleanup.scope')
type WithScope = CleanupRequest & { [SCOPE]?: CleanupScope }

// A Lambda timeout leaves `timeoutEarlyInMillis` (5 ms by default) minus our safety
// margin for cleanup: below this, even one DeleteObjects round trip will not fit.
const TIGHT_BUDGET_MS = 100

/** What `context.getRemainingTimeInMillis()` says, or undefined when it cannot tell (missing, throws, not a number). */
const remainingOf = (config: ResolvedOptions, context: unknown): number | undefined => {
  let value: unknown
  try {
    const fn = (context as Partial<LambdaContextLike> | null | undefined)?.getRemainingTimeInMillis
    if (typeof fn !== 'function') return undefined
    value = fn.call(context)
  } catch (e) {
    warnOnce(config.logger, 'remaining-time', `cleanup: context.getRemainingTimeInMillis() threw (${describeError(e)}); cleanup uses its timeoutMs (${config.timeoutMs} ms) as budget.`)
    return undefined
  }
  if (typeof value === 'number' && !Number.isNaN(value)) return value
  // A fake context in a test or a local server: NaN here once meant "a budget of NaN ms",
  // a deadline that expired at once and deletes reported failed.
  warnOnce(config.logger, 'remaining-time', `cleanup: context.getRemainingTimeInMillis() returned ${describeValue(value)}, not a number of milliseconds; cleanup uses its timeoutMs (${config.timeoutMs} ms) as budget.`)
  return undefined
}

const budgetFor = (config: ResolvedOptions, context: unknown): number => {
  const remaining = remainingOf(config, context)
  return Math.max(0, Math.min(config.timeoutMs, remaining === undefined ? Infinity : remaining - config.safetyMarginMs))
}

const requestIdOf = (context: unknown): string | undefined => {
  const id = (context as { awsRequestId?: unknown } | null | undefined)?.awsRequestId
  return typeof id === 'string' && id !== '' ? id : undefined
}

/**
 * Middy middleware that gives every invocation its own {@link CleanupScope} at
 * `context.cleanup`, and releases what it declared on every exit path: success
 * (`after`), errors and Middy's early timeout (`onError`), and — for paths that
 * skip both (another middleware returning early) — once the invocation's end is
 * proven: at the next invocation on Middy 6/7 or in a sequential Lambda runtime,
 * by the next process otherwise (docs/exit-paths.md). A running invocation's
 * resources are never touched by another one.
 *
 * The outcome is the handler's: the very same value or error object comes back
 * whatever the logger, `onReport`, a deleter or a disposer does (throws, rejects,
 * hangs). The one exception is opt-in: `failOnCleanupError: true` makes a
 * *successful* invocation throw {@link CleanupError} when something could not be
 * cleaned (the handler's own error always stays primary).
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
  const leaks = leakDetectorFor(config)
  const logger = config.logger

  // Nothing in cleanup's own bookkeeping may fail the invocation: what goes wrong
  // here is logged, and the invocation goes on with its scope.
  const contained = (what: string, fn: () => void): void => {
    try { fn() } catch (e) { logger.error(`cleanup: ${what} failed: ${describeError(e)}`) }
  }

  const cleanupMiddlewareBefore = (request: WithScope): void => {
    const scope = CleanupScope.forInvocation(config, request)
    request[SCOPE] = scope
    request.context.cleanup = scope
    contained('attaching leak detection', () => { if (leaks !== undefined) leaks.attach(scope) })
    const internal = request.internal
    if (internal !== undefined && internal !== null) {
      internal[INTERNAL_SCOPE_KEY] = scope
      // For a middleware that returns early from `before` (cache hit): calling this
      // first cleans now instead of at the next invocation.
      internal[INTERNAL_DISPOSE_KEY] = (): Promise<CleanupReport> => {
        let budget: number
        try { budget = budgetFor(config, request.context) } catch { budget = config.timeoutMs }
        // A cooperative middleware awaits this: it must not reject into its invocation.
        return scope.disposeAs('early-return', budget).then(undefined, (e: unknown) => {
          logger.error(`cleanup: early-return cleanup failed: ${describeError(e)}`)
          return emptyReport('early-return')
        })
      }
    }
    enterScope(scope)
    contained('sweeping what earlier invocations left', () => {
      noteInvocationStart(requestIdOf(request.context))
      if (hasPendingWork()) void startBackgroundSweep(budgetFor(config, request.context), config)
    })
  }

  const finish = async (request: WithScope, exitPath: ExitPath, budget: number): Promise<CleanupReport | undefined> => {
    const scope = request[SCOPE]
    const background = state.background
    if (scope === undefined && background === undefined) return undefined
    if (exitPath === 'timeout' && budget < TIGHT_BUDGET_MS) {
      warnOnce(logger, 'tight-budget', `cleanup: the invocation timed out with ${budget} ms left for cleanup; what did not finish is retried at the next invocation. Give cleanup time: middy(handler, { timeoutEarlyInMillis: 500 }) (and keep cleanup({ timeoutMs }) below it).`)
    }
    const started = performance.now()
    const report = scope === undefined ? undefined : await scope.disposeAs(exitPath, budget)
    // The sweep of earlier invocations' leftovers gets what is left of this one budget.
    if (background !== undefined) await waitAtMost(background, Math.max(0, budget - (performance.now() - started)))
    return report
  }

  // The whole of after/onError, bounded: whatever a disposer, deleter, onReport or
  // logger does, this settles by the end of the budget (plus half the safety margin,
  // still before Lambda's deadline) and never rejects. Past that, disposal goes on in
  // the background and the invocation returns its own outcome.
  const settle = (request: WithScope, exitPath: ExitPath): Promise<CleanupReport | undefined> => {
    let budget: number
    try { budget = budgetFor(config, request.context) } catch { budget = config.timeoutMs }
    let work: Promise<CleanupReport | undefined>
    try { work = finish(request, exitPath, budget) } catch (e) { work = Promise.reject(e) }
    const guarded = work.then(undefined, (e: unknown) => {
      logger.error(`cleanup: cleaning up after the invocation (exit path ${exitPath}) failed: ${describeError(e)}; the handler's outcome is unchanged.`)
      return undefined
    })
    return waitAtMost(guarded, budget + Math.floor(config.safetyMarginMs / 2)).then((r) => {
      if (r === TIMED_OUT) logger.warn(`cleanup: cleanup after the invocation (exit path ${exitPath}) ran past its budget of ${budget} ms; it goes on in the background, the handler's outcome is returned now.`)
      return r === TIMED_OUT ? undefined : r
    })
  }

  // Plain functions, not async: Middy awaits only what returns a promise, and an
  // invocation that declared nothing should not pay for a promise chain.
  const cleanupMiddlewareAfter = (request: WithScope): Promise<void> | undefined => {
    try {
      if (state.background === undefined && request[SCOPE]?.endIfEmpty('success') === true) return undefined
    } catch (e) {
      logger.error(`cleanup: ${describeError(e)}`)
    }
    return settle(request, 'success').then((report) => {
      // The one documented exception to "the outcome is the handler's" (opt-in, success path only).
      if (config.failOnCleanupError && report !== undefined && Array.isArray(report.failed) && report.failed.length > 0) throw new CleanupError(report)
      // resolves to nothing: a value here would replace the response
    })
  }

  const cleanupMiddlewareOnError = (request: WithScope): Promise<void> | undefined => {
    let exitPath: ExitPath = 'error'
    try {
      const name = (request.error as { name?: unknown } | null | undefined)?.name
      if (name === 'TimeoutError') exitPath = 'timeout'
      if (state.background === undefined && request[SCOPE]?.endIfEmpty(exitPath) === true) return undefined
    } catch (e) {
      logger.error(`cleanup: ${describeError(e)}`)
    }
    // resolves to nothing: a value here would end Middy's onError chain
    return settle(request, exitPath).then(() => undefined)
  }

  return { before: cleanupMiddlewareBefore, after: cleanupMiddlewareAfter, onError: cleanupMiddlewareOnError }
}

const TIMED_OUT = Symbol('timed out')

// The invocation awaits this, so its timer is ref'd: an empty event loop is the end of
// an invocation for the Lambda runtime. Cleared as soon as the promise settles.
const waitAtMost = <T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> => new Promise((resolve) => {
  const t = setTimeout(() => resolve(TIMED_OUT), Math.min(ms, 2_147_483_647))
  promise.then((v) => { clearTimeout(t); resolve(v) }, () => { clearTimeout(t); resolve(TIMED_OUT) })
})
