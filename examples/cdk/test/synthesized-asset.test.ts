// Runs against what `cdk synth` produced (examples/cdk/cdk.out): the template has the
// function, runtime and IAM policy docs/recipes.md gives, and the bundled asset
// (asset.<hash>/index.mjs, built by NodejsFunction with the local esbuild) loads in a fresh
// node, registers the extension with a Lambda-like API, runs one invocation against the
// embedded S3/DynamoDB servers, leaves nothing behind, and exits 0 on SIGTERM.
// Run by .ci/cdk-check.sh after the synth (npm run synth in examples/cdk);
// `jest --roots examples/cdk/test` keeps it out of the default `npm test`.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { backends, createBucket, createTable, dynamoClient, itemExists, objectExists, s3Client } from '../../../__tests__/support/backends.js'
import { spawnNode } from '../../../__tests__/support/child.js'
import { startFakeLambdaApi, type FakeLambdaApi } from '../../../__tests__/support/fake-lambda-api.js'

const cdkOut = fileURLToPath(new URL('../cdk.out/', import.meta.url))
const templatePath = join(cdkOut, 'MiddyCleanupExample.template.json')
if (!existsSync(templatePath)) throw new Error(`${templatePath} is missing: run \`npm run synth\` in examples/cdk first (.ci/cdk-check.sh does)`)

interface Resource { Type: string, Properties: any, Metadata?: Record<string, unknown> }
const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, Resource> }
const byType = (type: string): Array<[string, Resource]> => Object.entries(template.Resources).filter(([, r]) => r.Type === type)
const [fnId, fn] = byType('AWS::Lambda::Function').find(([, r]) => r.Properties.Handler === 'index.handler')!
const logicalId = (type: string): string => byType(type)[0]![0]

describe('the synthesized template', () => {
  it('has the function on nodejs22.x (ESM asset index.mjs), its environment, and the IAM statements of docs/recipes.md', () => {
    expect(fn.Properties.Runtime).toBe('nodejs22.x')
    expect(fn.Properties.Architectures).toEqual(['arm64'])
    const bucket = logicalId('AWS::S3::Bucket')
    const table = logicalId('AWS::DynamoDB::GlobalTable')
    expect(fn.Properties.Environment.Variables).toEqual({ S3_SCRATCH_BUCKET: { Ref: bucket }, JOBS_TABLE: { Ref: table } })
    const roleRef = fn.Properties.Role['Fn::GetAtt'][0] as string
    const policies = byType('AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
    expect(policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/tmp/*']] } },
      { Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:DescribeTable', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem'], Resource: { 'Fn::GetAtt': [table, 'Arn'] } },
    ])
    // lifecycle rule (backstop) and TTL, as the recipes say
    const [, b] = byType('AWS::S3::Bucket')[0]!
    expect(b.Properties.LifecycleConfiguration.Rules).toEqual([expect.objectContaining({ Prefix: 'tmp/', ExpirationInDays: 1, Status: 'Enabled' })])
    const [, t] = byType('AWS::DynamoDB::GlobalTable')[0]!
    expect(t.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true })
    expect(fnId).toMatch(/^Fn/)
  })
})

describe('the synthesized asset (cdk.out/asset.*/index.mjs)', () => {
  const asset = join(cdkOut, String(fn.Metadata?.['aws:asset:path']), 'index.mjs')
  const b = backends().find((x) => x.name === 'embedded')!
  const s3 = s3Client(b)
  const ddb = dynamoClient(b)
  let api: FakeLambdaApi
  let bucket = ''
  let table = ''
  // the function's /tmp: its own, so its start-of-process sweep meets no other test's dirs
  const lambdaTmp = mkdtempSync(join(tmpdir(), 'cdk-asset-'))
  beforeAll(async () => {
    api = await startFakeLambdaApi()
    bucket = await createBucket(s3, { prefix: 'cdk' })
    table = await createTable(ddb, { prefix: 'cdk' })
  })
  afterAll(async () => { await api.close(); s3.destroy(); ddb.destroy(); rmSync(lambdaTmp, { recursive: true, force: true }) })

  it('is an ES module bundle with the CDK banner and the package from node_modules, @aws-sdk/* left to the runtime', () => {
    const code = readFileSync(asset, 'utf8')
    expect(code.startsWith("import { createRequire } from 'module'; const require = createRequire(import.meta.url);")).toBe(true)
    // esbuild's per-module comments name what was bundled: the installed package (the
    // packed tarball in CI), not the repository's sources
    expect(code).toMatch(/^\/\/ node_modules\/middy-cleanup\/dist\/index\.js$|^\/\/ \.\.\/\.\.\/dist\/index\.js$/m)
    expect(code).not.toMatch(/^\/\/ .*src\/index\.ts$/m)
    expect(code).toMatch(/from "@aws-sdk\/client-s3"/)
  })

  it('loads in a fresh node, registers the extension, runs one invocation with nothing left behind, and exits 0 on SIGTERM', async () => {
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_OPTIONS' && !k.startsWith('AWS_LAMBDA_')) env[k] = v
    Object.assign(env, {
      AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_S3: b.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: b.dynamodbEndpoint,
      S3_SCRATCH_BUCKET: bucket, JOBS_TABLE: table, AWS_LAMBDA_RUNTIME_API: api.address, ASSET: asset, TMPDIR: lambdaTmp,
    })
    const child = spawnNode(process.execPath, ['--input-type=module', '-e', `
      const { pathToFileURL } = await import('node:url')
      const { handler } = await import(pathToFileURL(process.env.ASSET).href)
      const r = await handler({ jobId: ${JSON.stringify(randomUUID())}, frames: 3 }, { awsRequestId: 'cdk-1', getRemainingTimeInMillis: () => 30000 })
      console.log('result ' + JSON.stringify(r))
      setInterval(() => {}, 1 << 30)`], { env })
    const line = await child.waitForLine(/^result /)
    const r = JSON.parse(line.slice('result '.length)) as { dir: string, keys: string[], progress: Record<string, { S: string }> }

    // the extension's event/next is sent, not awaited, once registered
    await api.waitFor('GET /2020-01-01/extension/event/next')
    expect(api.log).toEqual(['POST /2020-01-01/extension/register', 'GET /2020-01-01/extension/event/next'])
    expect(r.keys).toHaveLength(3)
    expect(existsSync(r.dir)).toBe(false)
    expect(readdirSync(lambdaTmp)).toEqual([])
    for (const key of r.keys) expect(await objectExists(s3, bucket, key)).toBe(false)
    expect(await itemExists(ddb, table, r.progress)).toBe(false)

    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.lines.filter((l) => l.startsWith('shutdown: SIGTERM handled'))).toHaveLength(1)
    expect(child.stderr()).toBe('')
  })
})
