// Handlers run by the real AWS Lambda Node.js runtime interface client (aws-lambda-ric
// 4.x, its native HTTP client, Node >= 22) against a Lambda-like Runtime + Extensions API
// on 127.0.0.1 that holds /next while idle, as Lambda does. The function module is
// __tests__/fixtures/ric-handler.ts bundled as plain ES module output (esbuild; the
// documented recipes are __tests__/bundler-recipes-load-and-clean-up.test.ts's subject).
//
// The client is installed by .ci/ric-install.sh into a cache outside the repo (it builds
// native code: cmake, make, g++, ~2-4 min once per machine). Without it these tests are
// skipped locally with that reason; in CI (CI=true) its absence is a failure.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { backends, createBucket, createTable, dynamoClient, itemExists, objectExists, s3Client } from './support/backends.js'
import { bundle, outRoot, plainEsm, root } from './support/bundling-recipes.mjs'
import { spawnNode, type Child } from './support/child.js'
import { startFakeLambdaApi, type FakeLambdaApi, type Invocation } from './support/fake-lambda-api.js'

const RIC_VERSION = '4.0.2'
const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'middy-cleanup')
const ricDir = process.env.MIDDY_CLEANUP_RIC ?? join(process.env.MIDDY_CLEANUP_RIC_CACHE ?? join(cache, 'ric'), RIC_VERSION, 'node_modules', 'aws-lambda-ric')
const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
const major = Number(process.versions.node.split('.')[0])
// the client needs Node >= 22: this one when it is, else the Node 22 of .ci/matrix.sh's cache
const nodeBin = process.env.MIDDY_CLEANUP_RIC_NODE ??
  (major >= 22 ? process.execPath : join(process.env.MATRIX_CACHE ?? join(cache, 'node'), '22', 'node_modules', `node-linux-${arch}`, 'bin', 'node'))
const missing = [join(ricDir, 'rapid-client.node'), nodeBin].filter((p) => !existsSync(p))
if (missing.length > 0 && process.env.CI === 'true') {
  throw new Error(`aws-lambda-ric or Node 22 is not installed (${missing.join(', ')}): .ci/run installs them with .ci/ric-install.sh`)
}
const describeRic = missing.length === 0 ? describe : describe.skip
const skipReason = missing.length === 0 ? '' : ` (skipped: not installed, run bash .ci/ric-install.sh — missing ${missing.join(', ')})`

const b = backends()[0]!
const s3 = s3Client(b)
const ddb = dynamoClient(b)
let bucket = ''
let table = ''
const taskRoot = join(outRoot, 'ric-task')
// the runtime's os.tmpdir() (Lambda's /tmp): its own, so its start-of-process sweep never
// meets the dirs of other test processes on this machine
const lambdaTmp = mkdtempSync(join(tmpdir(), 'ric-test-'))

const NEXT = 'GET /2018-06-01/runtime/invocation/next'

interface WorkResult { id: string, requestId: string, threadId: number, file: string, bucket: string, key: string, table: string, item: Record<string, { S: string }> }

const startRuntime = (api: FakeLambdaApi, handlerName: string, extra: Record<string, string> = {}): Child => spawnNode(nodeBin, [join(ricDir, 'index.mjs')], {
  cwd: taskRoot,
  env: {
    PATH: process.env.PATH,
    // what Lambda sets for the runtime (the client refuses to start without these)
    AWS_LAMBDA_RUNTIME_API: api.address,
    _HANDLER: `index.${handlerName}`,
    LAMBDA_TASK_ROOT: taskRoot,
    AWS_LAMBDA_FUNCTION_NAME: 'ric-test',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/ric-test',
    AWS_LAMBDA_LOG_STREAM_NAME: 'stream',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_S3: b.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: b.dynamodbEndpoint,
    SCRATCH_BUCKET: bucket,
    JOBS_TABLE: table,
    TMPDIR: lambdaTmp,
    ...extra,
  },
})

const expectNothingLeft = async (r: WorkResult): Promise<void> => {
  expect(existsSync(r.file)).toBe(false)
  expect(existsSync(dirname(r.file))).toBe(false)
  expect(dirname(dirname(r.file))).toBe(lambdaTmp)
  expect(readdirSync(lambdaTmp)).toEqual([])
  expect(await objectExists(s3, r.bucket, r.key)).toBe(false)
  expect(await itemExists(ddb, r.table, r.item)).toBe(false)
}

/** Messages the function logged, in the client's TEXT format `<ISO time>\t<request id>\t<LEVEL>\t<message>`. */
const logged = (child: Child, message: RegExp): string[] =>
  child.lines.map((l) => l.split('\t').slice(3).join('\t')).filter((m) => message.test(m))

