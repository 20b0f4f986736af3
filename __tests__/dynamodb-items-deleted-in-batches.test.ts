// DynamoDB items on a CleanupScope, against real DynamoDB servers (embedded dynalite, and
// moto_server when on PATH). Every assertion on "deleted" is a GetItem on the server afterwards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { BatchWriteItemCommand, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { CleanupDeclarationError, CleanupScope, MARKER_ATTRIBUTE } from '../src/index.js'
import { flushLeftovers, leftoverCount } from './support/internals.js'
import { isDocumentClient } from '../src/dynamodb.js'
import { backends, countRequests, createTable, docClient, dynamoClient, itemExists, recordingLogger, uid, type BackendInfo } from './support/backends.js'
import { startFaultProxy, throttled } from './support/fault-proxy.js'

type Key = Record<string, AttributeValue>
const quiet = () => recordingLogger()
const keyOf = (pk: string, sk = 's'): Key => ({ pk: { S: pk }, sk: { S: sk } })

/** Test fixture: writes items 25 per BatchWriteItem. */
const putItems = async (ddb: DynamoDBClient, table: string, keys: readonly Key[]): Promise<void> => {
  for (let i = 0; i < keys.length; i += 25) {
    await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: keys.slice(i, i + 25).map((Item) => ({ PutRequest: { Item: { ...Item, v: { S: 'x' } } } })) } }))
  }
}
const existing = async (ddb: DynamoDBClient, table: string, keys: readonly Key[]): Promise<Key[]> => {
  const found = await Promise.all(keys.map(async (k) => await itemExists(ddb, table, k) ? k : undefined))
  return found.filter((k): k is Key => k !== undefined)
}

