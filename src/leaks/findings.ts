import { join } from 'node:path'
import type { HandleVerdict } from './handles.js'
import type { LeakConfig } from './options.js'
import { sizeOf } from './probes.js'
import type { GcReading } from './shared.js'
import type { LeakFinding } from './types.js'

// Each check's streak across sampled invocations and the finding it gives once confirmed.

const FIX = {
  handles: 'close what the invocation opens, or declare it with context.cleanup.handle(x) (FileHandle, socket, stream, client) so it is closed on every exit path; create SDK and database clients once at module scope and reuse them instead of one per invocation.',
  tmp: 'create temp files with context.cleanup.tempFile() / tempDir(), or declare the path with context.cleanup.path(p), so they are removed on every exit path.',
  globals: (name: string) => `keep per-invocation state in invocationLocal(() => …) instead of the module-level '${name}' (or clear it at the start of every invocation).`,
  memory: 'find the module-level array, Map or cache that keeps growing (watch(name, () => size) narrows it down), then make it per-invocation with invocationLocal() or bound its size.',
} as const

const MAX_TARGETS = 5
const WARMUP_SAMPLES = 10

const trail = (values: number[]): string => (values.length <= 5 ? values : [values[0], values[1], '…', values[values.length - 1]]).join(' → ')
const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`
const round = (n: number): number => Math.round(n * 100) / 100
const listTypes = (byType: Record<string, number>): string =>
  Object.entries(byType).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} +${n}`).join(', ')

/**
 * The `handles` finding of a confirmed {@link HandleVerdict}.
 *
 * @example
 * ```ts
 * const v = judge.judge(before, after, fdsBefore, fdsAfter)
 * if (v !== undefined) findings.push(handleFinding(v))
 * ```
 */
export const handleFinding = (v: HandleVerdict): LeakFinding => {
  const d = v.details
  const fdText = d.fds !== undefined ? `; open file descriptors ${d.fds.before} → ${d.fds.after}` : ''
  return {
    kind: 'handles',
    message: `open handles grew in each of the last ${d.invocations} invocations: +${v.growth} per invocation (${listTypes(d.byType)}${fdText})${d.targets.length > 0 ? `; new: ${d.targets.join(', ')}` : ''}.`,
    growth: v.growth,
    details: d,
    fix: FIX.handles,
  }
}

/**
 * Undeclared entries that appeared under the tmp dir and stayed, over sampled
 * invocations in a row; a finding once `confirm` of them did.
 *
 * @example
 * ```ts
 * const tmp = new TmpJudge(config.tmp!, config.confirm)
 * const f = tmp.judge(before, now)
 * ```
 */
export class TmpJudge {
  readonly #t: NonNullable<LeakConfig['tmp']>
  readonly #confirm: number
  #n = 0
  #entries = 0
  #bytes = 0
  #paths: string[] = []

  constructor (tmp: NonNullable<LeakConfig['tmp']>, confirm: number) {
    this.#t = tmp
    this.#confirm = confirm
  }

