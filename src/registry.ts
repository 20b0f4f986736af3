import { dirname, sep } from 'node:path'
import { processSlot, warnedKeys } from './process-state.js'
import type { CleanupReport, ExitPath } from './report.js'
import { type TrackedItem, itemIdentity } from './scope-items.js'

/**
 * What a live scope exposes to the process-wide registry: the protocol the sweep,
 * the proof of end and shutdown use, and that two copies of this package in one
 * process share (so its member names stay as they are).
 *
 * @example
 * ```ts
 * for (const scope of processState().active) if (scope.isOrphaned()) void scope.disposeFor(scope.orphanExitPath(), 500)
 * ```
 */
export interface LiveScope {
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
  /** disposes it (once: later calls return the same report); `hold: false` for background work (see Deadline) */
  disposeFor: (exitPath: ExitPath, budgetMs: number, hold?: boolean) => Promise<CleanupReport>
}

/**
 * The process-wide state behind `Symbol.for('middy-cleanup.state')`.
 *
 * @example
 * ```ts
 * processState().active.size // scopes live in this process
 * ```
 */
export interface ProcessState {
  /** scopes that declared something and have not finished disposing */
  active: Set<LiveScope>
  /** what a cleanup could not finish: retried by the next sweep, in declaration order */
  leftovers: TrackedItem[]
  /** the once-per-process sweep of dead processes' dirs has started */
  sweptStaleDirs: boolean
  /** the sweep running now, if any */
  background: Promise<unknown> | undefined
  /** the keys `warnOnce` has seen (the same set as process-state's) */
  warned: Set<string>
}

/**
 * @internal The registry of live scopes and the leftovers list. On globalThis: two
 * copies of this module (two bundles, a re-import) must still see one of each.
 *
 * @example
 * ```ts
 * processState().leftovers.length // what waits for the next sweep
 * ```
 */
export const processState = (): ProcessState => (slot ??= processSlot('state', () => ({
  active: new Set<LiveScope>(),
  leftovers: [],
  sweptStaleDirs: false,
  background: undefined,
  warned: warnedKeys(),
})))
// the slot, once looked up: read on every invocation
let slot: ProcessState | undefined

/**
 * @internal Puts `item` on the leftovers list: the next sweep (next invocation, shutdown) retries it.
 *
 * @example
 * ```ts
 * retryLater({ type: 'disposer', kind: 'defer', id: 'defer', run: () => {}, attempts: 0 })
 * ```
 */
export const retryLater = (item: TrackedItem): void => { processState().leftovers.push(item) }

/**
 * Number of resources waiting on the leftovers list (for tests and metrics).
 *
 * @example
 * ```ts
 * await handler(event, context)
 * expect(leftoverCount()).toBe(0) // everything declared was cleaned, nothing left to retry
 * ```
 */
export const leftoverCount = (): number => processState().leftovers.length

/**
 * @internal The identity a scope deduplicates by and a leftover is matched against:
 * the real path, or kind + client + id.
 *
 * @example
 * ```ts
 * identityKey({ type: 'path', kind: 'path', id: '/tmp/a', real: '/tmp/a', roots: ['/tmp'], attempts: 0, covers: 1 }) // '/tmp/a'
 * ```
 */
export const identityKey = (item: TrackedItem): string =>
  item.type === 'path' ? item.real : item.type === 'remote' ? itemIdentity(item) : item.id

// Whether path `p` is held, inside a held path, or around one — by lookups, not by a scan
// of every held path per item: a scope of 1000 temp files beside another one's 1000
// is 1000 × (depth + log n), not a million prefix tests.
const pathHeld = (p: string, held: ReadonlySet<string>, sortedPaths: readonly string[]): boolean => {
  for (let q = p, up = dirname(p); ; q = up, up = dirname(up)) {
    if (held.has(q)) return true
    if (up === q) break
  }
  const prefix = p.endsWith(sep) ? p : `${p}${sep}`
  let lo = 0
  let hi = sortedPaths.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sortedPaths[mid]! < prefix) lo = mid + 1
    else hi = mid
  }
  return lo < sortedPaths.length && sortedPaths[lo]!.startsWith(prefix)
}

/**
 * @internal The items another live scope (not one of `disposing`) also holds — the same
 * path, a path inside or around one of its paths, the same remote resource through the
 * same client — are that scope's now: deleting them would delete what a running
 * invocation uses. They wait on the leftovers list, without using an attempt; the rest
 * is returned.
 *
 * @example
 * ```ts
 * const mine = waitForLiveHolders(items, [scope]) // the rest waits for the live scopes holding it
 * ```
 */
export const waitForLiveHolders = (items: TrackedItem[], disposing: readonly LiveScope[]): TrackedItem[] => {
  if (items.length === 0) return items
  const state = processState()
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
  heldPaths.sort()
  const go: TrackedItem[] = []
  for (const item of items) {
    const live = item.type === 'path' ? pathHeld(item.real, held, heldPaths) : item.type === 'remote' && held.has(identityKey(item))
    if (live) state.leftovers.push(item)
    else go.push(item)
  }
  return go
}
