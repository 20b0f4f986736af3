import { Deadline } from './deadline.js'
import { deleteRemote } from './disposal-remote.js'
import { type DisposalRun, counts, deferAll, failed, isDeadlineMiss, released } from './disposal-run.js'
import { CleanupDeadlineError } from './errors.js'
import { removePath } from './files.js'
import type { Logger } from './logger.js'
import { type CleanupReport, type ExitPath, emptyReport } from './report.js'
import type { DisposerItem, PathItem, RemoteItem, TrackedItem } from './scope-items.js'

/**
 * @internal Everything one disposal run has to release.
 *
 * @example
 * ```ts
 * const plan = emptyPlan()
 * for (const item of declared) addToPlan(plan, item)
 * const report = await runDisposal(plan, { exitPath: 'manual', budgetMs: 2000, logger, retryLater })
 * ```
 */
export interface DisposalPlan {
  /**
   * Declared items in declaration order, released in reverse (LIFO, as
   * AsyncDisposableStack): an item only once everything declared after it has
   * settled. A disposer is a barrier; consecutive paths and remote resources
   * between two disposers are independent and released together, remote ones
   * batched by deleter.
   */
  items: TrackedItem[]
  /**
   * Per-invocation directories: removed after everything else, and only once no
   * remote resource journaled in them is pending (they hold its `.journal`).
   */
  dirs: PathItem[]
  /** resources declared (temp files count one each, a per-invocation directory none) */
  resources: number
}

/**
 * @internal A plan with nothing in it.
 *
 * @example
 * ```ts
 * const plan = emptyPlan() // { items: [], dirs: [], resources: 0 }
 * ```
 */
export const emptyPlan = (): DisposalPlan => ({ items: [], dirs: [], resources: 0 })

/**
 * @internal Adds a declared item to a plan: a per-invocation dir (`dir:` id) to the
 * dirs removed last, anything else to the LIFO items.
 *
 * @example
 * ```ts
 * addToPlan(plan, { type: 'disposer', kind: 'defer', id: 'defer:close', run: close, attempts: 0 })
 * ```
 */
export const addToPlan = (plan: DisposalPlan, item: TrackedItem): void => {
  if (item.type === 'path' && item.id.startsWith('dir:')) plan.dirs.push(item)
  else plan.items.push(item)
  plan.resources += counts(item)
}

/**
 * @internal How a disposal run is held: its exit path, budget and logger, and
 * where the items to retry go.
 *
 * @example
 * ```ts
 * const options: DisposalOptions = { exitPath: 'success', budgetMs: 1500, logger, retryLater: (item) => leftovers.push(item) }
 * ```
 */
export interface DisposalOptions {
  exitPath: ExitPath
  budgetMs: number
  logger: Logger
  /** receives what should be retried later (the leftovers list), in declaration order */
  retryLater: (item: TrackedItem) => void
  signal?: AbortSignal
  /**
   * Whether the run's deadline holds the event loop (see {@link Deadline}). Default:
   * true — the caller awaits it; the background sweep passes false.
   */
  hold?: boolean
}

// A disposer that returns a promise with no time left gets one turn of the event
// loop: an async function that does not really wait (the common `async () => x.close()`
// of a sync close) settles within it and counts as done.
const settlesSoon = (p: Promise<unknown>): Promise<{ settled: false } | { settled: true, ok: boolean, error?: unknown }> =>
  new Promise((resolve) => {
    const t = setImmediate(() => resolve({ settled: false }))
    p.then(() => { clearImmediate(t); resolve({ settled: true, ok: true }) }, (error: unknown) => { clearImmediate(t); resolve({ settled: true, ok: false, error }) })
  })

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function'

const givenUp = { retryable: false, attempted: true } as const

// A disposer started with no time left: it had one turn of the event loop to settle.
const finishLate = async (run: DisposalRun, item: DisposerItem, promise: Promise<unknown>): Promise<boolean> => {
  const soon = await settlesSoon(promise)
  if (!soon.settled) {
    promise.catch(() => {})
    // started and still running: a disposer never runs twice, so it is given up
    failed(run, item, new CleanupDeadlineError(run.deadline.budgetMs), givenUp)
    return false
  }
  if (soon.ok) released(run, item)
  else failed(run, item, soon.error, givenUp)
  return true
}

// Runs a disposer once (it is never retried). Returns whether the run goes on: false
// when the deadline stopped it, so what was declared before it is deferred.
const runDisposer = async (run: DisposalRun, item: DisposerItem): Promise<boolean> => {
  let result: unknown
  try { result = item.run() } catch (error) { failed(run, item, error, givenUp); return true }
  if (!isThenable(result)) { released(run, item); return true }
  const promise = Promise.resolve(result)
  if (run.deadline.expired) return await finishLate(run, item, promise)
  try {
    await run.deadline.race(promise)
    released(run, item)
    return true
  } catch (error) {
    failed(run, item, error, givenUp)
    return !isDeadlineMiss(run, error)
  }
}

