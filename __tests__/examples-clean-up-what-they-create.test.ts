// Runs every example of examples/ as a user would deploy it: the module is imported with
// its SDK clients configured from the environment (AWS_ENDPOINT_URL_S3 / _DYNAMODB point
// at the embedded servers), and the outcome is checked on the servers and on the disk.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { createServer, type Socket } from 'node:net'
import { backends, createBucket, createTable, dynamoClient, itemExists, listKeys, objectExists, s3Client, uid } from './support/backends.js'
import { lambdaContext, ourInvocationDirs } from './support/middy.js'
import { cleanEnv, spawnChild } from './fixtures/shutdown-harness.js'

const backend = backends().find((b) => b.name === 'embedded')!
let s3: S3Client
let ddb: DynamoDBClient
const saved = { ...process.env }

beforeAll(() => {
  s3 = s3Client(backend)
  ddb = dynamoClient(backend)
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_S3: backend.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: backend.dynamodbEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  })
})

afterAll(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  s3.destroy()
  ddb.destroy()
})

describe('examples/image-resize.ts (temp S3 objects + /tmp files)', () => {
  let images: string
  let scratch: string
  let example: typeof import('../examples/image-resize.js')

  beforeAll(async () => {
    images = await createBucket(s3, { prefix: 'images' })
    scratch = await createBucket(s3, { prefix: 'scratch' })
    process.env.S3_SCRATCH_BUCKET = scratch
    example = await import('../examples/image-resize.js')
    await s3.send(new PutObjectCommand({ Bucket: images, Key: 'in/cat.jpg', Body: Buffer.alloc(4096, 7) }))
  })

  it('writes the thumbnails; the staged objects and the /tmp files are gone', async () => {
    const result = await example.handler({ bucket: images, key: 'in/cat.jpg' }, lambdaContext())
    expect(result).toEqual({ thumbnails: ['thumbnails/in/cat.jpg.w64.img', 'thumbnails/in/cat.jpg.w256.img'] })
    for (const key of result.thumbnails) expect(await objectExists(s3, images, key)).toBe(true)
    expect(await listKeys(s3, scratch, 'tmp/')).toEqual([])
    expect(await ourInvocationDirs()).toEqual([])
  })

  it('the handler throws half-way (output bucket missing): same cleanup, the error is the SDK\'s', async () => {
    const p = example.handler({ bucket: images, key: 'in/cat.jpg', outputBucket: `missing-${uid()}` }, lambdaContext())
    await expect(p).rejects.toMatchObject({ name: 'NoSuchBucket' })
    expect(await listKeys(s3, scratch, 'tmp/')).toEqual([])
    expect(await ourInvocationDirs()).toEqual([])
  })

  it('the source is missing: nothing was staged, nothing is left', async () => {
    await expect(example.handler({ bucket: images, key: 'in/nope.jpg' }, lambdaContext())).rejects.toMatchObject({ name: 'NoSuchKey' })
    expect(await listKeys(s3, scratch)).toEqual([])
    expect(await ourInvocationDirs()).toEqual([])
  })
})

