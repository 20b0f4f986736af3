// G2's journal, codec level: what a scope writes for a resource is what the next process
// reads back and revives — encode → line → parse → revive gives the declaration again for
// any valid S3 object or DynamoDB item (keys with newlines, quotes, any Unicode, lone
// surrogates; versions; both DynamoDB client kinds); a key JSON cannot carry is not
// journaled; bad lines are counted, never thrown; lines of kinds the process does not know
// are skipped and counted; and journal.ts itself knows no kind (a test-only kind works the
// same, and is refused without its allow-list). Clients are never sent anything.
import { afterAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { dynamoDeleter, dynamoResource } from '../src/dynamodb.js'
import { type JournalEntry, checkJournalEntry, journalLine, parseJournal, reviveJournal } from '../src/journal.js'
import { resolveOptions } from '../src/options.js'
import type { JournalCodec, KindsMap, RemoteKind, RemoteResource } from '../src/remote-kind.js'
import { s3Deleter, s3Resource } from '../src/s3.js'
import { recordingLogger } from './support/middy.js'

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const s3 = new S3Client({ region: 'us-east-1', credentials })
const plain = new DynamoDBClient({ region: 'us-east-1', credentials })
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }))
afterAll(() => { s3.destroy(); plain.destroy(); doc.destroy() })

const kinds = new Map<string, unknown>([['s3', s3Deleter], ['dynamodb', dynamoDeleter]]) as unknown as KindsMap<ReturnType<typeof resolveOptions>>
const bytes = (...lines: string[]): Buffer => Buffer.from(lines.map((l) => `${l}\n`).join(''))

// Any text, including what JSON must escape and what splits lines.
const text = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }),
  fc.constantFrom('tmp/a\nb', 'tmp/"q"\\', 'tmp/\u2028\u2029', 'tmp/\ud800', 'tmp/\r\n{"kind":"s3"}', 'tmp/ü/😀'),
)
const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/)
const tableName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{2,20}$/)

describe('encode → line → parse → revive is the declaration', () => {
  test.prop([bucket, text, fc.array(fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }), { maxLength: 3 })], { numRuns: 150 })('S3 objects', (b, key, versionIds) => {
    const config = resolveOptions({ s3, allow: { s3: [b] }, logger: recordingLogger() })
    const declared = s3Resource('s3Object', { bucket: b, key }, config)
    declared.versionIds.push(...versionIds)
    const line = journalLine(declared, s3Deleter.journal)!
    expect(line.includes('\n')).toBe(false)
    expect(Object.keys(JSON.parse(line))).toEqual(['kind', 'bucket', 'key', 'versionIds'])
    const read = parseJournal(bytes(line), kinds)
    expect(read).toEqual({ entries: [{ kind: 's3', bucket: b, key, versionIds }], malformed: 0, truncated: false, ignored: undefined })
    const { items, refused } = reviveJournal(read.entries, kinds, config)
    expect(refused).toEqual([])
    expect(items).toHaveLength(1)
    expect(items[0]!.deleter).toBe(s3Deleter) // batches with what scopes declared
    expect(items[0]).toMatchObject({ type: 'remote', kind: 's3', id: declared.id, attempts: 0 })
    expect(items[0]!.resource).toMatchObject({ kind: 's3', id: declared.id, bucket: b, key, versionIds })
    expect(items[0]!.resource.client).toBe(s3)
  })

  const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/)
  const avValue = fc.oneof(text.map((S) => ({ S })), fc.integer().map((v) => ({ N: String(v) })))
  const plainValue = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
  const keyOf = <V>(value: fc.Arbitrary<V>): fc.Arbitrary<Record<string, V>> =>
    fc.uniqueArray(fc.tuple(name, value), { minLength: 1, maxLength: 2, selector: ([n]) => n }).map((pairs) => Object.fromEntries(pairs))

  test.prop([fc.boolean(), keyOf(avValue), keyOf(plainValue), tableName], { numRuns: 150 })('DynamoDB items, both client kinds', (isDoc, avKey, plainKey, table) => {
    const config = resolveOptions({ dynamodb: isDoc ? doc : plain, allow: { dynamodb: [table] }, logger: recordingLogger() })
    const key = isDoc ? plainKey : avKey
    const declared = dynamoResource('dynamodbItem', { table, key }, config)
    const line = journalLine(declared, dynamoDeleter.journal)!
    expect(Object.keys(JSON.parse(line))).toEqual(['kind', 'table', 'key', 'doc'])
    const read = parseJournal(bytes(line), kinds)
    expect(read.malformed).toBe(0)
    expect(read.entries).toEqual([{ kind: 'dynamodb', table, key: JSON.parse(JSON.stringify(key)), doc: isDoc }])
    const { items, refused } = reviveJournal(read.entries, kinds, config)
    expect(refused).toEqual([])
    expect(items[0]!.deleter).toBe(dynamoDeleter)
    expect(items[0]!.resource).toMatchObject({ kind: 'dynamodb', id: declared.id, table, doc: isDoc })
    expect(items[0]!.resource.client).toBe(config.dynamodb)
    expect((items[0]!.resource as unknown as { norm: string }).norm).toBe((declared as unknown as { norm: string }).norm)
  })

  it('a key JSON cannot carry (binary) is not journaled; a kind without a codec neither', () => {
    const config = resolveOptions({ dynamodb: plain, allow: { dynamodb: ['Tbl'] }, logger: recordingLogger() })
    expect(journalLine(dynamoResource('dynamodbItem', { table: 'Tbl', key: { pk: { B: new Uint8Array([1, 2]) } } }, config), dynamoDeleter.journal)).toBeUndefined()
    expect(journalLine({ kind: 'redis', id: 'redis://k' }, undefined)).toBeUndefined()
  })
})

