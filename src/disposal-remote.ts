import { type DisposalRun, failed, isDeadlineMiss, released } from './disposal-run.js'
import { describeError } from './errors.js'
import type { DeleteContext, DeleteOutcome, RemoteDeleter } from './remote-kind.js'
import { type RemoteItem, itemIdentity } from './scope-items.js'

// The remote part of a disposal run: each deleter gets all of its resources at once
// (it batches), and what it answers is mapped back onto the tracked items. What it does
// not answer for, or what was cut off by the deadline, is retried later; an attempt is
// used up only when something was sent.

// A deleter that honours the signal answers moments after it fires (its sends reject at
// once): its outcome is taken if it comes within this, so what it confirmed deleted is
// never reported failed. One that ignores the signal costs at most this past the budget.
const LATE_ANSWER_MS = 50
const answerSoon = <T>(p: Promise<T>, error: unknown, hold: boolean): Promise<T> => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(error), LATE_ANSWER_MS)
  if (!hold) t.unref()
  p.then((v) => { clearTimeout(t); resolve(v) }, () => { clearTimeout(t); reject(error) })
})

/** Items of one resource (the same one declared twice, e.g. by two scopes' leftovers), by identity. */
type Twins = Map<string, RemoteItem[]>

// The same resource from two scopes (leftovers) is sent once; its twins share its
// fate. Identity includes the client: the same names through two clients are two.
const groupByDeleter = (items: readonly RemoteItem[]): Map<RemoteDeleter<any>, Twins> => {
  const byDeleter = new Map<RemoteDeleter<any>, Twins>()
  for (const item of items) {
    let group = byDeleter.get(item.deleter)
    if (group === undefined) byDeleter.set(item.deleter, group = new Map())
    const key = itemIdentity(item)
    const same = group.get(key)
    if (same === undefined) group.set(key, [item])
    else same.push(item)
  }
  return byDeleter
}

interface RequestCounter { context: DeleteContext, counted: number, called: boolean }

// countRequests adds to the report as requests go out, so report.requests is true even
// for a deleter still running at the deadline — until the report is handed out.
const requestCounter = (run: DisposalRun): RequestCounter => {
  const counter: RequestCounter = {
    counted: 0,
    called: false,
    context: {
      signal: run.deadline.signal,
      deadline: run.deadline,
      logger: run.logger,
      countRequests: (n: number) => {
        counter.called = true
        if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return
        counter.counted += Math.floor(n)
        if (run.open) run.report.requests += Math.floor(n)
      },
    },
  }
  return counter
}

// `outcome.requests`, for a deleter that does not call countRequests. Returns whether anything was sent.
const countAnswered = (run: DisposalRun, counter: RequestCounter, outcome: DeleteOutcome | undefined): boolean => {
  const legacy = (outcome as { requests?: unknown } | undefined)?.requests
  if (!counter.called && typeof legacy === 'number' && Number.isFinite(legacy) && legacy > 0) run.report.requests += Math.floor(legacy)
  return counter.counted > 0 || (typeof legacy === 'number' && legacy > 0)
}

// Maps the deleter's answer onto the items; `byResource` keeps only what is still unanswered.
const applyOutcome = (run: DisposalRun, deleter: RemoteDeleter<any>, byResource: Map<unknown, RemoteItem[]>, outcome: DeleteOutcome | undefined, sent: boolean): void => {
  for (const r of Array.isArray(outcome?.cleaned) ? outcome.cleaned : []) {
    const same = byResource.get(r)
    if (same !== undefined) { for (const item of same) released(run, item); byResource.delete(r) }
  }
  for (const f of Array.isArray(outcome?.failed) ? outcome.failed : []) {
    const same = byResource.get(f?.resource)
    if (same === undefined) continue
    byResource.delete(f.resource)
    // not sent for this resource, or the budget ran out before anything went out
    const attempted = f.sent !== false && !(isDeadlineMiss(run, f.error) && !sent)
    for (const item of same) failed(run, item, f.error, { retryable: f.retryable === true, attempted, started: f.sent !== false })
  }
  for (const same of byResource.values()) {
    const unanswered = new Error(`deleter '${deleter.kind}' did not report this resource`)
    for (const item of same) failed(run, item, unanswered, { retryable: true, attempted: sent })
  }
}

const deleteGroup = async (run: DisposalRun, deleter: RemoteDeleter<any>, twins: Twins): Promise<void> => {
  const byResource = new Map<unknown, RemoteItem[]>()
  for (const same of twins.values()) byResource.set(same[0]!.resource, same)
  const counter = requestCounter(run)
  try {
    const deleting = Promise.resolve(deleter.delete([...byResource.keys()] as never[], counter.context))
    const outcome = await run.deadline.race(deleting).catch((error: unknown) => answerSoon(deleting, error, run.deadline.hold))
    applyOutcome(run, deleter, byResource, outcome, countAnswered(run, counter, outcome))
  } catch (error) {
    // The deleter failed, or ran past the deadline: every resource it did not
    // answer for is retried later; an attempt is used only when something was sent.
    const attempted = counter.counted > 0 || !isDeadlineMiss(run, error)
    for (const same of byResource.values()) for (const item of same) failed(run, item, error, { retryable: true, attempted })
    try { run.logger.debug?.(`cleanup: ${deleter.kind} deletion stopped: ${describeError(error)}`) } catch { /* a logger never changes the cleanup */ }
  }
}

/**
 * @internal Deletes remote items through their deleters, one call per deleter with
 * all of its resources (deduplicated by identity), all deleters at once.
 *
 * @example
 * ```ts
 * await deleteRemote(run, items.filter((i): i is RemoteItem => i.type === 'remote'))
 * ```
 */
export const deleteRemote = async (run: DisposalRun, items: readonly RemoteItem[]): Promise<void> => {
  await Promise.all([...groupByDeleter(items)].map(([deleter, twins]) => deleteGroup(run, deleter, twins)))
}
