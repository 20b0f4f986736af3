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
 * some declared resource could not be cleaned. `errors` holds one error per
 * failed resource; `report` is the full {@link CleanupReport}.
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
    super(report.failed.map((f) => f.error), `cleanup: ${report.failed.length} resource(s) could not be cleaned: ${ids}`)
    this.report = report
  }
}

/**
 * Why a resource was not waited for: the cleanup budget ran out. Found as the
 * `error` of a `report.failed` entry; the resource is on the leftovers list
 * and retried at the next invocation.
 *
 * @example
 * ```ts
 * cleanup({
 *   onReport: (r) => {
 *     const late = r.failed.filter((f) => f.error instanceof CleanupDeadlineError)
 *     if (late.length > 0) console.warn(`cleanup ran out of time for ${late.length} resource(s); raise timeoutEarlyInMillis`)
 *   },
 * })
 * ```
 */
export class CleanupDeadlineError extends Error {
  override name = 'CleanupDeadlineError'
  constructor (budgetMs: number) {
    super(`cleanup did not finish within its budget of ${budgetMs} ms; the resource was handed to the leftovers list for the next invocation`)
  }
}

/** Formats any thrown value (Error or not) for a log line. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  try { return `non-Error thrown: ${JSON.stringify(error)}` } catch { return `non-Error thrown: ${String(error)}` }
}