// An independent oracle of a valid built-in line (the codecs' rules written out again).
const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== ''
const validByOracle = (v: unknown): boolean => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  const keys = Object.keys(o).sort().join()
  if (o.kind === 's3') return keys === 'bucket,key,kind,versionIds' && nonEmpty(o.bucket) && nonEmpty(o.key) && Array.isArray(o.versionIds) && o.versionIds.every(nonEmpty)
  if (o.kind === 'dynamodb') return keys === 'doc,key,kind,table' && nonEmpty(o.table) && typeof o.key === 'object' && o.key !== null && !Array.isArray(o.key) && typeof o.doc === 'boolean'
  return false
}
const lineValid = (line: string): boolean => { try { return validByOracle(JSON.parse(line)) } catch { return false } }

describe('bad lines are counted and skipped, never thrown', () => {
  const honest = fc.oneof(
    fc.record({ kind: fc.constant('s3'), bucket: fc.constantFrom('b1', 'b2'), key: text, versionIds: fc.array(fc.constantFrom('v1', 'v2'), { maxLength: 2 }) }),
    fc.record({ kind: fc.constant('dynamodb'), table: fc.constantFrom('T1', 'T2'), key: fc.constant({ pk: { S: 'a' } }), doc: fc.boolean() }),
  )
  const unknownKind = fc.record({ kind: fc.constantFrom('redis', 'S3', 's3 ', 'memo', '', 'constructor', '__proto__'), bucket: fc.constant('b'), key: fc.constant('k'), versionIds: fc.constant([]) })
  const junk = fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.json({ maxDepth: 2 }), unknownKind.map((o) => JSON.stringify(o)), honest.map((o) => JSON.stringify(o).slice(0, -3)))
    .filter((l) => !l.includes('\n') && l.trim() !== '' && !lineValid(l))
  const line = fc.oneof({ weight: 2, arbitrary: honest.map((o) => ({ line: JSON.stringify(o), entry: o as unknown })) }, { weight: 2, arbitrary: junk.map((l) => ({ line: l, entry: undefined as unknown })) })

  test.prop([fc.array(line, { maxLength: 30 })], { numRuns: 200 })('random journals', (lines) => {
    let read!: ReturnType<typeof parseJournal>
    expect(() => { read = parseJournal(bytes(...lines.map((l) => l.line)), kinds) }).not.toThrow()
    expect(read.entries).toEqual(lines.flatMap((l) => l.entry === undefined ? [] : [l.entry]))
    expect(read.malformed).toBe(lines.filter((l) => l.entry === undefined).length)
    expect(read.truncated).toBe(false)
  })

  it('a line of an unknown kind is skipped and counted, even shaped like a known one', () => {
    const read = parseJournal(bytes('{"kind":"redis","bucket":"b","key":"k","versionIds":[]}', '{"kind":"s3","bucket":"b","key":"k","versionIds":[]}', '{"kind":"__proto__"}'), kinds)
    expect(read.entries).toEqual([{ kind: 's3', bucket: 'b', key: 'k', versionIds: [] }])
    expect(read.malformed).toBe(2)
  })
})

