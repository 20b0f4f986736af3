import { Deadline } from './deadline.js'
import { CleanupDeadlineError, describeError } from './errors.js'
import { removePath } from './files.js'
import type { Logger } from './logger.js'
import { type CleanupReport, type ExitPath, type FailedResource, emptyReport } from './report.js'
import { type DisposerItem, type PathItem, type RemoteItem, type TrackedItem, MAX_ATTEMPTS } from './tracked.js'

/** Everything one cleanup run has to release. */
export interface Work {
  /** disposers in declaration order; run in reverse */
  stack: DisposerItem[]
  /** declared paths; removed after the stack, in parallel */
  paths: PathItem[]
  /** per-invocation directories; removed after `paths` */
  dirs: PathItem[]
  remote: RemoteItem[]
  /** resources declared (temp files count one each, their directory none) */
  resources: number
}

export const emptyWork = (): Work => ({ stack: [], paths: [], dirs: [], remote: [], resources: 0 })

export const addToWork = (work: Work, item: TrackedItem): void => {
  if (item.type === 'disposer') work.stack.push(item)
  else if (item.type === 'remote') work.remote.push(item)
  else if (item.id.startsWith('dir:')) work.dirs.push(item)
  else work.paths.push(item)
  work.resources += item.type === 'path' ? item.covers : 1
}

export interface RunOptions {
  exitPath: ExitPath
  budgetMs: number
  logger: Logger
  /** receives what should be retried later (the leftovers list) */
  retryLater: (item: TrackedItem) => void
  signal?: AbortSignal
}

/**
 * Runs one cleanup: remote deletions start at once (batched by their deleter),
 * while locally disposers run LIFO, then paths, then per-invocation dirs. Every
 * item is attempted whatever failed before it; nothing is thrown.
 */
export const runWork = async (work: Work, options: RunOptions): Promise<CleanupReport> => {
  const started = performance.now()
  const report = emptyReport(options.exitPath)
  report.resources = work.resources
  const deadline = new Deadline(options.budgetMs, options.signal)
  const fail = (item: TrackedItem, error: unknown, retryable: boolean): void => {
    // A per-invocation dir that only held the journal: bookkeeping, not a declared
    // resource, and its removal was started anyway; a dead process's is swept later.
    if (item.type === 'path' && item.covers === 0) return
    const entry: FailedResource = { kind: item.kind, id: item.id, error }
    if (retryable && item.attempts + 1 < MAX_ATTEMPTS) {
      item.attempts++
      entry.retrying = true
      report.leftovers++
      options.retryLater(item)
    }
    report.failed.push(entry)
  }
  const ok = (item: TrackedItem): void => { report.cleaned += item.type === 'path' ? item.covers : 1 }

  try {
    await Promise.all([runRemote(work.remote, deadline, options, ok, fail, report), runLocal(work, deadline, ok, fail)])
    // Last, once remote deletes are done: the per-invocation dir holds their journal,
    // which lets the next process finish them if this one is killed meanwhile.
    if (work.dirs.length > 0) await removeAll(work.dirs, deadline, ok, fail)
  } finally {
    deadline.clear()
  }
  report.durationMs = Math.round((performance.now() - started) * 100) / 100
  return report
}

const runLocal = async (
  work: Work, deadline: Deadline,
  ok: (i: TrackedItem) => void, fail: (i: TrackedItem, e: unknown, retryable: boolean) => void,
): Promise<void> => {
  for (let i = work.stack.length - 1; i >= 0; i--) {
    const item = work.stack[i]!
    if (deadline.expired) {
      // Out of time: still start the rest (best effort), but stop waiting.
      for (let j = i; j >= 0; j--) {
        const rest = work.stack[j]!
        try { Promise.resolve(rest.run()).catch(() => {}) } catch { /* reported below */ }
        fail(rest, new CleanupDeadlineError(deadline.budgetMs), false)
      }
      break
    }
    try {
      const result = item.run()
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        await deadline.race(Promise.resolve(result))
      }
      ok(item)
    } catch (error) {
      fail(item, error, false)
    }
  }
  if (work.paths.length > 0) await removeAll(work.paths, deadline, ok, fail)
}

const removeAll = (
  items: PathItem[], deadline: Deadline,
  ok: (i: TrackedItem) => void, fail: (i: TrackedItem, e: unknown, retryable: boolean) => void,
): Promise<unknown> => Promise.all(items.map(async (item) => {
  try {
    await deadline.race(removePath(item.real, item.roots))
    ok(item)
  } catch (error) {
    fail(item, error, error instanceof CleanupDeadlineError || isTransientFsError(error))
  }
}))

const isTransientFsError = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN'
}

const runRemote = async (
  items: RemoteItem[], deadline: Deadline, options: RunOptions,
  ok: (i: TrackedItem) => void, fail: (i: TrackedItem, e: unknown, retryable: boolean) => void, report: CleanupReport,
): Promise<void> => {
  if (items.length === 0) return
  const byDeleter = new Map<RemoteItem['deleter'], Map<string, RemoteItem>>()
  // The same resource from two scopes (leftovers): sent once, counted with its twin.
  const twins = new Map<RemoteItem, RemoteItem[]>()
  for (const item of items) {
    let group = byDeleter.get(item.deleter)
    if (group === undefined) byDeleter.set(item.deleter, group = new Map())
    const first = group.get(item.id)
    if (first === undefined) group.set(item.id, item)
    else twins.set(first, [...(twins.get(first) ?? []), item])
  }
  if (twins.size > 0) {
    const okOne = ok
    const failOne = fail
    ok = (item) => { okOne(item); for (const t of twins.get(item as RemoteItem) ?? []) okOne(t) }
    fail = (item, error, retryable) => { failOne(item, error, retryable); for (const t of twins.get(item as RemoteItem) ?? []) failOne(t, error, false) }
  }
  await Promise.all([...byDeleter].map(async ([deleter, group]) => {
    const byResource = new Map<unknown, RemoteItem>()
    for (const item of group.values()) byResource.set(item.resource, item)
    try {
      const outcome = await deadline.race(deleter.delete([...byResource.keys()] as never[], { signal: deadline.signal, deadline, logger: options.logger }))
      report.requests += outcome.requests
      for (const r of outcome.cleaned) { const item = byResource.get(r); if (item) { ok(item); byResource.delete(r) } }
      for (const f of outcome.failed) { const item = byResource.get(f.resource); if (item) { fail(item, f.error, f.retryable); byResource.delete(f.resource) } }
      for (const item of byResource.values()) fail(item, new Error(`deleter '${deleter.kind}' did not report this resource`), true)
    } catch (error) {
      // The deleter itself failed or ran past the deadline: every resource is retried later.
      for (const item of byResource.values()) fail(item, error, true)
      options.logger.debug?.(`cleanup: ${deleter.kind} deletion stopped: ${describeError(error)}`)
    }
  }))
}