describe('DynamoDB declarations (no server needed)', () => {
  const ddb = { send: async () => ({}) }
  const scope = () => new CleanupScope({ dynamodb: ddb, logger: quiet(), allow: { dynamodb: ['Scratch'] } })

  it.each([
    ['empty table', { table: '', key: { pk: { S: 'a' } } }, /table name/],
    ['key not an object', { table: 'Scratch', key: 'a' }, /key/],
    ['key with no attribute', { table: 'Scratch', key: {} }, /1 or 2 key attributes/],
    ['key with 3 attributes', { table: 'Scratch', key: { a: { S: 'a' }, b: { S: 'b' }, c: { S: 'c' } } }, /1 or 2 key attributes/],
    ['plain value on a DynamoDBClient', { table: 'Scratch', key: { pk: 'a' } }, /key\.pk.*AttributeValue.*DynamoDBDocumentClient/],
    ['AttributeValue of a non-key type', { table: 'Scratch', key: { pk: { BOOL: true } } }, /key\.pk/],
    ['N that is not a number', { table: 'Scratch', key: { pk: { N: 'abc' } } }, /key\.pk/],
    ['client without send()', { table: 'Scratch', key: { pk: { S: 'a' } }, client: {} }, /client/],
  ])('%s throws CleanupDeclarationError at declaration', (_name, target, message) => {
    expect(() => scope().dynamoItem(target as any)).toThrow(CleanupDeclarationError)
    expect(() => scope().dynamoItem(target as any)).toThrow(message)
  })

  it('a table outside allow.dynamodb throws, naming the table and the list (exact names, not prefixes)', () => {
    expect(() => scope().dynamoItem({ table: 'Scratch2', key: { pk: { S: 'a' } } })).toThrow("refused table 'Scratch2': it is outside allow.dynamodb ['Scratch']")
    expect(() => scope().dynamoItem({ table: 'Scratch', key: { pk: { S: 'a' } } })).not.toThrow()
  })

  it('no client known: throws and says how to pass one', () => {
    expect(() => new CleanupScope({ logger: quiet() }).dynamoItem({ table: 'T', key: { pk: { S: 'a' } } })).toThrow(/cleanup\(\{ dynamodb: new DynamoDBClient/)
  })

  it('putItem outside the allow-list, or with a bad ttl, rejects before anything is sent', async () => {
    let sent = 0
    const s = new CleanupScope({ dynamodb: { send: async () => { sent++; return {} } }, logger: quiet(), allow: { dynamodb: ['Scratch'] } })
    await expect(s.putItem({ TableName: 'Prod', Item: { pk: { S: 'a' } } })).rejects.toThrow(CleanupDeclarationError)
    await expect(s.putItem({ TableName: 'Scratch', Item: { pk: { S: 'a' } } }, { ttl: { attribute: 'exp', seconds: -1 } })).rejects.toThrow(/ttl/)
    expect(sent).toBe(0)
  })

  it('tells a DynamoDBDocumentClient from the DynamoDBClient it wraps (whose config it shares)', () => {
    const b = { name: 'embedded', s3Endpoint: 'http://127.0.0.1:1', dynamodbEndpoint: 'http://127.0.0.1:1' } as BackendInfo
    const doc = docClient(b)
    const low = dynamoClient(b)
    expect(isDocumentClient(doc)).toBe(true)
    expect(isDocumentClient(low)).toBe(false)
    doc.destroy(); low.destroy()
  })
})

describe.each(backends())('DynamoDB on $name', (b: BackendInfo) => {
  let ddb: DynamoDBClient
  let table: string
  beforeAll(async () => {
    ddb = dynamoClient(b)
    table = await createTable(ddb)
  })
  afterAll(() => { ddb.destroy() })

  it('putItem + dynamoItem: deleted in one BatchWriteItem, checked with GetItem', async () => {
    const client = dynamoClient(b)
    const counter = countRequests(client)
    try {
      const scope = new CleanupScope({ dynamodb: client, logger: quiet() })
      await scope.putItem({ TableName: table, Item: { ...keyOf('job#1', 'lock'), owner: { S: 'me' } } })
      await putItems(ddb, table, [keyOf('job#1', 'step')])
      scope.dynamoItem({ table, key: keyOf('job#1', 'step') })
      expect(await itemExists(ddb, table, keyOf('job#1', 'lock'))).toBe(true)
      expect(counter.sends).toEqual({ DescribeTableCommand: 1, PutItemCommand: 1 })
      counter.reset()
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [], requests: 1 })
      expect(counter.sends).toEqual({ BatchWriteItemCommand: 1 })
      expect(await existing(ddb, table, [keyOf('job#1', 'lock'), keyOf('job#1', 'step')])).toEqual([])
    } finally { client.destroy() }
  })

  it.each([[25, 1], [26, 2], [60, 3]])('%i items in one table: ceil(N/25) = %i BatchWriteItem request(s); DescribeTable once per table per process', async (n, requests) => {
    const client = dynamoClient(b)
    const counter = countRequests(client)
    try {
      const t = await createTable(ddb)
      const scope = new CleanupScope({ dynamodb: client, logger: quiet() })
      const keys = Array.from({ length: n }, (_, i) => keyOf(`bulk#${i}`))
      for (const key of keys) await scope.putItem({ TableName: t, Item: { ...key, n: { N: '1' } } })
      expect(counter.total('DescribeTableCommand')).toBe(1)
      expect(await existing(ddb, t, keys)).toHaveLength(n)
      counter.reset()
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: n, cleaned: n, failed: [], requests })
      expect(counter.sends).toEqual({ BatchWriteItemCommand: requests })
      expect(await existing(ddb, t, keys)).toEqual([])
    } finally { client.destroy() }
  })

  it('hash-only table, number and binary keys', async () => {
    const t = await createTable(ddb, { range: false })
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    await scope.putItem({ TableName: t, Item: { pk: { S: 'only' }, v: { S: 'x' } } })
    scope.dynamoItem({ table: t, key: { pk: { S: 'ünï cødé +%' } } })
    await ddb.send(new PutItemCommand({ TableName: t, Item: { pk: { S: 'ünï cødé +%' } } }))
    const report = await scope.dispose()
    expect(report).toMatchObject({ cleaned: 2, failed: [] })
    expect(await itemExists(ddb, t, { pk: { S: 'only' } })).toBe(false)
    expect(await itemExists(ddb, t, { pk: { S: 'ünï cødé +%' } })).toBe(false)
  })

  it('a key declared twice is sent once (a BatchWriteItem with duplicate keys would be rejected)', async () => {
    await putItems(ddb, table, [keyOf('dup')])
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    scope.dynamoItem({ table, key: keyOf('dup') })
    scope.dynamoItem({ table, key: { sk: { S: 's' }, pk: { S: 'dup' } } }) // same key, other attribute order
    const report = await scope.dispose()
    expect(report.failed).toEqual([])
    expect(report.requests).toBe(1)
    expect(await itemExists(ddb, table, keyOf('dup'))).toBe(false)
  })

  describe('DocumentClient (plain JS keys)', () => {
    let doc: DynamoDBDocumentClient
    beforeAll(() => { doc = docClient(b) })
    afterAll(() => { doc.destroy() })

    it('putItem and dynamoItem with plain keys: deleted, checked with GetItem', async () => {
      const scope = new CleanupScope({ dynamodb: doc, logger: quiet() })
      const out = await scope.putItem({ TableName: table, Item: { pk: 'doc#1', sk: 'a', n: 5, tags: new Set(['x']) } })
      expect(out.$metadata.httpStatusCode).toBe(200)
      await doc.send(new PutCommand({ TableName: table, Item: { pk: 'doc#1', sk: 'b' } }))
      scope.dynamoItem({ table, key: { pk: 'doc#1', sk: 'b' } })
      expect((await doc.send(new GetCommand({ TableName: table, Key: { pk: 'doc#1', sk: 'a' } }))).Item?.n).toBe(5)
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [], requests: 1 })
      expect(await itemExists(ddb, table, keyOf('doc#1', 'a'))).toBe(false)
      expect(await itemExists(ddb, table, keyOf('doc#1', 'b'))).toBe(false)
    })

    it('UnprocessedItems come back unmarshalled and are still matched and retried', async () => {
      const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { times: 1, count: (n) => Math.floor(n / 2) } })
      const via = docClient({ ...b, dynamodbEndpoint: proxy.endpoint })
      try {
        const keys = Array.from({ length: 10 }, (_, i) => ({ pk: `docu#${i}`, sk: 's' }))
        for (const k of keys) await doc.send(new PutCommand({ TableName: table, Item: k }))
        const scope = new CleanupScope({ dynamodb: via, logger: quiet() })
        for (const key of keys) scope.dynamoItem({ table, key })
        const report = await scope.dispose()
        expect(proxy.injected.unprocessed).toBe(1)
        expect(report).toMatchObject({ cleaned: 10, failed: [], requests: 2 })
        expect(await existing(ddb, table, keys.map((k) => keyOf(k.pk)))).toEqual([])
      } finally { via.destroy(); await proxy.stop() }
    })
  })

  it('injected UnprocessedItems are retried with backoff until done: requests = ceil(N/25) + retries', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { times: 3, count: (n) => Math.min(n, 10) } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      const keys = Array.from({ length: 30 }, (_, i) => keyOf(`unp#${i}`))
      await putItems(ddb, table, keys)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet() })
      for (const key of keys) scope.dynamoItem({ table, key })
      const report = await scope.dispose()
      expect(proxy.injected.unprocessed).toBe(3)
      // 2 batches (25 + 5); 3 responses withheld up to 10 each → 3 more BatchWriteItem
      expect(report).toMatchObject({ cleaned: 30, failed: [], requests: 5 })
      expect(proxy.seen.filter((r) => r.op === 'BatchWriteItem')).toHaveLength(5)
      expect(await existing(ddb, table, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('UnprocessedItems until the deadline: what is left is reported (retrying) and deleted next time', async () => {
    let starve = true
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { match: () => starve, count: (n) => n } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      const keys = Array.from({ length: 3 }, (_, i) => keyOf(`starved#${i}`))
      await putItems(ddb, table, keys)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 400 })
      for (const key of keys) scope.dynamoItem({ table, key })
      const t0 = Date.now()
      const report = await scope.dispose()
      expect(Date.now() - t0).toBeLessThan(1000)
      expect(report.cleaned).toBe(0)
      expect(report.requests).toBeGreaterThan(1)
      expect(report.failed).toHaveLength(3)
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(await existing(ddb, table, keys)).toHaveLength(3)
      starve = false
      const flushed = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(flushed.failed).toEqual([])
      expect(leftoverCount()).toBe(0)
      expect(await existing(ddb, table, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('throttling (ProvisionedThroughputExceeded) beyond the SDK retries: not re-sent by cleanup; retryable leftovers, deleted next time', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, status: { ...throttled(), times: 2, match: (r) => r.op === 'BatchWriteItem' } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint }, { maxAttempts: 2 })
    try {
      const keys = [keyOf('thr#1'), keyOf('thr#2')]
      await putItems(ddb, table, keys)
      const scope = new CleanupScope({ dynamodb: via, logger: quiet(), timeoutMs: 10_000 })
      for (const key of keys) scope.dynamoItem({ table, key })
      const report = await scope.dispose()
      // the SDK's 2 attempts, both throttled; no third send from cleanup (one retry layer)
      expect(proxy.injected.status).toBe(2)
      expect(proxy.seen.filter((r) => r.op === 'BatchWriteItem')).toHaveLength(2)
      expect(report).toMatchObject({ cleaned: 0, requests: 2, leftovers: 2 })
      expect(report.failed.map((f) => f.error)).toEqual([0, 1].map(() => expect.objectContaining({ name: 'DynamoDeleteError', code: 'ProvisionedThroughputExceededException' })))
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(await existing(ddb, table, keys)).toHaveLength(2)
      const flushed = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(flushed).toMatchObject({ cleaned: 2, failed: [], requests: 1 })
      expect(await existing(ddb, table, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('connection resets are retried, deleted', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, reset: { times: 1, match: (r) => r.op === 'BatchWriteItem' } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      await putItems(ddb, table, [keyOf('rst')])
      const scope = new CleanupScope({ dynamodb: via, logger: quiet() })
      scope.dynamoItem({ table, key: keyOf('rst') })
      const report = await scope.dispose()
      expect(report).toMatchObject({ cleaned: 1, failed: [], requests: 2 })
      expect(await itemExists(ddb, table, keyOf('rst'))).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('a missing table: only its items in report.failed (not retried), the rest deleted', async () => {
    const missing = `missing-${uid()}`
    await putItems(ddb, table, [keyOf('mt')])
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    scope.dynamoItem({ table, key: keyOf('mt') })
    scope.dynamoItem({ table: missing, key: keyOf('a') })
    const report = await scope.dispose()
    expect(report.cleaned).toBe(1)
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]!.id).toBe(`dynamodb://${missing}/{"pk":"a","sk":"s"}`)
    expect(report.failed[0]!.error).toMatchObject({ name: 'DynamoDeleteError', code: 'ResourceNotFoundException' })
    expect(report.failed[0]!.retrying).toBeUndefined()
    expect(await itemExists(ddb, table, keyOf('mt'))).toBe(false)
  })

  it('a malformed key (wrong attribute names) fails only itself, not the 24 others of its batch', async () => {
    const keys = Array.from({ length: 24 }, (_, i) => keyOf(`mal#${i}`))
    await putItems(ddb, table, keys)
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    for (const key of keys) scope.dynamoItem({ table, key })
    scope.dynamoItem({ table, key: { id: { S: 'wrong-schema' } } })
    const report = await scope.dispose()
    expect(report.cleaned).toBe(24)
    expect(report.failed.map((f) => f.id)).toEqual([`dynamodb://${table}/{"id":"wrong-schema"}`])
    expect(await existing(ddb, table, keys)).toEqual([])
  })

  it('putItem({ ttl }) sets the TTL attribute (epoch seconds) as a backstop; the item is still deleted', async () => {
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    const now = Math.floor(Date.now() / 1000)
    await scope.putItem({ TableName: table, Item: keyOf('ttl') }, { ttl: { attribute: 'expiresAt', seconds: 3600 } })
    const item = (await ddb.send(new GetItemCommand({ TableName: table, Key: keyOf('ttl'), ConsistentRead: true }))).Item
    const at = Number(item?.expiresAt?.N)
    expect(at).toBeGreaterThanOrEqual(now + 3600)
    expect(at).toBeLessThanOrEqual(now + 3602)
    expect((await scope.dispose()).failed).toEqual([])
    expect(await itemExists(ddb, table, keyOf('ttl'))).toBe(false)
  })

  it('verify: an item overwritten since putItem survives (in failed); one still ours is deleted; one already gone is fine', async () => {
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet() })
    await scope.putItem({ TableName: table, Item: keyOf('ver', 'mine') }, { verify: true })
    await scope.putItem({ TableName: table, Item: keyOf('ver', 'theirs') }, { verify: true })
    await scope.putItem({ TableName: table, Item: keyOf('ver', 'gone') }, { verify: true })
    const mine = (await ddb.send(new GetItemCommand({ TableName: table, Key: keyOf('ver', 'mine') }))).Item
    expect(mine?.[MARKER_ATTRIBUTE]?.S).toMatch(/^[0-9a-f-]{36}$/)
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...keyOf('ver', 'theirs'), by: { S: 'someone else' } } }))
    await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: [{ DeleteRequest: { Key: keyOf('ver', 'gone') } }] } }))
    const report = await scope.dispose()
    expect(report.cleaned).toBe(2)
    expect(report.failed.map((f) => f.id)).toEqual([`dynamodb://${table}/{"pk":"ver","sk":"theirs"}`])
    expect(report.failed[0]!.error).toMatchObject({ name: 'DynamoDeleteError', code: 'ConditionalCheckFailedException', message: expect.stringMatching(/overwritten since putItem wrote it/) })
    expect(report.requests).toBe(3) // one conditional DeleteItem each
    expect(await itemExists(ddb, table, keyOf('ver', 'mine'))).toBe(false)
    expect(await itemExists(ddb, table, keyOf('ver', 'theirs'))).toBe(true)
  })

  it('allow-list: items of other tables survive, declarations outside it throw', async () => {
    const other = await createTable(ddb)
    await putItems(ddb, table, [keyOf('al')])
    await putItems(ddb, other, [keyOf('al')])
    const scope = new CleanupScope({ dynamodb: ddb, logger: quiet(), allow: { dynamodb: [table] } })
    scope.dynamoItem({ table, key: keyOf('al') })
    expect(() => scope.dynamoItem({ table: other, key: keyOf('al') })).toThrow(/outside allow\.dynamodb/)
    await expect(scope.putItem({ TableName: other, Item: keyOf('al2') })).rejects.toThrow(/outside allow\.dynamodb/)
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
    expect(await itemExists(ddb, table, keyOf('al'))).toBe(false)
    expect(await itemExists(ddb, other, keyOf('al'))).toBe(true)
    expect(await itemExists(ddb, other, keyOf('al2'))).toBe(false)
  })
})
