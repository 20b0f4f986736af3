import { describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import { warnOnce } from '../process-state.js'
import type { LeakFinding } from './types.js'

// Telling the user: the logger and onLeak are the user's, so whatever they throw or
// reject with stays here (G4: the outcome is the handler's).

/**
 * {@link describeError} for values whose every use throws (a hostile Proxy).
 *
 * @example
 * ```ts
 * warnSafely(logger, `cleanup: leak detection failed: ${describeSafely(e)}`)
 * ```
 */
export const describeSafely = (e: unknown): string => {
  try { return describeError(e) } catch { return 'a value that cannot be described (every use of it throws)' }
}

/**
 * `logger.warn(message)`, swallowing what the logger throws.
 *
 * @example
 * ```ts
 * warnSafely(logger, 'cleanup: onLeak threw: …')
 * ```
 */
export const warnSafely = (logger: Logger, message: string): void => {
  try { logger.warn(message) } catch { /* nowhere left to say it */ }
}

/**
 * Logs a finding (once per kind per process) and hands a copy to `onLeak`: a hung
 * `onLeak` holds nothing up, and its throw or rejection is logged.
 *
 * @example
 * ```ts
 * for (const f of findings) publishFinding(f, logger, config.onLeak)
 * ```
 */
export const publishFinding = (f: LeakFinding, logger: Logger, onLeak: ((finding: LeakFinding) => void) | undefined): void => {
  try {
    warnOnce(logger, `leak:${f.kind}`, `cleanup: leak (${f.kind}): ${f.message} Fix: ${f.fix}`)
  } catch { /* a throwing logger: onLeak still gets the finding */ }
  if (onLeak === undefined) return
  let r: unknown
  try {
    // a copy: what onLeak does to it never changes report.leaks
    r = onLeak(structuredClone(f))
  } catch (e) {
    warnSafely(logger, `cleanup: onLeak threw: ${describeSafely(e)}`)
    return
  }
  // Not awaited (a hung onLeak holds nothing up), but its rejection is handled here,
  // whatever realm the promise comes from or if it is only a thenable: an unhandled
  // rejection ends a Lambda process.
  let then: unknown
  try { then = r !== null && (typeof r === 'object' || typeof r === 'function') ? (r as { then?: unknown }).then : undefined } catch { return }
  if (typeof then !== 'function') return
  try {
    Promise.resolve(r).then(undefined, (e: unknown) => { warnSafely(logger, `cleanup: onLeak threw: ${describeSafely(e)}`) })
  } catch { /* a promise whose `constructor` getter throws: no one can handle its rejection (then() reads it) */ }
}
