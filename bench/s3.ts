// Scenario 2: deleting N temp S3 objects at the end of an invocation.
// (a) sequential DeleteObject in a `finally` — the recipe of the background article
// (b) Promise.all of DeleteObject in a `finally`
// (c) middy-cleanup: `context.cleanup.s3Object()` per object, deleted by `cleanup()`
// (d) hand-written `finally` with one DeleteObjects per 1000 keys (Promise.all over the chunks)
import middy from '@middy/core'
import {
  CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3'
import type { Backend } from '../test-support/servers.mjs'
import { CREDENTIALS, type Contender, FULL, type Lib, QUICK, REGION, RequestCounter, chunks, lambdaContext, pooled, quietLogger } from './common.js'
import { type Key, runMatrix } from './remote.js'
import type { Section } from './table.js'

export const s3Client = (backend: Backend): S3Client =>
  new S3Client({ endpoint: backend.s3Endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true })

/** Puts `keys` (1-byte bodies) with a bounded number in flight; not timed. */
export const putObjects = (client: S3Client, bucket: string, keys: readonly string[]): Promise<void> =>
  pooled(keys, 32, (Key) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' })))

/** Throws when any object under `prefix` is left. */
export const assertNoObjects = async (client: S3Client, bucket: string, prefix: string, what: string): Promise<void> => {
  const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 5 }))
  if ((r.KeyCount ?? r.Contents?.length ?? 0) > 0) {
    throw new Error(`bench: ${what} left ${r.KeyCount ?? r.Contents?.length} object(s) under s3://${bucket}/${prefix}, e.g. ${r.Contents?.[0]?.Key}`)
  }
}

export const ensureBucket = async (client: S3Client, bucket: string): Promise<void> => {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (e) {
    if (!/BucketAlready/.test((e as Error).name)) throw e
  }
}

const LABELS: Record<Key, string> = {
  a: '(a) sequential DeleteObject',
  b: '(b) Promise.all DeleteObject',
  c: '(c) middy-cleanup',
  d: '(d) hand-written DeleteObjects',
}

export const runS3 = async (lib: Lib, backend: Backend): Promise<Section> => {
  const bucket = 'bench-scratch'
  const setup = s3Client(backend)
  const measured = s3Client(backend)
  const counter = new RequestCounter()
  counter.attach(measured)
  await ensureBucket(setup, bucket)
  const failures: string[] = []

  const contender = (n: number, key: Key, handler: (keys: string[]) => (event: unknown, context: any) => Promise<unknown>): Contender<{ keys: string[], prefix: string }> => ({
    key,
    label: LABELS[key],
    setup: async (round) => {
      const prefix = `tmp/${n}/${key}/${round}/`
      const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}.bin`)
      await putObjects(setup, bucket, keys)
      return { keys, prefix }
    },
    run: async ({ keys, prefix }) => { await handler(keys)({ prefix }, lambdaContext(`s3-${n}-${key}`)) },
    verify: ({ prefix }) => assertNoObjects(setup, bucket, prefix, LABELS[key]),
  })

  const contenders = (n: number): Record<Key, Contender<any>> => ({
    a: contender(n, 'a', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        for (const Key of keys) await measured.send(new DeleteObjectCommand({ Bucket: bucket, Key }))
      }
    })),
    b: contender(n, 'b', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        await Promise.all(keys.map((Key) => measured.send(new DeleteObjectCommand({ Bucket: bucket, Key }))))
      }
    })),
    c: contender(n, 'c', (keys) => middy()
      .use(lib.cleanup({
        s3: measured,
        allow: { s3: [`${bucket}/tmp/`] },
        timeoutMs: 60_000,
        logger: quietLogger,
        onReport: (r) => { if (r.failed.length > 0) failures.push(`N=${n}: ${r.failed.length} failed, e.g. ${String(r.failed[0]?.error)}`) },
      }))
      .handler(async (_e: unknown, context) => {
        for (const key of keys) context.cleanup.s3Object({ bucket, key })
      })),
    d: contender(n, 'd', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        await Promise.all(chunks(keys, 1000).map((batch) => measured.send(new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }))))
      }
    })),
  })

  const slow = backend.name === 'moto' && !FULL
  const section = await runMatrix({
    title: `2. Deleting N temp S3 objects (${backend.name})`,
    ns: QUICK ? [1, 10] : [1, 10, 100, 1000, 5000],
    counter,
    contenders,
    labels: LABELS,
    rounds: (n, key) => QUICK
      ? { minRounds: 2, maxRounds: 2, budgetMs: 0 }
      : n <= 100 ? { minRounds: 3, maxRounds: 5, budgetMs: 1500 }
        : n <= 1000 ? { minRounds: key === 'a' || key === 'b' ? 1 : 2, maxRounds: 3, budgetMs: key === 'a' || key === 'b' ? 0 : 1500 }
          : { minRounds: 1, maxRounds: 1, budgetMs: 0 },
    skip: (n, key) => slow && n > 1000 && (key === 'a' || key === 'b')
      ? `on moto (~5 ms per request here) creating and deleting ${n} objects one request at a time takes ~1 min per contender; BENCH_FULL=1 runs it (the embedded backend always does)`
      : undefined,
    expectedRequests: (n, key) => key === 'a' || key === 'b' ? n : Math.ceil(n / 1000),
    notes: [
      'Each round creates N objects (not timed), then times one Middy invocation whose cleanup deletes them, then lists the prefix to check that none survived. Requests: HTTP requests the deleting client sent (retries included).',
      '(d) is the strongest hand-written code: DeleteObjects chunks of 1000 sent in parallel, Quiet: true. (b) queues behind the SDK\'s default 50 sockets (the SDK warns about it on stderr).',
    ],
    headlineN: 1000,
    summaryPrefix: 'S3',
  })
  if (failures.length > 0) throw new Error(`bench: middy-cleanup reported failed S3 deletes: ${failures.join('; ')}`)
  setup.destroy()
  measured.destroy()
  return section
}