describe('examples/job-lock.ts (temp DynamoDB lock + progress items)', () => {
  let table: string
  let example: typeof import('../examples/job-lock.js')
  const key = (jobId: string, sk: string) => ({ pk: { S: `job#${jobId}` }, sk: { S: sk } })

  beforeAll(async () => {
    table = await createTable(ddb, { prefix: 'jobs' })
    process.env.JOBS_TABLE = table
    example = await import('../examples/job-lock.js')
  })

  it('runs the steps; the lock and the progress items are deleted', async () => {
    const result = await example.handler({ jobId: 'a', steps: ['fetch', 'transform', 'load'] }, lambdaContext())
    expect(result).toEqual({ jobId: 'a', done: ['fetch', 'transform', 'load'] })
    for (const sk of ['lock', 'step#fetch', 'step#transform', 'step#load']) expect(await itemExists(ddb, table, key('a', sk))).toBe(false)
  })

  it('a step throws: its error stands, the lock is released, so a retry can run at once', async () => {
    const p = example.handler({ jobId: 'b', steps: ['fetch', 'transform'], failAt: 'transform' }, lambdaContext())
    await expect(p).rejects.toThrow('step transform failed')
    for (const sk of ['lock', 'step#fetch', 'step#transform']) expect(await itemExists(ddb, table, key('b', sk))).toBe(false)
    await expect(example.handler({ jobId: 'b', steps: ['fetch'] }, lambdaContext())).resolves.toEqual({ jobId: 'b', done: ['fetch'] })
  })

  it('a lock held by someone else: JobLockedError, and their lock is not touched', async () => {
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key('c', 'lock'), owner: { S: 'someone-else' } } }))
    const p = example.handler({ jobId: 'c', steps: ['fetch'] }, lambdaContext())
    await expect(p).rejects.toBeInstanceOf(example.JobLockedError)
    expect(await itemExists(ddb, table, key('c', 'lock'))).toBe(true)
    expect(await itemExists(ddb, table, key('c', 'step#fetch'))).toBe(false)
  })
})

describe('examples/await-using.ts (standalone CleanupScope)', () => {
  let example: typeof import('../examples/await-using.js')
  beforeAll(async () => { example = await import('../examples/await-using.js') })

  it('returns the export; both temp files and the handle are released when the block is left', async () => {
    const result = await example.handler({ rows: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }] })
    expect(result).toMatchObject({ rows: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(result.gzipBytes).toBeGreaterThan(0)
    expect(example.reports.at(-1)).toMatchObject({ exitPath: 'manual', resources: 3, cleaned: 3, failed: [] })
    expect(await ourInvocationDirs()).toEqual([])
  })

  it('a throw inside the block: the error stands, everything is released all the same', async () => {
    await expect(example.handler({ rows: [{ id: 1, name: 'a' }, { id: 2 }] })).rejects.toThrow('lacks a column')
    expect(example.reports.at(-1)).toMatchObject({ exitPath: 'manual', cleaned: 2, failed: [] })
    expect(await ourInvocationDirs()).toEqual([])
  })
})

describe('examples/global-connection.ts (connection from init closed on SIGTERM)', () => {
  it('a real child: two invocations on one connection, SIGTERM → QUIT, connection closed, exit 0', async () => {
    // a Redis-like server: INCR answers a counter, QUIT answers +OK and closes
    const log: string[] = []
    const sockets = new Set<Socket>()
    const counters = new Map<string, number>()
    const server = createServer((socket) => {
      sockets.add(socket)
      log.push('connect')
      let buf = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        buf += chunk
        let i
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const [cmd, arg = ''] = buf.slice(0, i).split(' ')
          buf = buf.slice(i + 2)
          log.push(`${cmd} ${arg}`.trim())
          if (cmd === 'INCR') { counters.set(arg, (counters.get(arg) ?? 0) + 1); socket.write(`:${counters.get(arg)}\r\n`) }
          else if (cmd === 'QUIT') socket.end('+OK\r\n')
          else socket.write('-ERR unknown command\r\n')
        }
      })
      socket.on('error', () => {})
      socket.on('close', () => { log.push('close'); sockets.delete(socket) })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const child = spawnChild(process.execPath, ['--import', 'tsx', '__tests__/fixtures/example-global-connection.ts'],
        cleanEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }))
      const ready = await child.waitFor((e) => e.event === 'ready', 20_000)
      expect(ready.results).toEqual([{ page: 'home', views: 1 }, { page: 'home', views: 2 }])
      expect(ready.dirs).toEqual([])
      expect(log).toEqual(['connect', 'INCR views:home', 'INCR views:home'])

      child.proc.kill('SIGTERM')
      const exit = await child.exited
      expect({ exit, stderr: exit.code === 0 ? '' : child.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' })
      expect(log).toEqual(['connect', 'INCR views:home', 'INCR views:home', 'QUIT', 'close'])
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
