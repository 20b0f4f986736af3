import { detectEnvironment } from '../environment.js'
import type { Logger } from '../logger.js'
import type { CleanupReport } from '../report.js'
import { MemoryJudge, TmpJudge, WatchJudge, handleFinding } from './findings.js'
import { HandleJudge } from './handles.js'
import type { LeakConfig } from './options.js'
import { type FdInfo, countUnchangedSince, openFds } from './fds.js'
import { activeHandles, listTmpCached } from './probes.js'
import { describeSafely, publishFinding, warnSafely } from './publish.js'
import { leakShared, observeGc } from './shared.js'
import type { LeakFinding } from './types.js'
import { readWatched } from './watch.js'

export { leakStats } from './shared.js'

/**
 * The state of the process at the start of a sampled invocation.
 *
 * @example
 * ```ts
 * const base: LeakBaseline = detector.baseline()
 * const findings = await detector.compare(base)
 * ```
 */
export interface LeakBaseline {
  /** value of the process-wide invocation counter when taken: another invocation starting meanwhile taints it */
  readonly epoch: number
  readonly handles: Map<string, number> | undefined
  /** open descriptors and what each points to (Linux) */
  readonly fds: Map<number, FdInfo> | undefined
  readonly tmp: ReadonlySet<string> | undefined
  readonly watched: Map<string, number> | undefined
}

/** A hook run after the scope's disposal, before its `onReport`. */
type ReportHook = (report: CleanupReport) => void | Promise<void>

/**
 * What the detector needs from a scope (structural, so it does not import the scope):
 * the core's `addReportHook`, or — until every caller passes the core — the facade's
 * interim `beforeReport` slot.
 *
 * @example
 * ```ts
 * detector.attach(coreOf(scope))
 * ```
 */
export interface TrackedScope {
  readonly state: string
  isOrphaned: () => boolean
  addReportHook?: (hook: ReportHook) => void
  beforeReport?: ReportHook | undefined
}

