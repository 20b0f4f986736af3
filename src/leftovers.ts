import { runInBackground } from './deadline.js'
import { addToWork, emptyWork, runWork } from './engine.js'
import { describeError } from './errors.js'
import { realTmpdir, sweepStaleInvocationDirs } from './files.js'
import { type UnconfiguredService, reviveJournal } from './journal.js'
import { sep } from 'node:path'
import { detectEnvironment } from './environment.js'
import { type ResolvedOptions, describeValue, unknownKeyMessage } from './options.js'
import { type Logger, resolveLogger } from './logger.js'
import { type CleanupReport, type ExitPath, emptyReport, mergeReports } from './report.js'
import { type PathItem, type TrackedItem, identityOf, journaledIn } from './tracked.js'

/** What a live scope exposes to the process-wide registry. */
export interface RegisteredScope {
  /** true once its invocation has provably ended without it disposing itself: only then may others dispose it */
  isOrphaned: () => boolean
  /** the exit path to report when it is disposed as an orphan */
  orphanExitPath: () => ExitPath
  /** a new invocation of `requestId` started in a sequential runtime */
  noteLaterInvocation: (requestId: string | undefined) => void
  /** SIGTERM arrived in a sequential runtime */
  noteShutdown: () => void
  /** what it still holds (see {@link identityKey}), so leftovers with the same identity wait */
  heldIdentities: () => Iterable<string>
  /** the per-invocation directory, if created */
  readonly invocationDir: string | undefined
  disposeAs: (exitPath: ExitPath, budgetMs: number) => Promise<CleanupReport>
}

/** The identity a scope deduplicates by and a leftover is matched against: the real path, or kind + client + id. */
export const identityKey = (item: TrackedItem): string =>
  item.type === 'path' ? item.real : item.type === 'remote' ? identityOf(item.resource) : item.id

interface ProcessState {
  active: Set<RegisteredScope>
  leftovers: TrackedItem[]
  sweptStaleDirs: boolean
  background: Promise<unknown> | undefined
  warned: Set<string>
}

// Process-wide, on globalThis: two copies of this module (two bundles, a re-import)
// must still see one leftovers list and one set of live scopes.
const KEY = Symbol.for('middy-cleanup.state')
const g = globalThis as { [KEY]?: ProcessState }
export const state: ProcessState = g[KEY] ??= { active: new Set(), leftovers: [], sweptStaleDirs: false, background: undefined, warned: new Set() }

export const retryLater = (item: TrackedItem): void => { state.leftovers.push(item) }

export const warnOnce = (logger: Logger, key: string, message: string): void => {
  if (state.warned.has(key)) return
  state.warned.add(key)
  logger.warn(message)
}

/**
 * Called by every invocation's `before`. In a sequential runtime (one invocation at a
 * time: Lambda without Managed Instances, main thread) the runtime fetched this event
 * only after every earlier handler settled, so every other invocation's scope has
 * ended: they become orphans the sweep may dispose. Anywhere else this proves nothing.
 */
export const noteInvocationStart = (requestId: string | undefined): void => {
  if (state.active.size === 0 || !detectEnvironment().sequential) return
  for (const scope of state.active) scope.noteLaterInvocation(requestId)
}

/** True when the next invocation's `before` has something to sweep: keep `before` free of work otherwise. */
export const hasPendingWork = (): boolean => {
  if (!state.sweptStaleDirs || state.leftovers.length > 0) return true
  for (const scope of state.active) if (scope.isOrphaned()) return true
  return false
}

/**
 * Starts, in the background, the sweep of what earlier invocations left:
 * orphaned scopes (early returns), leftovers, and — once per process — stale
 * per-invocation directories of a previous process. The invocation that
 * started it waits for it (bounded) in its own after/onError.
 */
export const startBackgroundSweep = (budgetMs: number, config: ResolvedOptions): Promise<unknown> => {
  const { logger, onReport } = config
  if (state.background !== undefined) return state.background
  // Background work may outlive the invocation: its deadlines never hold the event loop (G7).
  const run = runInBackground(async () => {
    // Orphaned scopes report through their own onReport; this report covers the rest.
    const { report } = await flushLeftoversNow({ exitPath: 'leftovers', budgetMs, logger, config })
    if (report.resources > 0 || report.failed.length > 0) {
      if (report.failed.length > 0) logFailures(logger, report)
      // Not awaited: an onReport that hangs would hold state.background, so no later
      // sweep could start and every invocation would wait its whole budget for it.
      notify(onReport, report, logger)
    }
  }).catch((e) => logger.error(`cleanup: sweeping leftovers failed: ${describeError(e)}`))
    .finally(() => { state.background = undefined })
  state.background = run
  return run
}

