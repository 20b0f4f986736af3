import { join } from 'node:path'
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import { describeError } from '../errors.js'
import { warnOnce } from '../leftovers.js'
import type { Logger } from '../logger.js'
import type { CleanupReport } from '../report.js'
import { type LeakConfig, OPTION } from './options.js'
import { HandleJudge } from './handles.js'
import { activeHandles, type FdInfo, listTmpCached, openFds, retainedMemory, sizeOf } from './probes.js'
import type { LeakFinding } from './types.js'
import { readWatched } from './watch.js'

/** The state of the process at the start of a sampled invocation. */
export interface LeakBaseline {
  /** value of the process-wide invocation counter when taken: another invocation starting meanwhile taints it */
  readonly epoch: number
  readonly handles: Map<string, number> | undefined
  /** open descriptors and what each points to (Linux) */
  readonly fds: Map<number, FdInfo> | undefined
  readonly tmp: Set<string> | undefined
  readonly watched: Map<string, number> | undefined
}

/** What the detector needs from a scope (structural, so it does not import the scope). */
export interface TrackedScope {
  readonly state: string
  isOrphaned: () => boolean
  beforeReport: ((report: CleanupReport) => void | Promise<void>) | undefined
}

// Invocations in flight in this process (Lambda Managed Instances run several at
// once). Readings are process-wide, so a sample that overlapped another
// invocation cannot be attributed and is dropped.
interface GcReading { heap: number, seq: number, id: number }
interface Shared {
  inFlight: Set<TrackedScope>
  epoch: number
  /** sampled invocations compared so far, all detectors */
  samples: number
  /** heap after recent major GCs, once a detector with the memory check has started */
  gc: GcReading[] | undefined
}
const KEY = Symbol.for('middy-cleanup.leaks')
const g = globalThis as { [KEY]?: Shared }
const shared: Shared = g[KEY] ??= { inFlight: new Set(), epoch: 0, samples: 0, gc: undefined }

/**
 * @internal Process-wide counts, for tests that must prove the detector looked:
 * sampled invocations compared so far, and post-major-GC readings kept.
 */
export const leakStats = (): { samples: number, gcReadings: number } => ({ samples: shared.samples, gcReadings: shared.gc?.length ?? 0 })

const FIX = {
  handles: 'close what the invocation opens, or declare it with context.cleanup.handle(x) (FileHandle, socket, stream, client) so it is closed on every exit path; create SDK and database clients once at module scope and reuse them instead of one per invocation.',
  tmp: 'create temp files with context.cleanup.tempFile() / tempDir(), or declare the path with context.cleanup.path(p), so they are removed on every exit path.',
  globals: (name: string) => `keep per-invocation state in invocationLocal(() => …) instead of the module-level '${name}' (or clear it at the start of every invocation).`,
  memory: 'find the module-level array, Map or cache that keeps growing (watch(name, () => size) narrows it down), then make it per-invocation with invocationLocal() or bound its size.',
} as const

/** Lets sockets being closed and callbacks already due run before anything is counted. */
const settle = async (turns: number): Promise<void> => {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
const SETTLE_TURNS = 3
const MAX_TARGETS = 5
const WARMUP_SAMPLES = 10

/** {@link describeError} for values whose every use throws (a hostile Proxy). */
const describe = (e: unknown): string => {
  try { return describeError(e) } catch { return 'a value that cannot be described (every use of it throws)' }
}

const trail = (values: number[]): string => (values.length <= 5 ? values : [values[0], values[1], '…', values[values.length - 1]]).join(' → ')
const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`
const round = (n: number): number => Math.round(n * 100) / 100
const listTypes = (byType: Record<string, number>): string =>
  Object.entries(byType).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} +${n}`).join(', ')

interface TmpStreak { n: number, entries: number, bytes: number, paths: string[] }
interface ValueStreak { n: number, values: number[] }

/**
 * @internal Leak detection for one `cleanup({ detectLeaks })`: takes a baseline
 * at the start of a sampled invocation and compares after disposal. Handles,
 * tmp entries and watched values count as leaks only when they grew in each of
 * `confirm` sampled invocations in a row; memory when the heap left after each
 * of the last major GCs kept rising, with invocations in between. `baseline()` and `compare()` are the pair the bench times.
 */
export class LeakDetector {
  readonly #config: LeakConfig
  readonly #logger: Logger
  #calls = 0
  readonly #handles: HandleJudge
  #tmp: TmpStreak = { n: 0, entries: 0, bytes: 0, paths: [] }
  readonly #values = new Map<string, ValueStreak>()
  #reportedGc = 0

  constructor (config: LeakConfig, logger: Logger) {
    this.#config = config
    this.#logger = logger
    this.#handles = new HandleJudge(config.confirm)
  }

