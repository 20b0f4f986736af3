// tempKey() (issue 15.3): keys under one scratch prefix, spread over 256 hashed prefixes so a
// burst of deletes is not held to S3's ~3,500 DELETE/s of a single prefix.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { CleanupDeclarationError } from '../src/index.js'
import { TEMP_KEY_SHARDS, shardOf, tempKey } from '../src/temp-key.js'

const SHAPE = /^(?<prefix>(?:[^/].*\/)?)(?<shard>[0-9a-f]{2})\/(?<rest>[0-9a-f-]{36}(?:\/(?<name>.+))?)$/s
const prefixArb = fc.oneof(fc.constant(''), fc.stringMatching(/^[a-z0-9_-]{1,12}(\/[a-z0-9_-]{1,12}){0,2}\/$/))
const nameArb = fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }).filter((s) => !s.startsWith('/'))

describe('tempKey', () => {
  test.prop([fc.option(nameArb, { nil: undefined }), fc.option(prefixArb, { nil: undefined })], { numRuns: 200 })(
    'is <prefix><hash of the rest, 2 hex>/<uuid>[/<name>], under the scratch prefix',
    (name, prefix) => {
      const key = tempKey(name, prefix === undefined ? undefined : { prefix })
      const m = SHAPE.exec(key)
      expect(m).not.toBeNull()
      const g = m!.groups!
      expect(g.prefix).toBe(prefix ?? 'tmp/')
      expect(g.name).toBe(name)
      expect(g.shard).toBe(shardOf(g.rest!))
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024)
    },
  )

  it('20,000 keys of one name: all distinct, over all 256 prefixes, none holding more than twice its share', () => {
    const counts = new Map<string, number>()
    const keys = new Set<string>()
    for (let i = 0; i < 20_000; i++) {
      const key = tempKey('out.jpg')
      keys.add(key)
      const shard = key.slice(4, 6)
      counts.set(shard, (counts.get(shard) ?? 0) + 1)
    }
    expect(keys.size).toBe(20_000)
    expect(TEMP_KEY_SHARDS).toBe(256)
    expect(counts.size).toBe(256)
    // 78 per prefix expected; a binomial(20000, 1/256) beyond 2x or under 1/3 is p < 1e-12
    expect(Math.max(...counts.values())).toBeLessThan(2 * 20_000 / 256)
    expect(Math.min(...counts.values())).toBeGreaterThan(20_000 / 256 / 3)
  })

  it('the hash alone spreads 20,000 inputs that differ only in a counter over all 256 prefixes, and is deterministic', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const shard = shardOf(`job-${i}/out.jpg`)
      expect(shardOf(`job-${i}/out.jpg`)).toBe(shard)
      counts.set(shard, (counts.get(shard) ?? 0) + 1)
    }
    expect([...counts.keys()].every((s) => /^[0-9a-f]{2}$/.test(s))).toBe(true)
    expect(counts.size).toBe(256)
    expect(Math.max(...counts.values())).toBeLessThan(2 * 20_000 / 256)
    expect(Math.min(...counts.values())).toBeGreaterThan(20_000 / 256 / 3)
  })

  it.each([
    ['an empty name', [''], /tempKey\(name\) must be a non-empty string not starting with '\/'.*got ""/],
    ['a name starting with /', ['/etc'], /tempKey\(name\) must be a non-empty string not starting with '\/'/],
    ['a number as name', [5], /tempKey\(name\) must be a non-empty string.*got number 5/],
    ['a prefix without a trailing /', ['a', { prefix: 'tmp' }], /tempKey\(name, \{ prefix \}\) must be '' or a key prefix ending with '\/'.*got "tmp"/],
    ['a prefix starting with /', ['a', { prefix: '/tmp/' }], /tempKey\(name, \{ prefix \}\)/],
    ['a misspelt option', ['a', { prefx: 'tmp/' }], /tempKey\(name, \{ prefx \}\): unknown key 'prefx' — did you mean prefix\? Known keys: prefix\./],
    ['options that are not an object', ['a', 'tmp/'], /tempKey\(name, options\) options must be an object like \{ prefix: 'tmp\/' \}/],
    ['a name too long for S3', ['x'.repeat(1000)], /makes a key of 1044 bytes; S3 keys are at most 1024/],
  ])('%s throws CleanupDeclarationError naming the argument and the fix', (_name, args, message) => {
    expect(() => (tempKey as (...a: unknown[]) => string)(...args)).toThrow(CleanupDeclarationError)
    expect(() => (tempKey as (...a: unknown[]) => string)(...args)).toThrow(message)
  })
})
