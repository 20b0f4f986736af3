// Type checks for the S3/DynamoDB API: after `.use(cleanup({ s3, dynamodb }))`,
// `context.cleanup.putObject(...)` etc. type-check without casts, outputs are the SDK's,
// and malformed declarations are type errors. `tsc --noEmit` checks this file in CI; the
// test below compiles it too (ts-jest does not type-check), so it fails when a line
// above stops compiling or an @ts-expect-error line stops being an error (TS2578).
import { describe, expect, it } from '@jest/globals'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
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

/** What the TypeScript compiler says about this file, with the repo's tsconfig.json. */
const diagnosticsOfThisFile = (): string[] => {
  const file = fileURLToPath(import.meta.url)
  const config = ts.getParsedCommandLineOfConfigFile(fileURLToPath(new URL('../tsconfig.json', import.meta.url)), {}, {
    ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')) },
  })!
  // as `tsc --noEmit` checks it: no declaration emit, so no declaration-only diagnostics
  const program = ts.createProgram([file], { ...config.options, noEmit: true, declaration: false })
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) =>
    `${d.start === undefined ? '' : `line ${d.file!.getLineAndCharacterOfPosition(d.start).line + 1}: `}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
}

describe('S3/DynamoDB types', () => {
  it('compile: every declaration above type-checks and every @ts-expect-error line is a type error', () => {
    expect(diagnosticsOfThisFile()).toEqual([])
    s3.destroy(); ddb.destroy()
  })
})
