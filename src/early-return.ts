import { INTERNAL_DISPOSE_KEY } from './middleware.js'

/**
 * A Middy middleware object, structurally (Middy 5, 6 and 7; no `@middy/core` types needed).
 *
 * @example
 * ```ts
 * const cache: MiddlewareLike = { before: (request) => request.event.cached }
 * ```
 */
export interface MiddlewareLike {
  before?: (request: any) => unknown
  after?: (request: any) => unknown
  onError?: (request: any) => unknown
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'

// Middy ends the invocation when a `before` returns anything but undefined (its own test:
// `typeof res !== 'undefined'`): it skips the handler and every after/onError, cleanup's
// included. Only then is the scope disposed here, so a running invocation is never touched.
const ending = (request: unknown, response: unknown): unknown => {
  if (response === undefined) return undefined
  const internal = (request as { internal?: unknown } | null | undefined)?.internal as Record<string, unknown> | null | undefined
  const dispose = internal?.[INTERNAL_DISPOSE_KEY]
  // No hook: cleanup() is not registered before this middleware, so there is no scope yet.
  if (typeof dispose !== 'function') return response
  // The hook never rejects (a failed cleanup is logged and reported); the response is the middleware's.
  return (dispose as () => Promise<unknown>)().then(() => response)
}

/**
 * Wraps a middleware that may return early from `before` — a cache hit, Powertools
 * Idempotency's `makeHandlerIdempotent()` — so that when it does, the invocation's
 * cleanup scope is disposed before Middy returns (exit path `early-return`), not at
 * the next invocation. It disposes only when the wrapped `before` returned a value
 * (`null`, `0` and `false` are values: Middy returns them early too), i.e. when Middy
 * is about to skip the handler and every `after`/`onError`; a `before` that returns
 * nothing or throws leaves the scope to cleanup's own `after`/`onError`. The
 * response is the wrapped middleware's, unchanged; its `after` and `onError` are kept.
 *
 * Register `cleanup()` before the wrapped middleware (so the scope exists when it
 * runs). A `before` that ends the invocation by setting `request.earlyResponse`
 * without returning it is not seen here: that scope is swept at the next invocation
 * (docs/exit-paths.md, path 7a).
 *
 * @example
 * ```ts
 * import { makeHandlerIdempotent } from '@aws-lambda-powertools/idempotency/middleware'
 *
 * export const handler = middy()
 *   .use(cleanup({ s3 }))
 *   .use(cleanOnEarlyReturn(makeHandlerIdempotent({ persistenceStore, config })))
 *   .handler(async (event, context) => {
 *     const file = await context.cleanup.tempFile({ suffix: '.pdf' })
 *   })
 * ```
 */
export const cleanOnEarlyReturn = <M extends MiddlewareLike>(middleware: M): M => {
  const { before, after, onError } = middleware
  if (typeof before !== 'function') return middleware
  // Sync stays sync: an undefined from a sync `before` (the usual miss) costs no promise.
  const wrapped = (request: unknown): unknown => {
    const result = before.call(middleware, request)
    return isThenable(result) ? Promise.resolve(result).then((response) => ending(request, response)) : ending(request, result)
  }
  // Own properties kept, and after/onError bound to the middleware (prototype methods of a
  // class instance too). Each function keeps its name: Middy's plugin hooks (profilers)
  // are given `fn.name`.
  const out: MiddlewareLike = { ...middleware, before: named(wrapped, before) }
  if (typeof after === 'function') out.after = named((request: unknown) => after.call(middleware, request), after)
  if (typeof onError === 'function') out.onError = named((request: unknown) => onError.call(middleware, request), onError)
  return out as M
}

const named = <F extends (...args: any[]) => unknown>(fn: F, like: (...args: any[]) => unknown): F =>
  Object.defineProperty(fn, 'name', { value: like.name, configurable: true })
