// Smoke test of the test infrastructure: each backend globalSetup started is a real S3 and a
// real DynamoDB over HTTP on 127.0.0.1, and the fault proxy injects what it promises.
import { describe, expect, it } from '@jest/globals'
import { DeleteObjectCommand, DeleteObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { BatchWriteItemCommand, DeleteItemCommand, DescribeTableCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb'
import {
  backends, countRequests, docClient, dynamoClient, objectExists, itemExists, s3Client, type BackendInfo, withBackend
} from './support/backends.js'
import { slowDown, startFaultProxy } from './support/fault-proxy.js'

describe('test backends', () => {
  it('runs the embedded backend always, on 127.0.0.1', () => {
    const names = backends().map((b) => b.name)
    expect(names).toContain('embedded')
    for (const b of backends()) {
      expect(new URL(b.s3Endpoint).hostname).toBe('127.0.0.1')
      expect(new URL(b.dynamodbEndpoint).hostname).toBe('127.0.0.1')
    }
    if (process.env.MIDDY_CLEANUP_REQUIRE_MOTO === '1') expect(names).toContain('moto')
  })
})

describe.each(backends())('$name backend', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })

  it('S3: put, head, delete, head again', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'hello' }))
    expect(await objectExists(s3, bucket, 'a.txt')).toBe(true)
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a.txt' }))
    expect(await objectExists(s3, bucket, 'a.txt')).toBe(false)
  })

  it('S3: DeleteObjects removes odd keys (unicode, space, +, %)', async () => {
    const keys = ['tmp/é ü/ß.txt', 'tmp/a b+c%20d.txt', 'tmp/日本語', 'tmp/100%']
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))))
    for (const k of keys) expect(await objectExists(s3, bucket, k)).toBe(true)
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }))
    for (const k of keys) expect(await objectExists(s3, bucket, k)).toBe(false)
  })

  it('DynamoDB: put, get, BatchWriteItem delete, DescribeTable key schema', async () => {
    const key = { pk: { S: 'p1' }, sk: { S: 's1' } }
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key, v: { N: '1' } } }))
    expect(await itemExists(ddb, table, key)).toBe(true)
    await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: [{ DeleteRequest: { Key: key } }] } }))
    expect(await itemExists(ddb, table, key)).toBe(false)
    const d = await ddb.send(new DescribeTableCommand({ TableName: table }))
    expect(d.Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }])
  })

  it('DynamoDB: conditional DeleteItem is enforced', async () => {
    const key = { pk: { S: 'c1' }, sk: { S: 's1' } }
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key, owner: { S: 'me' } } }))
    await expect(ddb.send(new DeleteItemCommand({
      TableName: table, Key: key, ConditionExpression: '#o = :o', ExpressionAttributeNames: { '#o': 'owner' }, ExpressionAttributeValues: { ':o': { S: 'other' } },
    }))).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' })
    expect(await itemExists(ddb, table, key)).toBe(true)
  })

  it('DynamoDB: DocumentClient with plain keys', async () => {
    const doc = docClient(b)
    try {
      await doc.send(new PutCommand({ TableName: table, Item: { pk: 'd1', sk: 's1', n: 5 } }))
      expect((await doc.send(new GetCommand({ TableName: table, Key: { pk: 'd1', sk: 's1' } }))).Item?.n).toBe(5)
      await doc.send(new DeleteCommand({ TableName: table, Key: { pk: 'd1', sk: 's1' } }))
      expect(await itemExists(ddb, table, { pk: { S: 'd1' }, sk: { S: 's1' } })).toBe(false)
    } finally { doc.destroy() }
  })

  it('fault proxy: 503 SlowDown is retried by the SDK, connection resets too; attempts are counted', async () => {
    const proxy = await startFaultProxy({
      target: b.s3Endpoint,
      status: { ...slowDown(), times: 1, match: (r) => r.op === 's3:PUT' },
      reset: { times: 1, match: (r) => r.op === 's3:HEAD' },
    })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    const counter = countRequests(via)
    try {
      await via.send(new PutObjectCommand({ Bucket: bucket, Key: 'proxied', Body: 'x' }))
      expect(await objectExists(via, bucket, 'proxied')).toBe(true)
      expect(proxy.injected).toEqual({ status: 1, reset: 1, unprocessed: 0, keyErrors: 0 })
      expect(counter.total('PutObjectCommand')).toBe(1)
      expect(counter.totalAttempts('PutObjectCommand')).toBe(2)
      expect(counter.totalAttempts('HeadObjectCommand')).toBe(2)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('fault proxy: BatchWriteItem answers withheld deletes as UnprocessedItems, and the server keeps them', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { times: 1, count: () => 2 } })
    const via = dynamoClient({ ...b, dynamodbEndpoint: proxy.endpoint })
    try {
      const keys = [1, 2, 3, 4].map((i) => ({ pk: { S: `u${i}` }, sk: { S: 's' } }))
      for (const k of keys) await ddb.send(new PutItemCommand({ TableName: table, Item: k }))
      const r = await via.send(new BatchWriteItemCommand({ RequestItems: { [table]: keys.map((Key) => ({ DeleteRequest: { Key } })) } }))
      expect(r.UnprocessedItems?.[table]?.map((x) => x.DeleteRequest?.Key)).toEqual(keys.slice(2))
      expect(await Promise.all(keys.map((k) => itemExists(ddb, table, k)))).toEqual([false, false, true, true])
    } finally { via.destroy(); await proxy.stop() }
  })
})
