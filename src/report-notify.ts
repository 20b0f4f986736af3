import { describeError } from './errors.js'
import type { Logger } from './logger.js'
import type { CleanupReport } from './report.js'

// What every disposal does with its report once it is final, the scope's and the
// sweep's alike: failures said once, onReport told without being awaited.

/**
 * @internal Calls `onReport` without awaiting it: a throw or a rejection is logged, never rethrown.
 *
 * @example
 * ```ts
 * notifyReport(config.onReport, report, config.logger)
 * ```
 */
export const notifyReport = (onReport: ((report: CleanupReport) => unknown) | undefined, report: CleanupReport, logger: Logger): void => {
  if (onReport === undefined) return
  try {
    const r = onReport(report)
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(undefined, (e: unknown) => logger.warn(`cleanup: onReport threw: ${describeError(e)}`))
    }
  } catch (e) {
    logger.warn(`cleanup: onReport threw: ${describeError(e)}`)
  }
}

/**
 * @internal Logs what a cleanup could not clean, at most 10 reasons, with the report.
 *
 * @example
 * ```ts
 * if (report.failed.length > 0) logFailures(logger, report)
 * ```
 */
export const logFailures = (logger: Logger, report: CleanupReport): void => {
  const lines = report.failed.slice(0, 10).map((f) => `${f.kind} ${f.id}: ${describeError(f.error)}${f.retrying === true ? ' (will retry)' : ''}`)
  logger.warn(
    `cleanup: ${report.failed.length} of ${report.resources} resource(s) could not be cleaned (exit path ${report.exitPath}); ${report.leftovers} left for the next invocation: ${lines.join('; ')}${report.failed.length > 10 ? '; …' : ''}`,
    { cleanupReport: report },
  )
}
