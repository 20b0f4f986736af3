import { describeError } from './errors.js'
import type { Logger } from './logger.js'
import type { CleanupReport, FailureReason } from './report.js'
import { say } from './shutdown-log.js'

/**
 * How one teardown ended. `timed-out`: it had not settled by the deadline (it
 * was not waited for further).
 *
 * @example
 * ```ts
 * { name: 'pg', status: 'ok', durationMs: 12.4 }
 * ```
 */
export interface TeardownResult {
  name: string
  status: 'ok' | 'failed' | 'timed-out'
  durationMs: number
  /** what it threw or rejected with (`failed`), as plain JSON: `JSON.stringify(report)` keeps it */
  error?: FailureReason
}

/**
 * How one call of another SIGTERM (or other handled signal) listener — one
 * not registered through `onShutdown()`: an OpenTelemetry or Powertools
 * flush, a database driver — ended. `shutdown()` follows these listeners so
 * the exit waits for them (see docs/shutdown.md, "Other signal listeners").
 * `pending`: not settled when the report was made; the exit still waits for it
 * until the deadline. `unknown`: a listener `shutdown()` could not follow
 * (added behind its back); the exit waits until the deadline for it.
 *
 * @example
 * ```ts
 * { name: 'flushSpans', status: 'ok', durationMs: 302.5 }
 * ```
 */
export interface ListenerResult {
  /** the listener function's name, `(anonymous)` when it has none */
  name: string
  status: 'ok' | 'failed' | 'pending' | 'unknown'
  durationMs: number
  /** what it threw or rejected with (`failed`), as plain JSON: `JSON.stringify(report)` keeps it */
  error?: FailureReason
}

/**
 * What one shutdown did; logged once and passed to `onReport`.
 *
 * @example
 * ```ts
 * shutdown({ onReport: (r) => metrics.addMetric('ShutdownMs', 'Milliseconds', r.durationMs) })
 * ```
 */
export interface ShutdownReport {
  /** the signal that started it, or `'manual'` for `runShutdown()` without one */
  signal: string
  durationMs: number
  teardowns: TeardownResult[]
  /** the other listeners of the signal that were called, in call order (see {@link ListenerResult}) */
  listeners: ListenerResult[]
  /** the core's flush of leftovers and still-open scopes; absent when it did not finish by the deadline */
  cleanup?: CleanupReport
}

/**
 * Logs the report once: `info` when everything ended well, `warn` when a teardown, a
 * listener or the flush did not (or the flush did not finish). The report itself goes
 * along as `{ shutdownReport }`.
 *
 * @example
 * ```ts
 * logReport({ timeoutMs: 400, logger: console }, report)
 * ```
 */
export const logReport = (o: { timeoutMs: number, logger: Logger }, report: ShutdownReport): void => {
  const parts = report.teardowns.map((t) => `${t.name} ${t.status} ${t.durationMs} ms${t.error !== undefined ? ` (${describeError(t.error)})` : ''}`)
  const others = report.listeners.map((l) => `${l.name} ${l.status}${l.status === 'unknown' ? '' : ` ${l.durationMs} ms`}${l.error !== undefined ? ` (${describeError(l.error)})` : ''}`)
  const c = report.cleanup
  const cleanupText = c === undefined ? 'cleanup flush did not finish by the deadline' : `cleanup: ${c.cleaned}/${c.resources} resource(s) cleaned${c.failed.length > 0 ? `, ${c.failed.length} failed` : ''}`
  const troubled = report.teardowns.some((t) => t.status !== 'ok') || report.listeners.some((l) => l.status !== 'ok') || c === undefined || c.failed.length > 0
  const message = `shutdown: ${report.signal} handled in ${report.durationMs} ms (deadline ${o.timeoutMs} ms): ${report.teardowns.length} teardown(s)${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}; ${others.length > 0 ? `${others.length} other listener call(s) — ${others.join(', ')}; ` : ''}${cleanupText}`
  say(o.logger, troubled ? 'warn' : 'info', message, { shutdownReport: report })
}
