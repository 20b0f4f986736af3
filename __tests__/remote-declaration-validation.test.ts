// G2 for S3 and DynamoDB declarations (issue 12 obs 8): every declaration rejects an
// unknown (misspelt) key or a wrong type at the call, naming the key and the fix, before
// anything is sent — a dropped `verison` would delete the current version. And, as a
// property end to end on a real server: whatever valid declarations and allow-lists are
// made, nothing outside (declared ∩ allowed) is deleted, and everything inside it is.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { BatchWriteItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { CleanupDeclarationError, CleanupScope } from '../src/index.js'
import {
  backends, existingKeys, itemExists, putObjectsFast, recordingLogger, withBackend, type BackendInfo,
} from './support/backends.js'

const quiet = () => recordingLogger()

/** A stub client that records what would have been sent (and answers DescribeTable for putItem). */
const stub = () => {
  const sent: string[] = []
  return {
    sent,
    send: async (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name)
      if (command.constructor.name === 'DescribeTableCommand') return { Table: { KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] } }
      return {}
    },
  }
}

const scopeWith = (client: ReturnType<typeof stub>) => new CleanupScope({ s3: client, dynamodb: client, logger: quiet() })

/** Runs a declaration; returns the CleanupDeclarationError it threw or rejected with (fails the test if none). */
const rejection = async (declare: () => unknown): Promise<CleanupDeclarationError> => {
  let error: unknown
  try { await declare() } catch (e) { error = e }
  expect(error).toBeInstanceOf(CleanupDeclarationError)
  return error as CleanupDeclarationError
}

describe('the cases of the issue: rejected at the call, naming the key and the fix', () => {
  it.each([
    ['s3Object({ bucket, key, verison })', (s: CleanupScope) => s.s3Object({ bucket: 'b', key: 'k', verison: 'v1' } as never), /unknown key 'verison' — did you mean versionId\?/],
    ['s3Object({ bucket, key, etga })', (s: CleanupScope) => s.s3Object({ bucket: 'b', key: 'k', etga: '"e"' } as never), /unknown key 'etga' — did you mean etag\?/],
    ['s3Object({ Bucket, Key })', (s: CleanupScope) => s.s3Object({ Bucket: 'b', Key: 'k' } as never), /unknown key 'Bucket' — did you mean bucket\?/],
    ['dynamoItem({ table, key, clinet })', (s: CleanupScope) => s.dynamoItem({ table: 'T', key: { pk: { S: 'a' } }, clinet: {} } as never), /unknown key 'clinet' — did you mean client\?/],
    ['dynamoItem({ tableName, key })', (s: CleanupScope) => s.dynamoItem({ tableName: 'T', key: { pk: { S: 'a' } } } as never), /unknown key 'tableName'/],
    ['putObject(input, { tag })', (s: CleanupScope) => s.putObject({ Bucket: 'b', Key: 'k', Body: 'x' }, { tag: true } as never), /putObject\(input, \{ tag \}\): unknown key 'tag' — did you mean tags\?/],
    ["putObject(input, { verify: 'yes' })", (s: CleanupScope) => s.putObject({ Bucket: 'b', Key: 'k', Body: 'x' }, { verify: 'yes' } as never), /putObject\(input, \{ verify \}\) must be a boolean.*got "yes"/],
    ['putObject(input, { tags: [] })', (s: CleanupScope) => s.putObject({ Bucket: 'b', Key: 'k', Body: 'x' }, { tags: [] } as never), /putObject\(input, \{ tags \}\) must be true or an object/],
    ['putObject({ Bucket: 5 })', (s: CleanupScope) => s.putObject({ Bucket: 5, Key: 'k', Body: 'x' } as never), /putObject\(\{ Bucket \}\) must be a non-empty bucket name/],
    ['putItem(input, { tll })', (s: CleanupScope) => s.putItem({ TableName: 'T', Item: { pk: { S: 'a' } } }, { tll: { attribute: 'x', seconds: 1 } } as never), /putItem\(input, \{ tll \}\): unknown key 'tll' — did you mean ttl\?/],
    ["putItem(input, { verify: 'yes' })", (s: CleanupScope) => s.putItem({ TableName: 'T', Item: { pk: { S: 'a' } } }, { verify: 'yes' } as never), /putItem\(input, \{ verify \}\) must be a boolean.*got "yes"/],
    ['putItem(input, { ttl: { attribute, second } })', (s: CleanupScope) => s.putItem({ TableName: 'T', Item: { pk: { S: 'a' } } }, { ttl: { attribute: 'x', second: 60 } } as never), /putItem\(input, \{ ttl: \{ second \} \}\): unknown key 'second' — did you mean seconds\?/],
  ])('%s', async (_name, declare, message) => {
    const client = stub()
    const scope = scopeWith(client)
    const error = await rejection(() => declare(scope))
    expect(error.message).toMatch(message)
    // nothing was sent and nothing is tracked: the bad declaration left no trace
    expect(client.sent).toEqual([])
    expect((await scope.dispose()).resources).toBe(0)
  })
})

