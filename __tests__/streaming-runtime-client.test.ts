// Response streaming under the real runtime interface client (aws-lambda-ric 4.x, its
// native HTTP client, Node >= 22), against the Lambda-like Runtime API on 127.0.0.1 of
// __tests__/support/fake-lambda-api.ts: the client provides `awslambda` itself, Middy 7's
// StreamifyResponse pipes the handler's body into the client's response stream, and the
// client posts it with chunked encoding. The client asks for the next event (where Lambda
// may freeze the process) as soon as the handler's promise settles, so cleanup must be
// over by then, and must not start before the body has been read to its end.
// Skipped, with the reason, where .ci/ric-install.sh has not built the client (CI fails instead).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { backends, createBucket, objectExists, s3Client } from './support/backends.js'
import { bundle, outRoot, plainEsm, root } from './support/bundling-recipes.mjs'
import { spawnNode, type Child } from './support/child.js'
import { startFakeLambdaApi, type FakeLambdaApi } from './support/fake-lambda-api.js'
import { BODY, CHUNK } from './fixtures/streaming-body.js'

const RIC_VERSION = '4.0.2'
const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'middy-cleanup')
const ricDir = process.env.MIDDY_CLEANUP_RIC ?? join(process.env.MIDDY_CLEANUP_RIC_CACHE ?? join(cache, 'ric'), RIC_VERSION, 'node_modules', 'aws-lambda-ric')
const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
const major = Number(process.versions.node.split('.')[0])
const nodeBin = process.env.MIDDY_CLEANUP_RIC_NODE ??
  (major >= 22 ? process.execPath : join(process.env.MATRIX_CACHE ?? join(cache, 'node'), '22', 'node_modules', `node-linux-${arch}`, 'bin', 'node'))
const missing = [join(ricDir, 'rapid-client.node'), nodeBin].filter((p) => !existsSync(p))
if (missing.length > 0 && process.env.CI === 'true') {
  throw new Error(`aws-lambda-ric or Node 22 is not installed (${missing.join(', ')}): .ci/run installs them with .ci/ric-install.sh`)
}
const describeRic = missing.length === 0 ? describe : describe.skip
const skipReason = missing.length === 0 ? '' : ` (skipped: not installed, run bash .ci/ric-install.sh — missing ${missing.join(', ')})`

const NEXT = 'GET /2018-06-01/runtime/invocation/next'
const b = backends()[0]!
const s3 = s3Client(b)
let bucket = ''
const taskRoot = join(outRoot, 'ric-streaming-task')
const lambdaTmp = mkdtempSync(join(tmpdir(), 'ric-streaming-'))

const startRuntime = (api: FakeLambdaApi): Child => spawnNode(nodeBin, [join(ricDir, 'index.mjs')], {
  cwd: taskRoot,
  env: {
    PATH: process.env.PATH,
    AWS_LAMBDA_RUNTIME_API: api.address,
    _HANDLER: 'index.streamed',
    LAMBDA_TASK_ROOT: taskRoot,
    AWS_LAMBDA_FUNCTION_NAME: 'ric-streaming-test',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/ric-streaming-test',
    AWS_LAMBDA_LOG_STREAM_NAME: 'stream',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_S3: b.s3Endpoint,
    SCRATCH_BUCKET: bucket,
    TMPDIR: lambdaTmp,
  },
})

interface Logged { what: string, fields: Record<string, any> }
/** The fixture's `<what> <json>` lines, in stdout order (the client's TEXT format puts the message 4th). */
const events = (child: Child): Logged[] => child.lines.flatMap((l) => {
  const m = /^(declared|chunk|cleanup-report) (\{.*\})$/.exec(l.split('\t').slice(3).join('\t'))
  return m === null ? [] : [{ what: m[1]!, fields: JSON.parse(m[2]!) as Record<string, any> }]
})