interface FlushOptions {
  exitPath: ExitPath
  budgetMs: number
  logger: Logger
  signal?: AbortSignal
  /** the clients and allow-lists to finish a dead process's journaled S3/DynamoDB resources with */
  config?: ResolvedOptions
}

const flushLeftoversNow = async (o: FlushOptions): Promise<{ report: CleanupReport, scopeReports: CleanupReport[] }> => {
  const started = performance.now()
  const report = emptyReport(o.exitPath)
  // Only scopes whose invocation provably ended (see CleanupScope.isOrphaned): a
  // scope still running, whatever its request looks like, is never touched here.
  const scopes = [...state.active].filter((s) => s.isOrphaned())
  const scopeReports = Promise.all(scopes.map((s) => s.disposeAs(s.orphanExitPath(), o.budgetMs)))
  const journaled: TrackedItem[] = []
  if (!state.sweptStaleDirs) {
    state.sweptStaleDirs = true
    // Dirs of dead processes only: this process's own (any thread) are never swept by
    // name; its orphaned scopes are disposed through the registry above.
    const config = o.config
    const unconfigured = new Set<UnconfiguredService>()
    const { removed, notes } = await sweepStaleInvocationDirs(config === undefined ? undefined : (dir, journal) => {
      // A process killed outright: delete what it declared and today's allow-lists allow, then its directory.
      const revived = reviveJournal(journal.entries, config)
      for (const service of revived.unconfigured) unconfigured.add(service)
      const dirItem: PathItem = { type: 'path', kind: 'path', id: `dir:${dir}`, real: dir, roots: [realTmpdir()], attempts: 0, covers: 1 }
      // Its journal stays until what it lists is deleted or given up (G3): the run that settles the last removes it.
      journaledIn(dirItem, revived.items)
      journaled.push(...revived.items, dirItem)
      const { items, refused } = revived
      o.logger.warn(`cleanup: ${dir} was left by a process killed outright; deleting the ${items.length} S3 object(s) / DynamoDB item(s) its journal lists${refused.length > 0 ? `; not deleting ${refused.length}: ${refused.slice(0, 3).join('; ')}${refused.length > 3 ? '; …' : ''}` : ''}${journal.malformed > 0 ? `; ${journal.malformed} malformed line(s) skipped` : ''}${journal.truncated ? '; the journal was truncated at its cap, the rest is not replayed' : ''}`)
    })
    if (unconfigured.size > 0) {
      const names = [...unconfigured].sort()
      warnOnce(o.logger, 'journal-unconfigured', `cleanup: not replaying what a process killed outright journaled for ${names.join(' and ')}: ${names.length > 1 ? 'they are' : 'it is'} not configured. A journal in /tmp is only a hint (anything on the box can write one), so a service without an allow-list gets no replay. To have the next process delete what a killed one declared, configure the allow-list: cleanup({ s3, dynamodb, allow: { s3: ['scratch-bucket/tmp/'], dynamodb: ['Scratch'] } }). Until then only the S3 lifecycle / DynamoDB TTL backstops remove them (docs/journal.md).`)
    }
    if (notes.length > 0) o.logger.warn(`cleanup: journal(s) of processes killed outright not (fully) read: ${notes.slice(0, 3).join('; ')}${notes.length > 3 ? '; …' : ''}`)
    if (removed.length > 0) {
      report.resources += removed.length
      report.cleaned += removed.length
      o.logger.warn(`cleanup: removed ${removed.length} per-invocation temp dir(s) of processes that are gone (crash, timeout, hard kill): ${removed.slice(0, 3).join(', ')}${removed.length > 3 ? ', …' : ''}`)
    }
  }
  const items = waitForLiveHolders([...journaled, ...state.leftovers.splice(0)], scopes)
  if (items.length > 0) {
    const work = emptyWork()
    for (const item of items) addToWork(work, item)
    mergeReports(report, await runWork(work, { exitPath: o.exitPath, budgetMs: o.budgetMs, logger: o.logger, retryLater, signal: o.signal }))
  }
  const done = await scopeReports
  report.durationMs = Math.round((performance.now() - started) * 100) / 100
  return { report, scopeReports: done }
}