// ---- the property over random declarations ----

type Kind = 's3Object' | 'dynamoItem' | 'putObject' | 'putItem' | 'putItem.ttl'
const KNOWN: Record<Kind, readonly string[]> = {
  s3Object: ['bucket', 'key', 'versionId', 'etag', 'client'],
  dynamoItem: ['table', 'key', 'client'],
  putObject: ['client', 'verify', 'tags'],
  putItem: ['client', 'ttl', 'verify'],
  'putItem.ttl': ['attribute', 'seconds'],
}
const valid: Record<Kind, Record<string, unknown>> = {
  s3Object: { bucket: 'scratch', key: 'tmp/a' },
  dynamoItem: { table: 'Scratch', key: { pk: { S: 'a' } } },
  putObject: {},
  putItem: {},
  'putItem.ttl': { attribute: 'expiresAt', seconds: 60 },
}

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}))
const notBoolean = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant([]), fc.constant({}))
const notClient = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant({}), fc.constant({ send: 'no' }))
/** For each kind and key, values of the wrong type (never `undefined`: an optional key may be left out). */
const wrong: Record<Kind, Record<string, fc.Arbitrary<unknown>>> = {
  s3Object: { bucket: fc.oneof(notString, fc.constant(''), fc.constant('a/b')), key: fc.oneof(notString, fc.constant('')), versionId: fc.oneof(notString, fc.constant('')), etag: fc.oneof(notString, fc.constant('')), client: notClient },
  dynamoItem: { table: fc.oneof(notString, fc.constant(''), fc.constant('  ')), key: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant([]), fc.constant({}), fc.constant({ pk: 'plain' }), fc.constant({ a: { S: 'a' }, b: { S: 'b' }, c: { S: 'c' } })), client: notClient },
  putObject: { verify: notBoolean, tags: fc.oneof(fc.constant(false), fc.integer(), fc.string(), fc.constant(null), fc.constant([]), fc.constant({ k: 1 })), client: notClient },
  putItem: { verify: notBoolean, ttl: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant({}), fc.constant({ attribute: '', seconds: 1 }), fc.constant({ attribute: 'x', seconds: -1 }), fc.constant({ attribute: 'x', seconds: 'soon' })), client: notClient },
  'putItem.ttl': { attribute: fc.oneof(notString, fc.constant('')), seconds: fc.oneof(fc.string(), fc.constant(0), fc.constant(-5), fc.constant(Number.NaN), fc.constant(Infinity), fc.constant(null)) },
}

/** A slip of the keyboard on a known key: a letter dropped, doubled, swapped, or the case changed. */
const misspelt = (known: readonly string[]): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...known), fc.nat(), fc.constantFrom('drop', 'double', 'swap', 'case', 'plural')).map(([k, i, how]) => {
    const at = i % k.length
    switch (how) {
      case 'drop': return k.slice(0, at) + k.slice(at + 1)
      case 'double': return k.slice(0, at) + k[at] + k.slice(at)
      case 'swap': return at + 1 < k.length ? k.slice(0, at) + k[at + 1] + k[at] + k.slice(at + 2) : `${k}x`
      case 'case': return k.toUpperCase()
      default: return `${k}s`
    }
  }).filter((k) => !known.includes(k) && k !== '')

