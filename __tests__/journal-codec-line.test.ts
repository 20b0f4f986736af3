// The codecs' hand-built journal lines (codec.line, the fast path journalLine takes) are
// byte for byte the generic line, JSON.stringify({ kind, ...encode(r) }): any key text
// (what JSON must escape, line separators, lone surrogates), versions, both DynamoDB client
// kinds, and a binary key (not journaled by either). Clients are never sent anything.
import { afterAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { dynamoDeleter, dynamoResource } from '../src/dynamodb.js'
import { journalLine } from '../src/journal.js'
import { resolveOptions } from '../src/options.js'
import type { JournalCodec, RemoteResource } from '../src/remote-kind.js'
import { s3Deleter, s3Resource } from '../src/s3.js'
import { recordingLogger } from './support/middy.js'

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const s3 = new S3Client({ region: 'us-east-1', credentials })
const plain = new DynamoDBClient({ region: 'us-east-1', credentials })
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }))
afterAll(() => { s3.destroy(); plain.destroy(); doc.destroy() })

const generic = <R extends RemoteResource>(r: R, codec: JournalCodec<R, any>): string | undefined => {
  const fields = codec.encode(r)
  return fields === undefined ? undefined : JSON.stringify({ kind: r.kind, ...fields })
}

const text = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }),
  fc.constantFrom('tmp/a\nb', 'tmp/"q"\\', 'tmp/\u2028\u2029', 'tmp/\ud800', 'tmp/\r\n{"kind":"s3"}', 'tmp/ü/😀', 'tmp/\u0000\u001f\u007f'),
)
const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/)
const tableName = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{2,20}$/)
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/)
const keyOf = <V>(value: fc.Arbitrary<V>): fc.Arbitrary<Record<string, V>> =>
  fc.uniqueArray(fc.tuple(name, value), { minLength: 1, maxLength: 2, selector: ([n]) => n }).map((pairs) => Object.fromEntries(pairs))
const avValue = fc.oneof(text.map((S) => ({ S })), fc.integer().map((v) => ({ N: String(v) })))
const plainValue = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))

describe('codec.line is exactly the generic journal line', () => {
  it('both built-in codecs have the fast path (else journalLine would not take it)', () => {
    expect(typeof s3Deleter.journal.line).toBe('function')
    expect(typeof dynamoDeleter.journal.line).toBe('function')
  })

  test.prop([bucket, text, fc.array(fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }), { maxLength: 3 })], { numRuns: 300 })('S3 objects', (b, key, versionIds) => {
    const config = resolveOptions({ s3, allow: { s3: [b] }, logger: recordingLogger() })
    const r = s3Resource('s3Object', { bucket: b, key }, config)
    r.versionIds.push(...versionIds)
    const expected = generic(r, s3Deleter.journal)
    expect(s3Deleter.journal.line!(r)).toBe(expected)
    expect(journalLine(r, s3Deleter.journal)).toBe(expected)
    expect(JSON.parse(expected!)).toEqual({ kind: 's3', ...s3Deleter.journal.encode(r) })
  })

  test.prop([fc.boolean(), keyOf(avValue), keyOf(plainValue), tableName], { numRuns: 300 })('DynamoDB items, both client kinds', (isDoc, avKey, plainKey, table) => {
    const config = resolveOptions({ dynamodb: isDoc ? doc : plain, allow: { dynamodb: [table] }, logger: recordingLogger() })
    const r = dynamoResource('dynamodbItem', { table, key: isDoc ? plainKey : avKey }, config)
    const expected = generic(r, dynamoDeleter.journal)
    expect(expected).toBeDefined()
    expect(dynamoDeleter.journal.line!(r)).toBe(expected)
    expect(journalLine(r, dynamoDeleter.journal)).toBe(expected)
  })

  it('a binary DynamoDB key: neither line nor encode journals it', () => {
    const config = resolveOptions({ dynamodb: plain, allow: { dynamodb: ['Tbl'] }, logger: recordingLogger() })
    const r = dynamoResource('dynamodbItem', { table: 'Tbl', key: { pk: { B: new Uint8Array([1, 2]) } } }, config)
    expect(dynamoDeleter.journal.encode(r)).toBeUndefined()
    expect(dynamoDeleter.journal.line!(r)).toBeUndefined()
  })
})
