// Each documented bundling recipe (docs/recipes.md: CDK NodejsFunction ESM with its
// banner, SDK external and bundled; the SAM esbuild snippet and its tested alternatives)
// bundles a handler that uses cleanup() + shutdown() + onShutdown(); each bundle is loaded
// in a fresh `node` (as the runtime loads index.mjs) against a Lambda-like Extensions API,
// runs one invocation against the embedded S3/DynamoDB servers, and gets SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { backends, createBucket, createTable, dynamoClient, itemExists, objectExists, s3Client } from './support/backends.js'
import { bundle, recipes, root, samWithoutBanner, type Recipe } from './support/bundling-recipes.mjs'
import { spawnNode } from './support/child.js'
import { startFakeLambdaApi, type FakeLambdaApi } from './support/fake-lambda-api.js'

const entry = join(root, '__tests__', 'fixtures', 'bundling-handler.ts')
const b = backends()[0]!
const s3 = s3Client(b)
const ddb = dynamoClient(b)
let bucket = ''
let table = ''
// The children's os.tmpdir(): their own, so that their start-of-process sweep never meets
// the dirs of other test processes on this machine (and this test sees only theirs).
const childTmp = mkdtempSync(join(tmpdir(), 'bundling-test-'))

// What the runtime client does once the module is loaded: one invocation, then it stays
// alive (on Lambda: frozen in /runtime/invocation/next) until SIGTERM.
const RUNNER = `
const { pathToFileURL } = await import('node:url')
const { handler } = await import(pathToFileURL(process.env.BUNDLE).href)
const result = await handler({ id: process.env.EVENT_ID }, { awsRequestId: process.env.REQUEST_ID, getRemainingTimeInMillis: () => 30000 })
console.log('result ' + JSON.stringify(result))
setInterval(() => {}, 1 << 30)
`

const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    // jest's NODE_OPTIONS (vm modules) and any Lambda variables of the host stay out
    if (k === 'NODE_OPTIONS' || k.startsWith('AWS_LAMBDA_') || k.startsWith('JEST_')) continue
    env[k] = v
  }
  return {
    ...env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_S3: b.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: b.dynamodbEndpoint,
    SCRATCH_BUCKET: bucket,
    JOBS_TABLE: table,
    TMPDIR: childTmp,
    ...extra,
  }
}

beforeAll(async () => {
  bucket = await createBucket(s3, { prefix: 'bundling' })
  table = await createTable(ddb, { prefix: 'bundling' })
})
afterAll(() => { s3.destroy(); ddb.destroy(); rmSync(childTmp, { recursive: true, force: true }) })

const run = async (recipe: Recipe, api: FakeLambdaApi) => {
  const { file, bytes } = bundle(recipe, entry)
  const child = spawnNode(process.execPath, ['--input-type=module', '-e', RUNNER], {
    env: childEnv({ BUNDLE: file, EVENT_ID: randomUUID(), REQUEST_ID: `bundling-${recipe.name}`, AWS_LAMBDA_RUNTIME_API: api.address }),
  })
  return { child, bytes }
}

describe.each(recipes.map((r) => [r.name, r] as const))('bundled with the %s recipe', (_name, recipe) => {
  let api: FakeLambdaApi
  beforeAll(async () => { api = await startFakeLambdaApi() })
  afterAll(async () => { await api.close() })

  it('loads in a fresh node, registers the extension, leaves no temp file, S3 object or DynamoDB item, and tears down on SIGTERM', async () => {
    const { child, bytes } = await run(recipe, api)
    expect(bytes).toBeGreaterThan(0)

    const line = await child.waitForLine(/^result /)
    const result = JSON.parse(line.slice('result '.length)) as {
      file: string, bucket: string, key: string, table: string, item: Record<string, { S: string }>
    }
    expect(child.lines).toContain('extension: registered')
    expect(api.registrations).toEqual([expect.objectContaining({ name: 'middy-cleanup', events: [] })])
    // the extension's event/next is sent, not awaited, once registered
    await api.waitFor('GET /2020-01-01/extension/event/next')
    expect(api.log).toEqual(['POST /2020-01-01/extension/register', 'GET /2020-01-01/extension/event/next'])

    // the handler really created them (the paths/keys are its own), and cleanup removed them
    expect(result.file.startsWith('/')).toBe(true)
    expect(existsSync(result.file)).toBe(false)
    expect(existsSync(dirname(result.file))).toBe(false)
    expect(dirname(dirname(result.file))).toBe(childTmp)
    expect(readdirSync(childTmp)).toEqual([])
    expect(await objectExists(s3, result.bucket, result.key)).toBe(false)
    expect(await itemExists(ddb, result.table, result.item)).toBe(false)

    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.lines).toContain('teardown: clients destroyed')
    expect(child.lines.filter((l) => l.startsWith('shutdown: SIGTERM handled'))).toHaveLength(1)
    expect(child.stderr()).toBe('')
  })
})

describe('what docs/recipes.md warns against', () => {
  it("SAM's ESM flags without a banner, SDK bundled: the bundle fails at load with esbuild's dynamic-require error", async () => {
    const api = await startFakeLambdaApi()
    try {
      const { child } = await run(samWithoutBanner, api)
      const exit = await child.exited
      expect(exit.code).not.toBe(0)
      expect(child.stderr()).toMatch(/Dynamic require of "node:\w+" is not supported/)
      expect(child.lines.some((l) => l.startsWith('result '))).toBe(false)
    } finally {
      await api.close()
    }
  })
})
