import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import { processSlot } from '../process-state.js'
import { retainedMemory } from './probes.js'

/**
 * Memory in use right after one major GC, with the sample count then (`seq`) and the
 * reading's number (`id`).
 *
 * @example
 * ```ts
 * const r: GcReading = { heap: retainedMemory(), seq: shared.samples, id: 1 }
 * ```
 */
export interface GcReading { heap: number, seq: number, id: number }

/**
 * What every detector of the process shares. Readings are process-wide, so a sample
 * that overlapped another invocation (Lambda Managed Instances run several at once)
 * cannot be attributed and is dropped.
 *
 * @example
 * ```ts
 * const alone = leakShared().inFlight.size === 0
 * ```
 */
export interface LeakShared {
  /** scopes of invocations in flight, all detectors */
  inFlight: Set<{ readonly state: string, isOrphaned: () => boolean }>
  /** invocations started so far, all detectors: another invocation starting meanwhile taints a sample */
  epoch: number
  /** sampled invocations compared so far, all detectors */
  samples: number
  /** heap after recent major GCs, once a detector with the memory check has started */
  gc: GcReading[] | undefined
}

/**
 * The process-wide leak-detection state (`Symbol.for('middy-cleanup.leaks')`), shared by
 * two copies of this package. Created on first use.
 *
 * @example
 * ```ts
 * leakShared().epoch++
 * ```
 */
export const leakShared = (): LeakShared =>
  (shared ??= processSlot('leaks', (): LeakShared => ({ inFlight: new Set(), epoch: 0, samples: 0, gc: undefined })))
// the slot, once looked up: every sampled invocation reads it several times
let shared: LeakShared | undefined

/**
 * @internal Process-wide counts, for tests that must prove the detector looked:
 * sampled invocations compared so far, and post-major-GC readings kept.
 *
 * @example
 * ```ts
 * const before = leakStats().samples
 * ```
 */
export const leakStats = (): { samples: number, gcReadings: number } => {
  const shared = leakShared()
  return { samples: shared.samples, gcReadings: shared.gc?.length ?? 0 }
}

/**
 * Starts keeping the memory in use right after each major GC (mark-sweep-compact): what
 * survived it. Unlike a reading taken at an arbitrary time, it does not swing with
 * garbage not yet collected. One observer per process, installed on first use.
 *
 * @example
 * ```ts
 * if (config.memory !== undefined) observeGc()
 * ```
 */
export const observeGc = (): void => {
  const shared = leakShared()
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
