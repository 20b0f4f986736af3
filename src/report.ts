import type { LeakFinding } from './leaks/types.js'

/**
 * How an invocation (or a standalone scope) ended, as seen by cleanup.
 * `early-return`: another middleware returned early and cleanup ran on the next
 * invocation or through the cooperative hook; `shutdown`: flushed on SIGTERM;
 * `manual`: `scope.dispose()` called directly (standalone use); `leftovers`: a
 * retry of what an earlier cleanup could not finish.
 *
 * @example
 * ```ts
 * cleanup({
 *   onReport: (r) => {
 *     switch (r.exitPath) {
 *       case 'timeout': console.warn(`timed out; ${r.leftovers} resource(s) left for the next invocation`); break
 *       case 'early-return': console.info('cleaned after another middleware returned early'); break
 *       default: break
 *     }
 *   },
 * })
 * ```
 */
export type ExitPath = 'success' | 'error' | 'timeout' | 'early-return' | 'shutdown' | 'manual' | 'leftovers'

/**
 * Kinds of resource a scope tracks.
 *
 * @example
 * ```ts
 * cleanup({ onReport: (r) => metrics.addMetric('S3CleanupFailed', 'Count', r.failed.filter((f) => f.kind === 's3').length) })
 * ```
 */
export type ResourceKind = 'defer' | 'handle' | 'path' | 's3' | 'dynamodb' | (string & {})

/**
 * Why a resource was not cleaned, as plain JSON (so `JSON.stringify(report)`, what
 * every structured logger does, keeps it): the thrown value's `name`, `message`
 * and, when it has one, its string `code` (`AccessDenied`, `EBUSY`, …). A thrown
 * non-Error gets `name: 'NonError'` and its JSON (or string) form as `message`.
 *
 * @example
 * ```ts
 * const late = report.failed.filter((f) => f.error.name === 'CleanupDeadlineError')
 * const denied = report.failed.filter((f) => f.error.code === 'AccessDenied')
 * ```
 */
export interface FailureReason {
  name: string
  message: string
  code?: string
}

/**
 * One resource that could not be cleaned, with where it was left.
 *
 * @example
 * ```ts
 * const report = await scope.dispose()
 * for (const f of report.failed) {
 *   console.warn(`${f.kind} ${f.id} not cleaned: ${f.error.name}: ${f.error.message}${f.retrying === true ? ' (retried next invocation)' : ''}`)
 * }
 * ```
 */
export interface FailedResource {
  kind: ResourceKind
  /** e.g. `/tmp/x.jpg`, `s3://bucket/key`, `dynamodb://Table/{"pk":"a"}` */
  id: string
  error: FailureReason
  /** set when it was put on the process-wide leftovers list to be retried; absent when given up. */
  retrying?: true
}

/**
 * What one cleanup did. Passed to `onReport`; failures are also logged.
 *
 * @example
 * ```ts
 * cleanup({ onReport: (r) => metrics.addMetric('CleanupFailed', 'Count', r.failed.length) })
 * ```
 */
export interface CleanupReport {
  exitPath: ExitPath
  /** resources declared in this scope (defers and handles included) */
  resources: number
  /** resources cleaned */
  cleaned: number
  failed: FailedResource[]
  /**
   * requests sent (DeleteObjects, BatchWriteItem, … HTTP attempts, the SDK's retries
   * included), counted as they go out — also those of a deleter still running at the deadline
   */
  requests: number
  durationMs: number
  /** resources that are now on the leftovers list (to retry next invocation) */
  leftovers: number
  /**
   * resources not even started because the budget was spent (or a deleter sent
   * nothing for them): deferred to the next invocation or shutdown without using
   * an attempt. Included in `leftovers` and in `failed` (with `retrying`).
   */
  deferred: number
  /** findings of leak detection (`cleanup({ detectLeaks })`), when there are any */
  leaks?: LeakFinding[]
}

/**
 * @internal A report of nothing done yet, for `exitPath`.
 *
 * @example
 * ```ts
 * const report = emptyReport('manual') // { exitPath: 'manual', resources: 0, cleaned: 0, failed: [], … }
 * ```
 */
export const emptyReport = (exitPath: ExitPath): CleanupReport => ({
  exitPath, resources: 0, cleaned: 0, failed: [], requests: 0, durationMs: 0, leftovers: 0, deferred: 0,
})

/**
 * @internal Adds `other`'s counts and failures to `into` (its exit path and duration stay); returns `into`.
 *
 * @example
 * ```ts
 * const total = [sweep, flush].reduce(mergeReports, emptyReport('leftovers'))
 * ```
 */
export const mergeReports = (into: CleanupReport, other: CleanupReport): CleanupReport => {
  into.resources += other.resources
  into.cleaned += other.cleaned
  into.failed.push(...other.failed)
  into.requests += other.requests
  into.leftovers += other.leftovers
  into.deferred += other.deferred
  return into
}