describeRic(`response streaming under the real runtime interface client (aws-lambda-ric ${RIC_VERSION}, Node >= 22)${skipReason}`, () => {
  let api: FakeLambdaApi | undefined
  let child: Child | undefined
  beforeAll(async () => {
    mkdirSync(taskRoot, { recursive: true })
    bundle(plainEsm, join(root, '__tests__', 'fixtures', 'streaming-ric-handler.ts'), taskRoot)
    bucket = await createBucket(s3, { prefix: 'ric-stream' })
  })
  afterEach(async () => {
    if (child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL')
    await child?.exited
    await api?.close()
    child = undefined
    api = undefined
  })
  afterAll(() => { s3.destroy(); rmSync(lambdaTmp, { recursive: true, force: true }) })

  it('the whole body is posted; every chunk is produced with the temp file and S3 object present; cleanup reports after the last chunk; both are gone when the client asks for the next event', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api)
    const start = Date.now()
    const inv = await api.invoke({})
    const responded = Date.now()
    await api.waitFor(NEXT, 2) // the handler's promise has settled: Lambda may freeze here
    const next = Date.now()

    expect(inv.error).toBeUndefined()
    expect(inv.responseHeaders?.['lambda-runtime-function-response-mode']).toBe('streaming')
    expect(inv.responseHeaders?.['transfer-encoding']).toBe('chunked')
    const raw = inv.raw ?? ''
    const sep = raw.indexOf('\u0000'.repeat(8))
    expect(JSON.parse(raw.slice(0, sep))).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' } })
    expect(raw.slice(sep + 8)).toBe(BODY)

    const log = events(child)
    const declared = log.find((e) => e.what === 'declared')!.fields as { file: string, key: string }
    const chunks = log.filter((e) => e.what === 'chunk')
    expect(chunks).toHaveLength(BODY.length / CHUNK)
    expect(chunks.filter((c) => c.fields.file !== true || c.fields.object !== true)).toEqual([])
    // one report, after the last chunk in stdout order
    expect(log.map((e) => e.what).slice(-2)).toEqual(['chunk', 'cleanup-report'])
    expect(log.filter((e) => e.what === 'cleanup-report').map((e) => [e.fields.exitPath, e.fields.failed])).toEqual([['success', 0]])
    expect(existsSync(declared.file)).toBe(false)
    expect(await objectExists(s3, bucket, declared.key)).toBe(false)
    expect(readdirSync(lambdaTmp)).toEqual([])

    const report = log.at(-1)!.fields.at as number
    if (process.env.MC_STREAM_TIMINGS !== undefined) {
      appendFileSync(process.env.MC_STREAM_TIMINGS, `${JSON.stringify({ what: 'aws-lambda-ric 4.0.2, Middy 7, fs stream through a 20 ms/chunk stage', firstChunkMs: chunks[0]!.fields.at - start, lastChunkMs: chunks.at(-1)!.fields.at - start, reportMs: report - start, responseReceivedMs: responded - start, nextMs: next - start })}\n`)
    }
  })

  // aws-lambda-ric 4.0.2 itself dies of an unhandled rejection when a streamed body fails
  // (its response promise is not awaited on that path: seen with a handler without
  // cleanup() as well), as the Node runtime process would on Lambda. What cleanup owes:
  // the invocation is cleaned before the handler's promise settles, so before that death.
  it('a body that fails half-way: cleaned (exit path error) before the handler\'s promise settles, i.e. before the client dies of the body\'s error', async () => {
    api = await startFakeLambdaApi()
    child = startRuntime(api)
    void api.invoke({ failAt: 5 })
    const exited = await child.exited
    expect(exited.code).not.toBe(0)
    expect(child.stderr()).toMatch(/Error: body failed at chunk 5/)
    const log = events(child)
    const declared = log.find((e) => e.what === 'declared')!.fields as { file: string, key: string }
    expect(log.filter((e) => e.what === 'chunk')).toHaveLength(6)
    expect(log.filter((e) => e.what === 'cleanup-report').map((e) => [e.fields.exitPath, e.fields.failed])).toEqual([['error', 0]])
    expect(existsSync(declared.file)).toBe(false)
    expect(await objectExists(s3, bucket, declared.key)).toBe(false)
    expect(readdirSync(lambdaTmp)).toEqual([])
  })
})
