import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { addToPlan, emptyPlan, runDisposal } from './disposal.js'
import { describeError } from './errors.js'
import { realTmpdir } from './files.js'
import { deadOwnersDirs } from './invocation-dirs.js'
import { JOURNAL_FILE, JOURNAL_MAX_BYTES, JOURNAL_MAX_ENTRIES, type JournalRead, readJournal, reviveJournal } from './journal.js'
import { builtInKinds } from './kinds.js'
import { noteSignal } from './end-proof.js'
import { type Logger, resolveLogger } from './logger.js'
import type { ResolvedOptions } from './options.js'
import { describeValue, unknownKeyMessage } from './validation.js'
import { warnOnce } from './process-state.js'
import { retryLater, processState, waitForLiveHolders } from './registry.js'
import { type CleanupReport, type ExitPath, emptyReport, mergeReports } from './report.js'
import { logFailures, notifyReport } from './report-notify.js'
import { type PathItem, type TrackedItem, journaledIn } from './scope-items.js'

// What earlier invocations left, cleaned at the start of a later one (in the
// background) or on the way out (shutdown): orphaned scopes, the leftovers list, and —
// once per process — the per-invocation dirs of dead processes, with their journals.

/**
 * @internal True when the next invocation's `before` has something to sweep: keep `before` free of work otherwise.
 *
 * @example
 * ```ts
 * if (hasPendingWork()) void startBackgroundSweep(budgetMs, config)
 * ```
 */
export const hasPendingWork = (): boolean => {
  const state = processState()
  if (!state.sweptStaleDirs || state.leftovers.length > 0) return true
  for (const scope of state.active) if (scope.isOrphaned()) return true
  return false
}

/**
 * @internal The sweep running now, if any: the invocation that started it waits for it
 * (bounded) in its after/onError; with none, an empty scope ends without a promise.
 *
 * @example
 * ```ts
 * if (runningSweep() === undefined && core.endNowIfEmpty('success')) return undefined
 * ```
 */
export const runningSweep = (): Promise<unknown> | undefined => processState().background

/**
 * @internal Starts, in the background, the sweep of what earlier invocations left:
 * orphaned scopes (early returns), leftovers, and — once per process — stale
 * per-invocation directories of a previous process. The invocation that started it
 * waits for it (bounded) in its own after/onError.
 *
 * @example
 * ```ts
 * const sweep = startBackgroundSweep(500, config)
 * ```
 */
export const startBackgroundSweep = (budgetMs: number, config: ResolvedOptions): Promise<unknown> => {
  const { logger, onReport } = config
  const state = processState()
  if (state.background !== undefined) return state.background
  // Background work may outlive the invocation: its deadlines never hold the event loop (G7).
  const run = (async () => {
    // Orphaned scopes report through their own onReport; this report covers the rest.
    const { report } = await flushNow({ exitPath: 'leftovers', budgetMs, logger, config, hold: false })
    if (report.resources > 0 || report.failed.length > 0) {
      if (report.failed.length > 0) logFailures(logger, report)
      // Not awaited: an onReport that hangs would hold state.background, so no later
      // sweep could start and every invocation would wait its whole budget for it.
      notifyReport(onReport, report, logger)
    }
  })().catch((e) => logger.error(`cleanup: sweeping leftovers failed: ${describeError(e)}`))
    .finally(() => { state.background = undefined })
  state.background = run
  return run
}

/**
 * @internal How one flush runs.
 *
 * @example
 * ```ts
 * const o: FlushOptions = { exitPath: 'shutdown', budgetMs: 300, logger }
 * ```
 */
export interface FlushOptions {
  exitPath: ExitPath
  budgetMs: number
  logger: Logger
  signal?: AbortSignal
  /** the clients and allow-lists to finish a dead process's journaled S3/DynamoDB resources with */
  config?: ResolvedOptions
  /** false for the background sweep: its deadlines never keep the process alive (default true: awaited) */
  hold?: boolean
}

/**
 * @internal Disposes the orphaned scopes, retries the leftovers and (once per process)
 * sweeps dead processes' dirs. The report covers all but the scopes, which report themselves.
 *
 * @example
 * ```ts
 * const { report, scopeReports } = await flushNow({ exitPath: 'shutdown', budgetMs: 300, logger })
 * ```
 */
