import middy from '@middy/core'
import { S3Client } from '@aws-sdk/client-s3'
import { open } from 'node:fs/promises'
import { cleanup, onShutdown, shutdown } from 'middy-cleanup'
import { db } from './db.js' // a pool opened once at init, e.g. new pg.Pool()

const s3 = new S3Client({})
onShutdown('db', () => db.end()) // on SIGTERM: every teardown at once, exit within 400 ms
const shutdownMiddleware = shutdown()
await shutdownMiddleware.ready // registers an in-process extension at init, so Lambda sends SIGTERM

export const handler = middy({ timeoutEarlyInMillis: 500 }) // leaves cleanup time on a timeout
  .use(shutdownMiddleware)
  .use(cleanup({ s3, allow: { s3: ['scratch-bucket/tmp/'] } })) // last: its after/onError run first
  .handler(async (event: { image: string }, context) => {
    const file = await context.cleanup.tempFile({ suffix: '.jpg' }) // removed on every exit path
    const fh = context.cleanup.handle(await open(file, 'w')) // closed on every exit path
    await fh.write(event.image)
    await context.cleanup.putObject({ // deleted on every exit path, batched
      Bucket: 'scratch-bucket', Key: `tmp/${context.awsRequestId}.jpg`, Body: event.image,
    })
    context.cleanup.defer(() => db.query('UPDATE jobs SET done = true')) // any custom disposer
    return { ok: true }
  })