// A kind journal.ts has never heard of: it works through its codec alone.
interface Memo extends RemoteResource { kind: 'memo', id: string, slot: string }
interface MemoConfig { memoAllowed?: readonly string[] }
const memoCodec: JournalCodec<Memo, MemoConfig> = {
  encode: (r) => r.slot === 'binary' ? undefined : { slot: r.slot, kind: 'forged' },
  parse: (f) => {
    if (f.slot === 'throws') throw new Error('a parse that throws')
    return typeof f.slot === 'string' && Object.keys(f).length === 1 ? { slot: f.slot } : undefined
  },
  allowList: 'allow.memo',
  configured: (config) => config.memoAllowed !== undefined,
  revive: (e: { slot: string }, config) => {
    if (!config.memoAllowed!.includes(e.slot)) throw new Error(`slot '${e.slot}' is outside allow.memo`)
    return { kind: 'memo', id: `memo://${e.slot}`, slot: e.slot }
  },
  show: (e: { slot: string }) => { if (e.slot === 'unshowable') throw new Error('no'); return `memo ${e.slot}` },
}
const memoKind: RemoteKind<Memo, MemoConfig> = { kind: 'memo', delete: async (resources) => ({ cleaned: resources, failed: [] }), journal: memoCodec }
const memoKinds = new Map([['memo', memoKind]]) as unknown as KindsMap<MemoConfig>

describe('journal.ts knows no kind: a test-only one goes through its codec alone', () => {
  it('its line starts with its kind, which encode cannot forge; no codec answer, no line', () => {
    expect(journalLine({ kind: 'memo', id: 'memo://a', slot: 'a' }, memoCodec)).toBe('{"kind":"memo","slot":"a"}')
    expect(journalLine({ kind: 'memo', id: 'memo://b', slot: 'binary' }, memoCodec)).toBeUndefined()
  })

  it('parsed and revived with its config; unknown to a map without it; a throwing parse is a malformed line', () => {
    const journal = bytes('{"kind":"memo","slot":"a"}', '{"kind":"memo","slot":"throws"}', '{"kind":"memo","slot":1}')
    expect(parseJournal(journal, memoKinds)).toEqual({ entries: [{ kind: 'memo', slot: 'a' }], malformed: 2, truncated: false, ignored: undefined })
    expect(parseJournal(journal, kinds)).toMatchObject({ entries: [], malformed: 3 })
    expect(checkJournalEntry({ kind: 'memo', slot: 'a' }, memoKinds)).toEqual({ kind: 'memo', slot: 'a' })
    const { items, refused, unconfigured } = reviveJournal([{ kind: 'memo', slot: 'a' }, { kind: 'memo', slot: 'z' }], memoKinds, { memoAllowed: ['a'] })
    expect(items.map((i) => [i.id, i.deleter === memoKind])).toEqual([['memo://a', true]])
    expect(refused).toEqual(["memo z: slot 'z' is outside allow.memo"])
    expect(unconfigured).toEqual([])
  })

  it('without its allow-list nothing is revived: each entry refused, the allow-list named once', () => {
    const entries: JournalEntry[] = [{ kind: 'memo', slot: 'a' }, { kind: 'memo', slot: 'b' }, { kind: 'memo', slot: 'unshowable' }]
    const { items, refused, unconfigured } = reviveJournal(entries, memoKinds, {})
    expect(items).toEqual([])
    expect(unconfigured).toEqual(['allow.memo'])
    expect(refused).toEqual(['memo a: allow.memo is not configured', 'memo b: allow.memo is not configured', 'memo: allow.memo is not configured'])
  })

  it('what a refusal shows is cut at 200 characters', () => {
    const slot = 'x'.repeat(300)
    const { refused } = reviveJournal([{ kind: 'memo', slot }], memoKinds, {})
    expect(refused).toEqual([`memo ${slot}`.slice(0, 200) + '…: allow.memo is not configured'])
  })
})
