// The real Powertools Idempotency middleware (makeHandlerIdempotent + its DynamoDB
// persistence layer on the real servers) in front of a handler using cleanup(),
// examples/idempotency.ts as a user deploys it. A cache hit returns early from `before`:
// Middy skips cleanup's after/onError, so what was declared before the hit is cleaned
// - by the next invocation (docs/exit-paths.md 7a: Middy 6/7 leave `earlyResponse` on the
//   request, proof that the hit's invocation ended), or
// - at once with the package's cleanOnEarlyReturn() wrapper (7b, exit path `early-return`).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { backends, createBucket, createTable, dynamoClient, objectExists, s3Client, uid } from './support/backends.js'
import { lambdaContext, middyVersions } from './support/middy.js'
import { makeOrderHandler, type OrderEvent, type OrderResult } from '../examples/idempotency.js'
import type { CleanupReport } from 'middy-cleanup'

describe.each(backends())('$name', (b) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  beforeAll(async () => {
    s3 = s3Client(b)
    ddb = dynamoClient(b)
    bucket = await createBucket(s3, { prefix: 'idem' })
    table = await createTable(ddb, { prefix: 'idem', range: false, hashKey: 'id' })
  })
  afterAll(() => { s3.destroy(); ddb.destroy() })
  const storedRecords = async (response: OrderResult): Promise<Array<Record<string, unknown>>> => {
    const { Items = [] } = await ddb.send(new ScanCommand({ TableName: table, ConsistentRead: true }))
    // the stored response is a map attribute `data`
    return Items.filter((i) => i.data?.M?.orderId?.S === response.orderId && i.data.M.receiptKey?.S === response.receiptKey)
  }

  describe.each(middyVersions)('Middy $major', ({ major, middy }) => {
    const setup = (cleanOnHit: boolean) => {
      const files: string[] = []
      const charges: OrderEvent[] = []
      const reports: CleanupReport[] = []
      const handler = makeOrderHandler({
        ddb, s3, idempotencyTable: table, scratchBucket: bucket, cleanOnHit, middy,
        onTempFile: (f) => files.push(f),
        onCharge: (e) => charges.push(e),
        onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) }, // not the start-of-process sweep's own report
      })
      return { handler: handler as (e: OrderEvent, c: unknown) => Promise<OrderResult>, files, charges, reports }
    }

    // Middy 5 leaves no `earlyResponse`; whether its `response` proves the end is the
    // runtime's business (docs/exit-paths.md), so only 6 and 7 are held to the next invocation.
    if (major >= 6) it('a cache hit answers from the table without running the handler; what it declared is gone after the next invocation', async () => {
      const { handler, files, charges, reports } = setup(false)
      const order = { orderId: `o-${uid()}`, amount: 42 }

      const first = await handler(order, lambdaContext())
      expect(charges).toHaveLength(1)
      expect(files).toHaveLength(2) // the template (before) and the pdf (handler)
      for (const f of files) expect(existsSync(f)).toBe(false)
      expect(await objectExists(s3, bucket, first.receiptKey)).toBe(false)
      expect(reports.map((r) => r.exitPath)).toEqual(['success'])
      // Powertools stored the response in the table, status COMPLETED
      expect(await storedRecords(first)).toEqual([expect.objectContaining({ status: { S: 'COMPLETED' } })])

      const second = await handler(order, lambdaContext())
      expect(second).toEqual(first)
      expect(charges).toHaveLength(1) // not charged twice
      expect(files).toHaveLength(3) // the hit's own template file
      const hitFile = files[2]!
      // Middy skipped cleanup's after: the file waits for the next invocation
      expect(existsSync(hitFile)).toBe(true)
      expect(reports).toHaveLength(1)

      await handler({ orderId: `o-${uid()}`, amount: 1 }, lambdaContext())
      expect(existsSync(hitFile)).toBe(false)
      for (const f of files) expect(existsSync(dirname(f))).toBe(false)
      expect(charges).toHaveLength(2)
    })

    it('with cleanOnEarlyReturn(), a cache hit is cleaned before Middy returns (exit path early-return)', async () => {
      const { handler, files, charges, reports } = setup(true)
      const order = { orderId: `o-${uid()}`, amount: 7 }

      const first = await handler(order, lambdaContext())
      const second = await handler(order, lambdaContext())
      expect(second).toEqual(first)
      expect(charges).toHaveLength(1)
      expect(files).toHaveLength(3)
      for (const f of files) expect(existsSync(dirname(f))).toBe(false)
      expect(reports.map((r) => r.exitPath)).toEqual(['success', 'early-return'])
      expect(reports[1]!.failed).toEqual([])
    })
  })
})