type Bad = { kind: Kind, key: string, value: unknown, unknown: boolean }
const bad: fc.Arbitrary<Bad> = fc.constantFrom<Kind>('s3Object', 'dynamoItem', 'putObject', 'putItem', 'putItem.ttl').chain((kind) => fc.oneof(
  // an extra key nobody knows, or a misspelt known one
  fc.tuple(fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), misspelt(KNOWN[kind])).filter((k) => !KNOWN[kind].includes(k)), fc.anything())
    .map(([key, value]): Bad => ({ kind, key, value, unknown: true })),
  // a known key with a value of the wrong type
  fc.constantFrom(...Object.keys(wrong[kind])).chain((key) => wrong[kind][key]!.map((value): Bad => ({ kind, key, value, unknown: false }))),
))

const declare = (scope: CleanupScope, { kind, key, value }: Bad): unknown => {
  const withBad = (base: Record<string, unknown>) => ({ ...base, [key]: value })
  switch (kind) {
    case 's3Object': return scope.s3Object(withBad(valid.s3Object) as never)
    case 'dynamoItem': return scope.dynamoItem(withBad(valid.dynamoItem) as never)
    case 'putObject': return scope.putObject({ Bucket: 'scratch', Key: 'tmp/a', Body: 'x' }, withBad(valid.putObject) as never)
    case 'putItem': return scope.putItem({ TableName: 'Scratch', Item: { pk: { S: 'a' } } }, withBad(valid.putItem) as never)
    default: return scope.putItem({ TableName: 'Scratch', Item: { pk: { S: 'a' } } }, { ttl: withBad(valid['putItem.ttl']) } as never)
  }
}

describe('random declarations with unknown, misspelt or wrong-typed keys', () => {
  test.prop([bad], { numRuns: 300 })('are rejected at the call, naming the key; nothing is sent or tracked', async (b) => {
    const client = stub()
    const scope = scopeWith(client)
    const error = await rejection(() => declare(scope, b))
    if (b.unknown) {
      expect(error.message).toContain(`unknown key '${b.key}'`)
      expect(error.message).toContain('Known keys:')
    } else if (b.kind === 'putItem.ttl') {
      // ttl is checked as a whole; the message names it and spells out both of its keys
      expect(error.message).toContain('putItem(input, { ttl })')
      expect(error.message).toContain(b.key)
    } else {
      // the argument is named as written: `{ verify }`, `{ bucket }`, `{ key }` or `{ key.pk }`
      expect(error.message).toMatch(new RegExp(`\\{ ${b.key}( \\}|\\.)`))
    }
    expect(client.sent.filter((c) => c !== 'DescribeTableCommand')).toEqual([])
    expect((await scope.dispose()).resources).toBe(0)
  })

  test.prop([fc.constantFrom<Kind>('s3Object', 'dynamoItem', 'putObject', 'putItem', 'putItem.ttl')], { numRuns: 20 })('the valid base of each kind is accepted (the property above is not vacuous)', async (kind) => {
    const client = stub()
    const scope = scopeWith(client)
    await declare(scope, { kind, key: KNOWN[kind][0]!, value: kind === 'putItem.ttl' ? 'expiresAt' : kind === 's3Object' ? 'scratch' : kind === 'dynamoItem' ? 'Scratch' : undefined, unknown: false })
    expect((await scope.dispose()).resources).toBe(1)
  })
})

// ---- end to end: nothing outside (declared ∩ allowed) is ever deleted ----

const PREFIXES = ['a/', 'ab/', 'b/', 'tmp/'] as const
const NAMES = ['1', '2', 'x y', 'ü'] as const
type Key = Record<string, AttributeValue>

interface Plan {
  /** allow.s3 entries, relative to the run's root (`undefined`: no list, everything allowed) */
  allowS3: Array<{ prefix: string } | { bucketOnly: true } | { otherBucket: true }> | undefined
  /** allow.dynamodb: the run's table, another one, or no list */
  allowTable: 'ours' | 'other' | 'none'
  objects: Array<{ key: string, how: 's3Object' | 'putObject', verify: boolean }>
  items: Array<{ pk: string, how: 'dynamoItem' | 'putItem', verify: boolean, ttl: boolean }>
}

