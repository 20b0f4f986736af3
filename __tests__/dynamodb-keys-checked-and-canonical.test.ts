// A DynamoDB declaration is refused at the call — with CleanupDeclarationError, never a
// TypeError — unless its key is one DynamoDB can take, and what is tracked is identified by
// the key's canonical text: equal keys are one item (declared twice, deleted once), different
// keys never collapse into one (which would leave one of them behind). Found untested by the
// mutation run of src/dynamodb-item.ts.
import { afterAll, describe, expect, it } from '@jest/globals'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, NumberValue } from '@aws-sdk/lib-dynamodb'
import { CleanupDeclarationError } from '../src/index.js'
import { dynamoResource } from '../src/dynamodb-item.js'

const low = { send: async () => ({}) }
const offline = () => new DynamoDBClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } })
const wrapped = offline()
const doc = DynamoDBDocumentClient.from(wrapped)
const unwrapped = offline()
afterAll(() => { doc.destroy(); unwrapped.destroy() })

const declare = (key: unknown, client: object = low, target: unknown = { table: 'Scratch', key, client }) =>
  dynamoResource('dynamoItem', target, { dynamodb: client as never })
const refusal = (f: () => unknown): CleanupDeclarationError => {
  let error: unknown
  try { f() } catch (e) { error = e }
  expect(error).toBeInstanceOf(CleanupDeclarationError)
  return error as CleanupDeclarationError
}

describe('refused at the call with CleanupDeclarationError, naming what is wrong', () => {
  it.each([
    ['null', null], ['a string', 'x'], ['an array', [{ table: 'Scratch' }]], ['a number', 5],
  ])('a target that is %s', (_name, target) => {
    expect(refusal(() => declare(undefined, low, target)).message).toMatch(/dynamoItem\(\) needs an object like/)
  })

  it.each([
    ['null', null], ['no attribute', {}], ['three attributes', { a: { S: 'a' }, b: { S: 'b' }, c: { S: 'c' } }], ['bytes', new Uint8Array([1])],
  ])('a key that is %s', (_name, key) => {
    expect(refusal(() => declare(key)).message).toMatch(/dynamoItem\(\{ key \}\) must be an object with the table's 1 or 2 key attributes/)
  })

  it('a key that is a one-character string, on a DocumentClient (whose plain values a string would pass as)', () => {
    expect(refusal(() => declare('a', doc)).message).toMatch(/dynamoItem\(\{ key \}\) must be an object with the table's 1 or 2 key attributes/)
  })

  it.each([
    ['null', null], ['undefined', undefined], ['an AttributeValue of two types', { S: 'a', N: '1' }],
    ['an empty N', { N: '' }], ['a blank N', { N: '  ' }], ['an N that is not a string', { N: 5 }],
  ])('a DynamoDBClient key attribute that is %s (named: key.sk)', (_name, value) => {
    expect(refusal(() => declare({ pk: { S: 'a' }, sk: value })).message).toMatch(/dynamoItem\(\{ key\.sk \}\) must be an AttributeValue/)
  })

  it.each([
    ['null', null], ['an object', {}], ['a boolean', true], ['NaN', Number.NaN], ['Infinity', Infinity],
    ['an object with a value and more', { value: '1', other: 2 }], ['an object whose value is not a string', { value: 1 }],
  ])('a DocumentClient key attribute that is %s (named: key.sk)', (_name, value) => {
    expect(refusal(() => declare({ pk: 'a', sk: value }, doc)).message).toMatch(/dynamoItem\(\{ key\.sk \}\) must be a string, number, bigint or binary/)
  })

  it('a client whose config is null is a DynamoDBClient: a plain key on it is refused', () => {
    expect(refusal(() => declare({ pk: 'a' }, { send: low.send, config: null })).message).toMatch(/key\.pk.*AttributeValue/)
  })
})

describe('tracked by the canonical key: equal keys one id, different keys different ids', () => {
  it('AttributeValue keys of every key type; members set to undefined do not count; numbers trimmed; names sorted', () => {
    const r = declare({ sk: { N: ' 5 ' }, pk: { S: 'a', N: undefined } })
    expect({ kind: r.kind, id: r.id, doc: r.doc, table: r.table }).toEqual({ kind: 'dynamodb', id: 'dynamodb://Scratch/{"pk":"a","sk":5}', doc: false, table: 'Scratch' })
    expect(declare({ pk: { S: 'a' }, sk: { N: '5' } }).id).toBe(r.id)
    expect(declare({ pk: { B: new Uint8Array([1, 2]) } }).id).toBe('dynamodb://Scratch/{"pk":{"B":"AQI="}}')
  })

  it('two binary keys are two items (AttributeValue and plain)', () => {
    expect(declare({ pk: { B: new Uint8Array([1]) } }).id).not.toBe(declare({ pk: { B: new Uint8Array([2]) } }).id)
    expect(declare({ pk: new Uint8Array([1]) }, doc).id).not.toBe(declare({ pk: new Uint8Array([2]) }, doc).id)
  })

  it('DocumentClient keys: string, number, binary and NumberValue', () => {
    const ids = [
      { pk: 'a' }, { pk: 5 }, { pk: new Uint8Array([1, 2]) }, { pk: NumberValue.from('7') },
    ].map((key) => declare(key, doc))
    expect(ids.map((r) => r.id)).toEqual([
      'dynamodb://Scratch/{"pk":"a"}', 'dynamodb://Scratch/{"pk":5}', 'dynamodb://Scratch/{"pk":{"B":"AQI="}}', 'dynamodb://Scratch/{"pk":7}',
    ])
    expect(ids.every((r) => r.doc)).toBe(true)
  })

  // Until 32e6742 both threw TypeError "Do not know how to serialize a BigInt": the no-client
  // message was built with JSON.stringify(key) before a client was even looked for.
  it('DocumentClient keys: a bigint is tracked by its digits', () => {
    expect(declare({ pk: 12345678901234567890n }, doc).id).toBe('dynamodb://Scratch/{"pk":12345678901234567890}')
  })

  it('a bigint key with no client at all: refused, naming the key, not a TypeError', () => {
    const e = refusal(() => dynamoResource('dynamoItem', { table: 'Scratch', key: { pk: 12345678901234567890n } }, {}))
    expect(e.message).toContain('has no DynamoDB client to delete Scratch item {"pk":"12345678901234567890n"}')
  })
})

describe('the DynamoDBClient a DocumentClient was made from', () => {
  it('takes plain keys, sent through lib-dynamodb (doc)', () => {
    const r = declare({ pk: 'a' }, wrapped)
    expect({ id: r.id, doc: r.doc }).toEqual({ id: 'dynamodb://Scratch/{"pk":"a"}', doc: true })
  })

  it('still takes AttributeValue keys as such', () => {
    const r = declare({ pk: { S: 'a' } }, wrapped)
    expect({ id: r.id, doc: r.doc }).toEqual({ id: 'dynamodb://Scratch/{"pk":"a"}', doc: false })
  })

  it('a key neither plain nor AttributeValue is refused', () => {
    expect(refusal(() => declare({ pk: {} }, wrapped)).message).toMatch(/key\.pk/)
  })

  it('a DynamoDBClient never wrapped does not take plain keys', () => {
    expect(refusal(() => declare({ pk: 'a' }, unwrapped)).message).toMatch(/key\.pk.*AttributeValue.*DynamoDBDocumentClient/)
  })
})
