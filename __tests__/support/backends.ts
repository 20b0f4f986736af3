// Test helpers over the real S3 + DynamoDB servers started by global-setup.mjs.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, jest } from '@jest/globals'
import { Agent, request } from 'node:http'
import {
  CreateBucketCommand, HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutBucketVersioningCommand,
  DeleteObjectsCommand, S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3'
import {
  CreateTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue, type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import type { BackendInfo } from '../../test-support/servers.mjs'
import { BACKENDS_ENV } from '../../test-support/servers.mjs'

export type { BackendInfo }

/**
 * The backends globalSetup started, for `describe.each(backends())('$name', (b) => …)`.
 * Embedded (fauxqs + dynalite) always; moto when moto_server is on PATH.
 */
export const backends = (): BackendInfo[] => {
  const raw = process.env[BACKENDS_ENV]
  if (raw === undefined || raw === '') {
    throw new Error(`${BACKENDS_ENV} is not set: run the tests through jest with __tests__/support/global-setup.mjs as globalSetup (npm test).`)
  }
  return JSON.parse(raw) as BackendInfo[]
}

/** Short unique suffix, lowercase (valid in bucket names). */
export const uid = (): string => `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`

/** Any SDK v3 client (a DynamoDBDocumentClient sends low-level commands too). */
export interface Sender { send: (command: any) => Promise<any> }

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }

export const s3Client = (b: BackendInfo, extra: Partial<S3ClientConfig> = {}): S3Client => new S3Client({
  endpoint: b.s3Endpoint,
  region: 'us-east-1',
  credentials,
  forcePathStyle: true,
  // streams of unknown length need it (SDK-side limit); DeleteObjects still gets its required checksum
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  ...extra,
})

export const dynamoClient = (b: BackendInfo, extra: Partial<DynamoDBClientConfig> = {}): DynamoDBClient => new DynamoDBClient({
  endpoint: b.dynamodbEndpoint,
  region: 'us-east-1',
  credentials,
  ...extra,
})

export const docClient = (b: BackendInfo, extra: Partial<DynamoDBClientConfig> = {}): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(dynamoClient(b, extra))

/** Creates a bucket with a unique name (`versioned` only means something on moto). */
export const createBucket = async (s3: S3Client, { prefix = 'mc', versioned = false }: { prefix?: string, versioned?: boolean } = {}): Promise<string> => {
  const bucket = `${prefix}-${uid()}`
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  if (versioned) await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  return bucket
}

/** Creates a table `pk` (S) [+ `sk` (S)] with a unique name, on-demand. */
export const createTable = async (
  ddb: Sender,
  { prefix = 'mc', range = true, hashKey = 'pk', rangeKey = 'sk' }: { prefix?: string, range?: boolean, hashKey?: string, rangeKey?: string } = {},
): Promise<string> => {
  const table = `${prefix}-${uid()}`
  await ddb.send(new CreateTableCommand({
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: hashKey, AttributeType: 'S' }, ...(range ? [{ AttributeName: rangeKey, AttributeType: 'S' as const }] : [])],
    KeySchema: [{ AttributeName: hashKey, KeyType: 'HASH' }, ...(range ? [{ AttributeName: rangeKey, KeyType: 'RANGE' as const }] : [])],
  }))
  return table
}

const status = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode

/** HeadObject on the server: true when the object (or that version) exists. */
export const objectExists = async (s3: S3Client, bucket: string, key: string, versionId?: string): Promise<boolean> => {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))
    return true
  } catch (e) {
    const name = (e as Error).name
    if (status(e) === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion') return false
    // moto answers a HEAD on a deleted version with 400/405 depending on version: treat "not there" codes as gone
    if (versionId !== undefined && (status(e) === 400 || status(e) === 405)) return false
    throw e
  }
}

/** Which of `keys` still exist (HeadObject each, 32 at a time). */
export const existingKeys = async (s3: S3Client, bucket: string, keys: readonly string[]): Promise<string[]> => {
  const out: string[] = []
  for (let i = 0; i < keys.length; i += 32) {
    const chunk = keys.slice(i, i + 32)
    const found = await Promise.all(chunk.map(async (k) => await objectExists(s3, bucket, k) ? k : undefined))
    for (const k of found) if (k !== undefined) out.push(k)
  }
  return out
}

/**
 * Test fixtures only: PUTs objects with plain HTTP (path-style, unsigned — both emulators
 * accept it), 32 at a time over keep-alive. Much faster than the SDK under jest's VM
 * modules, which matters for the thousands of objects of the scale tests.
 */
export const putObjectsFast = async (b: BackendInfo, bucket: string, keys: readonly string[], body = 'x'): Promise<void> => {
  const u = new URL(b.s3Endpoint)
  const agent = new Agent({ keepAlive: true, maxSockets: 32 })
  const one = (key: string): Promise<void> => new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, method: 'PUT', agent,
      path: `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      headers: { 'content-length': Buffer.byteLength(body), 'content-type': 'application/octet-stream' },
    }, (res) => {
      res.resume()
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${bucket}/${key}: HTTP ${res.statusCode}`)))
    })
    req.on('error', reject)
    req.end(body)
  })
  try {
    for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map(one))
  } finally { agent.destroy() }
}