export const flushNow = async (o: FlushOptions): Promise<{ report: CleanupReport, scopeReports: CleanupReport[] }> => {
  const started = performance.now()
  const report = emptyReport(o.exitPath)
  // Only scopes whose invocation provably ended (see LiveScope.isOrphaned): a scope
  // still running, whatever its request looks like, is never touched here.
  const state = processState()
  const scopes = [...state.active].filter((s) => s.isOrphaned())
  const scopeReports = Promise.all(scopes.map((s) => s.disposeFor(s.orphanExitPath(), o.budgetMs, o.hold)))
  const journaled: TrackedItem[] = []
  if (!state.sweptStaleDirs) {
    state.sweptStaleDirs = true
    await reviveDeadProcessDirs(o, report, journaled)
  }
  const items = waitForLiveHolders([...journaled, ...state.leftovers.splice(0)], scopes)
  if (items.length > 0) {
    const work = emptyPlan()
    for (const item of items) addToPlan(work, item)
    mergeReports(report, await runDisposal(work, { exitPath: o.exitPath, budgetMs: o.budgetMs, logger: o.logger, retryLater, signal: o.signal, hold: o.hold }))
  }
  const done = await scopeReports
  report.durationMs = Math.round((performance.now() - started) * 100) / 100
  return { report, scopeReports: done }
}

const few = (list: readonly string[], by = ', '): string => `${list.slice(0, 3).join(by)}${list.length > 3 ? `${by}…` : ''}`

// Dirs of dead processes only: this process's own (any thread) are never swept by
// name; its orphaned scopes are disposed through the registry.
const reviveDeadProcessDirs = async (o: FlushOptions, report: CleanupReport, journaled: TrackedItem[]): Promise<void> => {
  const config = o.config
  const unconfigured = new Set<string>()
  const { removed, notes } = await sweepStaleInvocationDirs(config === undefined ? undefined : (dir, journal) => {
    // A process killed outright: delete what it declared and today's allow-lists allow, then its directory.
    const revived = reviveJournal(journal.entries, builtInKinds, config)
    for (const service of revived.unconfigured) unconfigured.add(service)
    const dirItem: PathItem = { type: 'path', kind: 'path', id: `dir:${dir}`, real: dir, roots: [realTmpdir()], attempts: 0, covers: 1 }
    // Its journal stays until what it lists is deleted or given up (G3): the run that settles the last removes it.
    journaledIn(dirItem, revived.items)
    journaled.push(...revived.items, dirItem)
    const { items, refused } = revived
    o.logger.warn(`cleanup: ${dir} was left by a process killed outright; deleting the ${items.length} S3 object(s) / DynamoDB item(s) its journal lists${refused.length > 0 ? `; not deleting ${refused.length}: ${few(refused, '; ')}` : ''}${journal.malformed > 0 ? `; ${journal.malformed} malformed line(s) skipped` : ''}${journal.truncated ? '; the journal was truncated at its cap, the rest is not replayed' : ''}`)
  })
  if (unconfigured.size > 0) {
    const names = [...unconfigured].sort()
    warnOnce(o.logger, 'journal-unconfigured', `cleanup: not replaying what a process killed outright journaled for ${names.join(' and ')}: ${names.length > 1 ? 'they are' : 'it is'} not configured. A journal in /tmp is only a hint (anything on the box can write one), so a service without an allow-list gets no replay. To have the next process delete what a killed one declared, configure the allow-list: cleanup({ s3, dynamodb, allow: { s3: ['scratch-bucket/tmp/'], dynamodb: ['Scratch'] } }). Until then only the S3 lifecycle / DynamoDB TTL backstops remove them (docs/journal.md).`)
  }
  if (notes.length > 0) o.logger.warn(`cleanup: journal(s) of processes killed outright not (fully) read: ${few(notes, '; ')}`)
  if (removed.length > 0) {
    report.resources += removed.length
    report.cleaned += removed.length
    o.logger.warn(`cleanup: removed ${removed.length} per-invocation temp dir(s) of processes that are gone (crash, timeout, hard kill): ${few(removed)}`)
  }
}

/**
 * What the start-of-process sweep did: dirs removed, and journals it found but did not obey.
 *
 * @example
 * ```ts
 * const { removed, notes }: SweepResult = await sweepStaleInvocationDirs()
 * ```
 */
export interface SweepResult {
  removed: string[]
  /** one line per journal without a replayable entry that was ignored, truncated or had malformed lines */
  notes: string[]
}

const journalNote = (dir: string, j: JournalRead): string | undefined => {
  if (j.ignored !== undefined) return `${join(dir, JOURNAL_FILE)} ignored: ${j.ignored}`
  const parts: string[] = []
  if (j.malformed > 0) parts.push(`${j.malformed} malformed line(s) skipped`)
  if (j.truncated) parts.push(`truncated at the cap (${JOURNAL_MAX_BYTES / 1024 / 1024} MiB, ${JOURNAL_MAX_ENTRIES} entries): the rest is not replayed`)
  return parts.length === 0 ? undefined : `${join(dir, JOURNAL_FILE)}: ${parts.join('; ')}`
}

