// Scenario 4: one invocation with 50 S3 objects in 2 buckets, 50 DynamoDB items in
// 2 tables, 5 temp files and 2 open file handles. middy-cleanup vs the hand-written
// `finally` that releases the same things one after another.
import middy from '@middy/core'
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb'
import { DeleteObjectCommand } from '@aws-sdk/client-s3'
import { existsSync } from 'node:fs'
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Backend } from '../test-support/servers.mjs'
import { type Contender, type Lib, QUICK, RequestCounter, lambdaContext, measure, measureRound, quietLogger } from './common.js'
import { type ItemKey, assertNoItems, dynamoClient, ensureTable, putItems } from './dynamodb.js'
import { assertNoObjects, ensureBucket, putObjects, s3Client } from './s3.js'
import { type Section, ms, ratio, renderTable, stats } from './table.js'

const BUCKETS = ['bench-mixed-1', 'bench-mixed-2']
const TABLES = ['BenchMixed1', 'BenchMixed2']

interface Fixture { objects: Array<{ bucket: string, key: string }>, items: Array<{ table: string, key: ItemKey }>, prefix: string, pk: string, files: string[] }

export const runMixed = async (lib: Lib, backend: Backend): Promise<Section> => {
  const setupS3 = s3Client(backend)
  const setupDdb = dynamoClient(backend)
  const s3 = s3Client(backend)
  const ddb = dynamoClient(backend)
  const counter = new RequestCounter()
  counter.attach(s3)
  counter.attach(ddb)
  for (const b of BUCKETS) await ensureBucket(setupS3, b)
  for (const t of TABLES) await ensureTable(setupDdb, t)

  const make = (key: string, handler: (f: Fixture) => (event: unknown, context: any) => Promise<unknown>): Contender<Fixture> => ({
    key,
    label: key,
    setup: async (round) => {
      const prefix = `tmp/mixed/${key}/${round}/`
      const pk = `mixed#${key}/${round}`
      const objects = BUCKETS.flatMap((bucket) => Array.from({ length: 25 }, (_, i) => ({ bucket, key: `${prefix}${i}.bin` })))
      const items = TABLES.flatMap((table) => Array.from({ length: 25 }, (_, i) => ({ table, key: { pk: { S: pk }, sk: { S: `s#${i}` } } })))
      await Promise.all([
        ...BUCKETS.map((b) => putObjects(setupS3, b, objects.filter((o) => o.bucket === b).map((o) => o.key))),
        ...TABLES.map((t) => putItems(setupDdb, t, items.filter((i) => i.table === t).map((i) => i.key))),
      ])
      return { objects, items, prefix, pk, files: [] }
    },
    run: async (f) => { await handler(f)({}, lambdaContext(`mixed-${key}`)) },
    verify: async (f) => {
      for (const b of BUCKETS) await assertNoObjects(setupS3, b, f.prefix, key)
      for (const t of TABLES) await assertNoItems(setupDdb, t, f.pk, key)
      const left = f.files.filter((p) => existsSync(p))
      if (left.length > 0) throw new Error(`bench: ${key} left temp files: ${left.join(', ')}`)
    },
  })

  const failures: string[] = []
  const withCleanup = make('middy-cleanup', (f) => middy()
    .use(lib.cleanup({
      s3,
      dynamodb: ddb,
      timeoutMs: 60_000,
      logger: quietLogger,
      onReport: (r) => { if (r.failed.length > 0) failures.push(`${r.failed.length} failed, e.g. ${String(r.failed[0]?.error)}`) },
    }))
    .handler(async (_e: unknown, context) => {
      for (const o of f.objects) context.cleanup.s3Object(o)
      for (const i of f.items) context.cleanup.dynamoItem(i)
      for (let i = 0; i < 5; i++) f.files.push(await context.cleanup.tempFile({ suffix: '.bin' }))
      context.cleanup.handle(await open(f.files[0]!, 'r'))
      context.cleanup.handle(await open(f.files[1]!, 'r'))
    }))

  const handWritten = make('hand-written finally (sequential)', (f) => middy().handler(async () => {
    const handles: FileHandle[] = []
    let dir: string | undefined
    try {
      dir = await mkdtemp(join(tmpdir(), 'bench-'))
      for (let i = 0; i < 5; i++) {
        const p = join(dir, `${i}.bin`)
        await writeFile(p, '')
        f.files.push(p)
      }
      handles.push(await open(f.files[0]!, 'r'), await open(f.files[1]!, 'r'))
    } finally {
      for (const h of handles) await h.close()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
      for (const o of f.objects) await s3.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.key }))
      for (const i of f.items) await ddb.send(new DeleteItemCommand({ TableName: i.table, Key: i.key }))
    }
  }))

  const rounds = QUICK ? { minRounds: 2, maxRounds: 2, budgetMs: 0 } : { minRounds: 3, maxRounds: 5, budgetMs: 4000 }
  // warm-up round each, not reported
  for (const c of [handWritten, withCleanup]) await measure(c, counter, { minRounds: 1, maxRounds: 1, budgetMs: 0 })
  // rounds interleaved (hand, cleanup, hand, cleanup, …) so load drift hits both alike
  const hand = { samples: [] as number[], requests: [] as number[] }
  const mc = { samples: [] as number[], requests: [] as number[] }
  const started = performance.now()
  for (let round = 0; round < rounds.maxRounds; round++) {
    if (round >= rounds.minRounds && performance.now() - started > rounds.budgetMs) break
    for (const [c, into] of [[handWritten, hand], [withCleanup, mc]] as const) {
      const one = await measureRound(c, counter, round + 1)
      into.samples.push(one.ms)
      into.requests.push(one.requests)
    }
  }
  if (failures.length > 0) throw new Error(`bench: middy-cleanup reported failures in the mixed invocation: ${failures.join('; ')}`)
  for (const c of [setupS3, setupDdb, s3, ddb]) c.destroy()

  const row = (label: string, r: { samples: number[], requests: number[] }): string[] => {
    const s = stats(r.samples)
    return [label, String(stats(r.requests).median), ms(s.median), ms(s.p95), String(s.n)]
  }
  const hs = stats(hand.samples).median
  const cs = stats(mc.samples).median
  return {
    title: `4. Mixed invocation: 50 objects in 2 buckets + 50 items in 2 tables + 5 files + 2 handles (${backend.name})`,
    table: renderTable(['contender', 'requests', 'median', 'p95', 'rounds'], [row('hand-written `finally` (sequential)', hand), row('middy-cleanup', mc)]),
    notes: [
      `hand-written ÷ middy-cleanup: ${ratio(hs, cs)}. Timed: the whole invocation, including making the 5 files and opening the 2 handles (both contenders do that); objects and items are created before, untimed. Expected requests: 100 sequential deletes vs 2 DeleteObjects + 2 BatchWriteItem.`,
    ],
    summary: { 'mixed: hand-written ÷ middy-cleanup': `${ratio(hs, cs)} (${ms(hs)} vs ${ms(cs)})` },
  }
}