  /** @internal Called from the middleware's `before`: bookkeeping, and a baseline one invocation in `every`. */
  attach (scope: TrackedScope): void {
    for (const s of shared.inFlight) if (s.state !== 'active' || s.isOrphaned()) shared.inFlight.delete(s)
    const alone = shared.inFlight.size === 0
    shared.inFlight.add(scope)
    shared.epoch++
    const sampled = this.#calls++ % this.#config.every === 0 && alone
    const base = sampled ? this.baseline() : undefined
    scope.beforeReport = (report) => {
      shared.inFlight.delete(scope)
      if (base === undefined) return
      // a timed-out handler may still be running; an early return is disposed during another invocation
      if (report.exitPath !== 'success' && report.exitPath !== 'error') return
      return this.#finish(base, report)
    }
  }

  /** Reads the state compared at the end of the invocation. */
  baseline (): LeakBaseline {
    const c = this.#config
    if (c.memory !== undefined) observeGc()
    return {
      epoch: shared.epoch,
      handles: c.handles ? activeHandles() : undefined,
      fds: c.handles ? openFds() : undefined,
      tmp: c.tmp === undefined ? undefined : listTmpCached(c.tmp.dir, c.tmp.maxDepth, c.tmp.maxEntries),
      watched: c.globals ? readWatched() : undefined,
    }
  }

  /** Lets the event loop settle, then compares with `base`; updates the streaks and returns the findings. */
  async compare (base: LeakBaseline): Promise<LeakFinding[]> {
    await settle(SETTLE_TURNS)
    return this.compareNow(base)
  }

  /** The synchronous part of {@link LeakDetector.compare} (no settling). */
  compareNow (base: LeakBaseline): LeakFinding[] {
    const findings: LeakFinding[] = []
    if (base.handles !== undefined) this.#compareHandles(base, findings)
    if (base.tmp !== undefined) this.#compareTmp(base.tmp, findings)
    if (base.watched !== undefined) this.#compareWatched(base.watched, findings)
    shared.samples++
    if (this.#config.memory !== undefined) this.#checkMemory(findings)
    return findings
  }

  // Never rejects: the scope awaits it before onReport, and the outcome is the handler's (G4).
  async #finish (base: LeakBaseline, report: CleanupReport): Promise<void> {
    try {
      await settle(SETTLE_TURNS)
      if (shared.epoch !== base.epoch || shared.inFlight.size > 0) return
      const findings = this.compareNow(base)
      if (findings.length === 0) return
      report.leaks = findings
      for (const f of findings) this.#publish(f)
    } catch (e) {
      this.#warn(`cleanup: leak detection failed: ${describe(e)}`)
    }
  }

  /** The logger is the user's: whatever it throws stays here. */
  #warn (message: string): void {
    try { this.#logger.warn(message) } catch { /* nowhere left to say it */ }
  }

