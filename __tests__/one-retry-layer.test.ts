// G10 (issue 12 obs 13): one retry layer per failure. A whole request that fails is the
// SDK's to retry — exactly the client's maxAttempts go on the wire (counted by the fault
// proxy in front of the real server), never maxAttempts × cleanup's own re-sends; what the
// SDK gives up on is a retryable failure for the next invocation. Cleanup loops only on
// partial results the SDK reports as success: S3 per-key `Errors` with a transient code and
// DynamoDB `UnprocessedItems`, with backoff through the deadline (`deadline.sleep`) and an
// injectable jitter, until done or the budget ends. Final per-key codes are not retried.
// MIDDY_CLEANUP_FIGURES=1 prints report.requests vs requests on the wire.
import { describe, expect, it } from '@jest/globals'
import { BatchWriteItemCommand, GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { CleanupScope } from '../src/index.js'
import { flushLeftovers } from './support/internals.js'
import { deleteS3Objects, s3Resource } from '../src/s3.js'
import { deleteDynamoItems, dynamoResource } from '../src/dynamodb.js'
import {
  backends, dynamoClient, existingKeys, objectExists, putObjectsFast, recordingLogger, s3Client, uid, withBackend, type BackendInfo,
} from './support/backends.js'
import { dynamoError, s3Error, slowDown, startFaultProxy, throttled, type FaultProxy, type FaultProxyOptions } from './support/fault-proxy.js'

const quiet = () => recordingLogger()
const figure = (line: string): void => { if (process.env.MIDDY_CLEANUP_FIGURES === '1') process.stdout.write(`[figure] ${line}\n`) }
const DELETES = new Set(['s3:POST?delete', 's3:DELETE', 'BatchWriteItem', 'DeleteItem'])
const wire = (proxy: FaultProxy): number => proxy.seen.filter((r) => DELETES.has(r.op)).length
const itemExists = async (ddb: DynamoDBClient, table: string, pk: string): Promise<boolean> =>
  (await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }))).Item !== undefined
const putItems = async (ddb: DynamoDBClient, table: string, pks: readonly string[]): Promise<void> => {
  for (let i = 0; i < pks.length; i += 25) {
    await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: pks.slice(i, i + 25).map((pk) => ({ PutRequest: { Item: { pk: { S: pk } } } })) } }))
  }
}

/** A deadline for calling the deleters directly: records every backoff it is asked to sleep. */
const recordingDeadline = (budgetMs: number) => {
  const controller = new AbortController()
  const at = Date.now() + budgetMs
  const timer = setTimeout(() => controller.abort(new Error('budget spent')), budgetMs)
  const sleeps: number[] = []
  return {
    signal: controller.signal,
    sleeps,
    deadline: {
      remainingMs: () => Math.max(0, at - Date.now()),
      sleep: async (ms: number) => { sleeps.push(ms); await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5))) },
    },
    clear: () => clearTimeout(timer),
  }
}

