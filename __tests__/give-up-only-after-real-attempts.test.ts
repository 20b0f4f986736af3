// G3 (attempts), G5/G9 engine side. A resource is given up only after MAX_ATTEMPTS
// real attempts, with its reason: a delete never sent (`sent: false`, the budget spent
// before anything went out) uses none. report.requests is what deleters counted as
// requests went out — also for a deleter still running at the deadline. Twins are
// deduplicated by identity (kind + client + id), never by id alone. Pure engine logic:
// an in-memory deleter stands in for a service (the wire-level counts against real
// servers are in report-is-the-truth.test.ts).
import { describe, expect, it } from '@jest/globals'
import { addToPlan, emptyPlan, runDisposal } from '../src/disposal.js'
import { MAX_ATTEMPTS, type RemoteDeleter, type RemoteItem, type RemoteResource, type TrackedItem } from '../src/scope-items.js'
import type { CleanupReport } from '../src/report.js'

const quiet = { warn: () => {}, error: () => {} }

const item = (deleter: RemoteDeleter<any>, id: string, client?: object): RemoteItem =>
  ({ type: 'remote', kind: deleter.kind, id, deleter, resource: client === undefined ? { kind: deleter.kind, id } : { kind: deleter.kind, id, client }, attempts: 0 })

/** Runs `items` through cleanups of `budgetMs` until nothing is left or `max` runs; returns the reports. */
const runUntilSettled = async (items: TrackedItem[], budgetMs: number, max = 10): Promise<CleanupReport[]> => {
  const reports: CleanupReport[] = []
  let pending = items
  for (let i = 0; i < max && pending.length > 0; i++) {
    const work = emptyPlan()
    for (const it of pending) addToPlan(work, it)
    const next: TrackedItem[] = []
    reports.push(await runDisposal(work, { exitPath: 'leftovers', budgetMs, logger: quiet, retryLater: (x) => next.push(x) }))
    pending = next
  }
  return reports
}

describe('attempts: given up only after real attempts, with the reason', () => {
  it(`a retryable failure after a request was sent: retried, given up at attempt ${MAX_ATTEMPTS} with its reason`, async () => {
    let calls = 0
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources, { countRequests }) => {
        calls++
        countRequests(1)
        return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new Error('throttled'), retryable: true })) }
      },
    }
    const reports = await runUntilSettled([item(deleter, 'memory://a')], 5000)
    expect(calls).toBe(MAX_ATTEMPTS)
    expect(reports.map((r) => r.failed[0]!.retrying)).toEqual([...Array(MAX_ATTEMPTS - 1).fill(true), undefined])
    expect(reports.at(-1)!.failed[0]!.error).toEqual({ name: 'Error', message: 'throttled' })
  })

  it('sent: false (nothing went out for it) uses no attempt however often it happens, and counts as deferred', async () => {
    let calls = 0
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources) => {
        calls++
        if (calls <= MAX_ATTEMPTS + 2) return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new Error('no time to send'), retryable: true, sent: false as const })) }
        return { cleaned: resources, failed: [], requests: 1 }
      },
    }
    const reports = await runUntilSettled([item(deleter, 'memory://a')], 5000)
    expect(calls).toBe(MAX_ATTEMPTS + 3)
    expect(reports.slice(0, -1).every((r) => r.deferred === 1 && r.leftovers === 1 && r.failed[0]!.retrying === true)).toBe(true)
    expect(reports.at(-1)).toMatchObject({ cleaned: 1, failed: [], requests: 1 })
  })

  it('a deleter that runs past the deadline before sending anything uses no attempt; one that had sent does', async () => {
    let hangs = true
    let sendFirst = false
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources, { countRequests, deadline }) => {
        if (!hangs) return { cleaned: resources, failed: [] }
        if (sendFirst) countRequests(1)
        await deadline.sleep(60_000) // ends with the budget
        return new Promise(() => {})
      },
    }
    const a = item(deleter, 'memory://a')
    let reports = await runUntilSettled([a], 20, MAX_ATTEMPTS + 2)
    expect(reports).toHaveLength(MAX_ATTEMPTS + 2) // never given up
    expect(a.attempts).toBe(0)
    expect(reports.every((r) => r.failed[0]!.retrying === true && r.failed[0]!.error.name === 'CleanupDeadlineError' && r.deferred === 0)).toBe(true)
    sendFirst = true
    const b = item(deleter, 'memory://b')
    reports = await runUntilSettled([b], 20)
    expect(reports).toHaveLength(MAX_ATTEMPTS)
    expect(reports.map((r) => r.requests)).toEqual(Array(MAX_ATTEMPTS).fill(1)) // counted although the deleter lost the race
    expect(reports.at(-1)!.failed[0]!.retrying).toBeUndefined()
  })
})

describe('report.requests: counted as requests go out', () => {
  it('counts what a deleter counted before it lost the deadline race; nothing after the report was returned', async () => {
    let late: ((n: number) => void) | undefined
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (_resources, { countRequests, deadline }) => {
        countRequests(3) // e.g. the SDK's first attempt and two retries
        late = countRequests
        await deadline.sleep(60_000)
        return new Promise(() => {})
      },
    }
    const work = emptyPlan()
    addToPlan(work, item(deleter, 'memory://a'))
    const report = await runDisposal(work, { exitPath: 'manual', budgetMs: 30, logger: quiet, retryLater: () => {} })
    expect(report.requests).toBe(3)
    late!(5)
    expect(report.requests).toBe(3) // a report handed out does not change afterwards
  })

  it('a deleter that does not call countRequests: its outcome.requests; one that does: never both', async () => {
    const legacy: RemoteDeleter<RemoteResource> = { kind: 'legacy', delete: async (resources) => ({ cleaned: resources, failed: [], requests: 2 }) }
    const counting: RemoteDeleter<RemoteResource> = {
      kind: 'counting',
      delete: async (resources, { countRequests }) => { countRequests(1); countRequests(1); return { cleaned: resources, failed: [], requests: 2 } },
    }
    const work = emptyPlan()
    addToPlan(work, item(legacy, 'legacy://a'))
    addToPlan(work, item(counting, 'counting://a'))
    const report = await runDisposal(work, { exitPath: 'manual', budgetMs: 5000, logger: quiet, retryLater: () => {} })
    expect(report).toMatchObject({ cleaned: 2, requests: 4 })
  })
})

describe('identity includes the client (engine twins)', () => {
  it('the same id through two clients is two resources; through one client, one request for both declarations', async () => {
    const seen: RemoteResource[][] = []
    const deleter: RemoteDeleter<RemoteResource> = { kind: 'dynamodb-like', delete: async (resources) => { seen.push(resources); return { cleaned: resources, failed: [] } } }
    const east = { region: 'us-east-1' }
    const west = { region: 'eu-west-1' }
    const work = emptyPlan()
    for (const it of [item(deleter, 'ddb://T/{"pk":"a"}', east), item(deleter, 'ddb://T/{"pk":"a"}', west), item(deleter, 'ddb://T/{"pk":"a"}', east)]) addToPlan(work, it)
    const report = await runDisposal(work, { exitPath: 'leftovers', budgetMs: 5000, logger: quiet, retryLater: () => {} })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.map((r) => (r.client as { region: string }).region)).toEqual(['us-east-1', 'eu-west-1'])
    expect(report).toMatchObject({ resources: 3, cleaned: 3, failed: [] })
  })
})
