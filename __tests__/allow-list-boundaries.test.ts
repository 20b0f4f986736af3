// The allow-lists are what keeps cleanup from deleting remote data nobody allowed it to
// (docs/guarantees.md G2). These are the boundaries the mutation run of src/s3-object.ts
// found untested: every entry of allow.s3 counts (two for one bucket included), and a list
// that is not frozen is read as it is now, whatever was parsed from it before.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { s3Allowed } from '../src/s3-object.js'

// The oracle, written apart from src/s3-object.ts: 'bucket' allows that bucket, 'bucket/p' its keys starting with p.
const allowedByOracle = (allow: readonly string[], bucket: string, key: string): boolean => allow.some((e) => {
  const slash = e.indexOf('/')
  return slash === -1 ? e === bucket : e.slice(0, slash) === bucket && key.startsWith(e.slice(slash + 1))
})

describe('allow.s3: every entry counts', () => {
  it('two prefixes of one bucket: keys under either are allowed, keys under neither are not', () => {
    const allow = Object.freeze(['b/tmp/', 'b/data/'])
    expect([s3Allowed(allow, 'b', 'tmp/1'), s3Allowed(allow, 'b', 'data/1'), s3Allowed(allow, 'b', 'keep/1')]).toEqual([true, true, false])
  })

  it('a whole-bucket entry after a prefix of the same bucket allows the whole bucket', () => {
    const allow = Object.freeze(['b/tmp/', 'b'])
    expect([s3Allowed(allow, 'b', 'tmp/1'), s3Allowed(allow, 'b', 'keep/1'), s3Allowed(allow, 'c', 'tmp/1')]).toEqual([true, true, false])
  })
})

describe('allow.s3 changed in place is read as it is now', () => {
  it('an entry dropped from the end (pop) no longer allows its bucket', () => {
    const list = ['b/tmp/', 'c']
    expect(s3Allowed(list, 'c', 'k')).toBe(true)
    list.pop()
    expect(s3Allowed(list, 'c', 'k')).toBe(false)
    expect(s3Allowed(list, 'b', 'tmp/1')).toBe(true)
  })

  it('one entry of two replaced: the old bucket is refused, the new one allowed, the unchanged one still allowed', () => {
    const list = ['b/tmp/', 'c']
    expect(s3Allowed(list, 'c', 'k')).toBe(true)
    list[1] = 'd'
    expect([s3Allowed(list, 'c', 'k'), s3Allowed(list, 'd', 'k'), s3Allowed(list, 'b', 'tmp/1')]).toEqual([false, true, true])
  })

  // Lists of a few entries over a small alphabet (so buckets repeat and prefixes overlap),
  // edited in place between queries, against the oracle.
  const bucket = fc.constantFrom('a', 'b', 'c')
  const entry = fc.tuple(bucket, fc.option(fc.constantFrom('', 'x', 'x/', 'x/y', 'y/'), { nil: undefined }))
    .map(([b, p]) => p === undefined ? b : `${b}/${p}`)
  const edit = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(5), entry }),
    fc.record({ op: fc.constant('push' as const), entry }),
    fc.record({ op: fc.constant('pop' as const) }),
    fc.record({ op: fc.constant('none' as const) }),
  )
  const query = fc.record({ edit, bucket, key: fc.constantFrom('', 'x', 'x/1', 'x/y/1', 'y/1', 'z') })

  test.prop([fc.array(entry, { maxLength: 5 }), fc.array(query, { minLength: 1, maxLength: 12 })], { numRuns: 300 })('random lists edited between queries: allowed exactly when the oracle says so', (start, queries) => {
    const list = [...start]
    for (const { edit: e, bucket: b, key } of queries) {
      if (e.op === 'set' && list.length > 0) list[e.at % list.length] = e.entry
      else if (e.op === 'push') list.push(e.entry)
      else if (e.op === 'pop') list.pop()
      expect(s3Allowed(list, b, key)).toBe(allowedByOracle(list, b, key))
    }
  })
})