describe.each(backends())('whole-request faults are the SDK\'s to retry, on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) }, { range: false })

  // Faults whose SDK backoff is short (transient: 50 ms base) or few (throttling: 1 s base).
  const s3Faults: Array<[string, number, Partial<FaultProxyOptions>]> = [
    ['503 ServiceUnavailable', 3, { status: s3Error(503, 'ServiceUnavailable') }],
    ['503 ServiceUnavailable', 5, { status: s3Error(503, 'ServiceUnavailable') }],
    ['500 InternalError', 1, { status: s3Error(500, 'InternalError') }],
    ['500 InternalError', 4, { status: s3Error(500, 'InternalError') }],
    ['503 SlowDown', 2, { status: slowDown() }],
    ['connection reset', 3, { reset: {} }],
  ]
  it.each(s3Faults)('S3 DeleteObjects, always %s, maxAttempts %i: exactly maxAttempts on the wire, then retryable leftovers', async (name, maxAttempts, fault) => {
    let faulty = true
    const rule = { match: () => faulty }
    const proxy = await startFaultProxy({ target: b.s3Endpoint, ...(fault.status !== undefined ? { status: { ...fault.status, ...rule } } : { reset: rule }) })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts })
    try {
      const keys = Array.from({ length: 10 }, (_, i) => `whole-${uid()}/${i}`)
      await putObjectsFast(b, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 20_000 })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} S3 always-${name} maxAttempts=${maxAttempts}: wire=${wire(proxy)} report.requests=${report.requests}`)
      expect(wire(proxy)).toBe(maxAttempts)
      expect(report.requests).toBe(maxAttempts)
      expect(report).toMatchObject({ cleaned: 0, leftovers: 10 })
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(await existingKeys(s3, bucket, keys)).toHaveLength(10)
      faulty = false
      expect(await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })).toMatchObject({ cleaned: 10, failed: [], requests: 1 })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  const ddbFaults: Array<[string, number, Partial<FaultProxyOptions>]> = [
    ['500 InternalServerError', 3, { status: dynamoError(500, 'InternalServerError') }],
    ['500 InternalServerError', 5, { status: dynamoError(500, 'InternalServerError') }],
    ['ProvisionedThroughputExceeded', 1, { status: throttled() }],
    ['ProvisionedThroughputExceeded', 2, { status: throttled() }],
    ['connection reset', 3, { reset: {} }],
  ]
  it.each(ddbFaults)('DynamoDB BatchWriteItem, always %s, maxAttempts %i: exactly maxAttempts on the wire, then retryable leftovers', async (name, maxAttempts, fault) => {
    let faulty = true
    const rule = { match: () => faulty }
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, ...(fault.status !== undefined ? { status: { ...fault.status, ...rule } } : { reset: rule }) })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint }, { maxAttempts })
    try {
      const pks = Array.from({ length: 10 }, (_, i) => `whole-${uid()}-${i}`)
      await putItems(ddb, table, pks)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 20_000 })
      for (const pk of pks) scope.dynamoItem({ table, key: { pk: { S: pk } } })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} DynamoDB always-${name} maxAttempts=${maxAttempts}: wire=${wire(proxy)} report.requests=${report.requests}`)
      expect(wire(proxy)).toBe(maxAttempts)
      expect(report.requests).toBe(maxAttempts)
      expect(report).toMatchObject({ cleaned: 0, leftovers: 10 })
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      for (const pk of pks) expect(await itemExists(ddb, table, pk)).toBe(true)
      faulty = false
      expect(await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })).toMatchObject({ cleaned: 10, failed: [], requests: 1 })
      for (const pk of pks) expect(await itemExists(ddb, table, pk)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('a conditional delete (putItem verify) under an always-500: maxAttempts DeleteItem on the wire, no more', async () => {
    let faulty = false
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, status: { ...dynamoError(500, 'InternalServerError'), match: (r) => faulty && r.op === 'DeleteItem' } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint }, { maxAttempts: 3 })
    try {
      const pk = `verify-${uid()}`
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 20_000 })
      await scope.putItem({ TableName: table, Item: { pk: { S: pk } } }, { verify: true })
      faulty = true
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      expect(proxy.seen.filter((r) => r.op === 'DeleteItem')).toHaveLength(3)
      expect(report).toMatchObject({ requests: 3, cleaned: 0, leftovers: 1 })
      expect(await itemExists(ddb, table, pk)).toBe(true)
      faulty = false
      expect(await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })).toMatchObject({ cleaned: 1, failed: [] })
      expect(await itemExists(ddb, table, pk)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('a definitive 4xx (403 AccessDenied on the whole request): one attempt, not retried, not a leftover', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...s3Error(403, 'AccessDenied', 'Access Denied'), match: (r) => r.op === 's3:POST?delete' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 3 })
    try {
      const key = `denied-${uid()}`
      await putObjectsFast(b, bucket, [key])
      const scope = new CleanupScope({ s3: via, logger: quiet() })
      scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      expect(wire(proxy)).toBe(1)
      expect(report).toMatchObject({ requests: 1, cleaned: 0, leftovers: 0 })
      expect(report.failed).toEqual([expect.objectContaining({ kind: 's3', id: `s3://${bucket}/${key}`, error: expect.objectContaining({ name: 'S3DeleteError', code: 'AccessDenied' }) })])
      expect(report.failed[0]!.retrying).toBeUndefined()
      expect(await objectExists(s3, bucket, key)).toBe(true)
    } finally { via.destroy(); await proxy.stop() }
  })

  // ---- partial results: the only thing cleanup loops on ----

  it('S3 per-key SlowDown on 3 responses (half the keys each time): re-sent with backoff until all are gone', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, keyErrors: { times: 3, code: 'SlowDown', count: (n) => Math.ceil(n / 2) } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `perkey-${uid()}/${i}`)
      await putObjectsFast(b, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 20_000 })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} S3 per-key SlowDown ×3: wire=${wire(proxy)} report.requests=${report.requests}`)
      // 30 keys → 15 withheld → 8 → 4 → done: the first request and 3 re-sends of what was left
      expect(proxy.injected.keyErrors).toBe(3)
      expect(wire(proxy)).toBe(4)
      expect(report).toMatchObject({ requests: 4, cleaned: 30, failed: [] })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('S3 per-key InternalError until the budget ends: looped on, then retryable leftovers with the per-key reason', async () => {
    let faulty = true
    const proxy = await startFaultProxy({ target: b.s3Endpoint, keyErrors: { match: () => faulty, code: 'InternalError', count: (n) => n } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const keys = Array.from({ length: 5 }, (_, i) => `perkey-deadline-${uid()}/${i}`)
      await putObjectsFast(b, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 400 })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} S3 per-key InternalError until the deadline: wire=${wire(proxy)} report.requests=${report.requests}`)
      expect(wire(proxy)).toBeGreaterThan(1) // looped on
      expect(report.requests).toBe(wire(proxy))
      expect(report).toMatchObject({ cleaned: 0, leftovers: 5 })
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(await existingKeys(s3, bucket, keys)).toHaveLength(5)
      faulty = false
      expect(await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })).toMatchObject({ cleaned: 5, failed: [] })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('S3 per-key AccessDenied (a final code): not re-sent, not a leftover; the other keys are deleted', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, keyErrors: { code: 'AccessDenied', count: () => 1 } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const keys = Array.from({ length: 3 }, (_, i) => `perkey-final-${uid()}/${i}`)
      await putObjectsFast(b, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet() })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      expect(wire(proxy)).toBe(1)
      expect(report).toMatchObject({ requests: 1, cleaned: 2, leftovers: 0 })
      expect(report.failed).toEqual([expect.objectContaining({ kind: 's3', id: `s3://${bucket}/${keys[2]}`, error: expect.objectContaining({ name: 'S3DeleteError', code: 'AccessDenied' }) })])
      expect(report.failed[0]!.retrying).toBeUndefined()
      expect(await existingKeys(s3, bucket, keys)).toEqual([keys[2]])
    } finally { via.destroy(); await proxy.stop() }
  })

  const onlyWith = (feature: keyof BackendInfo['features'], reason: string) => b.features[feature] ? it : (name: string, fn: () => Promise<void>) => it.skip(`${name} — skipped on ${b.name}: ${reason}`, fn)

  onlyWith('perKeyErrors', 'fauxqs never returns per-key Errors')('a real per-key error from the server (object under legal hold): one request, not looped on', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const lb = `lock-${uid()}`
      await s3.send(new CreateBucketCommand({ Bucket: lb, ObjectLockEnabledForBucket: true }))
      const held = await s3.send(new PutObjectCommand({ Bucket: lb, Key: 'held', Body: 'x', ObjectLockLegalHoldStatus: 'ON', ChecksumAlgorithm: 'CRC32' }))
      const scope = new CleanupScope({ s3: via, logger: quiet() })
      scope.s3Object({ bucket: lb, key: 'held', versionId: held.VersionId! })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      expect(wire(proxy)).toBe(1)
      expect(report).toMatchObject({ requests: 1, cleaned: 0, leftovers: 0 })
      expect(report.failed[0]!.error).toMatchObject({ name: 'S3DeleteError', code: 'AccessDenied' })
      expect(await objectExists(s3, lb, 'held', held.VersionId)).toBe(true)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('DynamoDB UnprocessedItems on 3 responses: re-sent with backoff until all are gone', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { times: 3, count: (n) => Math.ceil(n / 2) } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      const pks = Array.from({ length: 20 }, (_, i) => `unp-${uid()}-${i}`)
      await putItems(ddb, table, pks)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 20_000 })
      for (const pk of pks) scope.dynamoItem({ table, key: { pk: { S: pk } } })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      figure(`${b.name} DynamoDB UnprocessedItems ×3: wire=${wire(proxy)} report.requests=${report.requests}`)
      // 20 → 10 unprocessed → 5 → 3 → done
      expect(wire(proxy)).toBe(4)
      expect(report).toMatchObject({ requests: 4, cleaned: 20, failed: [] })
      for (const pk of pks) expect(await itemExists(ddb, table, pk)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('DynamoDB UnprocessedItems until the budget ends: looped on, then retryable leftovers', async () => {
    let faulty = true
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { match: () => faulty, count: (n) => n } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      const pks = Array.from({ length: 3 }, (_, i) => `unp-deadline-${uid()}-${i}`)
      await putItems(ddb, table, pks)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 400 })
      for (const pk of pks) scope.dynamoItem({ table, key: { pk: { S: pk } } })
      const report = await scope.dispose()
      await proxy.settled() // an attempt written just before the abort can reach the proxy after dispose() returned
      expect(wire(proxy)).toBeGreaterThan(1)
      expect(report.requests).toBe(wire(proxy))
      expect(report).toMatchObject({ cleaned: 0, leftovers: 3 })
      expect(report.failed.every((f) => f.retrying === true && f.error.code === 'UnprocessedItems')).toBe(true)
      faulty = false
      expect(await flushLeftovers({ timeoutMs: 10_000, logger: quiet() })).toMatchObject({ cleaned: 3, failed: [] })
      for (const pk of pks) expect(await itemExists(ddb, table, pk)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('the backoff between partial re-sends goes through deadline.sleep, full jitter from the injected random', async () => {
    let left = 0 // faults still to inject in this round
    const proxy = await startFaultProxy({ target: b.s3Endpoint, keyErrors: { match: () => left-- > 0, code: 'SlowDown', count: () => 1 } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    const dproxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { times: 4, count: () => 1 } })
    const dvia = dynamoClient({ ...b, dynamodbEndpoint: dproxy.endpoint })
    try {
      const key = `jitter-${uid()}`
      const pk = `jitter-${uid()}`
      await putItems(ddb, table, [pk])
      for (const [random, expected] of [[() => 0.999, [24, 49, 99, 199]], [() => 0, [0, 0, 0, 0]]] as const) {
        left = 4
        await putObjectsFast(b, bucket, [key])
        const d = recordingDeadline(20_000)
        let counted = 0
        const out = await deleteS3Objects([s3Resource('s3Object', { bucket, key, client: via }, {})], { ...d, countRequests: (n) => { counted += n }, random })
        d.clear()
        expect(out.cleaned).toHaveLength(1)
        expect(d.sleeps).toEqual(expected) // 25 ms · 2ⁿ · random, one sleep before each re-send
        expect(counted).toBe(5)
        expect(await objectExists(s3, bucket, key)).toBe(false)
      }
      const d = recordingDeadline(20_000)
      let counted = 0
      const out = await deleteDynamoItems([dynamoResource('dynamoItem', { table, key: { pk: { S: pk } }, client: dvia }, {})], { ...d, countRequests: (n) => { counted += n }, random: () => 0.5 })
      d.clear()
      expect(out.cleaned).toHaveLength(1)
      expect(d.sleeps).toEqual([12, 25, 50, 100])
      expect(counted).toBe(5)
      expect(await itemExists(ddb, table, pk)).toBe(false)
    } finally { via.destroy(); dvia.destroy(); await proxy.stop(); await dproxy.stop() }
  })
})
