// G9 (issue 12 obs 12): the report is the truth. `report.requests` is the number of HTTP
// requests that reached the wire — counted by the fault proxy in front of the real server,
// whatever the SDK's retries and the deadline did — and `cleaned` / `failed` agree with the
// server afterwards: everything reported cleaned is gone, everything reported failed still
// exists or is on the leftovers list (to retry). Reasons survive JSON.stringify.
// MIDDY_CLEANUP_FIGURES=1 prints the figures (report.requests vs requests on the wire).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { BatchWriteItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { CleanupScope, type CleanupReport } from '../src/index.js'
import { flushLeftovers, leftoverCount } from './support/internals.js'
import { deleteS3Objects, s3Resource } from '../src/s3.js'
import { deleteDynamoItems, dynamoResource } from '../src/dynamodb.js'
import {
  backends, createBucket, createTable, dynamoClient, existingKeys, listKeys, putObjectsFast, recordingLogger, s3Client, withBackend, type BackendInfo,
} from './support/backends.js'
import { s3Error, slowDown, startFaultProxy, throttled, type FaultProxy } from './support/fault-proxy.js'

const quiet = () => recordingLogger()
const figure = (line: string): void => { if (process.env.MIDDY_CLEANUP_FIGURES === '1') process.stdout.write(`[figure] ${line}\n`) }

const DELETES = new Set(['s3:POST?delete', 's3:DELETE', 'BatchWriteItem', 'DeleteItem'])
/** Deletion requests the proxy received: what went on the wire. */
const wire = (proxy: FaultProxy): number => proxy.seen.filter((r) => DELETES.has(r.op)).length

/** Every reason survives a structured logger: JSON keeps name, message and code of each. */
const expectPlainJson = (report: CleanupReport): void => {
  const parsed = JSON.parse(JSON.stringify(report)) as CleanupReport
  expect(parsed.failed).toEqual(report.failed)
  for (const f of parsed.failed) {
    expect(typeof f.error.name).toBe('string')
    expect(f.error.name).not.toBe('')
    expect(typeof f.error.message).toBe('string')
    expect(f.error.message).not.toBe('')
  }
}

const putItems = async (ddb: DynamoDBClient, table: string, pks: readonly string[]): Promise<void> => {
  const chunks: string[][] = []
  for (let i = 0; i < pks.length; i += 25) chunks.push(pks.slice(i, i + 25))
  for (let i = 0; i < chunks.length; i += 8) {
    await Promise.all(chunks.slice(i, i + 8).map((c) => ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: c.map((pk) => ({ PutRequest: { Item: { pk: { S: pk } } } })) } }))))
  }
}
const existingItems = async (ddb: DynamoDBClient, table: string): Promise<Set<string>> => {
  const out = new Set<string>()
  let start: Record<string, any> | undefined
  do {
    const r = await ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }))
    for (const i of r.Items ?? []) out.add(i.pk!.S!)
    start = r.LastEvaluatedKey
  } while (start !== undefined)
  return out
}

