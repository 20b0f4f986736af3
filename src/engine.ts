import { Deadline } from './deadline.js'
import { CleanupDeadlineError, describeError, toFailureReason } from './errors.js'
import { removePath } from './files.js'
import type { Logger } from './logger.js'
import { type CleanupReport, type ExitPath, type FailedResource, emptyReport } from './report.js'
import {
  type DeleteContext, type DisposerItem, type PathItem, type RemoteItem, type TrackedItem, MAX_ATTEMPTS, identityOf,
} from './tracked.js'

/** Everything one cleanup run has to release. */
export interface Work {
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

export const emptyWork = (): Work => ({ items: [], dirs: [], resources: 0 })

export const addToWork = (work: Work, item: TrackedItem): void => {
  if (item.type === 'path' && item.id.startsWith('dir:')) work.dirs.push(item)
  else work.items.push(item)
  work.resources += covers(item)
}

export interface RunOptions {
  exitPath: ExitPath
  budgetMs: number
  logger: Logger
  /** receives what should be retried later (the leftovers list), in declaration order */
  retryLater: (item: TrackedItem) => void
  signal?: AbortSignal
  /**
   * Whether the run's deadline holds the event loop (see {@link Deadline}). Default:
   * true — the caller awaits it — except for background work (`runInBackground`).
   */
  hold?: boolean
}

const covers = (item: TrackedItem): number => item.type === 'path' ? item.covers : 1

// A disposer that returns a promise with no time left gets one turn of the event
// loop: an async function that does not really wait (the common `async () => x.close()`
// of a sync close) settles within it and counts as done.
const settlesSoon = (p: Promise<unknown>): Promise<{ settled: false } | { settled: true, ok: boolean, error?: unknown }> =>
  new Promise((resolve) => {
    const t = setImmediate(() => resolve({ settled: false }))
    p.then(() => { clearImmediate(t); resolve({ settled: true, ok: true }) }, (error: unknown) => { clearImmediate(t); resolve({ settled: true, ok: false, error }) })
  })

// A deleter that honours the signal answers moments after it fires (its sends reject at
// once): its outcome is taken if it comes within this, so what it confirmed deleted is
// never reported failed. One that ignores the signal costs at most this past the budget.
const LATE_ANSWER_MS = 50
const answerSoon = <T>(p: Promise<T>, error: unknown, hold: boolean): Promise<T> => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(error), LATE_ANSWER_MS)
  if (!hold) t.unref()
  p.then((v) => { clearTimeout(t); resolve(v) }, () => { clearTimeout(t); reject(error) })
})

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function'

/**
 * Runs one cleanup, LIFO across every kind (see {@link Work}). Every item is
 * attempted whatever failed before it; nothing is thrown. What cannot start in
 * time is deferred — to the leftovers list, in order, without using an attempt —
 * never dropped; a resource is given up only after {@link MAX_ATTEMPTS} real
 * attempts, with its reason in `report.failed`.
 */
