/**
 * Pacing of the only re-sends cleanup makes itself: the part of a batch a server
 * answered as unprocessed (S3 per-key `Errors` with a transient code, DynamoDB
 * `UnprocessedItems`). Whole requests are the SDK's to retry, never re-sent here.
 * Core module: imports nothing.
 */

/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)].
 * `random` is injectable so a test can pin the jitter; a value outside [0, 1] is clamped.
 *
 * @example
 * ```ts
 * backoffMs(0, () => 0.999) // 24: 25 ms · 2⁰ · 0.999, floored
 * backoffMs(10, () => 0.5) // 500: the cap (1000 ms) · 0.5
 * ```
 */
export const backoffMs = (attempt: number, random: () => number = Math.random, baseMs = 25, capMs = 1000): number =>
  Math.floor(Math.min(1, Math.max(0, random())) * Math.min(capMs, baseMs * 2 ** attempt))

/**
 * What {@link backoffWithin} needs of the cleanup budget (a `Deadline` has it).
 *
 * @example
 * ```ts
 * const budget: BackoffDeadline = { signal: deadline.signal, remainingMs: () => deadline.remainingMs(), sleep: (ms) => deadline.sleep(ms) }
 * ```
 */
export interface BackoffDeadline {
  readonly signal: AbortSignal
  remainingMs: () => number
  /** resolves after `ms`, or earlier when the budget ends; never rejects */
  sleep: (ms: number) => Promise<void>
}

/**
 * Waits the backoff before re-sending the part of a batch that came back
 * unprocessed. Returns false, without waiting, when the budget has no room for
 * the wait (or is already spent): what is left then goes to the next invocation.
 *
 * @example
 * ```ts
 * for (let attempt = 0; pending.length > 0; attempt++) {
 *   pending = await send(pending)
 *   if (pending.length > 0 && !await backoffWithin(attempt, budget, Math.random)) break // the next invocation retries them
 * }
 * ```
 */
export const backoffWithin = async (attempt: number, deadline: BackoffDeadline, random: () => number): Promise<boolean> => {
  if (deadline.signal.aborted) return false
  const wait = backoffMs(attempt, random)
  if (wait >= deadline.remainingMs()) return false
  await deadline.sleep(wait)
  return !deadline.signal.aborted
}
