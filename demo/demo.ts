// `npm run demo`: one handler through every exit path, on embedded S3 + DynamoDB
// servers started here on 127.0.0.1 (no AWS account), printing what each path
// declared and what was left over — checked on the disk and on the servers.
import middy from '@middy/core'
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { existsSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { cleanOnEarlyReturn, cleanup, type CleanupReport } from '../src/index.js'
import { startEmbedded } from '../test-support/servers.mjs'

// The SDK warns once that Node 20 support ends; the demo runs on any supported Node.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const BUCKET = 'demo-scratch'
const TABLE = 'DemoScratch'

interface Declared { files: string[], handles: FileHandle[], objects: string[], items: string[] }

const main = async (): Promise<void> => {
  const backend = await startEmbedded()
  const credentials = { accessKeyId: 'demo', secretAccessKey: 'demo' }
  const s3 = new S3Client({ endpoint: backend.s3Endpoint, region: 'us-east-1', credentials, forcePathStyle: true })
  const dynamodb = new DynamoDBClient({ endpoint: backend.dynamodbEndpoint, region: 'us-east-1', credentials })
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  await dynamodb.send(new CreateTableCommand({
    TableName: TABLE,
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }))

  let requests = 0
  const quiet = { warn: () => {}, error: (m: string) => console.error(m) }
  const options = {
    s3, dynamodb, logger: quiet,
    allow: { s3: [`${BUCKET}/tmp/`], dynamodb: [TABLE] },
    onReport: (r: CleanupReport) => { requests += r.requests },
  }

  // What a real handler does: temp files, an open handle, temp objects and items.
  const work = async (context: any, declared: Declared): Promise<void> => {
    const id = context.awsRequestId as string
    for (let i = 0; i < 2; i++) declared.files.push(await context.cleanup.tempFile({ suffix: '.jpg' }))
    declared.handles.push(context.cleanup.handle(await open(declared.files[0]!, 'w')))
    for (let i = 0; i < 3; i++) {
      const Key = `tmp/${id}/part-${i}.bin`
      declared.objects.push(Key)
      await context.cleanup.putObject({ Bucket: BUCKET, Key, Body: `part ${i}` })
    }
    for (const sk of ['lock', 'step']) {
      declared.items.push(`${id}|${sk}`)
      await context.cleanup.putItem({ TableName: TABLE, Item: { pk: { S: `job#${id}` }, sk: { S: sk } } })
    }
  }

  const leftOver = async (d: Declared): Promise<number> => {
    let left = d.files.filter((f) => existsSync(f)).length + d.handles.filter((h) => h.fd !== -1).length
    for (const Key of d.objects) {
      try { await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key })); left++ } catch { /* gone */ }
    }
    for (const item of d.items) {
      const [id, sk] = item.split('|') as [string, string]
      const got = await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `job#${id}` }, sk: { S: sk } } }))
      if (got.Item !== undefined) left++
    }
    return left
  }

  let n = 0
  const context = (remainingMs = 30_000): any => {
    const deadline = Date.now() + remainingMs
    return { awsRequestId: `req-${++n}`, getRemainingTimeInMillis: () => deadline - Date.now() }
  }
  const fresh = (): Declared => ({ files: [], handles: [], objects: [], items: [] })
  const count = (d: Declared): number => d.files.length + d.handles.length + d.objects.length + d.items.length
  const plain = middy().use(cleanup(options)).handler(async () => 'next')

  type Scenario = { path: string, run: (d: Declared) => Promise<string> }
  const scenarios: Scenario[] = [
    { path: 'success', run: async (d) => String(await middy().use(cleanup(options)).handler(async (_e: unknown, c: any) => { await work(c, d); return 'ok' })({}, context())) },
    { path: 'handler throws', run: async (d) => middy().use(cleanup(options)).handler(async (_e: unknown, c: any) => { await work(c, d); throw new Error('boom') })({}, context()).catch((e: Error) => `rethrown: ${e.message}`) },
    {
      path: 'timeoutEarly (handler hangs)',
      run: async (d) => middy({ timeoutEarlyInMillis: 500 }).use(cleanup(options))
        .handler(async (_e: unknown, c: any) => { await work(c, d); await new Promise(() => {}) })({}, context(1500)).catch((e: Error) => e.name),
    },
    { path: "other middleware's after throws", run: async (d) => middy().use(cleanup(options)).use({ after: () => { throw new Error('serializer') } }).handler(async (_e: unknown, c: any) => { await work(c, d); return 'ok' })({}, context()).catch((e: Error) => `rethrown: ${e.message}`) },
    { path: 'onError returns a response, cleanup() last', run: async (d) => JSON.stringify(await middy().use({ onError: () => ({ statusCode: 500 }) }).use(cleanup(options)).handler(async (_e: unknown, c: any) => { await work(c, d); throw new Error('x') })({}, context())) },
    { path: 'onError returns a response, cleanup() first', run: async (d) => JSON.stringify(await middy().use(cleanup(options)).use({ onError: () => ({ statusCode: 500 }) }).handler(async (_e: unknown, c: any) => { await work(c, d); throw new Error('x') })({}, context())) },
    { path: 'early return from before (cache hit)', run: async (d) => String(await middy().use(cleanup(options)).use({ before: async (r: any) => { await work(r.context, d); return 'cached' } }).handler(async () => 'fresh')({}, context())) },
    {
      path: 'early return, wrapped in cleanOnEarlyReturn()',
      run: async (d) => String(await middy().use(cleanup(options)).use(cleanOnEarlyReturn({
        before: async (r: any) => { await work(r.context, d); return 'cached' },
      })).handler(async () => 'fresh')({}, context())),
    },
    {
      path: '2 concurrent invocations',
      run: async (d) => {
        const h = middy().use(cleanup(options)).handler(async (_e: unknown, c: any) => { await work(c, d); return 'ok' })
        return (await Promise.all([h({}, context()), h({}, context())])).join(' + ')
      },
    },
  ]

  const rows: string[][] = [['exit path', 'outcome', 'declared', 'left after invocation', 'left after next invocation', 'AWS requests']]
  for (const s of scenarios) {
    const d = fresh()
    requests = 0
    const outcome = await s.run(d)
    const leftNow = await leftOver(d)
    await plain({}, context()) // the next invocation sweeps what a skipped cleanup left
    rows.push([s.path, outcome, String(count(d)), String(leftNow), String(await leftOver(d)), String(requests)])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(`middy-cleanup demo — embedded S3 (fauxqs) + DynamoDB (dynalite) on 127.0.0.1, Node ${process.version}`)
  console.log('each invocation declares 2 temp files, 1 file handle, 3 S3 objects, 2 DynamoDB items\n')
  console.log(line(rows[0]!))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows.slice(1)) console.log(line(r))
  console.log('\n"left after invocation" > 0 only where Middy skipped cleanup\'s after/onError (see docs/exit-paths.md);')
  console.log('the next invocation\'s before sweeps it in the background and its after waits for the sweep.')
  s3.destroy()
  dynamodb.destroy()
  await backend.stop()
}

main().catch((e: unknown) => { console.error(e); process.exit(1) })