describe.each(backends())('report.requests = requests on the wire, on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) }, { range: false })

  // maxAttempts undefined: the SDK's default for that client
  it.each([
    ['503 ServiceUnavailable', undefined, s3Error(503, 'ServiceUnavailable')],
    ['503 ServiceUnavailable', 1, s3Error(503, 'ServiceUnavailable')],
    ['503 ServiceUnavailable', 5, s3Error(503, 'ServiceUnavailable')],
    ['503 SlowDown', undefined, slowDown()],
  ])('always-%s S3, maxAttempts %s: report.requests = attempts on the wire; nothing reported cleaned; reasons kept', async (_name, maxAttempts, fault) => {
    let faulty = true
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...fault, match: () => faulty } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, maxAttempts === undefined ? {} : { maxAttempts })
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `always503-${String(maxAttempts)}-${fault.body.length}/${i}`)
      await putObjectsFast(b, bucket, keys)
      const before = leftoverCount()
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 20_000 })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} S3 always-${_name} maxAttempts=${maxAttempts ?? `default(${await via.config.maxAttempts()})`}: report.requests=${report.requests} wire=${wire(proxy)}`)
      expect(wire(proxy)).toBeGreaterThan(0)
      expect(report.requests).toBe(wire(proxy))
      expect(report.cleaned).toBe(0)
      expect(report.failed).toHaveLength(30)
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(leftoverCount()).toBe(before + 30)
      expect(await existingKeys(s3, bucket, keys)).toHaveLength(30) // the server agrees: nothing was deleted
      expectPlainJson(report)
      expect(report.failed[0]!.error.code).toBe(/SlowDown/.test(fault.body) ? 'SlowDown' : 'ServiceUnavailable')
      faulty = false
      const flushed = await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })
      expect(flushed).toMatchObject({ cleaned: 30, failed: [] })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  // Throttling backs off from 1 s in the SDK: the budget cuts the default and 5-attempt runs
  // short, which is the point — the count must be right when the deadline stops the SDK mid-retries.
  it.each([undefined, 1, 5])('always-throttled DynamoDB, maxAttempts %s, 1.5 s budget: report.requests = attempts on the wire; nothing reported cleaned', async (maxAttempts) => {
    let faulty = true
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, status: { ...throttled(), match: () => faulty } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint }, maxAttempts === undefined ? {} : { maxAttempts })
    try {
      const pks = Array.from({ length: 40 }, (_, i) => `thr-${String(maxAttempts)}-${i}`)
      await putItems(ddb, table, pks)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 1500 })
      for (const pk of pks) scope.dynamoItem({ table, key: { pk: { S: pk } } })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} DynamoDB always-throttled maxAttempts=${maxAttempts ?? `default(${await via.config.maxAttempts()})`} budget=1.5s: report.requests=${report.requests} wire=${wire(proxy)}`)
      expect(wire(proxy)).toBeGreaterThanOrEqual(2) // two batches (25 + 15), at least one attempt each
      expect(report.requests).toBe(wire(proxy))
      expect(report.cleaned).toBe(0)
      expect(report.failed).toHaveLength(40)
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      const left = await existingItems(ddb, table)
      expect(pks.filter((pk) => !left.has(pk))).toEqual([])
      expectPlainJson(report)
      faulty = false
      const flushed = await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })
      expect(flushed).toMatchObject({ cleaned: 40, failed: [] })
      const after = await existingItems(ddb, table)
      expect(pks.filter((pk) => after.has(pk))).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })
})

