// The backoff of the only re-sends cleanup makes itself (partial results): full jitter
// within [0, min(cap, base·2^attempt)] for an injected random, and backoffWithin never
// waits longer than the budget has left (what does not fit goes to the next invocation).
// Pure functions: no server involved.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { backoffMs, backoffWithin } from '../src/backoff.js'

const budget = (remainingMs: number, aborted = false) => {
  const controller = new AbortController()
  if (aborted) controller.abort(new Error('budget spent'))
  const sleeps: number[] = []
  return {
    sleeps,
    controller,
    deadline: {
      signal: controller.signal,
      remainingMs: () => remainingMs,
      sleep: async (ms: number) => { sleeps.push(ms) },
    },
  }
}

describe('backoffMs: full jitter', () => {
  test.prop([fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 1, noNaN: true })], { numRuns: 300 })(
    'an integer in [0, min(1000, 25·2^attempt)], random · ceiling floored', (attempt, r) => {
      const ms = backoffMs(attempt, () => r)
      const ceiling = Math.min(1000, 25 * 2 ** attempt)
      expect(Number.isInteger(ms)).toBe(true)
      expect(ms).toBeGreaterThanOrEqual(0)
      expect(ms).toBeLessThanOrEqual(ceiling)
      expect(ms).toBe(Math.floor(r * ceiling))
    })

  test.prop([fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })], { numRuns: 200 })(
    'monotone in the random draw', (attempt, a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a]
      expect(backoffMs(attempt, () => lo)).toBeLessThanOrEqual(backoffMs(attempt, () => hi))
    })

  test.prop([fc.integer({ min: 0, max: 40 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })], { numRuns: 200 })(
    'a random draw outside [0, 1] is clamped: never negative, never past the ceiling', (attempt, r) => {
      const ms = backoffMs(attempt, () => r)
      expect(ms).toBeGreaterThanOrEqual(0)
      expect(ms).toBeLessThanOrEqual(Math.min(1000, 25 * 2 ** attempt))
    })

  it('the ceilings: 25 ms doubling per attempt, capped at 1 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffMs(a, () => 1))).toEqual([25, 50, 100, 200, 400, 800, 1000, 1000])
    expect([0, 1, 2, 3].map((a) => backoffMs(a, () => 0))).toEqual([0, 0, 0, 0])
  })
})

describe('backoffWithin: never past the budget', () => {
  test.prop([fc.integer({ min: 0, max: 12 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.integer({ min: 0, max: 2000 })], { numRuns: 300 })(
    'waits exactly the backoff when it fits in what is left, else refuses without waiting', async (attempt, r, remaining) => {
      const b = budget(remaining)
      const wait = backoffMs(attempt, () => r)
      const ok = await backoffWithin(attempt, b.deadline, () => r)
      if (wait < remaining) {
        expect(ok).toBe(true)
        expect(b.sleeps).toEqual([wait])
      } else {
        expect(ok).toBe(false)
        expect(b.sleeps).toEqual([])
      }
    })

  it('a wait longer than the budget is refused: nothing slept', async () => {
    const b = budget(199)
    expect(await backoffWithin(3, b.deadline, () => 0.9999)).toBe(false) // 199 ms ≥ 199 ms left
    expect(b.sleeps).toEqual([])
  })

  it('a spent budget refuses even a zero wait', async () => {
    const b = budget(10_000, true)
    expect(await backoffWithin(0, b.deadline, () => 0)).toBe(false)
    expect(b.sleeps).toEqual([])
  })

  it('the budget ending during the wait: false, nothing is re-sent', async () => {
    const b = budget(10_000)
    const deadline = { ...b.deadline, sleep: async (ms: number) => { b.sleeps.push(ms); b.controller.abort(new Error('budget spent')) } }
    expect(await backoffWithin(2, deadline, () => 0.5)).toBe(false)
    expect(b.sleeps).toEqual([50])
  })
})
