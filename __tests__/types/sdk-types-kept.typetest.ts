// Compiled by `tsc --noEmit` (CI), never run: putObject/putItem are typed with structural
// types of this package (its declarations import no optional peer), and a user with the
// AWS SDK keeps the SDK's typing — inputs typed with the SDK's types are accepted as they
// are, outputs assign to the SDK's output types. .ci/types-check.sh checks the same from
// the packed tarball, with and without the SDK installed.
import { S3Client, type PutObjectCommandInput, type PutObjectCommandOutput } from '@aws-sdk/client-s3'
import { DynamoDBClient, type PutItemCommandInput, type PutItemCommandOutput } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, type PutCommandInput, type PutCommandOutput } from '@aws-sdk/lib-dynamodb'
import { CleanupScope, cleanup, type CleanupOptions, type PutItemInput, type PutObjectInput, type PutObjectOutput } from '../../src/index.js'

export const run = async (body: Uint8Array): Promise<void> => {
  const ddb = new DynamoDBClient({})
  await using scope = new CleanupScope({ s3: new S3Client({}), dynamodb: ddb })
  const input: PutObjectCommandInput = { Bucket: 'b', Key: 'tmp/a', Body: body, ContentType: 'image/jpeg' }
  const out: PutObjectCommandOutput = await scope.putObject(input, { tags: true })
  const sse: string | undefined = out.ServerSideEncryption
  const plain: PutObjectOutput = await scope.putObject({ Bucket: 'b', Key: 'tmp/b', Body: 'x', IfNoneMatch: '*' })
  const etag: string | undefined = plain.ETag
  const status: number | undefined = plain.$metadata.httpStatusCode
  const ours: PutObjectInput = { Bucket: 'b', Key: 'tmp/c', Body: 'x' }
  await scope.putObject(ours)
  const item: PutItemCommandInput = { TableName: 'T', Item: { pk: { S: 'a' } }, ConditionExpression: 'attribute_not_exists(pk)' }
  const low: PutItemCommandOutput = await scope.putItem(item)
  const doc: PutCommandInput = { TableName: 'T', Item: { pk: 'a', n: 1 }, ReturnValues: 'ALL_OLD' }
  const high: PutCommandOutput = await scope.putItem(doc, { client: DynamoDBDocumentClient.from(ddb) })
  const mine: PutItemInput = { TableName: 'T', Item: { pk: 'b' }, ReturnValues: 'ALL_OLD' }
  await scope.putItem(mine)
  void [sse, etag, status, low.ConsumedCapacity, high.Attributes]
  // @ts-expect-error Bucket is a string
  await scope.putObject({ Bucket: 5, Key: 'k' })
  // @ts-expect-error Key is required, as in the SDK
  await scope.putObject({ Bucket: 'b' })
  // @ts-expect-error TableName is required
  await scope.putItem({ Item: {} })
  // @ts-expect-error Tagging is a string
  await scope.putObject({ Bucket: 'b', Key: 'k', Tagging: { a: '1' } })
}

// detectLeaks is an option of CleanupOptions itself (src/options.ts), not an augmentation
// from a module the entry's declarations never reference.
export const leaks: CleanupOptions = { detectLeaks: { every: 10, memory: false } }
export const on = cleanup({ detectLeaks: true })
// @ts-expect-error detectLeaks takes true, false or options
export const bad = cleanup({ detectLeaks: 'yes' })
// @ts-expect-error unknown detectLeaks option
export const typo = cleanup({ detectLeaks: { evry: 10 } })