  /** Updates the streak with one sampled invocation's listings (start, after cleanup). */
  judge (before: ReadonlySet<string>, now: ReadonlySet<string>): LeakFinding | undefined {
    const t = this.#t
    const fresh: string[] = []
    for (const p of now) {
      if (before.has(p)) continue
      const slash = p.lastIndexOf('/')
      if (slash > 0 && !before.has(p.slice(0, slash))) continue // inside a new directory: counted with it
      fresh.push(p)
    }
    if (fresh.length === 0) { this.#n = 0; this.#entries = 0; this.#bytes = 0; this.#paths = []; return undefined }
    const budget = { left: t.maxEntries }
    this.#n++
    this.#entries += fresh.length
    for (const p of fresh) {
      const full = join(t.dir, p)
      this.#bytes += sizeOf(full, budget)
      if (this.#paths.length < MAX_TARGETS) this.#paths.push(full)
    }
    if (this.#n < this.#confirm) return undefined
    const n = this.#n
    const entries = this.#entries
    const perInvocation = round(entries / n)
    return {
      kind: 'tmp',
      message: `${entries} undeclared entr${entries === 1 ? 'y' : 'ies'} (${this.#bytes} bytes) appeared under ${t.dir} in the last ${n} invocations and stayed after cleanup: +${perInvocation} per invocation; e.g. ${this.#paths.join(', ')}${entries > this.#paths.length ? ', …' : ''}.`,
      growth: perInvocation,
      details: { invocations: n, dir: t.dir, entries, bytes: this.#bytes, paths: [...this.#paths] },
      fix: FIX.tmp,
    }
  }
}

interface ValueStreak { n: number, values: number[] }

/**
 * Watched values (`watch(name, size)`) that grew in each of `confirm` sampled
 * invocations in a row.
 *
 * @example
 * ```ts
 * const watched = new WatchJudge(config.confirm)
 * findings.push(...watched.judge(before, readWatched()))
 * ```
 */
export class WatchJudge {
  readonly #confirm: number
  readonly #values = new Map<string, ValueStreak>()

  constructor (confirm: number) { this.#confirm = confirm }

  /** Updates every name's streak with one sampled invocation's values (start, after cleanup). */
  judge (before: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>): LeakFinding[] {
    const findings: LeakFinding[] = []
    for (const name of this.#values.keys()) if (!now.has(name)) this.#values.delete(name)
    for (const [name, value] of now) {
      const start = before.get(name)
      if (start === undefined || value <= start) { this.#values.delete(name); continue }
      let s = this.#values.get(name)
      if (s === undefined) this.#values.set(name, s = { n: 0, values: [start] })
      s.n++
      s.values.push(value)
      if (s.values.length > 20) s.values.splice(1, 1) // keep the first and the latest
      if (s.n < this.#confirm) continue
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
    return findings
  }
}

/**
 * Memory left after each of the last `gcs` major GCs, rising with invocations in
 * between; reported once per new GC reading.
 *
 * @example
 * ```ts
 * const memory = new MemoryJudge(config.memory!, config.every)
 * const f = memory.judge(leakShared().gc)
 * ```
 */
export class MemoryJudge {
  readonly #m: NonNullable<LeakConfig['memory']>
  readonly #every: number
  #reportedGc = 0

  constructor (memory: NonNullable<LeakConfig['memory']>, every: number) {
    this.#m = memory
    this.#every = every
  }

  /** The finding when the readings kept rising fast enough since the last one reported. */
  judge (readings: readonly GcReading[] | undefined): LeakFinding | undefined {
    const m = this.#m
    if (readings === undefined || readings.length < m.gcs) return undefined
    const last = readings.slice(-m.gcs)
    const first = last[0]!
    // the first invocations of a process compile code and fill caches: not a leak
    if (first.seq < WARMUP_SAMPLES) return undefined
    const newest = last[last.length - 1]!
    if (newest.id <= this.#reportedGc) return undefined
    // Every step must grow by the whole threshold per invocation. A reading may hold one
    // of the handler's per-invocation allocations or not, and V8 keeps allocating code for
    // a while after warm-up: one such jump plus a creep of ~40 KiB per step averaged
    // ~100 KiB "per invocation" for a handler that retained nothing (CI, Node 20), when a
    // step needed only half the threshold.
    for (let i = 1; i < last.length; i++) {
      const a = last[i - 1]!
      const b = last[i]!
      if (b.seq <= a.seq || (b.heap - a.heap) / (b.seq - a.seq) / this.#every < m.minBytesPerInvocation) return undefined
    }
    const invocations = newest.seq - first.seq
    // at least minBytesPerInvocation: every step above was
    const perInvocation = Math.round((newest.heap - first.heap) / invocations / this.#every)
    this.#reportedGc = newest.id
    return {
      kind: 'memory',
      message: `the memory left after each of the last ${m.gcs} major GCs kept rising: ${last.map((r) => mib(r.heap)).join(' → ')} over ${invocations * this.#every} invocations, about +${Math.round(perInvocation / 1024)} KiB per invocation that no GC frees.`,
      growth: perInvocation,
      details: { afterGc: last.map((r) => r.heap), invocations: invocations * this.#every, bytesPerInvocation: perInvocation },
      fix: FIX.memory,
    }
  }
}
