// The batch/retry skeleton every remote kind shares (src/remote-batch.ts), against a fake
// `sendBatch`. A mock on purpose: `sendBatch` is the skeleton's contract with a kind, and
// the faults checked here (a chosen partial result on a chosen round, a slow request to
// count what is in flight) are not something a real server produces on demand. What the
// kinds send on the wire is proven against real servers by s3-objects-deleted-in-batches.test.ts, dynamodb-items-deleted-in-batches.test.ts
// and one-retry-layer.test.ts.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { backoffMs } from '../src/backoff.js'
import { type BatchKind, type BatchResult, allFailed, chunk, deleteInBatches, pool } from '../src/remote-batch.js'

interface Res { kind: 'fake', id: string, group: string, parts: number, done?: boolean }
interface Entry { res: Res, part: number }

const res = (id: string, group: string, parts = 1): Res => ({ kind: 'fake', id, group, parts })

/** A budget whose clock only moves when the skeleton sleeps. */
const fakeBudget = (remainingMs = 60_000) => {
  const controller = new AbortController()
  let left = remainingMs
  const sleeps: number[] = []
  let requests = 0
  return {
    sleeps,
    controller,
    requests: () => requests,
    options: {
      signal: controller.signal,
      deadline: { remainingMs: () => left, sleep: async (ms: number) => { sleeps.push(ms); left -= ms } },
      countRequests: (n: number) => { requests += n },
    },
  }
}

/** A kind whose sender is `send`; every call is recorded. */
const fakeKind = (batchSize: (group: string) => number, send: (part: Entry[], call: number) => BatchResult<Entry> | Promise<BatchResult<Entry>>) => {
  const calls: Entry[][] = []
  const kind: BatchKind<Res, Entry> = {
    settleEarly: (r) => r.done === true ? 'cleaned' : undefined,
    entries: (r) => Array.from({ length: r.parts }, (_, part) => ({ res: r, part })),
    groupKey: (e) => e.res.group,
    batchSize: (e) => batchSize(e.res.group),
    sendBatch: async (part, ctx) => {
      ctx.countRequests(1)
      calls.push([...part])
      return await send(part, calls.length)
    },
    onCleaned: (r) => { r.done = true },
  }
  return { kind, calls }
}
const allCleaned = (part: Entry[]): BatchResult<Entry> => ({ sent: true, cleaned: part, retry: [], failed: [] })

describe('grouping and chunking', () => {
  test.prop([fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 3 })), { maxLength: 120 }), fc.record({ a: fc.integer({ min: 1, max: 30 }), b: fc.integer({ min: 1, max: 30 }), c: fc.constant(1) })], { numRuns: 100 })(
    'every request holds entries of one group, ≤ its batch size, ceil(entries/size) requests per group; each resource cleaned once', async (decl, sizes) => {
      const resources = decl.map(([group, parts], i) => res(`r${i}`, group, parts))
      const { kind, calls } = fakeKind((g) => sizes[g as 'a' | 'b' | 'c'], allCleaned)
      const b = fakeBudget()
      const out = await deleteInBatches(kind, resources, b.options)
      for (const call of calls) {
        expect(new Set(call.map((e) => e.res.group)).size).toBe(1)
        expect(call.length).toBeLessThanOrEqual(sizes[call[0]!.res.group as 'a' | 'b' | 'c'])
      }
      for (const g of ['a', 'b', 'c'] as const) {
        const entries = resources.filter((r) => r.group === g).reduce((n, r) => n + r.parts, 0)
        expect(calls.filter((c) => c[0]!.res.group === g)).toHaveLength(Math.ceil(entries / sizes[g]))
      }
      expect(out.failed).toEqual([])
      expect(out.cleaned).toHaveLength(resources.length)
      expect(new Set(out.cleaned).size).toBe(resources.length)
      expect(b.requests()).toBe(calls.length)
    })

  it('1001 entries of batch size 1000: two requests, 1000 and 1', async () => {
    const { kind, calls } = fakeKind(() => 1000, allCleaned)
    await deleteInBatches(kind, Array.from({ length: 1001 }, (_, i) => res(`r${i}`, 'a')), fakeBudget().options)
    expect(calls.map((c) => c.length)).toEqual([1000, 1])
  })

  it('a resource settled early (already done) sends nothing; an early failure is sent: false', async () => {
    const gone = { ...res('gone', 'a'), done: true }
    const bad = res('bad', 'a')
    const { kind, calls } = fakeKind(() => 10, allCleaned)
    const early: BatchKind<Res, Entry> = { ...kind, settleEarly: (r) => r === bad ? { error: new Error('unverifiable'), retryable: false } : kind.settleEarly!(r) }
    const out = await deleteInBatches(early, [gone, bad, res('x', 'a')], fakeBudget().options)
    expect(calls.map((c) => c.map((e) => e.res.id))).toEqual([['x']])
    expect(out.cleaned.map((r) => r.id).sort()).toEqual(['gone', 'x'])
    expect(out.failed).toEqual([{ resource: bad, error: new Error('unverifiable'), retryable: false, sent: false }])
  })
})