describe('sent: false — no request for the resource ever went out (embedded servers)', () => {
  const b = backends().find((x) => x.name === 'embedded')!
  it('the budget already spent: nothing on the wire, nothing counted, every failure sent: false and retryable', async () => {
    const s3Proxy = await startFaultProxy({ target: b.s3Endpoint })
    const ddbProxy = await startFaultProxy({ target: b.dynamodbEndpoint })
    const viaS3 = s3Client({ ...b, s3Endpoint: s3Proxy.endpoint })
    const viaDdb = dynamoClient({ ...b, dynamodbEndpoint: ddbProxy.endpoint })
    try {
      const spent = AbortSignal.abort(new Error('budget spent'))
      const deadline = { remainingMs: () => 0, sleep: async () => {} }
      let counted = 0
      const countRequests = (n: number): void => { counted += n }
      const objects = [
        s3Resource('s3Object', { bucket: 'b', key: 'batched', client: viaS3 }, {}),
        s3Resource('s3Object', { bucket: 'b', key: 'verified', etag: '"e"', client: viaS3 }, {}),
      ]
      const items = [dynamoResource('dynamoItem', { table: 'T', key: { pk: { S: 'a' } }, client: viaDdb }, {})]
      const s3Out = await deleteS3Objects(objects, { signal: spent, deadline, countRequests })
      const ddbOut = await deleteDynamoItems(items, { signal: spent, deadline, countRequests })
      expect(wire(s3Proxy) + wire(ddbProxy)).toBe(0)
      expect(counted).toBe(0)
      const byId = (a: { id: string }, z: { id: string }): number => a.id.localeCompare(z.id)
      expect([...s3Out.failed, ...ddbOut.failed].map((f) => ({ id: f.resource.id, sent: f.sent, retryable: f.retryable })).sort(byId)).toEqual([
        ...objects.map((r) => ({ id: r.id, sent: false, retryable: true })),
        { id: items[0]!.id, sent: false, retryable: true },
      ].sort(byId))
      expect(s3Out.cleaned).toEqual([])
      expect(ddbOut.cleaned).toEqual([])
    } finally { viaS3.destroy(); viaDdb.destroy(); await s3Proxy.stop(); await ddbProxy.stop() }
  })

  it('a request that went out (and failed) is not marked: sent stays undefined', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: s3Error(503, 'ServiceUnavailable') })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 1 })
    try {
      let counted = 0
      const controller = new AbortController()
      const out = await deleteS3Objects([s3Resource('s3Object', { bucket: 'b', key: 'k', client: via }, {})], {
        signal: controller.signal, deadline: { remainingMs: () => 10_000, sleep: async () => {} }, countRequests: (n) => { counted += n },
      })
      expect(wire(proxy)).toBe(1)
      expect(counted).toBe(1)
      expect(out.failed).toHaveLength(1)
      expect(out.failed[0]!.sent).toBeUndefined()
      expect(out.failed[0]!.retryable).toBe(true)
    } finally { via.destroy(); await proxy.stop() }
  })
})

describe('a client that never runs the command\'s middleware stack (a stub; no server needed)', () => {
  it('is counted from $metadata.attempts of its answer, or 1 without it', async () => {
    const s3stub = { send: async () => ({ $metadata: { attempts: 3 } }) } // the SDK made 3 attempts
    let throttling = true
    const ddbStub = {
      send: async (command: { input: { RequestItems: Record<string, unknown> } }) => {
        if (throttling && 'T' in command.input.RequestItems) throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400, attempts: 2 } })
        return {}
      },
    }
    const scope = new CleanupScope({ s3: s3stub, dynamodb: ddbStub, logger: quiet() })
    scope.s3Object({ bucket: 'b', key: 'k' })
    scope.dynamoItem({ table: 'T', key: { pk: { S: 'a' } } })
    scope.dynamoItem({ table: 'U', key: { pk: { S: 'a' } } })
    const report = await scope.dispose()
    // 3 (from the S3 answer) + 2 (from the DynamoDB error) + 1 (an answer without $metadata)
    expect(report.requests).toBe(6)
    expect(report.cleaned).toBe(2)
    expect(report.failed).toEqual([expect.objectContaining({ id: 'dynamodb://T/{"pk":"a"}', retrying: true, error: expect.objectContaining({ code: 'ProvisionedThroughputExceededException' }) })])
    throttling = false
    expect(await flushLeftovers({ timeoutMs: 1000, logger: quiet() })).toMatchObject({ cleaned: 1, failed: [], requests: 1 })
  })
})

