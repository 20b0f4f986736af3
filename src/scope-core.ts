import { mkdir } from 'node:fs/promises'
import { addToPlan, emptyPlan, runDisposal } from './disposal.js'
import { describeError } from './errors.js'
import { appendJournal, journalLine } from './journal.js'
import type { Logger } from './logger.js'
import { warnOnce } from './process-state.js'
import { type LiveScope, identityKey, retryLater, processState, waitForLiveHolders } from './registry.js'
import type { RemoteKind } from './remote-kind.js'
import { type CleanupReport, type ExitPath, emptyReport } from './report.js'
import { logFailures, notifyReport } from './report-notify.js'
import { type PathItem, type RemoteItem, type TrackedItem, journaledIn } from './scope-items.js'

// The scope without any service in it: what was declared (LIFO), once per identity,
// the state machine, the registry entry, the journal of remote resources (each kind
// encodes its own), the report hooks. The public CleanupScope (scope.ts) is a facade
// over this; S3, DynamoDB, Middy and files live around it, never in it.

/**
 * @internal Proof that the scope's invocation ended without it disposing itself (end-proof.ts).
 *
 * @example
 * ```ts
 * core.watchEnd(new InvocationEnd(request))
 * ```
 */
export interface EndWitness {
  ended: () => boolean
  exitPath: () => ExitPath
  noteLaterInvocation: (requestId: string | undefined) => void
  noteShutdown: () => void
  holdOutput: () => void
}

/**
 * @internal Runs after disposal, before `onReport` (leak detection adds `report.leaks`).
 *
 * @example
 * ```ts
 * core.addReportHook((report) => { report.leaks = [] })
 * ```
 */
export type ReportHook = (report: CleanupReport) => void | Promise<void>

/**
 * @internal What the core needs to be built: the resolved options it uses, and how
 * to name its per-invocation dir (files.ts).
 *
 * @example
 * ```ts
 * new ScopeCore({ config, newDir: () => invocationDirItem() })
 * ```
 */
export interface ScopeCoreSettings {
  readonly config: { readonly logger: Logger, readonly onReport: ((report: CleanupReport) => unknown) | undefined }
  /** the per-invocation dir's item (not created on disk: the caller does that) */
  readonly newDir: () => PathItem
}

/**
 * Where a scope is: `'active'` until disposal starts, then `'disposing'`, then `'disposed'`.
 *
 * @example
 * ```ts
 * if (scope.state !== 'active') return // too late to declare: it would go to the leftovers
 * ```
 */
export type ScopeState = 'active' | 'disposing' | 'disposed'

/**
 * @internal One scope's bookkeeping and disposal. Registered in the process registry
 * from its first declaration until it is disposed.
 *
 * @example
 * ```ts
 * const core = new ScopeCore({ config, newDir })
 * core.hold({ type: 'disposer', kind: 'defer', id: 'defer', run: () => {}, attempts: 0 })
 * await core.disposeFor('manual', 2000)
 * ```
 */
export class ScopeCore implements LiveScope {
  readonly #settings: ScopeCoreSettings
  #state: ScopeState = 'active'
  #items: TrackedItem[] | undefined
  #ids: Set<string> | undefined
  #dir: PathItem | undefined
  #dirMade: Promise<PathItem> | undefined
  #journaled: RemoteItem[] | undefined
  #lines: string[] | undefined
  #disposal: Promise<CleanupReport> | undefined
  #registered = false
  #end: EndWitness | undefined
  #hooks: ReportHook[] | undefined
  #locals: Map<object, unknown> | undefined
  #emptyExit: ExitPath | undefined

