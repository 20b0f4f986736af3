import type { Logger } from './logger.js'

// Logging that cannot stop the shutdown (G4), and the clock its reports use.

/**
 * True for a promise of any realm, or any object with a `then` method.
 *
 * @example
 * ```ts
 * if (isThenable(result)) call.settled = Promise.resolve(result).then(done, failed)
 * ```
 */
export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'

/**
 * Logs at `level` through the user's logger, never throwing: a logger that throws (a
 * closed transport) or rejects is not allowed to prevent the exit. `info` falls back to
 * `warn` for loggers without it.
 *
 * @example
 * ```ts
 * say(logger, 'debug', 'shutdown: SIGTERM received while a shutdown already started; ignored')
 * ```
 */
export const say = (logger: Logger, level: 'warn' | 'error' | 'info' | 'debug', message: string, ...extra: unknown[]): void => {
  try {
    const fn = level === 'info' ? (logger.info ?? logger.warn) : logger[level]
    const result: unknown = fn?.call(logger, message, ...extra)
    if (isThenable(result)) void Promise.resolve(result).catch(() => {})
  } catch {
    // a logger that throws (a closed transport) is not allowed to prevent the exit
  }
}

/**
 * Milliseconds since `since` (a `performance.now()` reading), to 0.1 ms.
 *
 * @example
 * ```ts
 * const started = performance.now()
 * const durationMs = elapsed(started)
 * ```
 */
export const elapsed = (since: number): number => Math.round((performance.now() - since) * 10) / 10
