// Scenario 7: one invocation that declares 20,000 S3 objects and 5,000 DynamoDB items
// (issue 14's "large" cell), middy-cleanup vs the hand-written run of the very same
// batches — 20 DeleteObjects of 1000 keys and 200 BatchWriteItem of 25, UnprocessedItems
// re-sent with backoff — at the same concurrency (8 requests in flight, across both
// services, as middy-cleanup sends them). What the ratio shows is middy-cleanup's own
// cost per resource: declaration, dedupe, journal, report, on top of the same wire work.
import middy from '@middy/core'
import { BatchWriteItemCommand, type WriteRequest } from '@aws-sdk/client-dynamodb'
import { DeleteObjectsCommand } from '@aws-sdk/client-s3'
import type { Backend } from '../test-support/servers.mjs'
import { type Contender, type Lib, QUICK, RequestCounter, chunks, lambdaContext, measureRound, pooled, quietLogger } from './common.js'
import { type ItemKey, assertNoItems, dynamoClient, ensureTable, putItems } from './dynamodb.js'
import { assertNoObjects, ensureBucket, putObjects, s3Client } from './s3.js'
import { type Section, ms, ratio, renderTable, stats } from './table.js'

const BUCKET = 'bench-large'
const TABLE = 'BenchLarge'
/** middy-cleanup's DEFAULT_CONCURRENCY: the hand run gets the same number of requests in flight. */
const CONCURRENCY = 8

interface Fixture { keys: string[], items: ItemKey[], prefix: string, pk: string }

const sizes = (): { objects: number, items: number } => QUICK ? { objects: 1000, items: 250 } : { objects: 20_000, items: 5000 }

export const runLarge = async (lib: Lib, backend: Backend): Promise<Section> => {
  const { objects, items } = sizes()
  const setupS3 = s3Client(backend)
  const setupDdb = dynamoClient(backend)
  const s3 = s3Client(backend)
  const ddb = dynamoClient(backend)
  const counter = new RequestCounter()
  counter.attach(s3)
  counter.attach(ddb)
  await ensureBucket(setupS3, BUCKET)
  await ensureTable(setupDdb, TABLE)

  const make = (key: string, handler: (f: Fixture) => (event: unknown, context: any) => Promise<unknown>): Contender<Fixture> => ({
    key,
    label: key,
    setup: async (round) => {
      const prefix = `tmp/large/${key.replace(/\W+/g, '-')}/${round}/`
      const pk = `large#${key}/${round}`
      const keys = Array.from({ length: objects }, (_, i) => `${prefix}${i}.bin`)
      const itemKeys = Array.from({ length: items }, (_, i) => ({ pk: { S: pk }, sk: { S: `s#${i}` } }))
      await Promise.all([putObjects(setupS3, BUCKET, keys), putItems(setupDdb, TABLE, itemKeys)])
      return { keys, items: itemKeys, prefix, pk }
    },
    run: async (f, round) => { await handler(f)({}, lambdaContext(`large-${key}-${round}`)) },
    verify: async (f) => {
      await assertNoObjects(setupS3, BUCKET, f.prefix, key)
      await assertNoItems(setupDdb, TABLE, f.pk, key)
    },
  })

  const failures: string[] = []
  const withCleanup = make('middy-cleanup', (f) => middy()
    .use(lib.cleanup({
      s3,
      dynamodb: ddb,
      timeoutMs: 120_000,
      logger: quietLogger,
      onReport: (r) => { if (r.failed.length > 0) failures.push(`${r.failed.length} failed, e.g. ${JSON.stringify(r.failed[0]?.error)}`) },
    }))
    .handler(async (_e: unknown, context) => {
      for (const key of f.keys) context.cleanup.s3Object({ bucket: BUCKET, key })
      for (const key of f.items) context.cleanup.dynamoItem({ table: TABLE, key })
    }))

  const handWritten = make('hand-written batches', (f) => middy().handler(async () => {
    try {
      // the work of the handler would be here
    } finally {
      const s3Batches = chunks(f.keys, 1000).map((batch) => async () => {
        await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }))
      })
      const ddbBatches = chunks(f.items, 25).map((batch) => async () => {
        let pending: WriteRequest[] = batch.map((Key) => ({ DeleteRequest: { Key } }))
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(1000, 25 * 2 ** attempt)))
          const out = await ddb.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: pending } }))
          pending = out.UnprocessedItems?.[TABLE] ?? []
        }
      })
      await pooled([...s3Batches, ...ddbBatches], CONCURRENCY, (task) => task())
    }
  }))

  // one warm-up round each (SDK lazy loading, sockets), then interleaved rounds
  const rounds = QUICK ? 1 : 2
  for (const c of [handWritten, withCleanup]) await measureRound(c, counter, 0)
  const hand = { samples: [] as number[], requests: [] as number[] }
  const mc = { samples: [] as number[], requests: [] as number[] }
  for (let round = 1; round <= rounds; round++) {
    for (const [c, into] of [[handWritten, hand], [withCleanup, mc]] as const) {
      const one = await measureRound(c, counter, round)
      into.samples.push(one.ms)
      into.requests.push(one.requests)
    }
  }
  for (const c of [setupS3, setupDdb, s3, ddb]) c.destroy()
  if (failures.length > 0) throw new Error(`bench: middy-cleanup reported failures in the large invocation: ${failures.join('; ')}`)

  const row = (label: string, r: { samples: number[], requests: number[] }): string[] => {
    const s = stats(r.samples)
    return [label, String(stats(r.requests).median), ms(s.median), String(s.n)]
  }
  const hs = stats(hand.samples).median
  const cs = stats(mc.samples).median
  const target = 1.2
  const r = cs / hs
  return {
    title: `7. One invocation with ${objects.toLocaleString('en')} S3 objects + ${items.toLocaleString('en')} DynamoDB items (${backend.name})`,
    table: renderTable(['contender', 'requests', 'median', 'rounds'], [row('hand-written batches, same concurrency', hand), row('middy-cleanup', mc)]),
    notes: [
      `middy-cleanup ÷ hand-written: ${ratio(cs, hs)} (target ≤ ${target}×: ${r <= target ? 'MET' : 'MISSED'}). Both send ${Math.ceil(objects / 1000)} DeleteObjects + ${Math.ceil(items / 25)} BatchWriteItem, ${CONCURRENCY} in flight; timed: the whole invocation, declarations included. Objects and items are created before each round, untimed, and checked gone after it.`,
    ],
    summary: { [`large (${objects} objects + ${items} items): middy-cleanup ÷ hand-written`]: `${ratio(cs, hs)} (${ms(cs)} vs ${ms(hs)}; target ≤ ${target}× ${r <= target ? 'met' : 'MISSED'})` },
  }
}