// The run of the issue: 20,000 objects + 5,000 items and a budget that cannot finish them.
// Requests past the 4th DeleteObjects and the 60th BatchWriteItem are held by the proxy for
// 10 s (forwarded to the server afterwards, as a slow S3 would still apply them), so the
// 5 s budget cuts the run whatever the machine's speed (the budget only has to be long
// enough for the first requests on a loaded CI box); the assertions are on counts.
describe('a large run cut by the budget (embedded servers)', () => {
  const b = backends().find((x) => x.name === 'embedded')!
  let s3: S3Client
  let ddb: DynamoDBClient
  beforeAll(() => { s3 = s3Client(b); ddb = dynamoClient(b) })
  afterAll(() => { s3.destroy(); ddb.destroy() })

  it('20,000 objects + 5,000 items, 5 s budget: report.requests = wire; cleaned are gone; failed still exist or are leftovers', async () => {
    const bucket = await createBucket(s3)
    const table = await createTable(ddb, { range: false })
    const keys = Array.from({ length: 20_000 }, (_, i) => `big/${i}`)
    const pks = Array.from({ length: 5000 }, (_, i) => `item-${i}`)
    await putObjectsFast(b, bucket, keys)
    await putItems(ddb, table, pks)
    let s3Seen = 0
    let ddbSeen = 0
    const slow = (op: string): boolean => (op === 's3:POST?delete' && ++s3Seen > 4) || (op === 'BatchWriteItem' && ++ddbSeen > 60)
    const s3Proxy = await startFaultProxy({ target: b.s3Endpoint, delayMs: (r) => slow(r.op) ? 10_000 : 0 })
    const ddbProxy = await startFaultProxy({ target: b.dynamodbEndpoint, delayMs: (r) => slow(r.op) ? 10_000 : 0 })
    const viaS3 = s3Client({ ...b, s3Endpoint: s3Proxy.endpoint })
    const viaDdb = dynamoClient({ ...b, dynamodbEndpoint: ddbProxy.endpoint })
    try {
      const before = leftoverCount()
      const scope = new CleanupScope({ s3: viaS3, dynamodb: viaDdb, logger: quiet(), timeoutMs: 5000 })
      for (const key of keys) scope.s3Object({ bucket, key })
      for (const pk of pks) scope.dynamoItem({ table, key: { pk: { S: pk } } })
      const report = await scope.dispose()
      const onWire = wire(s3Proxy) + wire(ddbProxy)
      figure(`embedded large run 20000 objects + 5000 items, 5 s budget: report.requests=${report.requests} wire=${onWire} (DeleteObjects ${wire(s3Proxy)}, BatchWriteItem ${wire(ddbProxy)}); cleaned=${report.cleaned} failed=${report.failed.length} leftovers=${report.leftovers}`)
      expect(report.requests).toBe(onWire)
      expect(report.resources).toBe(25_000)
      expect(report.cleaned + report.failed.length).toBe(25_000)
      expect(report.failed.length).toBeGreaterThan(0) // the budget did cut it
      expect(report.cleaned).toBeGreaterThan(0)
      expectPlainJson(report)

      const failed = new Set(report.failed.map((f) => f.id))
      const retrying = new Set(report.failed.filter((f) => f.retrying === true).map((f) => f.id))
      expect(leftoverCount()).toBe(before + retrying.size)
      const objectsLeft = new Set(await listKeys(s3, bucket, 'big/'))
      const itemsLeft = await existingItems(ddb, table)
      const s3Id = (k: string) => `s3://${bucket}/${k}`
      const ddbId = (pk: string) => `dynamodb://${table}/{"pk":${JSON.stringify(pk)}}`
      // reported cleaned → gone on the server
      expect(keys.filter((k) => !failed.has(s3Id(k)) && objectsLeft.has(k))).toEqual([])
      expect(pks.filter((pk) => !failed.has(ddbId(pk)) && itemsLeft.has(pk))).toEqual([])
      // reported failed → still there, or on the leftovers list to be retried
      expect(keys.filter((k) => failed.has(s3Id(k)) && !objectsLeft.has(k) && !retrying.has(s3Id(k)))).toEqual([])
      expect(pks.filter((pk) => failed.has(ddbId(pk)) && !itemsLeft.has(pk) && !retrying.has(ddbId(pk)))).toEqual([])

      s3Seen = -Infinity
      ddbSeen = -Infinity
      const flushed = await flushLeftovers({ timeoutMs: 20_000, logger: quiet() })
      expect(flushed.failed).toEqual([])
      expect(await listKeys(s3, bucket, 'big/')).toEqual([])
      expect((await existingItems(ddb, table)).size).toBe(0)
    } finally {
      viaS3.destroy(); viaDdb.destroy()
      await s3Proxy.stop(); await ddbProxy.stop()
    }
  }, 90_000)
})
