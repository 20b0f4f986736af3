// Type checks for the S3/DynamoDB API, compiled by `tsc --noEmit` in CI: after
// `.use(cleanup({ s3, dynamodb }))`, `context.cleanup.putObject(...)` etc. type-check without
// casts, outputs are the SDK's, and malformed declarations are type errors.
import { describe, expect, it } from '@jest/globals'
import middy from '@middy/core'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { cleanup, CleanupScope, type PutItemOptions, type PutObjectOptions } from '../src/index.js'

const s3 = new S3Client({ region: 'us-east-1' })
const ddb = new DynamoDBClient({ region: 'us-east-1' })
const doc = DynamoDBDocumentClient.from(ddb)

export const handler = middy()
  .use(cleanup({ s3, dynamodb: ddb, allow: { s3: ['scratch-bucket/tmp/'], dynamodb: ['Scratch'] } }))
  .handler(async (_event: unknown, context) => {
    const put = await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key: `tmp/${context.awsRequestId}/in.jpg`, Body: 'x' }, { tags: true, verify: true })
    const etag: string | undefined = put.ETag
    context.cleanup.s3Object({ bucket: 'scratch-bucket', key: 'tmp/other.jpg' })
    context.cleanup.s3Object({ bucket: 'scratch-bucket', key: 'tmp/v.jpg', versionId: 'v1', etag, client: s3 })
    await context.cleanup.putItem({ TableName: 'Scratch', Item: { pk: { S: 'job#1' }, sk: { S: 'lock' } } }, { ttl: { attribute: 'expiresAt', seconds: 3600 } })
    context.cleanup.dynamoItem({ table: 'Scratch', key: { pk: { S: 'job#1' }, sk: { S: 'step' } } })
    // DocumentClient: plain values
    await context.cleanup.putItem({ TableName: 'Scratch', Item: { pk: 'job#2', sk: 'lock', n: 1 } }, { client: doc })
    context.cleanup.dynamoItem({ table: 'Scratch', key: { pk: 'job#2', sk: 'step' }, client: doc })

    // @ts-expect-error bucket is required
    context.cleanup.s3Object({ key: 'tmp/x' })
    // @ts-expect-error key must be a string
    context.cleanup.s3Object({ bucket: 'b', key: 5 })
    // @ts-expect-error table is required
    context.cleanup.dynamoItem({ key: { pk: { S: 'a' } } })
    // @ts-expect-error unknown putObject option
    await context.cleanup.putObject({ Bucket: 'b', Key: 'k' }, { tag: true })
    // @ts-expect-error ttl needs attribute and seconds
    await context.cleanup.putItem({ TableName: 'Scratch', Item: {} }, { ttl: { seconds: 5 } })
    return etag
  })

export const standalone = async (): Promise<void> => {
  await using scope = new CleanupScope({ s3, dynamodb: doc })
  const options: PutObjectOptions = { tags: { purpose: 'temp' } }
  const itemOptions: PutItemOptions = { verify: true }
  await scope.putObject({ Bucket: 'b', Key: 'k', Body: 'x' }, options)
  await scope.putItem({ TableName: 'Scratch', Item: { pk: 'a' } }, itemOptions)
  // @ts-expect-error s3 must be a client
  void new CleanupScope({ s3: 'bucket' })
}

describe('S3/DynamoDB types', () => {
  it('compile (checked by tsc --noEmit); the handler is a function', () => {
    expect(typeof handler).toBe('function')
    s3.destroy(); ddb.destroy()
  })
})