describe('concurrency', () => {
  test.prop([fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 10 })], { numRuns: 40 })(
    'never more than `concurrency` requests in flight, and exactly that many while enough chunks wait', async (chunks, limit) => {
      let inFlight = 0
      let most = 0
      const { kind } = fakeKind(() => 1, async (part) => {
        most = Math.max(most, ++inFlight)
        await new Promise((resolve) => setImmediate(resolve))
        inFlight--
        return allCleaned(part)
      })
      const out = await deleteInBatches(kind, Array.from({ length: chunks }, (_, i) => res(`r${i}`, 'a')), { ...fakeBudget().options, concurrency: limit })
      expect(most).toBe(Math.min(limit, chunks))
      expect(out.cleaned).toHaveLength(chunks)
    })

  it('pool runs every task once, in order of start, at most `limit` at a time', async () => {
    const started: number[] = []
    let inFlight = 0
    let most = 0
    await pool(Array.from({ length: 9 }, (_, i) => async () => {
      started.push(i)
      most = Math.max(most, ++inFlight)
      await new Promise((resolve) => setImmediate(resolve))
      inFlight--
    }), 4)
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(most).toBe(4)
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]])
  })
})

describe('partial results: re-sent until done or the budget ends', () => {
  test.prop([fc.integer({ min: 1, max: 25 }), fc.integer({ min: 0, max: 6 }), fc.double({ min: 0, max: 0.999, noNaN: true })], { numRuns: 80 })(
    'only the unprocessed entries are re-sent, after backoffMs(attempt, random) each time, until all are cleaned', async (n, rounds, r) => {
      // round k (1-based) leaves the last (n - k) entries unprocessed, for `rounds` rounds
      const { kind, calls } = fakeKind(() => 25, (part, call) => {
        const keep = call <= rounds ? Math.max(0, part.length - 1) : 0
        return { sent: true, cleaned: part.slice(0, part.length - keep), retry: part.slice(part.length - keep).map((entry) => ({ entry, error: new Error('unprocessed') })), failed: [] }
      })
      const b = fakeBudget(1_000_000)
      const resources = Array.from({ length: n }, (_, i) => res(`r${i}`, 'a'))
      const out = await deleteInBatches(kind, resources, { ...b.options, random: () => r })
      expect(out.cleaned).toHaveLength(n)
      expect(out.failed).toEqual([])
      const resent = Math.min(rounds, n - 1)
      expect(calls.map((c) => c.length)).toEqual(Array.from({ length: resent + 1 }, (_, k) => n - k))
      for (let k = 1; k < calls.length; k++) expect(calls[k]).toEqual(calls[k - 1]!.slice(1)) // exactly what came back
      expect(b.sleeps).toEqual(Array.from({ length: resent }, (_, a) => backoffMs(a, () => r)))
      expect(b.requests()).toBe(calls.length)
    })

  it('no room for the next backoff: what is left is failed, retryable, with the sender\'s reason, sent', async () => {
    const error = new Error('left unprocessed')
    const { kind, calls } = fakeKind(() => 25, (part) => ({ sent: true, cleaned: part.slice(1), retry: [{ entry: part[0]!, error }], failed: [] }))
    const b = fakeBudget(60) // 25·random(0.999) fits once; 49 does not fit in the 36 left
    const out = await deleteInBatches(kind, [res('a', 'g'), res('b', 'g'), res('c', 'g')], { ...b.options, random: () => 0.999 })
    expect(calls.map((c) => c.map((e) => e.res.id))).toEqual([['a', 'b', 'c'], ['a']])
    expect(b.sleeps).toEqual([24])
    expect(out.cleaned.map((r) => r.id).sort()).toEqual(['b', 'c'])
    expect(out.failed).toEqual([{ resource: expect.objectContaining({ id: 'a' }), error, retryable: true }])
  })

  it('a budget spent before a chunk starts: nothing sent, every resource failed sent: false with the signal\'s reason', async () => {
    const { kind, calls } = fakeKind(() => 2, allCleaned)
    const b = fakeBudget()
    const reason = new Error('budget spent')
    b.controller.abort(reason)
    const out = await deleteInBatches(kind, [res('a', 'g'), res('b', 'g', 2), res('c', 'h')], b.options)
    expect(calls).toEqual([])
    expect(b.requests()).toBe(0)
    expect(out.cleaned).toEqual([])
    expect(out.failed).toHaveLength(3)
    for (const f of out.failed) expect(f).toMatchObject({ error: reason, retryable: true, sent: false })
  })

  it('a whole-request failure is never re-sent (the SDK retried it): one request per chunk', async () => {
    const error = new Error('HTTP 503 after 3 attempt(s)')
    const { kind, calls } = fakeKind(() => 2, (part) => allFailed(part, error, true, true))
    const out = await deleteInBatches(kind, [res('a', 'g'), res('b', 'g'), res('c', 'g')], fakeBudget().options)
    expect(calls.map((c) => c.length)).toEqual([2, 1])
    expect(out.failed.map((f) => [f.resource.id, f.retryable, f.sent])).toEqual([['a', true, undefined], ['b', true, undefined], ['c', true, undefined]])
  })
})