/** Lets sockets being closed and callbacks already due run before anything is counted. */
const settle = async (turns: number): Promise<void> => {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
const SETTLE_TURNS = 3

/**
 * @internal Leak detection for one `cleanup({ detectLeaks })`: takes a baseline
 * at the start of a sampled invocation and compares after disposal. Handles,
 * tmp entries and watched values count as leaks only when they grew in each of
 * `confirm` sampled invocations in a row; memory when the heap left after each
 * of the last major GCs kept rising, with invocations in between. `baseline()` and
 * `compare()` are the pair the bench times.
 *
 * @example
 * ```ts
 * const detector = leakDetectorFor(config)
 * detector?.attach(coreOf(scope)) // in the middleware's before
 * ```
 */
export class LeakDetector {
  readonly #config: LeakConfig
  readonly #logger: Logger
  #calls = 0
  readonly #handles: HandleJudge
  readonly #tmp: TmpJudge | undefined
  readonly #watched: WatchJudge
  readonly #memory: MemoryJudge | undefined
  /** the descriptors read after the last sampled invocation's cleanup, and that invocation's epoch */
  #lastEnd: { fds: Map<number, FdInfo>, epoch: number } | undefined

  constructor (config: LeakConfig, logger: Logger) {
    this.#config = config
    this.#logger = logger
    this.#handles = new HandleJudge(config.confirm)
    this.#tmp = config.tmp === undefined ? undefined : new TmpJudge(config.tmp, config.confirm)
    this.#watched = new WatchJudge(config.confirm)
    this.#memory = config.memory === undefined ? undefined : new MemoryJudge(config.memory, config.every)
  }

  /** @internal Called from the middleware's `before`: bookkeeping, and a baseline one invocation in `every`. */
  attach (scope: TrackedScope): void {
    const shared = leakShared()
    for (const s of shared.inFlight) if (s.state !== 'active' || s.isOrphaned()) shared.inFlight.delete(s)
    const alone = shared.inFlight.size === 0
    shared.inFlight.add(scope)
    shared.epoch++
    const sampled = this.#calls++ % this.#config.every === 0 && alone
    // Not sampled: no hook, so an empty scope keeps its synchronous end; it leaves the
    // in-flight set at the next attach, once it is no longer active.
    if (!sampled) return
    const base = this.baseline()
    const hook: ReportHook = (report) => {
      shared.inFlight.delete(scope)
      // a timed-out handler may still be running; an early return is disposed during another invocation
      if (report.exitPath !== 'success' && report.exitPath !== 'error') return
      return this.#finish(base, report)
    }
    if (typeof scope.addReportHook === 'function') scope.addReportHook(hook)
    else scope.beforeReport = hook
  }

  /** Reads the state compared at the end of the invocation. */
  baseline (): LeakBaseline {
    const c = this.#config
    if (c.memory !== undefined) observeGc()
    return {
      epoch: leakShared().epoch,
      handles: c.handles ? activeHandles() : undefined,
      fds: c.handles ? this.#startFds() : undefined,
      tmp: c.tmp === undefined ? undefined : listTmpCached(c.tmp.dir, c.tmp.maxDepth, c.tmp.maxEntries),
      watched: c.globals ? readWatched() : undefined,
    }
  }

  // In a sequential Lambda runtime nothing but the runtime client runs between two
  // invocations (the sandbox is frozen while it waits), so when this invocation follows the
  // last sampled one directly and as many descriptors are open as after its cleanup, that
  // reading is this one's start: one fstat pass per sampled invocation instead of two
  // (on kernels without the count, the same numbers listed instead: no fstat either).
  // Anywhere else (a dev server accepting connections between invocations, a test opening
  // files) a fresh reading, which skips only the directory listing when the count allows.
  #startFds (): Map<number, FdInfo> | undefined {
    const last = this.#lastEnd
    this.#lastEnd = undefined
    if (last !== undefined && last.epoch + 1 === leakShared().epoch && detectEnvironment().sequential && countUnchangedSince(last.fds)) return last.fds
    return openFds(last?.fds)
  }

  /** Lets the event loop settle, then compares with `base`; updates the streaks and returns the findings. */
  async compare (base: LeakBaseline): Promise<LeakFinding[]> {
    await settle(SETTLE_TURNS)
    return this.compareNow(base)
  }

  /** The synchronous part of {@link LeakDetector.compare} (no settling). */
  compareNow (base: LeakBaseline): LeakFinding[] {
    const findings: LeakFinding[] = []
    const c = this.#config
    if (base.handles !== undefined) {
      const fds = base.fds === undefined ? undefined : openFds(base.fds)
      const v = this.#handles.judge(base.handles, activeHandles(), base.fds, fds)
      if (v !== undefined) findings.push(handleFinding(v))
      if (fds !== undefined) this.#lastEnd = { fds, epoch: base.epoch }
    }
    if (base.tmp !== undefined && c.tmp !== undefined) {
      const f = this.#tmp?.judge(base.tmp, listTmpCached(c.tmp.dir, c.tmp.maxDepth, c.tmp.maxEntries))
      if (f !== undefined) findings.push(f)
    }
    if (base.watched !== undefined) findings.push(...this.#watched.judge(base.watched, readWatched()))
    const shared = leakShared()
    shared.samples++
    const m = this.#memory?.judge(shared.gc)
    if (m !== undefined) findings.push(m)
    return findings
  }

  // Never rejects: the scope awaits it before onReport, and the outcome is the handler's (G4).
  async #finish (base: LeakBaseline, report: CleanupReport): Promise<void> {
    try {
      await settle(SETTLE_TURNS)
      const shared = leakShared()
      if (shared.epoch !== base.epoch || shared.inFlight.size > 0) return
      const findings = this.compareNow(base)
      if (findings.length === 0) return
      report.leaks = findings
      for (const f of findings) publishFinding(f, this.#logger, this.#config.onLeak)
    } catch (e) {
      warnSafely(this.#logger, `cleanup: leak detection failed: ${describeSafely(e)}`)
    }
  }
}

/**
 * @internal The detector of a validated `cleanup()` config, or undefined when detection is off.
 *
 * @example
 * ```ts
 * const leaks = leakDetectorFor(resolveOptions({ detectLeaks: true }))
 * ```
 */
export const leakDetectorFor = (config: { readonly detectLeaks: LeakConfig | undefined, readonly logger: Logger }): LeakDetector | undefined => {
  const c = config.detectLeaks
  return c === undefined ? undefined : new LeakDetector(c, config.logger)
}