describeRic(`under the real runtime interface client (aws-lambda-ric ${RIC_VERSION}, Node >= 22)${skipReason}`, () => {
  let api: FakeLambdaApi | undefined
  let child: Child | undefined
  beforeAll(async () => {
    mkdirSync(taskRoot, { recursive: true })
    bundle(plainEsm, join(root, '__tests__', 'fixtures', 'ric-handler.ts'), taskRoot)
    bucket = await createBucket(s3, { prefix: 'ric' })
    table = await createTable(ddb, { prefix: 'ric' })
  })
  afterEach(async () => {
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL')
    await child?.exited
    await api?.close()
    child = undefined
    api = undefined
  })
  afterAll(() => { s3.destroy(); ddb.destroy(); rmSync(lambdaTmp, { recursive: true, force: true }) })

  it('registers the extension during init, before the first /next; each invocation answers the handler\'s value and leaves no temp file, S3 object or DynamoDB item', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api, 'handler')
    const first = await api.invoke({ id: 'one' })
    const second = await api.invoke({ id: 'two' })

    expect(api.initErrors).toEqual([])
    expect(api.registrations).toEqual([expect.objectContaining({ name: 'middy-cleanup', events: [] })])
    // Registration must come before the runtime's first next (Lambda refuses it after, as
    // the fake API does). The extension's own event/next is sent once registered, without
    // being awaited: it may reach the API before or after the runtime's next (both seen
    // here); Lambda ends init once both have arrived, in either order.
    const REGISTER = 'POST /2020-01-01/extension/register'
    const EVENT_NEXT = 'GET /2020-01-01/extension/event/next'
    expect(api.log[0]).toBe(REGISTER)
    expect(api.log.indexOf(REGISTER)).toBeLessThan(api.log.indexOf(NEXT))
    expect(api.log.filter((l) => l === EVENT_NEXT)).toHaveLength(1)
    expect(api.log.filter((l) => l === REGISTER)).toHaveLength(1)
    expect(logged(child, /^extension: registered$/)).toHaveLength(1)
    for (const [inv, id] of [[first, 'one'], [second, 'two']] as Array<[Invocation, string]>) {
      const r = inv.response as WorkResult
      expect(inv.error).toBeUndefined()
      expect(r.id).toBe(id)
      expect(r.requestId).toBe(inv.requestId)
      await expectNothingLeft(r)
    }
  })

  it('SIGTERM while idle in /next: both teardowns run at once and one report is logged; process.exit(0) then waits for the native client\'s pending /next, and the process exits 0 once the Runtime API connection closes', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api, 'handler')
    await expectNothingLeft((await api.invoke({ id: 'before-sigterm' })).response as WorkResult)
    await api.waitFor(NEXT, 2) // idle: the client waits in /next, as on Lambda between invocations

    child.proc.kill('SIGTERM')
    await child.waitForLine(/shutdown: SIGTERM handled/)
    expect(logged(child, /^teardown: /).sort()).toEqual(['teardown: aws-clients destroyed', 'teardown: db closed'])
    const report = logged(child, /^shutdown: SIGTERM handled/)
    expect(report).toHaveLength(1)
    expect(report[0]).toMatch(/2 teardown\(s\)/)

    // process.exit(0) has been called (the report is logged right before it), yet the
    // process is still there: the native client's /next is still pending
    await sleep(1000)
    expect(child.proc.exitCode).toBeNull()
    expect(child.proc.signalCode).toBeNull()

    await api.close() // the Runtime API connection goes away
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.stderr() + child.lines.join('\n')).toMatch(/Failed to get next invocation/)
  })

  it('with the client\'s JavaScript HTTP client (AWS_LAMBDA_NODEJS_USE_ALTERNATIVE_CLIENT_1=true), process.exit(0) ends the process right after the report', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api, 'handler', { AWS_LAMBDA_NODEJS_USE_ALTERNATIVE_CLIENT_1: 'true' })
    await expectNothingLeft((await api.invoke({ id: 'alt' })).response as WorkResult)
    await api.waitFor(NEXT, 2)

    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(logged(child, /^teardown: /)).toHaveLength(2)
    expect(logged(child, /^shutdown: SIGTERM handled/)).toHaveLength(1)
  })

  it('response streaming (Middy 7 StreamifyResponse): the streamed body is the handler\'s value, and its temp resources are gone when the stream ends', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api, 'streaming')
    const inv = await api.invoke({ id: 'streamed' })

    expect(inv.error).toBeUndefined()
    expect(inv.responseHeaders?.['lambda-runtime-function-response-mode']).toBe('streaming')
    // HttpResponseStream framing: a JSON prelude (status, headers), 8 NUL bytes, then the body
    const raw = inv.raw ?? ''
    const sep = raw.indexOf('\u0000'.repeat(8))
    expect(sep).toBeGreaterThan(0)
    expect(JSON.parse(raw.slice(0, sep))).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' } })
    const r = JSON.parse(raw.slice(sep + 8)) as WorkResult
    expect(r.id).toBe('streamed')
    expect(r.requestId).toBe(inv.requestId)
    await expectNothingLeft(r)
  })

  it('Managed Instances mode (AWS_LAMBDA_MAX_CONCURRENCY=2, two worker threads): no extension, no signal listener, one warning per worker; two overlapping invocations each clean only their own', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api, 'handler', { AWS_LAMBDA_MAX_CONCURRENCY: '2', AWS_LAMBDA_NODEJS_WORKER_COUNT: '2' })
    const barrier = mkdtempSync(join(tmpdir(), 'ric-barrier-'))
    try {
      // both are in flight together: each waits for the other's marker before returning
      const [a, b] = await Promise.all([api.invoke({ id: 'mi-a', barrier }), api.invoke({ id: 'mi-b', barrier })])
      const ra = a!.response as WorkResult
      const rb = b!.response as WorkResult
      expect([ra.id, rb.id]).toEqual(['mi-a', 'mi-b'])
      expect(ra.file).not.toBe(rb.file)
      await expectNothingLeft(ra)
      await expectNothingLeft(rb)
    } finally {
      rmSync(barrier, { recursive: true, force: true })
    }
    expect(api.registrations).toEqual([])
    expect(api.log.filter((l) => l.includes('/extension/'))).toEqual([])
    // the client's JSON log format in this mode; the module is loaded once per worker thread
    // nothing listens for SIGTERM (the runtime does not deliver it to process.on() there): default action
    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' })
    // read once the process is gone: a worker's line may still be in the pipe before that
    const warnings = child.lines.map((l) => { try { return JSON.parse(l) as { level?: string, message?: string } } catch { return {} } })
      .filter((e) => e.level === 'WARN' && /Managed Instances/.test(e.message ?? ''))
    expect(warnings).toHaveLength(2)
  })
})