/** Keys under `prefix` that exist on the server (ListObjectsV2, all pages). */
export const listKeys = async (s3: S3Client, bucket: string, prefix = ''): Promise<string[]> => {
  const out: string[] = []
  let token: string | undefined
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    for (const o of r.Contents ?? []) if (o.Key !== undefined) out.push(o.Key)
    token = r.IsTruncated === true ? r.NextContinuationToken : undefined
  } while (token !== undefined)
  return out
}

/** Every version (and delete marker) id still in a versioned bucket for `key`. */
export const versionsOf = async (s3: S3Client, bucket: string, key: string): Promise<{ versions: string[], deleteMarkers: string[] }> => {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))
  return {
    versions: (r.Versions ?? []).filter((v) => v.Key === key).map((v) => v.VersionId ?? 'null'),
    deleteMarkers: (r.DeleteMarkers ?? []).filter((v) => v.Key === key).map((v) => v.VersionId ?? 'null'),
  }
}

/** GetItem (consistent) on the server: true when the item exists. Key as AttributeValues. */
export const itemExists = async (ddb: Sender, table: string, key: Record<string, AttributeValue>): Promise<boolean> => {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true })) as { Item?: unknown }
  return r.Item !== undefined
}

/** Empties a bucket (test teardown helper; not the code under test). */
export const emptyBucket = async (s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> => {
  for (let i = 0; i < keys.length; i += 1000) {
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }))
  }
}

/** Counts, per command name, the commands sent (`sends`) and the HTTP attempts (`attempts`, retries included). */
export interface RequestCounter {
  sends: Record<string, number>
  attempts: Record<string, number>
  total: (name?: string) => number
  totalAttempts: (name?: string) => number
  reset: () => void
  /** removes the counting middlewares from the client */
  detach: () => void
}

interface StackClient { middlewareStack: { add: (mw: any, opts: any) => void, remove: (name: string) => boolean } }

/**
 * Adds two middlewares to a (test-owned) client: one at `initialize` (once per send) and
 * one at `deserialize` (inside the SDK's retry loop: once per HTTP attempt).
 */
export const countRequests = (client: StackClient): RequestCounter => {
  const counter: RequestCounter = {
    sends: {},
    attempts: {},
    total: (name) => name === undefined ? Object.values(counter.sends).reduce((a, b) => a + b, 0) : counter.sends[name] ?? 0,
    totalAttempts: (name) => name === undefined ? Object.values(counter.attempts).reduce((a, b) => a + b, 0) : counter.attempts[name] ?? 0,
    reset: () => { counter.sends = {}; counter.attempts = {} },
    detach: () => { client.middlewareStack.remove(sendsName); client.middlewareStack.remove(attemptsName) },
  }
  const sendsName = `testCountSends-${uid()}`
  const attemptsName = `testCountAttempts-${uid()}`
  const bump = (map: 'sends' | 'attempts', name: string): void => { counter[map][name] = (counter[map][name] ?? 0) + 1 }
  client.middlewareStack.add((next: any, context: any) => async (args: any) => {
    bump('sends', context.commandName ?? 'unknown')
    return next(args)
  }, { step: 'initialize', name: sendsName, priority: 'high' })
  client.middlewareStack.add((next: any, context: any) => async (args: any) => {
    bump('attempts', context.commandName ?? 'unknown')
    return next(args)
  }, { step: 'deserialize', name: attemptsName, priority: 'high' })
  return counter
}

/** A logger that records what it is given (and stays quiet). */
export const recordingLogger = () => {
  const lines: string[] = []
  const rec = (level: string) => jest.fn((msg: unknown, ..._extra: unknown[]) => { lines.push(`${level}: ${String(msg)}`) })
  return { warn: rec('warn'), error: rec('error'), debug: rec('debug'), info: rec('info'), lines: (): string[] => lines }
}

/** Real clients, a fresh bucket and a fresh table on one backend, for one describe block. */
export interface BackendEnv { s3: S3Client, ddb: DynamoDBClient, bucket: string, table: string }

/**
 * Makes a {@link BackendEnv} in `beforeAll` (handed to `use`, which keeps what it
 * needs) and destroys the clients in `afterAll`.
 */
export const withBackend = (b: BackendInfo, use: (env: BackendEnv) => void, table?: Parameters<typeof createTable>[1]): void => {
  let env: BackendEnv | undefined
  beforeAll(async () => {
    const s3 = s3Client(b)
    const ddb = dynamoClient(b)
    env = { s3, ddb, bucket: await createBucket(s3), table: await createTable(ddb, table) }
    use(env)
  })
  afterAll(() => { env?.s3.destroy(); env?.ddb.destroy() })
}
