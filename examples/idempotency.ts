// Powertools Idempotency + cleanup(): an order handler whose duplicate deliveries (client
// retries, SQS redrives) are answered from the idempotency table without running again.
//
// On a cache hit `makeHandlerIdempotent`'s `before` returns the stored response and Middy
// skips the handler and every `after`/`onError`, cleanup's included. What was declared
// before that point (here: the template file of `receiptTemplate`, registered between
// cleanup() and the idempotency check) is then cleaned
// - at the next invocation's `before` (Middy 6/7 leave `earlyResponse` on the request,
//   proof that the hit's invocation ended; docs/exit-paths.md path 7a), or
// - at once, when the idempotency middleware is wrapped in the package's
//   `cleanOnEarlyReturn()`, which calls cleanup's cooperative hook before the early
//   return (path 7b).
// Powertools' own `cleanupMiddlewares(request)`, which it calls on a hit, runs only the
// functions of Powertools' Tracer, Metrics, Logger and Idempotency keys: a third-party
// middleware cannot register there, hence the wrapper.
//
// Deploy: IDEMPOTENCY_TABLE names a table with partition key `id` (S) and TTL on
// `expiration`; the function needs dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on
// it (Powertools' docs), plus what the handler's own temp resources need (docs/recipes.md).
import middy from '@middy/core'
import type { MiddlewareObj } from '@middy/core'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency'
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb'
import { makeHandlerIdempotent } from '@aws-lambda-powertools/idempotency/middleware'
import { writeFile } from 'node:fs/promises'
import { cleanOnEarlyReturn, cleanup, type CleanupOptions, type CleanupRequest } from 'middy-cleanup'

export interface OrderEvent { orderId: string, amount: number }
export interface OrderResult { orderId: string, charged: number, receiptKey: string }

export interface OrderHandlerOptions {
  ddb: DynamoDBClient
  s3: S3Client
  idempotencyTable: string
  scratchBucket: string
  /** wrap the idempotency middleware in cleanOnEarlyReturn() (default true) */
  cleanOnHit?: boolean
  /** which Middy to build with (tests pass each major) */
  middy?: (...args: any[]) => any
  onReport?: CleanupOptions['onReport']
  /** called with each temp file path as it is declared (tests check the disk) */
  onTempFile?: (path: string) => void
  /** called each time the handler really runs (not on a cache hit) */
  onCharge?: (event: OrderEvent) => void
}

export const makeOrderHandler = (o: OrderHandlerOptions) => {
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName: o.idempotencyTable, awsSdkV3Client: o.ddb })
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'orderId' })
  const idempotent = makeHandlerIdempotent({ persistenceStore, config })

  // Stands for any `before` that declares a resource ahead of the idempotency check
  // (fetching an input, staging a template).
  const receiptTemplate: MiddlewareObj = {
    before: async (request) => {
      const file = await (request.context as CleanupRequest['context']).cleanup.tempFile({ suffix: '.html' })
      o.onTempFile?.(file)
      await writeFile(file, '<h1>Receipt</h1>')
    },
  }

  return (o.middy ?? middy)()
    .use(cleanup({ s3: o.s3, onReport: o.onReport, allow: { s3: [`${o.scratchBucket}/tmp/`] } }))
    .use(receiptTemplate)
    .use(o.cleanOnHit === false ? idempotent : cleanOnEarlyReturn(idempotent))
    .handler(async (event: OrderEvent, context: CleanupRequest['context']): Promise<OrderResult> => {
      o.onCharge?.(event)
      const pdf = await context.cleanup.tempFile({ suffix: '.pdf' })
      o.onTempFile?.(pdf)
      await writeFile(pdf, `charged ${event.amount}`)
      const receiptKey = `tmp/${context.awsRequestId}/receipt.pdf` // staged, deleted after the invocation
      await context.cleanup.putObject({ Bucket: o.scratchBucket, Key: receiptKey, Body: `charged ${event.amount}` })
      return { orderId: event.orderId, charged: event.amount, receiptKey }
    })
}

export const handler = makeOrderHandler({
  ddb: new DynamoDBClient({}),
  s3: new S3Client({}),
  idempotencyTable: process.env.IDEMPOTENCY_TABLE ?? 'Idempotency',
  scratchBucket: process.env.S3_SCRATCH_BUCKET ?? 'scratch',
})
