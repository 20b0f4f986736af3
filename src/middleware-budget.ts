import { describeError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { warnOnce } from './process-state.js'
import { describeValue } from './validation.js'

// How much time cleanup's after/onError (and a streamed body's cleanup) may take: the
// Lambda context's remaining time, less the safety margin, at most `timeoutMs`.

/**
 * @internal A Lambda timeout leaves `timeoutEarlyInMillis` (5 ms by default) minus the
 * safety margin for cleanup: below this, even one DeleteObjects round trip will not fit.
 *
 * @example
 * ```ts
 * if (exitPath === 'timeout' && budget < TIGHT_BUDGET_MS) warnOnce(logger, 'tight-budget', '…')
 * ```
 */
export const TIGHT_BUDGET_MS = 100

/**
 * @internal What `context.getRemainingTimeInMillis()` says, or undefined when it cannot
 * tell (missing, throws, not a number): said once per process.
 *
 * @example
 * ```ts
 * remainingOf(config, context) // 2950
 * ```
 */
export const remainingOf = (config: ResolvedOptions, context: unknown): number | undefined => {
  let value: unknown
  try {
    const fn = (context as { getRemainingTimeInMillis?: unknown } | null | undefined)?.getRemainingTimeInMillis
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

/**
 * @internal Cleanup's budget now: min(timeoutMs, remaining − safetyMarginMs), never
 * negative; timeoutMs when the context cannot tell. Never throws.
 *
 * @example
 * ```ts
 * await coreOf(scope).disposeFor('success', budgetFor(config, request.context))
 * ```
 */
export const budgetFor = (config: ResolvedOptions, context: unknown): number => {
  try {
    const remaining = remainingOf(config, context)
    return Math.max(0, Math.min(config.timeoutMs, remaining === undefined ? Infinity : remaining - config.safetyMarginMs))
  } catch {
    return config.timeoutMs
  }
}

/**
 * @internal Without a Lambda deadline to go by, a streamed body is waited for at most
 * as long as the longest Lambda invocation (15 minutes).
 *
 * @example
 * ```ts
 * streamCapFor(config, {}) === STREAM_CAP_WITHOUT_DEADLINE_MS // true
 * ```
 */
export const STREAM_CAP_WITHOUT_DEADLINE_MS = 900_000

/**
 * @internal How long a streamed body is waited for before its invocation is cleaned up
 * anyway: until the moment that leaves cleanup its whole budget before Lambda's
 * deadline (safety margin kept), but never less than half the time left, so a short
 * invocation's body still gets most of it. Without a deadline, 15 minutes.
 *
 * @example
 * ```ts
 * streamCapFor(config, context) // remaining 60 000 ms, timeoutMs 2000, margin 50 → 57 950
 * ```
 */
export const streamCapFor = (config: ResolvedOptions, context: unknown): number => {
  let remaining: number | undefined
  try { remaining = remainingOf(config, context) } catch { remaining = undefined }
  if (remaining === undefined) return STREAM_CAP_WITHOUT_DEADLINE_MS
  const usable = Math.max(0, remaining - config.safetyMarginMs)
  return Math.floor(usable - Math.min(config.timeoutMs, usable / 2))
}

/**
 * @internal What {@link waitAtMost} resolves to when the time ran out first (or the promise rejected).
 *
 * @example
 * ```ts
 * if (await waitAtMost(work, 500) === TIMED_OUT) logger.warn('still running')
 * ```
 */
export const TIMED_OUT: unique symbol = Symbol('timed out')

/**
 * @internal `promise`'s value, or {@link TIMED_OUT} after `ms` (or when it rejects).
 * The invocation awaits this, so its timer is ref'd: an empty event loop is the end of
 * an invocation for the Lambda runtime. Cleared as soon as the promise settles.
 *
 * @example
 * ```ts
 * const r = await waitAtMost(coreOf(scope).disposeFor('success', 500), 525)
 * ```
 */
export const waitAtMost = <T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> => new Promise((resolve) => {
  const t = setTimeout(() => resolve(TIMED_OUT), Math.min(ms, 2_147_483_647))
  promise.then((v) => { clearTimeout(t); resolve(v) }, () => { clearTimeout(t); resolve(TIMED_OUT) })
})