// A leftover (or a journaled resource of a dead process) that a live scope also holds —
// the same path, a path inside or around one of its paths, the same remote resource
// through the same client — is the live scope's now: deleting it would delete what a
// running invocation uses. It waits on the leftovers list, without using an attempt.
const waitForLiveHolders = (items: TrackedItem[], disposing: readonly RegisteredScope[]): TrackedItem[] => {
  if (items.length === 0) return items
  const held = new Set<string>()
  const heldPaths: string[] = []
  for (const s of state.active) {
    if (disposing.includes(s)) continue
    for (const id of s.heldIdentities()) {
      held.add(id)
      if (id.startsWith(sep)) heldPaths.push(id)
    }
  }
  if (held.size === 0) return items
  const inside = (a: string, b: string): boolean => a.startsWith(b.endsWith(sep) ? b : `${b}${sep}`)
  const go: TrackedItem[] = []
  for (const item of items) {
    const id = identityKey(item)
    const live = held.has(id) || (item.type === 'path' && heldPaths.some((p) => inside(p, id) || inside(id, p)))
    if (live) state.leftovers.push(item)
    else go.push(item)
  }
  return go
}

const notify = (onReport: ResolvedOptions['onReport'], report: CleanupReport, logger: Logger): void => {
  if (onReport === undefined) return
  try {
    const r = onReport(report) as unknown
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(undefined, (e: unknown) => logger.warn(`cleanup: onReport threw: ${describeError(e)}`))
    }
  } catch (e) {
    logger.warn(`cleanup: onReport threw: ${describeError(e)}`)
  }
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
    // It never throws (it runs on the way out), so a misspelt option is said, not thrown:
    // a silently dropped `receivedSignal` would leave every scope to the next process.
    for (const key of Object.keys(options ?? {})) {
      if (!FLUSH_KEYS.includes(key)) logger.warn(unknownKeyMessage('flushLeftovers', key, FLUSH_KEYS))
    }
    if (options.receivedSignal !== undefined && typeof options.receivedSignal !== 'string') {
      logger.warn(`flushLeftovers: option 'receivedSignal' must be the signal's name, e.g. 'SIGTERM'; got ${describeValue(options.receivedSignal)}.`)
    }
    if (options.receivedSignal === 'SIGTERM' && detectEnvironment().sequential) {
      for (const scope of state.active) scope.noteShutdown()
    }
    const budgetMs = typeof options.timeoutMs === 'number' && !Number.isNaN(options.timeoutMs) ? Math.min(2_147_483_647, Math.max(0, options.timeoutMs)) : 2000
    const { report, scopeReports } = await flushLeftoversNow({ exitPath: 'shutdown', budgetMs, logger, signal: options.signal })
    if (report.failed.length > 0) logFailures(logger, report) // scopes logged their own
    for (const r of scopeReports) mergeReports(report, r)
    return report
  } catch (e) {
    logger.error(`cleanup: flushing leftovers failed: ${describeError(e)}`)
    return emptyReport('shutdown')
  }
}

/**
 * Number of resources waiting on the leftovers list (for tests and metrics).
 *
 * @example
 * ```ts
 * await handler(event, context)
 * expect(leftoverCount()).toBe(0) // everything declared was cleaned, nothing left to retry
 * ```
 */
export const leftoverCount = (): number => state.leftovers.length

export const logFailures = (logger: Logger, report: CleanupReport): void => {
  const lines = report.failed.slice(0, 10).map((f) => `${f.kind} ${f.id}: ${describeError(f.error)}${f.retrying === true ? ' (will retry)' : ''}`)
  logger.warn(
    `cleanup: ${report.failed.length} of ${report.resources} resource(s) could not be cleaned (exit path ${report.exitPath}); ${report.leftovers} left for the next invocation: ${lines.join('; ')}${report.failed.length > 10 ? '; …' : ''}`,
    { cleanupReport: report },
  )
}