export const runWork = async (work: Work, options: RunOptions): Promise<CleanupReport> => {
  const started = performance.now()
  const report = emptyReport(options.exitPath)
  report.resources = work.resources
  const deadline = new Deadline(options.budgetMs, options.signal, options.hold === undefined ? undefined : { hold: options.hold })
  const later = new Set<TrackedItem>()
  // Dirs whose last pending journaled resource settled in this run: removed at its end.
  const freed = new Set<PathItem>()
  // countRequests after the report was returned would change a report already handed out.
  let open = true

  const settle = (item: TrackedItem): void => {
    if (item.type !== 'remote' || item.dir === undefined) return
    const holders = item.dir.holders
    holders?.delete(item)
    if (holders === undefined || holders.size === 0) freed.add(item.dir)
  }
  const ok = (item: TrackedItem): void => { report.cleaned += covers(item); settle(item) }
  /**
   * `attempted`: a real attempt was made (a request sent, a disposer or an rm
   * started); only those count towards giving up. `started: false`: not even
   * started (`report.deferred`).
   */
  const fail = (item: TrackedItem, error: unknown, retryable: boolean, attempted: boolean, started = true): void => {
    if (attempted) item.attempts++
    const retry = retryable && (!attempted || item.attempts < MAX_ATTEMPTS)
    if (retry) later.add(item)
    else settle(item)
    // A per-invocation dir that only held the journal: bookkeeping, not a declared
    // resource; retried silently when it can be, a dead process's is swept later.
    if (item.type === 'path' && item.covers === 0) return
    const entry: FailedResource = { kind: item.kind, id: item.id, error: toFailureReason(error) }
    if (retry) {
      entry.retrying = true
      report.leftovers++
      if (!started) report.deferred++
    }
    report.failed.push(entry)
  }
  const notStarted = (): CleanupDeadlineError => new CleanupDeadlineError(deadline.budgetMs, { started: false })
  const defer = (items: readonly TrackedItem[]): void => { for (const item of items) fail(item, notStarted(), true, false, false) }

  const isDeadlineMiss = (e: unknown): boolean => {
    if (e instanceof CleanupDeadlineError) return true
    if (!deadline.expired) return false
    try { return e === deadline.signal.reason || (e as { name?: unknown } | null)?.name === 'AbortError' } catch { return false }
  }

  const runDisposer = async (item: DisposerItem): Promise<boolean> => {
    let result: unknown
    try { result = item.run() } catch (error) { fail(item, error, false, true); return true }
    if (!isThenable(result)) { ok(item); return true }
    const promise = Promise.resolve(result)
    if (deadline.expired) {
      const soon = await settlesSoon(promise)
      if (!soon.settled) {
        promise.catch(() => {})
        // started and still running: a disposer never runs twice, so it is given up
        fail(item, new CleanupDeadlineError(deadline.budgetMs), false, true)
        return false
      }
      if (soon.ok) ok(item)
      else fail(item, soon.error, false, true)
      return true
    }
    try {
      await deadline.race(promise)
      ok(item)
      return true
    } catch (error) {
      fail(item, error, false, true)
      return !isDeadlineMiss(error)
    }
  }

  const removeAll = (items: PathItem[]): Promise<unknown> => Promise.all(items.map(async (item) => {
    try {
      await deadline.race(removePath(item.real, item.roots))
      ok(item)
    } catch (error) {
      fail(item, error, isDeadlineMiss(error) || isTransientFsError(error), true)
    }
  }))

  const runRemote = async (items: RemoteItem[]): Promise<void> => {
    const byDeleter = new Map<RemoteItem['deleter'], Map<string, RemoteItem[]>>()
    for (const item of items) {
      let group = byDeleter.get(item.deleter)
      if (group === undefined) byDeleter.set(item.deleter, group = new Map())
      // The same resource from two scopes (leftovers) is sent once; its twins share
      // its fate. Identity includes the client: same names through two clients are two.
      const key = identityOf(item.resource)
      const same = group.get(key)
      if (same === undefined) group.set(key, [item])
      else same.push(item)
    }
    await Promise.all([...byDeleter].map(async ([deleter, group]) => {
      const byResource = new Map<unknown, RemoteItem[]>()
      for (const same of group.values()) byResource.set(same[0]!.resource, same)
      let counted = 0
      let counts = false
      const context: DeleteContext = {
        signal: deadline.signal,
        deadline,
        logger: options.logger,
        countRequests: (n: number) => {
          counts = true
          if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return
          counted += Math.floor(n)
          if (open) report.requests += Math.floor(n)
        },
      }
      const okAll = (same: RemoteItem[]): void => { for (const item of same) ok(item) }
      const failAll = (same: RemoteItem[], error: unknown, retryable: boolean, attempted: boolean, started = true): void => {
        for (const item of same) fail(item, error, retryable, attempted, started)
      }
      try {
        const deleting = Promise.resolve(deleter.delete([...byResource.keys()] as never[], context))
        const outcome = await deadline.race(deleting).catch((error: unknown) => answerSoon(deleting, error, deadline.hold))
        const legacy = (outcome as { requests?: unknown } | undefined)?.requests
        if (!counts && typeof legacy === 'number' && Number.isFinite(legacy) && legacy > 0) report.requests += Math.floor(legacy)
        const sent = counted > 0 || (typeof legacy === 'number' && legacy > 0)
        for (const r of Array.isArray(outcome?.cleaned) ? outcome.cleaned : []) {
          const same = byResource.get(r)
          if (same !== undefined) { okAll(same); byResource.delete(r) }
        }
        for (const f of Array.isArray(outcome?.failed) ? outcome.failed : []) {
          const same = byResource.get(f?.resource)
          if (same === undefined) continue
          byResource.delete(f.resource)
          // not sent for this resource, or the budget ran out before anything went out
          const attempted = f.sent !== false && !(isDeadlineMiss(f.error) && !sent)
          failAll(same, f.error, f.retryable === true, attempted, f.sent !== false)
        }
        for (const same of byResource.values()) failAll(same, new Error(`deleter '${deleter.kind}' did not report this resource`), true, sent)
      } catch (error) {
        // The deleter failed, or ran past the deadline: every resource it did not
        // answer for is retried later; an attempt is used only when something was sent.
        const attempted = counted > 0 || !isDeadlineMiss(error)
        for (const same of byResource.values()) failAll(same, error, true, attempted)
        try { options.logger.debug?.(`cleanup: ${deleter.kind} deletion stopped: ${describeError(error)}`) } catch { /* a logger never changes the cleanup */ }
      }
    }))
  }

  try {
    const items = work.items
    let end = items.length
    while (end > 0) {
      const last = items[end - 1]!
      if (last.type === 'disposer') {
        // Out of time, a disposer is still started: closing a handle or a sync
        // flush costs nothing, and nothing declared after it is left to wait for.
        if (!await runDisposer(last)) { defer(items.slice(0, end - 1)); break }
        end--
        continue
      }
      let start = end - 1
      while (start > 0 && items[start - 1]!.type !== 'disposer') start--
      if (deadline.expired) { defer(items.slice(0, end)); break }
      const group = items.slice(start, end)
      const paths = group.filter((i): i is PathItem => i.type === 'path')
      const remote = group.filter((i): i is RemoteItem => i.type === 'remote')
      await Promise.all([paths.length > 0 ? removeAll(paths) : undefined, remote.length > 0 ? runRemote(remote) : undefined])
      end = start
    }
    // Last: the per-invocation dirs. One still holding the journal of a pending
    // remote resource stays, and goes with it: the run that settles the last of
    // them removes it, and a process killed meanwhile leaves the journal for the next.
    const dirs = [...new Set([...work.dirs, ...freed])].filter((d) => d.holders === undefined || d.holders.size === 0)
    // A dir freed here but kept by an earlier run (a dead process's counts one) joins this report.
    for (const d of freed) if (!work.dirs.includes(d)) report.resources += d.covers
    if (dirs.length > 0) {
      if (deadline.expired) defer(dirs)
      else await removeAll(dirs)
    }
  } finally {
    open = false
    deadline.clear()
  }
  // Declaration order, so the next run releases them LIFO too.
  const order = new Map<TrackedItem, number>()
  work.items.forEach((item, i) => order.set(item, i))
  for (const item of [...later].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity))) options.retryLater(item)
  report.durationMs = Math.round((performance.now() - started) * 100) / 100
  return report
}

const isTransientFsError = (e: unknown): boolean => {
  let code: unknown
  try { code = (e as NodeJS.ErrnoException | undefined)?.code } catch { return false }
  return code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN'
}