  constructor (settings: ScopeCoreSettings) { this.#settings = settings }

  /** `'active'` until disposal starts, then `'disposing'`, then `'disposed'`. */
  get state (): ScopeState { return this.#state }

  /** The per-invocation temp directory, once something needed it. */
  get invocationDir (): string | undefined { return this.#dir?.real }

  /** Watches for proof of its invocation's end (set once, by the middleware). */
  watchEnd (end: EndWitness): void { this.#end ??= end }

  /** Adds a hook run after disposal, in the order added; a throwing hook is logged and changes nothing. */
  addReportHook (hook: ReportHook): void { (this.#hooks ??= []).push(hook) }

  /** How many report hooks are attached (leak detection attaches one): for tests. */
  get reportHooks (): number { return this.#hooks?.length ?? 0 }

  /**
   * Holds `item` for disposal. False when not held: the same identity (real path, or
   * kind + client + id) is already held — deleted, and counted, once — or disposal has
   * begun (the item goes to the leftovers, never thrown at code still running after a timeout).
   */
  hold (item: TrackedItem): boolean {
    if (this.#state !== 'active') { this.#late(item); return false }
    if (item.type !== 'disposer') {
      const ids = this.#ids ??= new Set()
      const identity = identityKey(item)
      if (ids.has(identity)) return false
      ids.add(identity)
    }
    this.#register()
    ;(this.#items ??= []).push(item)
    return true
  }

  /** {@link ScopeCore.hold}s a remote item and, when its kind journals, writes it to the journal (batched per tick). */
  holdRemote (item: RemoteItem): boolean {
    if (!this.hold(item)) return false
    const codec = (item.deleter as RemoteKind).journal
    const line = codec === undefined ? undefined : journalLine(item.resource, codec)
    if (line !== undefined) this.#journal(item, line)
    return true
  }

  /** The per-invocation dir's item: held once, or a leftover when disposal has begun. */
  dir (): PathItem {
    if (this.#dir !== undefined) return this.#dir
    const item = this.#settings.newDir()
    if (this.#state === 'active') {
      this.#dir = item
      this.#register()
    } else {
      this.#late(item)
    }
    return item
  }

  /** The per-invocation dir, created on disk (once per scope; again, as a leftover, after disposal began). */
  madeDir (): Promise<PathItem> {
    if (this.#dirMade !== undefined && this.#state === 'active') return this.#dirMade
    const item = this.dir()
    return (this.#dirMade = mkdir(item.real, { recursive: true, mode: 0o700 }).then(() => item))
  }

  /** Per-invocation values of `invocationLocal()`. */
  local<T> (key: object, factory: () => T): T {
    const locals = this.#locals ??= new Map()
    if (locals.has(key)) return locals.get(key) as T
    const value = factory()
    locals.set(key, value)
    return value
  }

  /** Disposes once, for `exitPath` within `budgetMs` (`hold: false`: background work, see Deadline): later calls return the same report. Never rejects. */
  disposeFor (exitPath: ExitPath, budgetMs: number, hold = true): Promise<CleanupReport> {
    if (this.#disposal !== undefined) return this.#disposal
    if (this.#state === 'disposed') return (this.#disposal = Promise.resolve(emptyReport(this.#emptyExit ?? exitPath)))
    // "Never throws": a failure inside disposal (a bug) is logged, not rethrown into
    // the invocation or the standalone owner awaiting it.
    return (this.#disposal = this.#dispose(exitPath, budgetMs, hold).then(undefined, (e: unknown) => {
      this.#settings.config.logger.error(`cleanup: disposing the scope (exit path ${exitPath}) failed: ${describeError(e)}`)
      return emptyReport(exitPath)
    }))
  }

  /**
   * The per-invocation fast path: when nothing was declared and nobody wants a report,
   * ends the scope now — no promise, no timer — and returns true. A later dispose
   * still returns an (empty) report.
   */
  endNowIfEmpty (exitPath: ExitPath): boolean {
    if (this.#items !== undefined || this.#dir !== undefined || this.#disposal !== undefined ||
      this.#hooks !== undefined || this.#settings.config.onReport !== undefined) return false
    this.#state = 'disposed'
    this.#emptyExit = exitPath
    this.#locals = undefined
    return true
  }

  /** True when its invocation provably ended without it disposing itself: only then may others dispose it. */
  isOrphaned (): boolean { return this.#state === 'active' && this.#end?.ended() === true }
  orphanExitPath (): ExitPath { return this.#end?.exitPath() ?? 'early-return' }
  noteLaterInvocation (requestId: string | undefined): void { this.#end?.noteLaterInvocation(requestId) }
  noteShutdown (): void { this.#end?.noteShutdown() }
  /** Its invocation's output (a streamed body) still goes out: no proof of end from `earlyResponse` meanwhile. */
  holdOutput (): void { this.#end?.holdOutput() }

  /** What it still holds: a leftover of an ended scope with one of these waits. */
  heldIdentities (): Iterable<string> {
    const ids = this.#ids ?? []
    return this.#dir === undefined ? ids : [...ids, this.#dir.real]
  }

  async #dispose (exitPath: ExitPath, budgetMs: number, hold: boolean): Promise<CleanupReport> {
    this.#state = 'disposing'
    const { logger, onReport } = this.#settings.config
    const journaled = this.#journaled
    const [items, dir] = this.#ownItems()
    this.#items = this.#dir = this.#journaled = undefined
    let report: CleanupReport
    if (items === undefined && dir === undefined) {
      report = emptyReport(exitPath)
    } else {
      const work = emptyPlan()
      if (items !== undefined) for (const item of items) addToPlan(work, item)
      if (dir !== undefined) {
        // The dir holds the journal of these: it stays until each is deleted or given up.
        if (journaled !== undefined) journaledIn(dir, journaled)
        addToPlan(work, dir)
      }
      report = await runDisposal(work, { exitPath, budgetMs, logger, retryLater, hold })
    }
    if (this.#registered) processState().active.delete(this)
    this.#state = 'disposed'
    // AsyncLocalStorage may keep this scope reachable until the next enterWith.
    this.#locals = undefined
    if (this.#hooks !== undefined) await runHooks(this.#hooks, report, logger)
    if (report.failed.length > 0) logFailures(logger, report)
    notifyReport(onReport, report, logger)
    return report
  }

  // What another live scope also holds (two invocations declared it) is that scope's
  // to delete: handed over to the leftovers, which wait for it (G1). Alone: no work.
  #ownItems (): [TrackedItem[] | undefined, PathItem | undefined] {
    const items = this.#items
    const dir = this.#dir
    if (processState().active.size < 2) return [items, dir]
    const kept = waitForLiveHolders(dir === undefined ? items ?? [] : [...items ?? [], dir], [this])
    const ownDir = dir !== undefined && kept[kept.length - 1] === dir ? dir : undefined
    const own = ownDir === undefined ? kept : kept.slice(0, -1)
    return [own.length === 0 && items === undefined ? undefined : own, ownDir]
  }

  // One synchronous write per tick, in the per-invocation dir: on disk before the
  // request that creates the resources goes out (see journal.ts).
  #journal (item: RemoteItem, line: string): void {
    ;(this.#journaled ??= []).push(item)
    const pending = this.#lines ??= []
    pending.push(line)
    if (pending.length > 1) return
    const dir = this.dir().real
    queueMicrotask(() => {
      const lines = this.#lines ?? []
      this.#lines = undefined
      // disposal already has these resources (and removes the dir): do not recreate it
      if (this.#state !== 'active' || lines.length === 0) return
      try { appendJournal(dir, lines) } catch (e) { warnOnce(this.#settings.config.logger, 'journal', `cleanup: could not write the journal of temp S3 objects / DynamoDB items to /tmp (${describeError(e)}); they are still deleted on every exit path, but not after a hard kill.`) }
    })
  }

  // Code still running after its invocation timed out: throwing here would be an
  // unhandled rejection in orphaned code, so the resource goes to the leftovers.
  #late (item: TrackedItem): void {
    retryLater(item)
    this.#settings.config.logger.warn(`cleanup: ${item.kind} ${item.id} was declared after its invocation's cleanup had started (the handler kept running after a timeout?); it will be cleaned at the next invocation or at shutdown.`)
  }

  #register (): void {
    if (this.#registered) return
    this.#registered = true
    processState().active.add(this)
  }
}

const runHooks = async (hooks: readonly ReportHook[], report: CleanupReport, logger: Logger): Promise<void> => {
  for (const hook of hooks) {
    try { await hook(report) } catch (e) { logger.warn(`cleanup: a report hook failed: ${describeError(e)}; the report is unchanged.`) }
  }
}
