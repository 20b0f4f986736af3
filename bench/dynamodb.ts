// Scenario 3: deleting N temp DynamoDB items at the end of an invocation.
// (a) sequential DeleteItem in a `finally`, (b) Promise.all of DeleteItem,
// (c) middy-cleanup: `context.cleanup.dynamoItem()` per item,
// (d) hand-written BatchWriteItem of 25 deletes (chunks in parallel, UnprocessedItems retried).
import middy from '@middy/core'
import {
  type AttributeValue, BatchWriteItemCommand, CreateTableCommand, DeleteItemCommand, DescribeTableCommand, DynamoDBClient, QueryCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb'
import type { Backend } from '../test-support/servers.mjs'
import { CREDENTIALS, type Contender, type Lib, QUICK, REGION, RequestCounter, chunks, lambdaContext, pooled, quietLogger } from './common.js'
import { type Key, runMatrix } from './remote.js'
import type { Section } from './table.js'

export type ItemKey = Record<string, AttributeValue>

export const dynamoClient = (backend: Backend): DynamoDBClient =>
  new DynamoDBClient({ endpoint: backend.dynamodbEndpoint, region: REGION, credentials: CREDENTIALS })

/** Creates a pk/sk table unless it exists, and waits until it is ACTIVE. */
export const ensureTable = async (client: DynamoDBClient, table: string): Promise<void> => {
  try {
    await client.send(new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }))
  } catch (e) {
    if ((e as Error).name !== 'ResourceInUseException') throw e
  }
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: table }))
    if (d.Table?.TableStatus === 'ACTIVE') return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`bench: table ${table} did not become ACTIVE`)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** BatchWriteItem of ≤ 25 requests with UnprocessedItems retried (exponential backoff, jitter). */
export const batchWrite = async (client: DynamoDBClient, table: string, requests: WriteRequest[]): Promise<void> => {
  let pending: WriteRequest[] = requests
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 8) throw new Error(`bench: ${pending.length} BatchWriteItem requests still unprocessed on ${table}`)
    if (attempt > 0) await sleep(Math.random() * 10 * 2 ** attempt)
    const r = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }))
    pending = r.UnprocessedItems?.[table] ?? []
  }
}

/** Puts items in batches of 25, 8 batches in flight; not timed. */
export const putItems = (client: DynamoDBClient, table: string, items: readonly ItemKey[]): Promise<void> =>
  pooled(chunks(items, 25), 8, (batch) => batchWrite(client, table, batch.map((Item) => ({ PutRequest: { Item: { ...Item, body: { S: 'x' } } } }))))

/** Throws when any item of partition `pk` is left. */
export const assertNoItems = async (client: DynamoDBClient, table: string, pk: string, what: string): Promise<void> => {
  const r = await client.send(new QueryCommand({
    TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, Select: 'COUNT',
  }))
  if ((r.Count ?? 0) > 0) throw new Error(`bench: ${what} left ${r.Count} item(s) with pk=${pk} in ${table}`)
}

const LABELS: Record<Key, string> = {
  a: '(a) sequential DeleteItem',
  b: '(b) Promise.all DeleteItem',
  c: '(c) middy-cleanup',
  d: '(d) hand-written BatchWriteItem',
}

export const runDynamo = async (lib: Lib, backend: Backend): Promise<Section> => {
  const table = 'BenchScratch'
  const setup = dynamoClient(backend)
  const measured = dynamoClient(backend)
  const counter = new RequestCounter()
  counter.attach(measured)
  await ensureTable(setup, table)
  const failures: string[] = []

  const contender = (n: number, key: Key, handler: (keys: ItemKey[]) => (event: unknown, context: any) => Promise<unknown>): Contender<{ keys: ItemKey[], pk: string }> => ({
    key,
    label: LABELS[key],
    setup: async (round) => {
      const pk = `job#${n}/${key}/${round}`
      const keys = Array.from({ length: n }, (_, i): ItemKey => ({ pk: { S: pk }, sk: { S: `step#${i}` } }))
      await putItems(setup, table, keys)
      return { keys, pk }
    },
    run: async ({ keys }) => { await handler(keys)({}, lambdaContext(`ddb-${n}-${key}`)) },
    verify: ({ pk }) => assertNoItems(setup, table, pk, LABELS[key]),
  })

  const contenders = (n: number): Record<Key, Contender<any>> => ({
    a: contender(n, 'a', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        for (const Key of keys) await measured.send(new DeleteItemCommand({ TableName: table, Key }))
      }
    })),
    b: contender(n, 'b', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        await Promise.all(keys.map((Key) => measured.send(new DeleteItemCommand({ TableName: table, Key }))))
      }
    })),
    c: contender(n, 'c', (keys) => middy()
      .use(lib.cleanup({
        dynamodb: measured,
        allow: { dynamodb: [table] },
        timeoutMs: 60_000,
        logger: quietLogger,
        onReport: (r) => { if (r.failed.length > 0) failures.push(`N=${n}: ${r.failed.length} failed, e.g. ${String(r.failed[0]?.error)}`) },
      }))
      .handler(async (_e: unknown, context) => {
        for (const key of keys) context.cleanup.dynamoItem({ table, key })
      })),
    d: contender(n, 'd', (keys) => middy().handler(async () => {
      try { /* the handler's work */ } finally {
        await Promise.all(chunks(keys, 25).map((batch) => batchWrite(measured, table, batch.map((Key) => ({ DeleteRequest: { Key } })))))
      }
    })),
  })

  const section = await runMatrix({
    title: `3. Deleting N temp DynamoDB items (${backend.name})`,
    ns: QUICK ? [1, 25] : [1, 25, 100, 1000],
    counter,
    contenders,
    labels: LABELS,
    rounds: (n, key) => QUICK
      ? { minRounds: 2, maxRounds: 2, budgetMs: 0 }
      : n <= 100 ? { minRounds: 3, maxRounds: 5, budgetMs: 1500 }
        : { minRounds: key === 'a' || key === 'b' ? 1 : 3, maxRounds: 3, budgetMs: 0 },
    expectedRequests: (n, key) => key === 'a' || key === 'b' ? n : Math.ceil(n / 25),
    notes: [
      'Each round writes N items of one partition (BatchWriteItem, not timed), then times one Middy invocation whose cleanup deletes them, then queries the partition to check that none survived.',
      '(d) is the strongest hand-written code: BatchWriteItem chunks of 25 sent in parallel, UnprocessedItems retried with backoff and jitter. middy-cleanup sends its chunks 8 at a time.',
    ],
    headlineN: 1000,
    summaryPrefix: 'DynamoDB',
  })
  if (failures.length > 0) throw new Error(`bench: middy-cleanup reported failed DynamoDB deletes: ${failures.join('; ')}`)
  setup.destroy()
  measured.destroy()
  return section
}