  #publish (f: LeakFinding): void {
    try {
      warnOnce(this.#logger, `leak:${f.kind}`, `cleanup: leak (${f.kind}): ${f.message} Fix: ${f.fix}`)
    } catch { /* a throwing logger: onLeak still gets the finding */ }
    const onLeak = this.#config.onLeak
    if (onLeak === undefined) return
    let r: unknown
    try {
      // a copy: what onLeak does to it never changes report.leaks
      r = onLeak(structuredClone(f))
    } catch (e) {
      this.#warn(`cleanup: onLeak threw: ${describe(e)}`)
      return
    }
    // Not awaited (a hung onLeak holds nothing up), but its rejection is handled here,
    // whatever realm the promise comes from or if it is only a thenable: an unhandled
    // rejection ends a Lambda process.
    let then: unknown
    try { then = r !== null && (typeof r === 'object' || typeof r === 'function') ? (r as { then?: unknown }).then : undefined } catch { return }
    if (typeof then !== 'function') return
    try {
      Promise.resolve(r).then(undefined, (e: unknown) => { this.#warn(`cleanup: onLeak threw: ${describe(e)}`) })
    } catch { /* a promise whose `constructor` getter throws: no one can handle its rejection (then() reads it) */ }
  }

  #compareHandles (base: LeakBaseline, findings: LeakFinding[]): void {
    const v = this.#handles.judge(base.handles ?? new Map(), activeHandles(), base.fds, base.fds === undefined ? undefined : openFds())
    if (v === undefined) return
    const d = v.details
    const fdText = d.fds !== undefined ? `; open file descriptors ${d.fds.before} → ${d.fds.after}` : ''
    findings.push({
      kind: 'handles',
      message: `open handles grew in each of the last ${d.invocations} invocations: +${v.growth} per invocation (${listTypes(d.byType)}${fdText})${d.targets.length > 0 ? `; new: ${d.targets.join(', ')}` : ''}.`,
      growth: v.growth,
      details: d,
      fix: FIX.handles,
    })
  }

  #compareTmp (before: Set<string>, findings: LeakFinding[]): void {
    const t = this.#config.tmp
    if (t === undefined) return
    const now = listTmpCached(t.dir, t.maxDepth, t.maxEntries)
    const fresh: string[] = []
    for (const p of now) {
      if (before.has(p)) continue
      const slash = p.lastIndexOf('/')
      if (slash > 0 && !before.has(p.slice(0, slash))) continue // inside a new directory: counted with it
      fresh.push(p)
    }
    if (fresh.length === 0) { this.#tmp = { n: 0, entries: 0, bytes: 0, paths: [] }; return }
    const s = this.#tmp
    const budget = { left: t.maxEntries }
    s.n++
    s.entries += fresh.length
    for (const p of fresh) {
      const full = join(t.dir, p)
      s.bytes += sizeOf(full, budget)
      if (s.paths.length < MAX_TARGETS) s.paths.push(full)
    }
    if (s.n < this.#config.confirm) return
    const perInvocation = round(s.entries / s.n)
    findings.push({
      kind: 'tmp',
      message: `${s.entries} undeclared entr${s.entries === 1 ? 'y' : 'ies'} (${s.bytes} bytes) appeared under ${t.dir} in the last ${s.n} invocations and stayed after cleanup: +${perInvocation} per invocation; e.g. ${s.paths.join(', ')}${s.entries > s.paths.length ? ', …' : ''}.`,
      growth: perInvocation,
      details: { invocations: s.n, dir: t.dir, entries: s.entries, bytes: s.bytes, paths: [...s.paths] },
      fix: FIX.tmp,
    })
  }

  #compareWatched (before: Map<string, number>, findings: LeakFinding[]): void {
    const now = readWatched()
    for (const name of this.#values.keys()) if (!now.has(name)) this.#values.delete(name)
    for (const [name, value] of now) {
      const start = before.get(name)
      if (start === undefined || value <= start) { this.#values.delete(name); continue }
      let s = this.#values.get(name)
      if (s === undefined) this.#values.set(name, s = { n: 0, values: [start] })
      s.n++
      s.values.push(value)
      if (s.values.length > 20) s.values.splice(1, 1) // keep the first and the latest
      if (s.n < this.#config.confirm) continue
      const first = s.values[0] ?? start
      const perInvocation = round((value - first) / s.n)
      findings.push({
        kind: 'globals',
        message: `watched value '${name}' grew in each of the last ${s.n} invocations: ${trail(s.values)} (+${perInvocation} per invocation).`,
        growth: perInvocation,
        details: { name, invocations: s.n, values: [...s.values] },
        fix: FIX.globals(name),
      })
    }
  }

  #checkMemory (findings: LeakFinding[]): void {
    const m = this.#config.memory
    const readings = shared.gc
    if (m === undefined || readings === undefined || readings.length < m.gcs) return
    const last = readings.slice(-m.gcs)
    const first = last[0]!
    // the first invocations of a process compile code and fill caches: not a leak
    if (first.seq < WARMUP_SAMPLES) return
    const newest = last[last.length - 1]!
    if (newest.id <= this.#reportedGc) return
    // every step must grow by at least half the threshold per invocation: a heap that
    // creeps up by a few KiB (code compiled, caches warming) is not a leak
    for (let i = 1; i < last.length; i++) {
      const a = last[i - 1]!
      const b = last[i]!
      if (b.seq <= a.seq || (b.heap - a.heap) / (b.seq - a.seq) / this.#config.every < m.minBytesPerInvocation / 2) return
    }
    const invocations = newest.seq - first.seq
    const perInvocation = Math.round((newest.heap - first.heap) / invocations / this.#config.every)
    if (perInvocation < m.minBytesPerInvocation) return
    this.#reportedGc = newest.id
    findings.push({
      kind: 'memory',
      message: `the memory left after each of the last ${m.gcs} major GCs kept rising: ${last.map((r) => mib(r.heap)).join(' → ')} over ${invocations * this.#config.every} invocations, about +${Math.round(perInvocation / 1024)} KiB per invocation that no GC frees.`,
      growth: perInvocation,
      details: { afterGc: last.map((r) => r.heap), invocations: invocations * this.#config.every, bytesPerInvocation: perInvocation },
      fix: FIX.memory,
    })
  }
}

/**
 * Memory in use right after each major GC (mark-sweep-compact): what survived it.
 * Unlike a reading taken at an arbitrary time, it does not swing with garbage
 * not yet collected. One observer per process, installed on first use.
 */
const observeGc = (): void => {
  if (shared.gc !== undefined) return
  const readings: GcReading[] = shared.gc = []
  let id = 0
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR)
    if (!major) return
    const reading = { heap: retainedMemory(), seq: shared.samples, id: ++id }
    // several GCs with no invocation in between: keep the latest
    if (readings.length > 0 && readings[readings.length - 1]!.seq === reading.seq) readings[readings.length - 1] = reading
    else readings.push(reading)
    if (readings.length > 16) readings.shift()
  })
  observer.observe({ entryTypes: ['gc'] })
}

/** @internal The detector of a validated `cleanup()` config, or undefined when detection is off. */
export const leakDetectorFor = (config: { extra: Readonly<Record<string, unknown>>, logger: Logger }): LeakDetector | undefined => {
  const c = config.extra[OPTION] as LeakConfig | undefined
  return c === undefined ? undefined : new LeakDetector(c, config.logger)
}