const isTransientFsError = (e: unknown): boolean => {
  let code: unknown
  try { code = (e as NodeJS.ErrnoException | undefined)?.code } catch { return false }
  return code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN'
}

// Removes paths at once; a transient fs error or the deadline retries one later.
const removePaths = (run: DisposalRun, items: readonly PathItem[]): Promise<unknown> => Promise.all(items.map(async (item) => {
  try {
    await run.deadline.race(removePath(item.real, item.roots))
    released(run, item)
  } catch (error) {
    failed(run, item, error, { retryable: isDeadlineMiss(run, error) || isTransientFsError(error), attempted: true })
  }
}))

// Paths and remote resources between two disposers: independent, released together.
const releaseBatch = async (run: DisposalRun, batch: readonly TrackedItem[]): Promise<void> => {
  const paths = batch.filter((i): i is PathItem => i.type === 'path')
  const remote = batch.filter((i): i is RemoteItem => i.type === 'remote')
  await Promise.all([paths.length > 0 ? removePaths(run, paths) : undefined, remote.length > 0 ? deleteRemote(run, remote) : undefined])
}

// LIFO: from the last declared item back, a disposer at a time, the items between two
// disposers as one batch. What cannot start in time is deferred, in order, never dropped.
const releaseInReverse = async (run: DisposalRun, items: readonly TrackedItem[]): Promise<void> => {
  let end = items.length
  while (end > 0) {
    const last = items[end - 1]!
    if (last.type === 'disposer') {
      // Out of time, a disposer is still started: closing a handle or a sync
      // flush costs nothing, and nothing declared after it is left to wait for.
      if (!await runDisposer(run, last)) { deferAll(run, items.slice(0, end - 1)); return }
      end--
      continue
    }
    let start = end - 1
    while (start > 0 && items[start - 1]!.type !== 'disposer') start--
    if (run.deadline.expired) { deferAll(run, items.slice(0, end)); return }
    await releaseBatch(run, items.slice(start, end))
    end = start
  }
}

// Last: the per-invocation dirs. One still holding the journal of a pending remote
// resource stays, and goes with it: the run that releases the last of them removes it,
// and a process killed meanwhile leaves the journal for the next.
const releaseDirs = async (run: DisposalRun, plan: DisposalPlan): Promise<void> => {
  const dirs = [...new Set([...plan.dirs, ...run.freed])].filter((d) => d.holders === undefined || d.holders.size === 0)
  // A dir freed here but kept by an earlier run (a dead process's counts one) joins this report.
  for (const d of run.freed) if (!plan.dirs.includes(d)) run.report.resources += d.covers
  if (dirs.length === 0) return
  if (run.deadline.expired) deferAll(run, dirs)
  else await removePaths(run, dirs)
}

// Declaration order, so the next run releases them LIFO too.
const handBackInOrder = (plan: DisposalPlan, later: ReadonlySet<TrackedItem>, retryLater: (item: TrackedItem) => void): void => {
  const order = new Map<TrackedItem, number>()
  plan.items.forEach((item, i) => order.set(item, i))
  for (const item of [...later].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity))) retryLater(item)
}

/**
 * @internal Runs one disposal, LIFO across every kind (see {@link DisposalPlan}).
 * Every item is attempted whatever failed before it; nothing is thrown. What
 * cannot start in time is deferred — to the leftovers list, in order, without
 * using an attempt — never dropped; a resource is given up only after
 * `MAX_ATTEMPTS` real attempts, with its reason in `report.failed`.
 *
 * @example
 * ```ts
 * const report = await runDisposal(plan, { exitPath: 'timeout', budgetMs: 300, logger, retryLater })
 * // report.failed: what was given up, or deferred (retrying: true)
 * ```
 */
export const runDisposal = async (plan: DisposalPlan, options: DisposalOptions): Promise<CleanupReport> => {
  const started = performance.now()
  const run: DisposalRun = {
    report: emptyReport(options.exitPath),
    deadline: new Deadline(options.budgetMs, options.signal, options.hold === undefined ? undefined : { hold: options.hold }),
    logger: options.logger,
    later: new Set(),
    freed: new Set(),
    open: true,
  }
  run.report.resources = plan.resources
  try {
    await releaseInReverse(run, plan.items)
    await releaseDirs(run, plan)
  } finally {
    run.open = false
    run.deadline.clear()
  }
  handBackInOrder(plan, run.later, options.retryLater)
  run.report.durationMs = Math.round((performance.now() - started) * 100) / 100
  return run.report
}
