// G3 Nothing declared is dropped silently — the starved budget (issue 12 obs 3).
// getRemainingTimeInMillis() at or below safetyMarginMs gives cleanup a budget of 0:
// no delete can be sent. That defers the work (to the next invocation with time, or to
// shutdown) without using an attempt; it never turns it into nothing: the resources
// stay on the leftovers list and in the journal (their per-invocation dir is kept),
// and the report says what was deferred. Real servers (embedded, and moto when on PATH).
import { beforeAll, describe, expect, it } from '@jest/globals'
import { PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanup, type CleanupReport } from '../src/index.js'
import { flushLeftovers, leftoverCount } from './support/internals.js'
import { addToPlan as addToWork, emptyPlan as emptyWork, runDisposal as runWork } from '../src/disposal.js'
import { MAX_ATTEMPTS, type TrackedItem } from '../src/scope-items.js'
import {
  backends, countRequests, existingKeys, itemExists, putObjectsFast, uid, type BackendInfo, withBackend,
} from './support/backends.js'
import { lambdaContext, middyVersions, ourInvocationDirs } from './support/middy.js'

const quiet = { warn: () => {}, error: () => {} }
const MARGIN = 50
/** A context whose remaining time never exceeds the safety margin: every budget is 0. */
const starved = (): any => ({ ...lambdaContext(), getRemainingTimeInMillis: () => MARGIN })

type Key = Record<string, AttributeValue>

describe('the engine alone: a budget of 0 defers everything, in declaration order, using no attempt', () => {
  it('nothing is given up however many starved runs there are; the first run with time releases everything', async () => {
    const deleted: string[] = []
    const deleter = {
      kind: 'memory',
      delete: async (resources: Array<{ kind: string, id: string }>, { countRequests }: { countRequests: (n: number) => void }) => {
        countRequests(1)
        deleted.push(...resources.map((r) => r.id))
        return { cleaned: resources, failed: [] }
      },
    }
    const ran: string[] = []
    let pending: TrackedItem[] = [
      { type: 'remote', kind: 'memory', id: 'memory://a', deleter, resource: { kind: 'memory', id: 'memory://a' }, attempts: 0 },
      { type: 'disposer', kind: 'defer', id: 'defer b', run: async () => { ran.push('b') }, attempts: 0 },
      { type: 'remote', kind: 'memory', id: 'memory://c', deleter, resource: { kind: 'memory', id: 'memory://c' }, attempts: 0 },
    ]
    for (let run = 0; run < MAX_ATTEMPTS + 2; run++) {
      const work = emptyWork()
      for (const item of pending) addToWork(work, item)
      const next: TrackedItem[] = []
      const report = await runWork(work, { exitPath: 'leftovers', budgetMs: 0, logger: quiet, retryLater: (i) => next.push(i) })
      expect(report).toMatchObject({ resources: 3, cleaned: 0, requests: 0, leftovers: 3, deferred: 3 })
      expect(report.failed.map((f) => [f.id, f.retrying, f.error.name])).toEqual([
        ['memory://a', true, 'CleanupDeadlineError'], ['defer b', true, 'CleanupDeadlineError'], ['memory://c', true, 'CleanupDeadlineError'],
      ])
      expect(next.map((i) => i.id)).toEqual(['memory://a', 'defer b', 'memory://c']) // still in declaration order
      expect(next.every((i) => i.attempts === 0)).toBe(true)
      pending = next
    }
    expect(deleted).toEqual([])
    expect(ran).toEqual([])
    const work = emptyWork()
    for (const item of pending) addToWork(work, item)
    const report = await runWork(work, { exitPath: 'leftovers', budgetMs: 5000, logger: quiet, retryLater: () => { throw new Error('nothing should be left') } })
    expect(report).toMatchObject({ resources: 3, cleaned: 3, failed: [], requests: 2, leftovers: 0, deferred: 0 })
    expect(deleted).toEqual(['memory://c', 'memory://a']) // LIFO: c, then the defer, then a
    expect(ran).toEqual(['b'])
  })
})

