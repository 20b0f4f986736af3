// G2 as a property: whatever a journal holds and whatever the allow-lists are, the
// resources replay deletes ⊆ (journaled ∩ allowed by today's config) — and, so the
// property cannot hold vacuously, every journaled-and-allowed one is deleted.
// 1. reviveJournal (what is handed to deletion) over random journal text and allow-lists;
// 2. end to end on the real embedded S3 + DynamoDB servers: a stale dir of a dead PID
//    with a random journal, one first invocation, then what is gone from the servers.
import { afterAll, beforeAll, describe, expect } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import type { S3Client } from '@aws-sdk/client-s3'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseJournal as parseWith, reviveJournal as reviveWith } from '../src/journal.js'
import { builtInKinds } from '../src/kinds.js'
import { resolveOptions } from '../src/options.js'
import { backends, createBucket, createTable, dynamoClient, s3Client } from './support/backends.js'
import { recordingLogger } from './support/middy.js'

// journal.ts is generic over kinds; read and revive with the built-in ones (kinds.ts), as the sweep does.
type JournalEntry =
  | { kind: 's3', bucket: string, key: string, versionIds: string[] }
  | { kind: 'dynamodb', table: string, key: Record<string, unknown>, doc: boolean }
const parseJournal = (bytes: Uint8Array) => parseWith(bytes, builtInKinds)
const reviveJournal = (entries: Parameters<typeof reviveWith>[0], config: ReturnType<typeof resolveOptions>) => reviveWith(entries, builtInKinds, config)

const server = fileURLToPath(new URL('./fixtures/journal-replay-server.ts', import.meta.url))

// The oracle, written independently of src/s3.ts: 'bucket' allows the bucket, 'bucket/p' keys starting with p.
const s3AllowedByOracle = (allow: readonly string[] | undefined, bucket: string, key: string): boolean =>
  allow !== undefined && allow.some((a) => {
    const slash = a.indexOf('/')
    return slash === -1 ? a === bucket : a.slice(0, slash) === bucket && key.startsWith(a.slice(slash + 1))
  })
const allowedByOracle = (e: JournalEntry, allowS3: readonly string[] | undefined, allowDynamodb: readonly string[] | undefined): boolean =>
  e.kind === 's3' ? s3AllowedByOracle(allowS3, e.bucket, e.key) : allowDynamodb !== undefined && allowDynamodb.includes(e.table)

const idOf = (e: { kind: string, bucket?: string, key?: unknown, table?: string }): string =>
  e.kind === 's3' ? `s3 ${e.bucket}/${String(e.key)}` : `dynamodb ${e.table} ${JSON.stringify(e.key)}`

// A field replaced by a value of the wrong type for that field: never a valid entry.
const notAString = fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }))
const wrongFor: Record<string, fc.Arbitrary<unknown>> = {
  bucket: notAString,
  table: notAString,
  versionIds: fc.oneof(fc.string(), fc.integer(), fc.constant([1]), fc.constant([''])),
  doc: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
}
const wrongTyped = (entry: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> =>
  fc.constantFrom(...Object.keys(entry).filter((k) => k !== 'kind')).chain((field) => {
    const wrong = field === 'key'
      ? entry.kind === 's3' ? fc.oneof(notAString, fc.constant('')) : fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant([]))
      : wrongFor[field]!
    return wrong.map((value) => ({ ...entry, [field]: value }))
  })

/** Journal lines: honest entries, wrong-typed ones, and junk; returns the text and the honest entries. */
const journalOf = (honest: fc.Arbitrary<JournalEntry>): fc.Arbitrary<{ text: string, journaled: JournalEntry[] }> =>
  fc.array(fc.oneof(
    { weight: 4, arbitrary: honest.map((e) => ({ line: JSON.stringify(e), entry: e as JournalEntry | undefined })) },
    { weight: 1, arbitrary: honest.chain((e) => wrongTyped(e as unknown as Record<string, unknown>)).map((e) => ({ line: JSON.stringify(e), entry: undefined })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).filter((s) => !s.includes('\n')).map((line) => ({ line, entry: undefined })) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 2 }).map((line) => ({ line, entry: undefined })) },
  ), { maxLength: 25 }).chain((lines) => fc.boolean().map((cut) => ({
    // a last line cut short by the kill
    text: lines.map((l) => l.line).join('\n') + (cut ? '\n{"kind":"s3","bucket":"b' : '\n'),
    journaled: lines.flatMap((l) => l.entry === undefined ? [] : [l.entry]),
  })))

const optionalSubset = <T>(values: T[]): fc.Arbitrary<T[] | undefined> => fc.option(fc.subarray(values), { nil: undefined })

