// Every exit path of a real Middy handler (5, 6 and 7) with temp S3 objects and DynamoDB
// items, against real servers (embedded fauxqs + dynalite, and moto_server when on PATH).
// After each invocation the servers are asked (HeadObject / GetItem), not mocks.
import { describe, expect, it } from '@jest/globals'
import type { S3Client } from '@aws-sdk/client-s3'
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { cleanup, type CleanupReport, type CleanupScope } from '../src/index.js'
import { leftoverCount, INTERNAL_DISPOSE_KEY } from './support/internals.js'
import {
  backends, countRequests, createTable, dynamoClient, existingKeys, itemExists, listKeys, objectExists, putObjectsFast, s3Client, uid, type BackendInfo, withBackend
} from './support/backends.js'
import { startFaultProxy } from './support/fault-proxy.js'
import { gate, lambdaContext, middyVersions, recordingLogger } from './support/middy.js'

type Key = Record<string, AttributeValue>

/** Runs `fn` with the Lambda environment variables as given (unset when undefined), then restores them. */
const withEnv = (vars: { AWS_LAMBDA_RUNTIME_API?: string }, fn: () => Promise<void>) => async (): Promise<void> => {
  const saved = { api: process.env.AWS_LAMBDA_RUNTIME_API, max: process.env.AWS_LAMBDA_MAX_CONCURRENCY }
  delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
  if (vars.AWS_LAMBDA_RUNTIME_API === undefined) delete process.env.AWS_LAMBDA_RUNTIME_API
  else process.env.AWS_LAMBDA_RUNTIME_API = vars.AWS_LAMBDA_RUNTIME_API
  try { await fn() } finally {
    if (saved.api === undefined) delete process.env.AWS_LAMBDA_RUNTIME_API
    else process.env.AWS_LAMBDA_RUNTIME_API = saved.api
    if (saved.max !== undefined) process.env.AWS_LAMBDA_MAX_CONCURRENCY = saved.max
  }
}
// A sequential Lambda runtime: a new invocation proves the earlier ones ended (what
// sweeps an early return on Middy 5, which leaves no other sign).
const sequentialRuntime = { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' }
const offLambda = {}

describe.each(backends())('S3 + DynamoDB on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })

  interface Declared { objects: string[], items: Key[] }
  /** What a handler does: two objects (one put, one declared) and two items (one put, one declared). */
  const declareAll = async (context: any, declared: Declared = { objects: [], items: [] }): Promise<Declared> => {
    const id = `${context.awsRequestId as string}-${uid()}`
    const put = `tmp/${id}/in.jpg`
    declared.objects.push(put)
    await context.cleanup.putObject({ Bucket: bucket, Key: put, Body: 'jpeg' })
    const other = `tmp/${id}/other.jpg`
    await putObjectsFast(b, bucket, [other])
    context.cleanup.s3Object({ bucket, key: other })
    declared.objects.push(other)
    const lock: Key = { pk: { S: `job#${id}` }, sk: { S: 'lock' } }
    declared.items.push(lock)
    await context.cleanup.putItem({ TableName: table, Item: lock })
    const step: Key = { pk: { S: `job#${id}` }, sk: { S: 'step' } }
    await ddb.send(new (await import('@aws-sdk/client-dynamodb')).PutItemCommand({ TableName: table, Item: step }))
    context.cleanup.dynamoItem({ table, key: step })
    declared.items.push(step)
    return declared
  }
  /** How many of them the servers still have. */
  const left = async (d: Declared): Promise<number> =>
    (await existingKeys(s3, bucket, d.objects)).length +
    (await Promise.all(d.items.map((k) => itemExists(ddb, table, k)))).filter(Boolean).length
  const options = (extra: Record<string, unknown> = {}) => ({
    s3, dynamodb: ddb, logger: recordingLogger(), allow: { s3: [`${bucket}/tmp/`], dynamodb: [table] }, ...extra,
  })

  describe.each(middyVersions)('Middy $major', ({ major, middy }) => {
    it('success: result stands; objects and items gone; one DeleteObjects + one BatchWriteItem', async () => {
      const reports: CleanupReport[] = []
      let d!: Declared
      const handler = middy().use(cleanup(options({ onReport: (r: CleanupReport) => { if (r.exitPath !== 'leftovers') reports.push(r) } })))
        .handler(async (_e: unknown, context: any) => {
          d = await declareAll(context)
          expect(await left(d)).toBe(4)
          return { ok: 1 }
        })
      await expect(handler({}, lambdaContext())).resolves.toEqual({ ok: 1 })
      expect(await left(d)).toBe(0)
      expect(reports).toHaveLength(1)
      expect(reports[0]).toMatchObject({ exitPath: 'success', resources: 4, cleaned: 4, failed: [], requests: 2 })
    })

    it('handler throws: the very same error is rethrown, objects and items gone', async () => {
      const error = new Error('resize failed')
      let d!: Declared
      const handler = middy().use(cleanup(options())).handler(async (_e: unknown, context: any) => {
        d = await declareAll(context)
        throw error
      })
      await expect(handler({}, lambdaContext())).rejects.toBe(error)
      expect(await left(d)).toBe(0)
    })

    it("another middleware's before throws after declaring: its error rethrown, gone", async () => {
      const error = new Error('auth failed')
      let d!: Declared
      const handler = middy().use(cleanup(options()))
        .use({ before: async (request: any) => { d = await declareAll(request.context); throw error } })
        .handler(async () => 'never')
      await expect(handler({}, lambdaContext())).rejects.toBe(error)
      expect(await left(d)).toBe(0)
    })

    it("another middleware's after throws: its error rethrown, gone", async () => {
      const error = new Error('serializer failed')
      let d!: Declared
      const handler = middy().use(cleanup(options())).use({ after: () => { throw error } })
        .handler(async (_e: unknown, context: any) => { d = await declareAll(context); return 'ok' })
      await expect(handler({}, lambdaContext())).rejects.toBe(error)
      expect(await left(d)).toBe(0)
    })

    it("Middy's timeoutEarlyInMillis fires while the handler hangs: TimeoutError, gone before it settles", async () => {
      const reports: CleanupReport[] = []
      let d!: Declared
      const handler = middy({ timeoutEarlyInMillis: 700 })
        .use(cleanup(options({ onReport: (r: CleanupReport) => { if (r.exitPath !== 'leftovers') reports.push(r) } })))
        .handler(async (_e: unknown, context: any) => {
          d = await declareAll(context)
          await new Promise(() => {}) // hangs
        })
      const outcome = await handler({}, lambdaContext(1500)).catch((e: unknown) => e)
      expect((outcome as Error).name).toBe('TimeoutError')
      expect(await left(d)).toBe(0)
      expect(reports[0]).toMatchObject({ exitPath: 'timeout', cleaned: 4, failed: [] })
    })

    it('a middleware returns early from before (cache hit): swept by the end of the next invocation (sequential Lambda runtime)', withEnv(sequentialRuntime, async () => {
      let d!: Declared
      let hit = true
      const handler = middy().use(cleanup(options()))
        .use({ before: async (request: any) => { if (hit) { d = await declareAll(request.context); return 'cached' } } })
        .handler(async () => 'fresh')
      await expect(handler({}, lambdaContext())).resolves.toBe('cached')
      expect(await left(d)).toBe(4)
      hit = false
      await expect(handler({}, lambdaContext())).resolves.toBe('fresh')
      expect(await left(d)).toBe(0)
    }))

    it(`a middleware returns early from before, off Lambda: ${major === 5 ? 'no proof of the end on Middy 5, nothing is deleted' : 'earlyResponse proves the end, swept by the next invocation'}`, withEnv(offLambda, async () => {
      let d!: Declared
      let scope: CleanupScope | undefined
      let hit = true
      const handler = middy().use(cleanup(options()))
        .use({ before: async (request: any) => { if (hit) { scope = request.context.cleanup; d = await declareAll(request.context); return 'cached' } } })
        .handler(async () => 'fresh')
      await expect(handler({}, lambdaContext())).resolves.toBe('cached')
      hit = false
      await expect(handler({}, lambdaContext())).resolves.toBe('fresh')
      expect(await left(d)).toBe(major === 5 ? 4 : 0)
      await scope!.dispose() // the test knows it ended; a real process leaves it to the next one
      expect(await left(d)).toBe(0)
    }))

    it('a cooperative middleware calls request.internal dispose before returning early: gone at once', async () => {
      let d!: Declared
      const handler = middy().use(cleanup(options()))
        .use({ before: async (request: any) => { d = await declareAll(request.context); await request.internal[INTERNAL_DISPOSE_KEY](); return 'cached' } })
        .handler(async () => 'fresh')
      await expect(handler({}, lambdaContext())).resolves.toBe('cached')
      expect(await left(d)).toBe(0)
    })

    it('an onError that returns a response, cleanup registered first (its onError skipped): swept by the next invocation (sequential Lambda runtime)', withEnv(sequentialRuntime, async () => {
      let d!: Declared
      let fail = true
      const handler = middy().use(cleanup(options())).use({ onError: () => ({ statusCode: 500 }) })
        .handler(async (_e: unknown, context: any) => {
          if (fail) { d = await declareAll(context); throw new Error('x') }
          return 'second'
        })
      await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 500 })
      fail = false
      await expect(handler({}, lambdaContext())).resolves.toBe('second')
      expect(await left(d)).toBe(0)
    }))

    it(`an onError that returns a response, cleanup registered first, off Lambda: ${major === 5 ? 'no proof of the end on Middy 5, nothing is deleted' : 'earlyResponse proves the end, swept by the next invocation'}`, withEnv(offLambda, async () => {
      let d!: Declared
      let scope: CleanupScope | undefined
      let fail = true
      const handler = middy().use(cleanup(options())).use({ onError: () => ({ statusCode: 500 }) })
        .handler(async (_e: unknown, context: any) => {
          if (fail) { scope = context.cleanup; d = await declareAll(context); throw new Error('x') }
          return 'second'
        })
      await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 500 })
      fail = false
      await expect(handler({}, lambdaContext())).resolves.toBe('second')
      expect(await left(d)).toBe(major === 5 ? 4 : 0)
      await scope!.dispose()
      expect(await left(d)).toBe(0)
    }))

    it('two invocations interleaved: each deletes only its own; one finishing leaves the other alone', async () => {
      const declaredA = gate()
      const releaseA = gate()
      const handler = middy().use(cleanup(options())).handler(async (event: { name: string }, context: any) => {
        const d = await declareAll(context)
        if (event.name === 'A') { declaredA.open(); await releaseA.promise }
        return d
      })
      const a = handler({ name: 'A' }, lambdaContext())
      await declaredA.promise
      const dB = await handler({ name: 'B' }, lambdaContext()) as Declared
      expect(await left(dB)).toBe(0)
      releaseA.open()
      const dA = await a as Declared
      expect(await left(dA)).toBe(0)
    })

    it('two invocations interleaved, checked while A still runs: B ending does not touch A', async () => {
      const declaredA = gate()
      const releaseA = gate()
      let dA!: Declared
      const handler = middy().use(cleanup(options())).handler(async (event: { name: string }, context: any) => {
        if (event.name === 'A') { dA = await declareAll(context); declaredA.open(); await releaseA.promise; return 'A' }
        await declareAll(context)
        return 'B'
      })
      const a = handler({ name: 'A' }, lambdaContext())
      await declaredA.promise
      await expect(handler({ name: 'B' }, lambdaContext())).resolves.toBe('B')
      expect(await left(dA)).toBe(4)
      releaseA.open()
      await expect(a).resolves.toBe('A')
      expect(await left(dA)).toBe(0)
    })
  })

  it('declared after disposal began (handler still running after a timeout): no throw, deleted by the next invocation', async () => {
    const late = gate()
    const lateDone = gate()
    let d!: Declared
    let lateError: unknown
    let first = true
    const before = leftoverCount()
    const handler = middyVersions[2]!.middy({ timeoutEarlyInMillis: 400 }).use(cleanup(options()))
      .handler(async (_e: unknown, context: any) => {
        if (!first) return 'next'
        await late.promise
        try { d = await declareAll(context) } catch (e) { lateError = e }
        lateDone.open()
        return 'too late'
      })
    const outcome = await handler({}, lambdaContext(800)).catch((e: unknown) => e)
    expect((outcome as Error).name).toBe('TimeoutError')
    late.open()
    await lateDone.promise
    expect(lateError).toBeUndefined()
    expect(await left(d)).toBe(4)
    expect(leftoverCount()).toBe(before + 4)
    first = false
    await expect(handler({}, lambdaContext())).resolves.toBe('next')
    expect(await left(d)).toBe(0)
    expect(leftoverCount()).toBe(0)
  })

  it('deadline hit mid-cleanup: the invocation returns in time, leftovers reported and deleted by the next invocation', async () => {
    let slow = true
    const proxyS3 = await startFaultProxy({ target: b.s3Endpoint, delayMs: (r) => slow && r.op === 's3:POST?delete' ? 5000 : 0 })
    const proxyDdb = await startFaultProxy({ target: b.dynamodbEndpoint, delayMs: (r) => slow && r.op === 'BatchWriteItem' ? 5000 : 0 })
    const viaS3 = s3Client({ ...b, s3Endpoint: proxyS3.endpoint })
    const viaDdb = dynamoClient({ ...b, dynamodbEndpoint: proxyDdb.endpoint })
    try {
      const reports: CleanupReport[] = []
      let d: Declared | undefined
      const handler = middyVersions[2]!.middy()
        .use(cleanup(options({ s3: viaS3, dynamodb: viaDdb, timeoutMs: 300, onReport: (r: CleanupReport) => { reports.push(r) } })))
        .handler(async (_e: unknown, context: any) => {
          if (d === undefined) d = await declareAll(context)
          return 'done'
        })
      const t0 = Date.now()
      await expect(handler({}, lambdaContext())).resolves.toBe('done')
      expect(Date.now() - t0).toBeLessThan(2000)
      expect(reports[0]).toMatchObject({ exitPath: 'success', cleaned: 0, leftovers: 4 })
      expect(reports[0]!.failed.every((f) => f.retrying === true)).toBe(true)
      expect(await left(d!)).toBe(4)
      slow = false
      await expect(handler({}, lambdaContext())).resolves.toBe('done')
      expect(await left(d!)).toBe(0)
      expect(leftoverCount()).toBe(0)
      expect(reports.some((r) => r.exitPath === 'leftovers' && r.cleaned === 4)).toBe(true)
    } finally {
      viaS3.destroy(); viaDdb.destroy()
      await proxyS3.stop(); await proxyDdb.stop()
    }
  })

  it("a missing bucket and a missing table: only those in report.failed, the rest deleted, the handler's result unchanged", async () => {
    const reports: CleanupReport[] = []
    let d!: Declared
    const missingBucket = `missing-${uid()}`
    const missingTable = `missing-${uid()}`
    const handler = middyVersions[2]!.middy()
      .use(cleanup(options({ allow: undefined, onReport: (r: CleanupReport) => { if (r.exitPath !== 'leftovers') reports.push(r) } })))
      .handler(async (_e: unknown, context: any) => {
        d = await declareAll(context)
        context.cleanup.s3Object({ bucket: missingBucket, key: 'tmp/x' })
        context.cleanup.dynamoItem({ table: missingTable, key: { pk: { S: 'x' }, sk: { S: 'y' } } })
        return { statusCode: 200 }
      })
    await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 200 })
    expect(await left(d)).toBe(0)
    expect(reports[0]!.cleaned).toBe(4)
    expect(reports[0]!.failed.map((f) => f.id).sort()).toEqual([`dynamodb://${missingTable}/{"pk":"x","sk":"y"}`, `s3://${missingBucket}/tmp/x`])
  })

  it('allow-list: pre-existing objects and items outside it survive; a declaration outside it throws in the handler', async () => {
    const keep = ['keep/a', 'tmpx/b']
    await putObjectsFast(b, bucket, keep)
    const other = await createTable(ddb)
    const otherKey = { pk: { S: 'keep' }, sk: { S: 'me' } }
    await ddb.send(new (await import('@aws-sdk/client-dynamodb')).PutItemCommand({ TableName: other, Item: otherKey }))
    const thrown: string[] = []
    let d!: Declared
    const handler = middyVersions[2]!.middy().use(cleanup(options())).handler(async (_e: unknown, context: any) => {
      d = await declareAll(context)
      for (const key of keep) { try { context.cleanup.s3Object({ bucket, key }) } catch (e) { thrown.push((e as Error).name) } }
      try { context.cleanup.dynamoItem({ table: other, key: otherKey }) } catch (e) { thrown.push((e as Error).name) }
      return 'ok'
    })
    await expect(handler({}, lambdaContext())).resolves.toBe('ok')
    expect(thrown).toEqual(['CleanupDeclarationError', 'CleanupDeclarationError', 'CleanupDeclarationError'])
    expect(await left(d)).toBe(0)
    expect(await existingKeys(s3, bucket, keep)).toEqual(keep)
    expect(await itemExists(ddb, other, otherKey)).toBe(true)
  })

  it('scale: 2500 objects + 60 items in one invocation → all gone, requests = 3 DeleteObjects + 3 BatchWriteItem', async () => {
    const s3c = s3Client(b)
    const ddbc = dynamoClient(b)
    const s3Count = countRequests(s3c)
    const ddbCount = countRequests(ddbc)
    try {
      const prefix = `tmp/scale-${uid()}/`
      const keys = Array.from({ length: 2500 }, (_, i) => `${prefix}${i}.bin`)
      await putObjectsFast(b, bucket, keys)
      const itemsTable = await createTable(ddb)
      const reports: CleanupReport[] = []
      const handler = middyVersions[2]!.middy()
        .use(cleanup(options({ s3: s3c, dynamodb: ddbc, allow: { s3: [`${bucket}/tmp/`], dynamodb: [itemsTable] }, onReport: (r: CleanupReport) => { if (r.exitPath !== 'leftovers') reports.push(r) } })))
        .handler(async (_e: unknown, context: any) => {
          for (const key of keys) context.cleanup.s3Object({ bucket, key })
          for (let i = 0; i < 60; i++) await context.cleanup.putItem({ TableName: itemsTable, Item: { pk: { S: `item#${i}` }, sk: { S: 's' } } })
          return 'ok'
        })
      s3Count.reset()
      await expect(handler({}, lambdaContext())).resolves.toBe('ok')
      expect(reports[0]).toMatchObject({ exitPath: 'success', resources: 2560, cleaned: 2560, failed: [], requests: 6 })
      expect(s3Count.sends).toEqual({ DeleteObjectsCommand: 3 })
      expect(ddbCount.sends).toEqual({ DescribeTableCommand: 1, PutItemCommand: 60, BatchWriteItemCommand: 3 })
      expect(await listKeys(s3, bucket, prefix)).toEqual([])
      expect(await objectExists(s3, bucket, keys[2499]!)).toBe(false)
      const stillThere = await Promise.all(Array.from({ length: 60 }, (_, i) => itemExists(ddb, itemsTable, { pk: { S: `item#${i}` }, sk: { S: 's' } })))
      expect(stillThere.filter(Boolean)).toHaveLength(0)
      process.stdout.write(`[middy-cleanup] scale on ${b.name}: 2500 objects + 60 items → report.requests ${reports[0]!.requests} (DeleteObjects ${s3Count.sends.DeleteObjectsCommand}, BatchWriteItem ${ddbCount.sends.BatchWriteItemCommand}), cleanup ${reports[0]!.durationMs} ms\n`)
    } finally { s3c.destroy(); ddbc.destroy() }
  }, 120_000)
})