const universe = PREFIXES.flatMap((p) => NAMES.map((n) => `${p}${n}`))
const plan: fc.Arbitrary<Plan> = fc.record({
  allowS3: fc.option(fc.array(fc.oneof(
    fc.constantFrom(...PREFIXES, 'a', 'tmp/1').map((prefix) => ({ prefix })),
    fc.constant({ bucketOnly: true as const }),
    fc.constant({ otherBucket: true as const }),
  ), { maxLength: 3 }), { nil: undefined }),
  allowTable: fc.constantFrom('ours', 'other', 'none'),
  objects: fc.uniqueArray(fc.record({ key: fc.constantFrom(...universe), how: fc.constantFrom('s3Object', 'putObject'), verify: fc.boolean() }), { selector: (o) => o.key, maxLength: 8 }),
  items: fc.uniqueArray(fc.record({ pk: fc.constantFrom(...universe), how: fc.constantFrom('dynamoItem', 'putItem'), verify: fc.boolean(), ttl: fc.boolean() }), { selector: (i) => i.pk, maxLength: 8 }),
})

// Which keys the run's allow-list lets through: an oracle written apart from src/s3.ts.
const s3AllowedByOracle = (p: Plan, key: string): boolean =>
  p.allowS3 === undefined || p.allowS3.some((e) => 'bucketOnly' in e || ('prefix' in e && key.startsWith(e.prefix)))
const tableAllowedByOracle = (p: Plan): boolean => p.allowTable !== 'other'

describe.each(backends())('end to end on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  let run = 0
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) }, { range: false })

  test.prop([plan], { numRuns: 12 })('random valid declarations and allow-lists: exactly (declared ∩ allowed) is deleted, the rest survives', async (p) => {
    const root = `r${run++}/`
    // every object and item of the universe exists before the invocation
    await putObjectsFast(b, bucket, universe.map((k) => root + k))
    const keyOf = (pk: string): Key => ({ pk: { S: root + pk } })
    for (let i = 0; i < universe.length; i += 25) {
      await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: universe.slice(i, i + 25).map((pk) => ({ PutRequest: { Item: keyOf(pk) } })) } }))
    }
    const allow = {
      ...(p.allowS3 === undefined ? {} : { s3: p.allowS3.map((e) => 'bucketOnly' in e ? bucket : 'otherBucket' in e ? `${bucket}-other` : `${bucket}/${root}${e.prefix}`) }),
      ...(p.allowTable === 'none' ? {} : { dynamodb: [p.allowTable === 'ours' ? table : `${table}-other`] }),
    }
    const scope = new CleanupScope({ s3, dynamodb: ddb, logger: quiet(), allow })
    const declared = { objects: new Set<string>(), items: new Set<string>() }
    for (const o of p.objects) {
      const allowed = s3AllowedByOracle(p, o.key)
      const call = () => o.how === 's3Object'
        ? scope.s3Object({ bucket, key: root + o.key })
        : scope.putObject({ Bucket: bucket, Key: root + o.key, Body: 'rewritten' }, { verify: o.verify })
      if (allowed) { await call(); declared.objects.add(o.key) } else await rejection(call)
    }
    for (const i of p.items) {
      const allowed = tableAllowedByOracle(p)
      const call = () => i.how === 'dynamoItem'
        ? scope.dynamoItem({ table, key: keyOf(i.pk) })
        : scope.putItem({ TableName: table, Item: keyOf(i.pk) }, { verify: i.verify, ...(i.ttl ? { ttl: { attribute: 'expiresAt', seconds: 60 } } : {}) })
      if (allowed) { await call(); declared.items.add(i.pk) } else await rejection(call)
    }
    const report = await scope.dispose()
    expect(report.failed).toEqual([])
    expect(report.cleaned).toBe(declared.objects.size + declared.items.size)

    const survivors = new Set((await existingKeys(s3, bucket, universe.map((k) => root + k))).map((k) => k.slice(root.length)))
    for (const k of universe) expect({ key: k, exists: survivors.has(k) }).toEqual({ key: k, exists: !declared.objects.has(k) })
    for (const pk of universe) {
      expect({ pk, exists: await itemExists(ddb, table, keyOf(pk)) }).toEqual({ pk, exists: !declared.items.has(pk) })
    }
  })
})
