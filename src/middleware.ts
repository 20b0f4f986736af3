import { enterScope } from './context.js'
import { leakDetectorFor } from './leaks/detector.js'
import { CleanupError } from './errors.js'
import { hasPendingWork, startBackgroundSweep, state, warnOnce } from './leftovers.js'
import { type CleanupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import type { CleanupReport, ExitPath } from './report.js'
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

const budgetFor = (config: ResolvedOptions, context: Partial<LambdaContextLike> | undefined): number => {
  const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : Infinity
  return Math.max(0, Math.min(config.timeoutMs, remaining - config.safetyMarginMs))
}

/**
 * Middy middleware that gives every invocation its own {@link CleanupScope} at
 * `context.cleanup`, and releases what it declared on every exit path: success
 * (`after`), errors and Middy's early timeout (`onError`), and — for paths that
 * skip both (another middleware returning early) — at the start of the next
 * invocation. Never masks the handler's result or error.
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

  const cleanupMiddlewareBefore = (request: WithScope): void => {
    const scope = CleanupScope.forInvocation(config, request)
    request[SCOPE] = scope
    request.context.cleanup = scope
    if (leaks !== undefined) leaks.attach(scope)
    const internal = request.internal
    if (internal !== undefined && internal !== null) {
      internal[INTERNAL_SCOPE_KEY] = scope
      // For a middleware that returns early from `before` (cache hit): calling this
      // first cleans now instead of at the next invocation.
      internal[INTERNAL_DISPOSE_KEY] = (): Promise<CleanupReport> => scope.disposeAs('early-return', budgetFor(config, request.context))
    }
    enterScope(scope)
    if (hasPendingWork()) startBackgroundSweep(budgetFor(config, request.context), config)
  }

  const finish = async (request: WithScope, exitPath: ExitPath): Promise<CleanupReport | undefined> => {
    const scope = request[SCOPE]
    const background = state.background
    if (scope === undefined && background === undefined) return undefined
    const budget = budgetFor(config, request.context)
    if (exitPath === 'timeout' && budget < TIGHT_BUDGET_MS) {
      warnOnce(config.logger, 'tight-budget', `cleanup: the invocation timed out with ${budget} ms left for cleanup; what did not finish is retried at the next invocation. Give cleanup time: middy(handler, { timeoutEarlyInMillis: 500 }) (and keep cleanup({ timeoutMs }) below it).`)
    }
    const report = scope === undefined ? undefined : await scope.disposeAs(exitPath, budget)
    if (background !== undefined) await waitAtMost(background, budgetFor(config, request.context))
    return report
  }

  // Plain functions, not async: Middy awaits only what returns a promise, and an
  // invocation that declared nothing should not pay for a promise chain.
  const cleanupMiddlewareAfter = (request: WithScope): Promise<void> | undefined => {
    if (state.background === undefined && request[SCOPE]?.endIfEmpty('success') === true) return undefined
    return finish(request, 'success').then((report) => {
      if (config.failOnCleanupError && report !== undefined && report.failed.length > 0) throw new CleanupError(report)
    })
  }

  const cleanupMiddlewareOnError = (request: WithScope): Promise<void> | undefined => {
    const name = (request.error as { name?: unknown } | null | undefined)?.name
    const exitPath: ExitPath = name === 'TimeoutError' ? 'timeout' : 'error'
    if (state.background === undefined && request[SCOPE]?.endIfEmpty(exitPath) === true) return undefined
    // resolves to nothing: a value here would end Middy's onError chain
    return finish(request, exitPath).then(() => undefined)
  }

  return { before: cleanupMiddlewareBefore, after: cleanupMiddlewareAfter, onError: cleanupMiddlewareOnError }
}

const waitAtMost = (promise: Promise<unknown>, ms: number): Promise<void> => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms)
  t.unref()
  promise.then(() => { clearTimeout(t); resolve() }, () => { clearTimeout(t); resolve() })
})