/**
 * @internal Removes the per-invocation directories of dead processes (see
 * `deadOwnersDirs`). A directory whose journal lists remote resources is handed to
 * `onJournal` (which deletes the allowed ones, then the directory) and left alone when
 * there is none: without clients (e.g. a shutdown flush) it waits for a process that has them.
 *
 * @example
 * ```ts
 * const { removed } = await sweepStaleInvocationDirs()
 * ```
 */
export const sweepStaleInvocationDirs = async (onJournal?: (dir: string, journal: JournalRead) => void): Promise<SweepResult> => {
  const result: SweepResult = { removed: [], notes: [] }
  await Promise.all((await deadOwnersDirs()).map(async (dir) => {
    const journal = await readJournal(dir, builtInKinds)
    if (journal.entries.length > 0) { onJournal?.(dir, journal); return }
    const note = journalNote(dir, journal)
    if (note !== undefined) result.notes.push(note)
    try { await rm(dir, { recursive: true, force: true }); result.removed.push(dir) } catch { /* reported by the next sweep */ }
  }))
  return result
}

/**
 * Options of {@link flushLeftovers}.
 *
 * @example
 * ```ts
 * process.once('SIGTERM', async (signal) => { await flushLeftovers({ timeoutMs: 300, receivedSignal: signal }); process.exit(0) })
 * ```
 */
export interface FlushLeftoversOptions {
  /** How long the flush may take, in ms. */
  timeoutMs: number
  /** Aborts the flush's requests (e.g. at a shutdown deadline). */
  signal?: AbortSignal
  /** Where failures are logged (see the `logger` option of `cleanup()`). @default console */
  logger?: unknown
  /**
   * The signal that made you flush. `'SIGTERM'` in a sequential Lambda runtime
   * (one invocation at a time) proves every invocation has ended: their scopes are
   * disposed too (exit path `shutdown`). Anywhere else only leftovers and scopes
   * whose end is proven are flushed; a still-running invocation is never touched.
   */
  receivedSignal?: string
}

const FLUSH_KEYS = ['timeoutMs', 'signal', 'logger', 'receivedSignal']

// It never throws (it runs on the way out), so a misspelt option is said, not thrown:
// a silently dropped `receivedSignal` would leave every scope to the next process.
const warnAboutOptions = (options: FlushLeftoversOptions, logger: Logger): void => {
  for (const key of Object.keys(options ?? {})) {
    if (!FLUSH_KEYS.includes(key)) logger.warn(unknownKeyMessage('flushLeftovers', key, FLUSH_KEYS))
  }
  if (options.receivedSignal !== undefined && typeof options.receivedSignal !== 'string') {
    logger.warn(`flushLeftovers: option 'receivedSignal' must be the signal's name, e.g. 'SIGTERM'; got ${describeValue(options.receivedSignal)}.`)
  }
}

/**
 * Cleans, now, what this process still owes and may delete: leftovers of earlier
 * cleanups, and the scopes of invocations that provably ended without cleaning
 * (an early return on Middy 6/7; on SIGTERM in a sequential Lambda runtime every
 * invocation). A scope still running is never touched: its per-invocation dir and
 * journal stay for the next process. Used by the shutdown companion on SIGTERM
 * (exit path `shutdown`). Never throws.
 *
 * @example
 * ```ts
 * process.once('SIGTERM', async (signal) => { await flushLeftovers({ timeoutMs: 300, receivedSignal: signal }); process.exit(0) })
 * ```
 */
export const flushLeftovers = async (options: FlushLeftoversOptions): Promise<CleanupReport> => {
  let logger: Logger
  try { logger = resolveLogger(options?.logger, 'flushLeftovers') } catch { logger = resolveLogger(undefined, 'flushLeftovers') }
  try {
    warnAboutOptions(options, logger)
    noteSignal(options.receivedSignal)
    const budgetMs = typeof options.timeoutMs === 'number' && !Number.isNaN(options.timeoutMs) ? Math.min(2_147_483_647, Math.max(0, options.timeoutMs)) : 2000
    const { report, scopeReports } = await flushNow({ exitPath: 'shutdown', budgetMs, logger, signal: options.signal })
    if (report.failed.length > 0) logFailures(logger, report) // scopes logged their own
    for (const r of scopeReports) mergeReports(report, r)
    return report
  } catch (e) {
    logger.error(`cleanup: flushing leftovers failed: ${describeError(e)}`)
    return emptyReport('shutdown')
  }
}