describe.each(backends())('starved budget on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })
  // The once-per-process sweep of stale dirs runs first, alone: what other test files' dead
  // children left in the shared os.tmpdir() must not count in this file's leftovers reports.
  beforeAll(async () => {
    await middyVersions[2]!.middy().use(cleanup({ logger: quiet })).handler(async () => 'warm')({}, lambdaContext())
  })

  interface Declared { objects: string[], items: Key[] }
  const declare = async (context: any, d: Declared): Promise<void> => {
    const id = `${context.awsRequestId as string}-${uid()}`
    const put = `tmp/${id}/put.bin`
    await context.cleanup.putObject({ Bucket: bucket, Key: put, Body: 'x' })
    d.objects.push(put)
    const other = `tmp/${id}/declared.bin`
    await putObjectsFast(b, bucket, [other])
    context.cleanup.s3Object({ bucket, key: other })
    d.objects.push(other)
    const item: Key = { pk: { S: `starved#${id}` }, sk: { S: 'lock' } }
    await ddb.send(new PutItemCommand({ TableName: table, Item: item }))
    context.cleanup.dynamoItem({ table, key: item })
    d.items.push(item)
  }
  const left = async (d: Declared): Promise<number> =>
    (await existingKeys(s3, bucket, d.objects)).length +
    (await Promise.all(d.items.map((k) => itemExists(ddb, table, k)))).filter(Boolean).length
  const options = (reports: CleanupReport[]) => ({
    s3, dynamodb: ddb, logger: quiet, safetyMarginMs: MARGIN, onReport: (r: CleanupReport) => { reports.push(r) },
    allow: { s3: [`${bucket}/tmp/`], dynamodb: [table] },
  })
  const journals = async (): Promise<string[]> =>
    (await ourInvocationDirs()).map((name) => join(tmpdir(), name, '.journal')).filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8'))

  const starve = async (n: number, d: Declared, reports: CleanupReport[]) => {
    const sent = { s3: countRequests(s3), ddb: countRequests(ddb) }
    // timeoutEarlyInMillis: 0 — Middy's own timeout would fire at once with so little time "left"
    const handler = middyVersions[2]!.middy({ timeoutEarlyInMillis: 0 }).use(cleanup(options(reports))).handler(async (_e: unknown, context: any) => {
      await declare(context, d)
      return 'ok'
    })
    try {
      for (let i = 0; i < n; i++) await expect(handler({}, starved())).resolves.toBe('ok')
      return { deletes: sent.s3.total('DeleteObjectsCommand') + sent.ddb.total('BatchWriteItemCommand') }
    } finally { sent.s3.detach(); sent.ddb.detach() }
  }

  it(`${MAX_ATTEMPTS + 2} starved invocations: nothing sent, nothing dropped, journals kept; the next invocation with time deletes all`, async () => {
    const n = MAX_ATTEMPTS + 2
    const d: Declared = { objects: [], items: [] }
    const reports: CleanupReport[] = []
    const { deletes } = await starve(n, d, reports)
    expect(deletes).toBe(0)
    expect(await left(d)).toBe(3 * n)
    expect(leftoverCount()).toBe(3 * n) // none forgotten after MAX_ATTEMPTS invocations
    // every invocation's dir is kept with its journal while what it lists is pending
    const kept = await journals()
    expect(kept).toHaveLength(n)
    for (const key of d.objects.filter((k) => k.endsWith('put.bin'))) expect(kept.some((j) => j.includes(key))).toBe(true)
    // each invocation's own report says truthfully that its 3 resources were deferred
    const own = reports.filter((r) => r.exitPath === 'success')
    expect(own).toHaveLength(n)
    for (const r of own) {
      expect(r).toMatchObject({ resources: 3, cleaned: 0, requests: 0, leftovers: 3, deferred: 3 })
      expect(r.failed.every((f) => f.retrying === true && f.error.name === 'CleanupDeadlineError')).toBe(true)
      expect(JSON.parse(JSON.stringify(r)).failed[0].error.message).toMatch(/deferred, without using an attempt/)
    }

    const handler = middyVersions[2]!.middy().use(cleanup(options(reports))).handler(async () => 'with time')
    await expect(handler({}, lambdaContext())).resolves.toBe('with time')
    expect(await left(d)).toBe(0)
    expect(leftoverCount()).toBe(0)
    expect(await ourInvocationDirs()).toEqual([])
    expect(reports.filter((r) => r.exitPath === 'leftovers').at(-1)).toMatchObject({ resources: 3 * n, cleaned: 3 * n, failed: [] })
  })

  it('starved invocations, then shutdown with time: the shutdown flush deletes everything', async () => {
    const d: Declared = { objects: [], items: [] }
    const reports: CleanupReport[] = []
    await starve(MAX_ATTEMPTS, d, reports)
    expect(await left(d)).toBe(3 * MAX_ATTEMPTS)
    expect(leftoverCount()).toBe(3 * MAX_ATTEMPTS)
    const flushed = await flushLeftovers({ timeoutMs: 10_000, logger: quiet })
    expect(flushed).toMatchObject({ exitPath: 'shutdown', cleaned: 3 * MAX_ATTEMPTS, failed: [] })
    expect(await left(d)).toBe(0)
    expect(leftoverCount()).toBe(0)
    expect(await ourInvocationDirs()).toEqual([])
  })
})
