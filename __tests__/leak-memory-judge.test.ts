// The memory rule on synthetic post-GC readings (src/leaks/findings.ts MemoryJudge): what
// survives each major GC must rise by at least minBytesPerInvocation per invocation at every
// step between the last `gcs` readings. A reading can include one of the handler's
// per-invocation allocations or not (when the heap is read relative to the next invocation),
// and V8 keeps allocating code for a while after warm-up: together these once made a
// handler that leaks nothing look like ~100 KiB per invocation (CI, Node 20).
import { describe, expect } from '@jest/globals'
import { fc, it } from '@fast-check/jest'
import { MemoryJudge } from '../src/leaks/findings.js'
import type { GcReading } from '../src/leaks/shared.js'

const MIN = 64 * 1024
const judge = (): MemoryJudge => new MemoryJudge({ gcs: 4, minBytesPerInvocation: MIN }, 1)
/** One reading per invocation from `seq`, past the warm-up. */
const readings = (heaps: number[], seq = 20): GcReading[] => heaps.map((heap, i) => ({ heap, seq: seq + i, id: i + 1 }))

describe('MemoryJudge', () => {
  it('the readings CI took from a handler that retains nothing (a 200 KiB jump, then 40 KiB steps): no finding', () => {
    expect(judge().judge(readings([11034214, 11285494, 11327686, 11531750]))).toBeUndefined()
    expect(judge().judge(readings([11022740, 11231660, 11269164, 11303940]))).toBeUndefined()
  })

  it('a steady 256 KiB per invocation is found, with its rate', () => {
    const f = judge().judge(readings([10_000_000, 10_262_144, 10_524_288, 10_786_432]))
    expect(f).toMatchObject({ kind: 'memory', growth: 262_144, details: { invocations: 3, bytesPerInvocation: 262_144 } })
  })

  it('readings of the warm-up (the first 10 sampled invocations) are never judged', () => {
    expect(judge().judge(readings([10_000_000, 11_000_000, 12_000_000, 13_000_000], 5))).toBeUndefined()
  })

  it.prop([
    fc.integer({ min: 1_000_000, max: 50_000_000 }),
    fc.array(fc.integer({ min: MIN, max: 4 * MIN }), { minLength: 3, maxLength: 3 }),
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: -MIN, max: MIN - 1 }),
  ], { numRuns: 200 })('a finding exactly when every step grows by at least the minimum', (base, steps, weak, weakStep) => {
    const grown = [...steps]
    const heaps = [base]
    for (const s of grown) heaps.push(heaps[heaps.length - 1]! + s)
    expect(judge().judge(readings(heaps))?.kind).toBe('memory')
    grown[weak] = weakStep // one step below the minimum: a jump and a creep, not a leak
    const weakHeaps = [base]
    for (const s of grown) weakHeaps.push(weakHeaps[weakHeaps.length - 1]! + s)
    expect(judge().judge(readings(weakHeaps))).toBeUndefined()
  })
})