describe('a resource of several entries (S3: versions)', () => {
  it('cleaned only when all its entries are; failed with the first error otherwise, once', async () => {
    const first = new Error('version 1: AccessDenied')
    const { kind } = fakeKind(() => 2, (part) => ({
      sent: true,
      cleaned: part.filter((e) => !(e.res.id === 'v' && e.part >= 1)),
      retry: [],
      failed: part.filter((e) => e.res.id === 'v' && e.part >= 1).map((entry) => ({ entry, error: entry.part === 1 ? first : new Error('later'), retryable: false })),
    }))
    const out = await deleteInBatches(kind, [res('v', 'g', 3), res('w', 'g', 3)], fakeBudget().options)
    expect(out.cleaned.map((r) => r.id)).toEqual(['w'])
    expect(out.failed).toEqual([{ resource: expect.objectContaining({ id: 'v' }), error: first, retryable: false }])
    expect(out.cleaned[0]!.done).toBe(true)
  })

  it('an entry the sender does not report is failed, retryable — never counted as cleaned', async () => {
    const { kind } = fakeKind(() => 10, (part) => ({ sent: true, cleaned: part.slice(1), retry: [], failed: [] }))
    const out = await deleteInBatches(kind, [res('lost', 'g'), res('ok', 'g')], fakeBudget().options)
    expect(out.cleaned.map((r) => r.id)).toEqual(['ok'])
    expect(out.failed).toEqual([{ resource: expect.objectContaining({ id: 'lost' }), error: expect.any(Error), retryable: true }])
  })

  it('a sender that throws: its chunk is failed, retryable; the other chunks still go', async () => {
    const { kind, calls } = fakeKind(() => 1, (part) => { if (part[0]!.res.id === 'boom') throw new Error('sender bug'); return allCleaned(part) })
    const out = await deleteInBatches(kind, [res('boom', 'g'), res('ok', 'g')], fakeBudget().options)
    expect(calls).toHaveLength(2)
    expect(out.cleaned.map((r) => r.id)).toEqual(['ok'])
    expect(out.failed).toEqual([{ resource: expect.objectContaining({ id: 'boom' }), error: new Error('sender bug'), retryable: true, sent: false }])
  })
})
