/**
 * Thrown by `cleanup()`, `shutdown()` and `new CleanupScope()` when an option is
 * unknown or ill-typed. The message names the option and how to fix it.
 *
 * @example
 * ```ts
 * try { cleanup({ timeoutMs: -1 }) } catch (e) { e instanceof CleanupConfigError } // true
 * ```
 */
export class CleanupConfigError extends TypeError {
  override name = 'CleanupConfigError'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Thrown at declaration time (`path()`, `handle()`, `defer()`, `s3Object()`, …)
 * when the resource is malformed or outside the allow-list. Thrown where the
 * bad call is, never later at cleanup time.
 *
 * @example
 * ```ts
 * scope.path('/etc/passwd') // CleanupDeclarationError: path() … outside allow.paths …
 * ```
 */
export class CleanupDeclarationError extends TypeError {
  override name = 'CleanupDeclarationError'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Thrown from the middleware's `after` only when `failOnCleanupError: true` and
 * some declared resource could not be cleaned. `errors` holds one `Error` per
 * failed resource, rebuilt from its plain `report.failed[].error` (same `name`,
 * `message` and `code`); `report` is the full {@link CleanupReport}.
 *
 * @example
 * ```ts
 * middy().use(cleanup({ failOnCleanupError: true })) // a failed delete fails the invocation
 * ```
 */
export class CleanupError extends AggregateError {
  override name = 'CleanupError'
  readonly report: import('./report.js').CleanupReport
  constructor (report: import('./report.js').CleanupReport) {
    const ids = report.failed.map((f) => `${f.kind} ${f.id}`).join(', ')
    super(report.failed.map((f) => errorFrom(f.error)), `cleanup: ${report.failed.length} resource(s) could not be cleaned: ${ids}`)
    this.report = report
  }
}

const errorFrom = (reason: import('./report.js').FailureReason): Error => {
  const e = new Error(reason.message) as Error & { code?: string }
  e.name = reason.name
  if (reason.code !== undefined) e.code = reason.code
  return e
}

/**
 * Why a resource was not waited for, or not started: the cleanup budget ran out.
 * Found by name as the `error` of a `report.failed` entry (`error.name ===
 * 'CleanupDeadlineError'`); the resource is on the leftovers list and retried at
 * the next invocation or at shutdown.
 *
 * @example
 * ```ts
 * cleanup({
 *   onReport: (r) => {
 *     const late = r.failed.filter((f) => f.error.name === 'CleanupDeadlineError')
 *     if (late.length > 0) console.warn(`cleanup ran out of time for ${late.length} resource(s); raise timeoutEarlyInMillis`)
 *   },
 * })
 * ```
 */
export class CleanupDeadlineError extends Error {
  override name = 'CleanupDeadlineError'
  /** `options.started: false`: the budget was spent before this resource's release could even start */
  constructor (budgetMs: number, options?: { started?: boolean }) {
    super(options?.started === false
      ? `cleanup's budget of ${budgetMs} ms was spent before this resource's release could start; deferred, without using an attempt, to the next invocation or shutdown`
      : `cleanup did not finish within its budget of ${budgetMs} ms; the resource was handed to the leftovers list for the next invocation`)
  }
}

const MAX_MESSAGE = 4096

// Reads a property of a thrown value that may be hostile (a getter that throws, a revoked Proxy).
const read = (o: object, key: string): unknown => { try { return (o as Record<string, unknown>)[key] } catch { return undefined } }

const clip = (s: string): string => s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s

const shown = (v: unknown): string => {
  if (typeof v === 'string') return v
  try {
    const json = JSON.stringify(v)
    if (typeof json === 'string') return json
  } catch { /* cyclic, BigInt, a throwing toJSON */ }
  try { return String(v) } catch { return Object.prototype.toString.call(v) }
}

/**
 * @internal Whatever was thrown (an Error, a non-Error, null, an object whose
 * getters throw) as the plain `{ name, message, code? }` of a report. Never throws.
 *
 * @example
 * ```ts
 * toFailureReason(Object.assign(new Error('denied'), { code: 'AccessDenied' })) // { name: 'Error', message: 'denied', code: 'AccessDenied' }
 * toFailureReason(42) // { name: 'NonError', message: '42' }
 * ```
 */
export const toFailureReason = (error: unknown): import('./report.js').FailureReason => {
  try {
    if (error === null || (typeof error !== 'object' && typeof error !== 'function')) {
      return { name: 'NonError', message: clip(shown(error)) }
    }
    const name = read(error, 'name')
    const message = read(error, 'message')
    const code = read(error, 'code') ?? read(error, 'Code')
    const reason: import('./report.js').FailureReason = {
      name: typeof name === 'string' && name !== '' ? clip(name) : 'NonError',
      message: clip(typeof message === 'string' ? message : shown(error)),
    }
    if (typeof code === 'string' && code !== '') reason.code = clip(code)
    return reason
  } catch {
    return { name: 'NonError', message: 'a thrown value that could not be read' }
  }
}

/**
 * Formats any thrown value (Error or not, or a report's plain reason) for a log line. Never throws.
 *
 * @example
 * ```ts
 * logger.warn(`cleanup: onReport threw (${describeError(e)})`) // 'TypeError: x is undefined'
 * ```
 */
export const describeError = (error: unknown): string => {
  const r = toFailureReason(error)
  if (r.name === 'NonError') return `non-Error thrown: ${r.message}`
  return `${r.name}: ${r.message}${r.code !== undefined && r.code !== r.name ? ` (${r.code})` : ''}`
}
