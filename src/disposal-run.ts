import type { Deadline } from './deadline.js'
import { CleanupDeadlineError, toFailureReason } from './errors.js'
import type { Logger } from './logger.js'
import type { CleanupReport, FailedResource } from './report.js'
import { type PathItem, type TrackedItem, MAX_ATTEMPTS } from './scope-items.js'

// The bookkeeping of one disposal run, shared by its parts (disposal.ts: disposers,
// paths, the LIFO loop; disposal-remote.ts: remote deleters): what each item's
// outcome does to the report, to the retry list and to the journal dirs' holds.

/**
 * @internal The state of one disposal run.
 *
 * @example
 * ```ts
 * const run: DisposalRun = { report: emptyReport('manual'), deadline, logger, later: new Set(), freed: new Set(), open: true }
 * ```
 */
export interface DisposalRun {
  readonly report: CleanupReport
  readonly deadline: Deadline
  readonly logger: Logger
  /** what is retried later (the leftovers list) */
  readonly later: Set<TrackedItem>
  /** dirs whose last pending journaled resource was released in this run: removed at its end */
  readonly freed: Set<PathItem>
  /** false once the report is handed out: a late `countRequests` must not change it */
  open: boolean
}

/**
 * @internal Resources an item counts for in `report.resources` / `report.cleaned`
 * (a per-invocation dir none: bookkeeping only).
 *
 * @example
 * ```ts
 * report.resources += counts(item)
 * ```
 */
export const counts = (item: TrackedItem): number => item.type === 'path' ? item.covers : 1

// A remote item settled (deleted or given up) no longer holds its journal's dir.
const releaseJournalHold = (run: DisposalRun, item: TrackedItem): void => {
  if (item.type !== 'remote' || item.dir === undefined) return
  const holders = item.dir.holders
  holders?.delete(item)
  if (holders === undefined || holders.size === 0) run.freed.add(item.dir)
}

/**
 * @internal `item` is gone: counted cleaned, its journal hold released.
 *
 * @example
 * ```ts
 * await removePath(item.real, item.roots); released(run, item)
 * ```
 */
export const released = (run: DisposalRun, item: TrackedItem): void => {
  run.report.cleaned += counts(item)
  releaseJournalHold(run, item)
}

/**
 * @internal How a failure happened. `attempted`: a real attempt was made (a request
 * sent, a disposer or an rm started); only those count towards giving up.
 * `started: false`: not even started (`report.deferred`).
 *
 * @example
 * ```ts
 * failed(run, item, error, { retryable: true, attempted: false, started: false })
 * ```
 */
export interface FailureKind { retryable: boolean, attempted: boolean, started?: boolean }

/**
 * @internal `item` failed: retried later while it is retryable and has attempts left
 * (never-attempted ones always are), given up otherwise; either way in `report.failed`.
 *
 * @example
 * ```ts
 * failed(run, item, error, { retryable: isTransient(error), attempted: true })
 * ```
 */
export const failed = (run: DisposalRun, item: TrackedItem, error: unknown, how: FailureKind): void => {
  if (how.attempted) item.attempts++
  const retry = how.retryable && (!how.attempted || item.attempts < MAX_ATTEMPTS)
  if (retry) run.later.add(item)
  else releaseJournalHold(run, item)
  // A per-invocation dir that only held the journal: bookkeeping, not a declared
  // resource; retried silently when it can be, a dead process's is swept later.
  if (item.type === 'path' && item.covers === 0) return
  const entry: FailedResource = { kind: item.kind, id: item.id, error: toFailureReason(error) }
  if (retry) {
    entry.retrying = true
    run.report.leftovers++
    if (how.started === false) run.report.deferred++
  }
  run.report.failed.push(entry)
}

/**
 * @internal Items that cannot start in time: deferred to the leftovers list without
 * using an attempt, each with a not-started deadline error.
 *
 * @example
 * ```ts
 * if (run.deadline.expired) deferAll(run, items)
 * ```
 */
export const deferAll = (run: DisposalRun, items: readonly TrackedItem[]): void => {
  for (const item of items) {
    failed(run, item, new CleanupDeadlineError(run.deadline.budgetMs, { started: false }), { retryable: true, attempted: false, started: false })
  }
}

/**
 * @internal Whether `e` is this run's deadline (its error, its signal's reason, an
 * AbortError once it expired) rather than a failure of the work itself.
 *
 * @example
 * ```ts
 * failed(run, item, error, { retryable: true, attempted: !isDeadlineMiss(run, error) })
 * ```
 */
export const isDeadlineMiss = (run: DisposalRun, e: unknown): boolean => {
  if (e instanceof CleanupDeadlineError) return true
  if (!run.deadline.expired) return false
  try { return e === run.deadline.signal.reason || (e as { name?: unknown } | null)?.name === 'AbortError' } catch { return false }
}
