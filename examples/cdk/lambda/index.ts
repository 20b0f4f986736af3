// The function's code. NodejsFunction bundles it with the local esbuild (ESM, CDK's banner,
// @aws-sdk/* external: the runtime's SDK v3) into cdk.out/asset.<hash>/index.mjs.
import middy from '@middy/core'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { writeFile } from 'node:fs/promises'
import { cleanup, onShutdown, shutdown } from 'middy-cleanup'

const SCRATCH = process.env.S3_SCRATCH_BUCKET!
const JOBS = process.env.JOBS_TABLE!
const s3 = new S3Client({})
const ddb = new DynamoDBClient({})

onShutdown('aws-clients', () => { s3.destroy(); ddb.destroy() })
const shutdownMiddleware = shutdown()
await shutdownMiddleware.ready // the in-process extension registers during init: Lambda then sends SIGTERM

export interface JobEvent { jobId: string, frames: number }

export const handler = middy<JobEvent>({ timeoutEarlyInMillis: 500 })
  .use(shutdownMiddleware)
  .use(cleanup({ s3, dynamodb: ddb, allow: { s3: [`${SCRATCH}/tmp/`], dynamodb: [JOBS] } }))
  .handler(async (event, context) => {
    const dir = await context.cleanup.tempDir()
    const keys: string[] = []
    for (let i = 0; i < event.frames; i++) {
      await writeFile(`${dir}/frame-${i}.png`, `frame ${i}`)
      const Key = `tmp/${context.awsRequestId}/frame-${i}.png`
      await context.cleanup.putObject({ Bucket: SCRATCH, Key, Body: `frame ${i}` }, { tags: true })
      keys.push(Key)
    }
    const progress = { pk: { S: `job#${event.jobId}` }, sk: { S: 'progress' } }
    await context.cleanup.putItem({ TableName: JOBS, Item: { ...progress, frames: { N: String(event.frames) } } },
      { ttl: { attribute: 'expiresAt', seconds: 3600 } })
    return { jobId: event.jobId, dir, keys, progress }
  })