describe('reviveJournal hands to deletion only journaled ∩ allowed', () => {
  const b = backends()[0]!
  const s3 = s3Client(b)
  const dynamodb = dynamoClient(b)
  afterAll(() => { s3.destroy(); dynamodb.destroy() })

  const honest: fc.Arbitrary<JournalEntry> = fc.oneof(
    fc.record({
      kind: fc.constant('s3' as const),
      bucket: fc.constantFrom('scratch', 'prod-data', 'other'),
      key: fc.tuple(fc.constantFrom('tmp/', 'data/', 'invoices/', 'tmpx', ''), fc.string({ minLength: 1, maxLength: 8 })).map(([p, s]) => p + s),
      versionIds: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 2 }),
    }),
    fc.record({
      kind: fc.constant('dynamodb' as const),
      table: fc.constantFrom('Scratch', 'Users', 'Other'),
      key: fc.string({ minLength: 1, maxLength: 8 }).map((pk) => ({ pk: { S: pk } }) as Record<string, unknown>),
      doc: fc.constant(false),
    }),
  )

  test.prop([
    journalOf(honest),
    optionalSubset(['scratch', 'scratch/tmp/', 'prod-data/tmp/', 'other/data/', 'nowhere']),
    optionalSubset(['Scratch', 'Other', 'Nowhere']),
  ], { numRuns: 200 })('random journals × random allow-lists', ({ text, journaled }, allowS3, allowDynamodb) => {
    const allow: Record<string, string[]> = {}
    if (allowS3 !== undefined) allow.s3 = allowS3
    if (allowDynamodb !== undefined) allow.dynamodb = allowDynamodb
    const config = resolveOptions({ s3, dynamodb, allow, logger: recordingLogger() })
    const read = parseJournal(Buffer.from(text))
    const { items, unconfigured } = reviveJournal(read.entries, config)
    const handed = new Set(items.map((i) => idOf(i.resource as unknown as JournalEntry)))
    const expected = new Set(journaled.filter((e) => allowedByOracle(e, allowS3, allowDynamodb)).map(idOf))
    for (const id of handed) expect(expected.has(id)).toBe(true) // ⊆ journaled ∩ allowed
    expect(handed).toEqual(expected) // and the replay is not vacuous
    for (const service of unconfigured) expect(service === 'allow.s3' ? allowS3 : allowDynamodb).toBeUndefined()
  })
})

describe('end to end on the embedded servers: deleted ⊆ journaled ∩ allowed', () => {
  const b = backends()[0]!
  let s3: S3Client
  let ddb: DynamoDBClient
  let child: ChildProcess
  let tmp: string
  const names: Record<string, string> = {}
  const replies: Array<(m: any) => void> = []
  const ask = (m: unknown): Promise<any> => new Promise((resolve) => { replies.push(resolve); child.send(m as object) })

  beforeAll(async () => {
    s3 = s3Client(b)
    ddb = dynamoClient(b)
    names.scratch = await createBucket(s3, { prefix: 'scratch' })
    names.prod = await createBucket(s3, { prefix: 'prod-data' })
    names.table = await createTable(ddb, { prefix: 'Scratch' })
    names.users = await createTable(ddb, { prefix: 'Users' })
    tmp = await mkdtemp(join(tmpdir(), 'mc-replay-prop-'))
    child = spawn(process.execPath, ['--import', 'tsx', server], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, TMPDIR: tmp, MC_REPLAY_SERVER: JSON.stringify({ s3Endpoint: b.s3Endpoint, dynamodbEndpoint: b.dynamodbEndpoint }) },
    })
    const ready = new Promise((resolve) => { replies.push(resolve) })
    child.on('message', (m) => replies.shift()?.(m))
    await ready
  }, 60_000)
  afterAll(async () => {
    if (child?.connected === true) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send('exit')
      await exited
    }
    await rm(tmp, { recursive: true, force: true })
    s3?.destroy()
    ddb?.destroy()
  })

  // The universe with placeholder names (the arbitraries exist before beforeAll made the real ones).
  const universe: JournalEntry[] = [
    ...([['@scratch', 'tmp/1'], ['@scratch', 'tmp/2'], ['@scratch', 'data/3'], ['@prod', 'invoices/2024.csv'], ['@prod', 'tmp/4']] as const)
      .map(([bucket, key]) => ({ kind: 's3' as const, bucket, key, versionIds: [] })),
    ...([['@table', 'a'], ['@table', 'b'], ['@users', 'user#1']] as const)
      .map(([table, pk]) => ({ kind: 'dynamodb' as const, table, key: { pk: { S: pk }, sk: { S: 'x' } }, doc: false })),
  ]
  const real = (n: string): string => n.replace(/^@?(scratch|prod|table|users)/, (_m, name: string) => names[name]!)
  const realEntry = (e: JournalEntry): JournalEntry => e.kind === 's3' ? { ...e, bucket: real(e.bucket) } : { ...e, table: real(e.table) }
  const dead = spawnSync('true').pid!
  let run = 0

  test.prop([
    journalOf(fc.constantFrom(...universe)),
    optionalSubset(['scratch', 'scratch/tmp/', 'prod/tmp/', 'elsewhere']),
    optionalSubset(['table', 'users', 'Elsewhere']),
  ], { numRuns: 15 })('random journal × random allow-lists, one first invocation each', async ({ text, journaled }, allowS3Names, allowDdbNames) => {
    const allowS3 = allowS3Names?.map(real)
    const allowDynamodb = allowDdbNames?.map(real)
    const things = universe.map(realEntry)
    const reply = await ask({
      universe: things.map((e) => e.kind === 's3' ? { kind: 's3', bucket: e.bucket, key: e.key } : { kind: 'dynamodb', table: e.table, key: e.key }),
      journal: text.replace(/"@(scratch|prod|table|users)"/g, (_m, name: string) => JSON.stringify(names[name])),
      dirName: `middy-cleanup-${dead}-0-${(++run).toString(36).padStart(16, '0')}`,
      allowS3, allowDynamodb,
    })
    expect(reply.error).toBeUndefined()
    const gone = new Set((reply.gone as number[]).map((i) => idOf(things[i]!)))
    const expected = new Set(journaled.map(realEntry).filter((e) => allowedByOracle(e, allowS3, allowDynamodb)).map(idOf))
    for (const id of gone) expect(expected.has(id)).toBe(true) // ⊆ journaled ∩ allowed
    expect(gone).toEqual(expected)
    expect(reply.dirLeft).toBe(false)
  }, 60_000)
})
