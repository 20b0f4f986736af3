import { toFailureReason } from './errors.js'
import { elapsed } from './shutdown-log.js'
import type { TeardownResult } from './shutdown-report.js'

/**
 * A teardown registered with `onShutdown()`. Receives an AbortSignal that
 * fires when the shutdown budget is spent; pass it on (`fetch`, SDK
 * `abortSignal`) or ignore it — the process exits at the deadline regardless.
 *
 * @example
 * ```ts
 * const teardown: Teardown = (signal) => agent.destroy()
 * ```
 */
export type Teardown = (signal: AbortSignal) => unknown

/**
 * Why a teardown's AbortSignal fired: the shutdown budget is spent. It is the
 * signal's `reason`.
 *
 * @example
 * ```ts
 * onShutdown('events', async (signal) => {
 *   try {
 *     await producer.flush({ abortSignal: signal })
 *   } catch (e) {
 *     if (signal.reason instanceof ShutdownDeadlineError) console.warn('event flush cut short at the shutdown deadline')
 *     else throw e
 *   }
 * })
 * ```
 */
export class ShutdownDeadlineError extends Error {
  override name = 'ShutdownDeadlineError'
  constructor (budgetMs: number) {
    super(`shutdown: teardown budget of ${budgetMs} ms spent; the process exits now`)
  }
}

type Outcome = { kind: 'ok' } | { kind: 'failed', error: unknown } | { kind: 'timed-out' }

/**
 * Runs one teardown against the deadline: `ok`, `failed` (it threw or rejected) or
 * `timed-out` (the deadline came first; it is not waited for further). `done` is called
 * when it really settles, which may be after the deadline it lost to.
 *
 * @example
 * ```ts
 * const result = await runTeardown('pg', () => pool.end(), controller.signal, deadline, () => pending.delete('pg'))
 * ```
 */
export const runTeardown = async (name: string, fn: Teardown, signal: AbortSignal, deadline: Promise<void>, done: () => void): Promise<TeardownResult> => {
  const started = performance.now()
  let settled: Promise<unknown>
  try {
    settled = Promise.resolve(fn(signal))
  } catch (error) {
    settled = Promise.reject(error)
  }
  settled.then(done, done)
  const outcome: Outcome = await Promise.race([
    settled.then((): Outcome => ({ kind: 'ok' }), (error: unknown): Outcome => ({ kind: 'failed', error })),
    deadline.then((): Outcome => ({ kind: 'timed-out' })),
  ])
  const result: TeardownResult = { name, status: outcome.kind, durationMs: elapsed(started) }
  if (outcome.kind === 'failed') result.error = toFailureReason(outcome.error)
  return result
}
