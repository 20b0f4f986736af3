// cleanOnEarlyReturn(middleware): a middleware that may return early from `before` (a
// cache hit, Powertools Idempotency) has its invocation cleaned before Middy returns,
// instead of at the next invocation. It disposes only when the wrapped `before` returned
// a value — Middy then skips the handler and every after/onError, so the invocation is
// ending (G1: nobody disposes a scope whose invocation may still use it). Real Middy 5/6/7,
// real S3 and DynamoDB servers (embedded always, moto when on PATH).
import { describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { backends, itemExists, objectExists, uid, withBackend } from './support/backends.js'
import { gate, lambdaContext, middyVersions } from './support/middy.js'
import { cleanOnEarlyReturn, cleanup, type CleanupReport, type CleanupRequest } from '../src/index.js'

describe.each(backends())('$name', (b) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })

  describe.each(middyVersions)('Middy $major', ({ middy }) => {
    interface Staged { file: string, key: string, item: Record<string, AttributeValue> }
    // A handler with cleanup(), then a `before` that declares a temp file, an S3 object and
    // a DynamoDB item (as a middleware fetching an input would), then the wrapped one.
    const setup = (wrapped: Parameters<typeof cleanOnEarlyReturn>[0], hold?: Promise<void>) => {
      const reports: CleanupReport[] = []
      const staged: Staged[] = []
      const ofInvocation = new WeakMap<object, Staged>()
      const ran: string[] = []
      const stage = {
        before: async (request: CleanupRequest) => {
          const scope = request.context.cleanup
          const file = await scope.tempFile({ suffix: '.in' })
          await writeFile(file, 'x')
          const key = `tmp/${uid()}`
          await scope.putObject({ Bucket: bucket, Key: key, Body: 'x' })
          const item = { pk: { S: `job#${uid()}` }, sk: { S: 'staged' } }
          await scope.putItem({ TableName: table, Item: item })
          staged.push({ file, key, item })
          ofInvocation.set(request.context, staged[staged.length - 1]!)
        },
      }
      const handler = middy()
        .use(cleanup({ s3, dynamodb: ddb, onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
        .use(stage)
        .use(cleanOnEarlyReturn(wrapped))
        .handler(async (_event: unknown, context: CleanupRequest['context']) => {
          ran.push(context.awsRequestId)
          await hold
          // the staged resources are still there while the handler runs
          const s = ofInvocation.get(context)!
          expect(existsSync(s.file)).toBe(true)
          expect(await objectExists(s3, bucket, s.key)).toBe(true)
          return 'from the handler'
        })
      return { handler: handler as (event: unknown, context: unknown) => Promise<unknown>, reports, staged, ran }
    }
    const gone = async (s: Staged): Promise<boolean> =>
      !existsSync(s.file) && !(await objectExists(s3, bucket, s.key)) && !(await itemExists(ddb, table, s.item))

    it('a before that returns a value (a cache hit): the file, object and item are gone before Middy returns, exit path early-return', async () => {
      const { handler, reports, staged, ran } = setup({ before: async () => ({ cached: true }) })
      await expect(handler({}, lambdaContext())).resolves.toEqual({ cached: true })
      expect(ran).toEqual([])
      expect(staged).toHaveLength(1)
      expect(await gone(staged[0]!)).toBe(true)
      expect(reports).toMatchObject([{ exitPath: 'early-return', resources: 3, cleaned: 3, failed: [] }])
    })

    it('falsy values are values: Middy returns null, 0, false or an empty string early, and the scope is disposed', async () => {
      for (const value of [null, 0, false, '']) {
        const { handler, reports, staged, ran } = setup({ before: () => value })
        await expect(handler({}, lambdaContext())).resolves.toBe(value)
        expect(ran).toEqual([])
        expect(await gone(staged[0]!)).toBe(true)
        expect(reports.map((r) => r.exitPath)).toEqual(['early-return'])
      }
    })

    it('a before that returns nothing (a miss, sync or async): nothing is disposed; the handler runs with the scope, cleaned after it', async () => {
      for (const before of [() => undefined, async () => undefined]) {
        const { handler, reports, staged, ran } = setup({ before })
        await expect(handler({}, lambdaContext())).resolves.toBe('from the handler')
        expect(ran).toHaveLength(1) // and its expectations held: the staged resources were there
        expect(await gone(staged[0]!)).toBe(true)
        expect(reports).toMatchObject([{ exitPath: 'success', resources: 3, cleaned: 3 }])
      }
    })

    it('a before that throws: the wrapper disposes nothing, cleanup\'s onError cleans once (exit path error)', async () => {
      const boom = new Error('store down')
      const { handler, reports, staged, ran } = setup({ before: async () => { throw boom } })
      await expect(handler({}, lambdaContext())).rejects.toBe(boom)
      expect(ran).toEqual([])
      expect(await gone(staged[0]!)).toBe(true)
      expect(reports.map((r) => r.exitPath)).toEqual(['error'])
    })

    it('a hit disposes only its own invocation: an overlapping invocation keeps its resources until its own after', async () => {
      const held = gate()
      let hits = 0
      // first call a miss (it holds in the handler), second a hit
      const { handler, reports, staged, ran } = setup({ before: () => (hits++ === 0 ? undefined : 'hit') }, held.promise)
      const running = handler({}, lambdaContext())
      while (ran.length === 0) await new Promise((resolve) => setImmediate(resolve))
      await expect(handler({}, lambdaContext())).resolves.toBe('hit')
      expect(staged).toHaveLength(2)
      expect(await gone(staged[1]!)).toBe(true)
      expect(existsSync(staged[0]!.file)).toBe(true)
      expect(await objectExists(s3, bucket, staged[0]!.key)).toBe(true)
      expect(await itemExists(ddb, table, staged[0]!.item)).toBe(true)
      held.open()
      await expect(running).resolves.toBe('from the handler')
      expect(await gone(staged[0]!)).toBe(true)
      expect(reports.map((r) => r.exitPath).sort()).toEqual(['early-return', 'success'])
    })

    it('registered before cleanup(): the value is returned and nothing throws (there is no scope yet to dispose)', async () => {
      const reports: CleanupReport[] = []
      const handler = middy()
        .use(cleanOnEarlyReturn({ before: () => 'hit' }))
        .use(cleanup({ onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
        .handler(async () => 'from the handler')
      await expect(handler({}, lambdaContext())).resolves.toBe('hit')
      expect(reports).toEqual([])
    })

    it('keeps the wrapped middleware\'s after and onError, prototype methods included, called with it as `this`', async () => {
      const calls: string[] = []
      class Cache {
        readonly name = 'cache'
        before (): undefined { calls.push(`before:${this.name}`); return undefined }
        after (): void { calls.push(`after:${this.name}`) }
        onError (): void { calls.push(`onError:${this.name}`) }
      }
      const { handler } = setup(new Cache())
      await handler({}, lambdaContext())
      expect(calls).toEqual(['before:cache', 'after:cache'])
    })
  })
})

describe('cleanOnEarlyReturn without Middy', () => {
  it('a sync before that returns nothing stays sync (no promise, no extra tick per invocation)', () => {
    const wrapped = cleanOnEarlyReturn({ before: (_request: unknown) => undefined })
    expect(wrapped.before({ internal: {} })).toBeUndefined()
  })

  it('each function keeps its name (Middy gives plugin hooks such as profilers fn.name)', () => {
    const m = { before: function idempotencyBefore () {}, after: function idempotencyAfter () {}, onError: function idempotencyOnError () {} }
    const wrapped = cleanOnEarlyReturn(m)
    expect([wrapped.before.name, wrapped.after.name, wrapped.onError.name]).toEqual(['idempotencyBefore', 'idempotencyAfter', 'idempotencyOnError'])
    expect(wrapped.before).not.toBe(m.before)
  })

  it('a middleware without before is returned as it is', () => {
    const m = { after: () => undefined }
    expect(cleanOnEarlyReturn(m)).toBe(m)
  })

  it('disposes through the request\'s own hook, once, and only on a value', async () => {
    let disposed = 0
    const request = { internal: { 'middy-cleanup.dispose': async () => { disposed++ } } }
    const wrapped = cleanOnEarlyReturn({ before: (r: { event?: unknown }) => r.event })
    await wrapped.before({ ...request, event: undefined })
    expect(disposed).toBe(0)
    await expect(wrapped.before({ ...request, event: 'v' })).resolves.toBe('v')
    expect(disposed).toBe(1)
  })
})
