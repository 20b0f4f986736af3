// G5 (issue 12 obs 6): identity includes the client. The same table and key (or bucket and
// key) through two client objects are two resources — the clients may point at two regions
// or two accounts, and merging them would leave one undeleted. Each is deleted with its own
// client, in its own batch; report.cleaned counts both. Two endpoints: the embedded server
// and moto when moto is on PATH, and always a server and a proxy in front of it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CreateTableCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3'
import { CleanupScope } from '../src/index.js'
import { backends, dynamoClient, objectExists, putObjectsFast, recordingLogger, s3Client, uid, type BackendInfo } from './support/backends.js'
import { startFaultProxy } from './support/fault-proxy.js'

const quiet = () => recordingLogger()
const itemExists = async (ddb: DynamoDBClient, table: string, pk: string): Promise<boolean> =>
  (await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }))).Item !== undefined

/** `sameServerAs`: the other endpoint reaches the same server (bucket and table are made once). */
interface Endpoint { name: string, b: BackendInfo, s3: S3Client, ddb: DynamoDBClient, sameServerAs?: Endpoint, stop?: () => Promise<void> }

const all = backends()
const embedded = all.find((x) => x.name === 'embedded')!
const moto = all.find((x) => x.name === 'moto')

/** Two endpoints for one test: [direct server, the same server through a proxy] or [embedded, moto]. */
const pairs: Array<[string, () => Promise<[Endpoint, Endpoint]>]> = [
  ['the embedded server and a proxy in front of it', async () => {
    const s3Proxy = await startFaultProxy({ target: embedded.s3Endpoint })
    const ddbProxy = await startFaultProxy({ target: embedded.dynamodbEndpoint })
    const viaProxy = { ...embedded, s3Endpoint: s3Proxy.endpoint, dynamodbEndpoint: ddbProxy.endpoint }
    const direct: Endpoint = { name: 'direct', b: embedded, s3: s3Client(embedded), ddb: dynamoClient(embedded) }
    return [direct, {
      name: 'proxy', b: viaProxy, s3: s3Client(viaProxy), ddb: dynamoClient(viaProxy), sameServerAs: direct,
      stop: async () => { await s3Proxy.stop(); await ddbProxy.stop() },
    }]
  }],
]
if (moto !== undefined) {
  pairs.push(['the embedded server and moto', async () => [
    { name: 'embedded', b: embedded, s3: s3Client(embedded), ddb: dynamoClient(embedded) },
    { name: 'moto', b: moto, s3: s3Client(moto), ddb: dynamoClient(moto) },
  ]])
} else {
  it.skip('two servers (embedded and moto) — skipped: moto_server is not on PATH; the server + proxy pair runs instead', () => {})
}

describe.each(pairs)('same names through two clients: %s', (_name, make) => {
  let one: Endpoint
  let two: Endpoint
  let bucket: string
  let table: string
  beforeAll(async () => {
    [one, two] = await make()
    bucket = `same-${uid()}`
    table = `same-${uid()}`
    for (const e of [one, two]) {
      if (e.sameServerAs !== undefined) continue
      await e.s3.send(new CreateBucketCommand({ Bucket: bucket }))
      await e.ddb.send(new CreateTableCommand({
        TableName: table, BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }))
    }
  })
  afterAll(async () => {
    for (const e of [one, two]) { e.s3.destroy(); e.ddb.destroy() }
    await two.stop?.()
  })

  it('DynamoDB: the same table and key through two DynamoDBClients are both deleted, cleaned 2, one BatchWriteItem each', async () => {
    const pk = `item-${uid()}`
    for (const e of [one, two]) await e.ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: pk } } }))
    const sends = [0, 0]
    ;[one, two].forEach((e, i) => e.ddb.middlewareStack.add((next: any, ctx: any) => async (args: any) => {
      if (ctx.commandName === 'BatchWriteItemCommand') sends[i]!++
      return next(args)
    }, { step: 'initialize', name: `count-${uid()}` }))
    const scope = new CleanupScope({ logger: quiet() })
    scope.dynamoItem({ table, key: { pk: { S: pk } }, client: one.ddb })
    scope.dynamoItem({ table, key: { pk: { S: pk } }, client: two.ddb })
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
    expect(sends).toEqual([1, 1]) // batches never mix clients
    expect(await itemExists(one.ddb, table, pk)).toBe(false)
    expect(await itemExists(two.ddb, table, pk)).toBe(false)
  })

  it('S3: the same bucket and key through two S3Clients are both deleted, cleaned 2', async () => {
    const key = `obj-${uid()}`
    for (const e of [one, two]) await putObjectsFast(e.b, bucket, [key])
    const scope = new CleanupScope({ logger: quiet() })
    scope.s3Object({ bucket, key, client: one.s3 })
    scope.s3Object({ bucket, key, client: two.s3 })
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [], requests: 2 })
    expect(await objectExists(one.s3, bucket, key)).toBe(false)
    expect(await objectExists(two.s3, bucket, key)).toBe(false)
  })

  it('putObject and putItem of the same names through two clients: two resources, both deleted', async () => {
    const key = `put-${uid()}`
    const scope = new CleanupScope({ logger: quiet() })
    await scope.putObject({ Bucket: bucket, Key: key, Body: 'one' }, { client: one.s3 })
    await scope.putObject({ Bucket: bucket, Key: key, Body: 'two' }, { client: two.s3 })
    await scope.putItem({ TableName: table, Item: { pk: { S: key } } }, { client: one.ddb })
    await scope.putItem({ TableName: table, Item: { pk: { S: key } } }, { client: two.ddb })
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 4, cleaned: 4, failed: [] })
    for (const e of [one, two]) {
      expect(await objectExists(e.s3, bucket, key)).toBe(false)
      expect(await itemExists(e.ddb, table, key)).toBe(false)
    }
  })

  it('the same names through one client declared twice are still one resource (deleted once)', async () => {
    const key = `dup-${uid()}`
    await putObjectsFast(one.b, bucket, [key])
    const scope = new CleanupScope({ logger: quiet() })
    scope.s3Object({ bucket, key, client: one.s3 })
    scope.s3Object({ bucket, key, client: one.s3 })
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
    expect(await objectExists(one.s3, bucket, key)).toBe(false)
  })
})
