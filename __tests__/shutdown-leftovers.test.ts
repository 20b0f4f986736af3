import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { backends, createBucket, createTable, dynamoClient, itemExists, objectExists, s3Client, uid } from './support/backends.js'
import { spawnFixture } from './fixtures/shutdown-harness.js'

// The core's leftovers are flushed by shutdown(): in a sequential Lambda runtime an
// invocation interrupted by SIGTERM still has its temp S3 object and DynamoDB item
// deleted, checked on the real servers.
describe.each(backends())('shutdown flushes open cleanup scopes on $name', (b) => {
  const clients: Array<S3Client | DynamoDBClient> = []
  const dirs: string[] = []
  afterAll(() => {
    for (const c of clients) c.destroy()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('deletes the temp S3 object and DynamoDB item of an invocation still running at SIGTERM, then exits 0', async () => {
    const s3 = s3Client(b)
    const ddb = dynamoClient(b)
    clients.push(s3, ddb)
    const bucket = await createBucket(s3)
    const table = await createTable(ddb)
    const key = `tmp/${uid()}.txt`
    const child = spawnFixture('shutdown-s3.ts', {
      S3_ENDPOINT: b.s3Endpoint, DYNAMODB_ENDPOINT: b.dynamodbEndpoint, BUCKET: bucket, TABLE: table, KEY: key,
      // A sequential Lambda runtime, where SIGTERM proves the running invocation ended
      // (contract item 7); the fixture registers no extension against this address.
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9',
    })
    await child.waitFor((e) => e.event === 'put', 15000)
    expect(await objectExists(s3, bucket, key)).toBe(true)
    expect(await itemExists(ddb, table, { pk: { S: key }, sk: { S: 'temp' } })).toBe(true)

    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(child.events.some((e) => e.event === 'invocation-end')).toBe(false)
    expect(await objectExists(s3, bucket, key)).toBe(false)
    expect(await itemExists(ddb, table, { pk: { S: key }, sk: { S: 'temp' } })).toBe(false)
    const reports = child.events.filter((e) => e.event === 'report').map((e) => e.report as { cleanup?: { exitPath: string, resources: number, cleaned: number, failed: unknown[] } })
    expect(reports).toHaveLength(1)
    expect(reports[0]?.cleanup).toMatchObject({ exitPath: 'shutdown', resources: 2, cleaned: 2, failed: [] })
  })

  // G1 through shutdown: outside a sequential Lambda runtime nothing proves the running
  // invocation ended, so SIGTERM must leave its resources (and its dir, for the next
  // process) alone. Its own TMPDIR keeps that dir away from other tests.
  it('leaves the resources of an invocation still running at SIGTERM alone outside a sequential Lambda runtime, then exits 0', async () => {
    const s3 = s3Client(b)
    const ddb = dynamoClient(b)
    clients.push(s3, ddb)
    const bucket = await createBucket(s3)
    const table = await createTable(ddb)
    const key = `tmp/${uid()}.txt`
    const tmp = mkdtempSync(join(tmpdir(), 'shutdown-g1-'))
    dirs.push(tmp)
    const child = spawnFixture('shutdown-s3.ts', {
      S3_ENDPOINT: b.s3Endpoint, DYNAMODB_ENDPOINT: b.dynamodbEndpoint, BUCKET: bucket, TABLE: table, KEY: key, TMPDIR: tmp,
    })
    await child.waitFor((e) => e.event === 'put', 15000)

    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(await objectExists(s3, bucket, key)).toBe(true)
    expect(await itemExists(ddb, table, { pk: { S: key }, sk: { S: 'temp' } })).toBe(true)
    const reports = child.events.filter((e) => e.event === 'report').map((e) => e.report as { cleanup?: { resources: number, cleaned: number } })
    expect(reports).toHaveLength(1)
    expect(reports[0]?.cleanup).toMatchObject({ resources: 0, cleaned: 0 })
    // The invocation's dir (with its journal) stays for the next process to judge.
    expect(readdirSync(tmp).filter((n) => n.startsWith('middy-cleanup-'))).toHaveLength(1)
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
  })
})
