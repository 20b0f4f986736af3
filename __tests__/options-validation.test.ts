// Options part of issue 12 obs 8 (G2): every option of cleanup() and new CleanupScope()
// rejects unknown keys and wrong types at the call, with a message that names the key
// and says what to pass; and a context whose getRemainingTimeInMillis() is not a number
// gives cleanup its timeoutMs, not "a budget of NaN ms". detectLeaks and its sub-options
// are options like the others (issue 14), and options are resolved once, into a frozen object.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute } from 'node:path'
import { CleanupConfigError, CleanupScope, cleanup, type CleanupReport, type RemoteDeleter, type RemoteResource } from '../src/index.js'
import { isResolved, resolveOptions } from '../src/options.js'
import { flushLeftovers } from './support/internals.js'
import { lambdaContext, middyVersions, recordingLogger } from './support/middy.js'

const TOP = ['timeoutMs', 'safetyMarginMs', 'logger', 'onReport', 'failOnCleanupError', 'allow', 's3', 'dynamodb', 'detectLeaks']
const ALLOW = ['paths', 's3', 'dynamodb']
const LEAKS = ['handles', 'tmp', 'memory', 'globals', 'every', 'confirm', 'onLeak']

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isMs = (v: unknown, zero: boolean): boolean => typeof v === 'number' && Number.isInteger(v) && (zero ? v >= 0 : v > 0) && v <= 2_147_483_647
const fakeClient = { send: async () => ({}) }
const isPositiveInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1
const isBoolean = (v: unknown): boolean => typeof v === 'boolean'
/** true, false, or an object with none of the sub-option's keys (each default) */
const isSwitch = (v: unknown): boolean => typeof v === 'boolean' || (isPlainObject(v) && Object.keys(v).length === 0)
/** detectLeaks.<path>: the option as cleanup({ detectLeaks: { a: { b: v } } }) takes it */
const leakOption = (path: string, valid: (v: unknown) => boolean) => {
  const wrap = (v: unknown): Record<string, unknown> => ({ detectLeaks: path.split('.').reduceRight<unknown>((inner, k) => ({ [k]: inner }), v) })
  return [{ key: `detectLeaks.${path}`, valid, wrap }]
}

/** Per option: what is valid (undefined always is: the default), and how to put a value there. */
const OPTIONS: Array<{ key: string, valid: (v: unknown) => boolean, wrap: (v: unknown) => Record<string, unknown> }> = [
  { key: 'timeoutMs', valid: (v) => isMs(v, false), wrap: (v) => ({ timeoutMs: v }) },
  { key: 'safetyMarginMs', valid: (v) => isMs(v, true), wrap: (v) => ({ safetyMarginMs: v }) },
  { key: 'logger', valid: (v) => v === false || typeof v === 'function' || (isPlainObject(v) && typeof v.warn === 'function' && typeof v.error === 'function'), wrap: (v) => ({ logger: v }) },
  { key: 'onReport', valid: (v) => typeof v === 'function', wrap: (v) => ({ onReport: v }) },
  { key: 'failOnCleanupError', valid: (v) => typeof v === 'boolean', wrap: (v) => ({ failOnCleanupError: v }) },
  { key: 'allow', valid: (v) => isPlainObject(v) && Object.keys(v).length === 0, wrap: (v) => ({ allow: v }) },
  { key: 'allow.paths', valid: () => false, wrap: (v) => ({ allow: { paths: v } }) },
  { key: 'allow.s3', valid: () => false, wrap: (v) => ({ allow: { s3: v } }) },
  { key: 'allow.dynamodb', valid: () => false, wrap: (v) => ({ allow: { dynamodb: v } }) },
  { key: 's3', valid: (v) => isPlainObject(v) && typeof v.send === 'function', wrap: (v) => ({ s3: v }) },
  { key: 'dynamodb', valid: (v) => isPlainObject(v) && typeof v.send === 'function', wrap: (v) => ({ dynamodb: v }) },
  { key: 'detectLeaks', valid: (v) => typeof v === 'boolean' || (isPlainObject(v) && Object.keys(v).length === 0), wrap: (v) => ({ detectLeaks: v }) },
  ...leakOption('every', isPositiveInt), ...leakOption('confirm', isPositiveInt),
  ...leakOption('handles', isBoolean), ...leakOption('globals', isBoolean),
  ...leakOption('onLeak', (v) => typeof v === 'function'),
  ...leakOption('tmp', isSwitch), ...leakOption('memory', isSwitch),
  ...leakOption('tmp.dir', (v) => typeof v === 'string' && isAbsolute(v)),
  ...leakOption('tmp.maxDepth', isPositiveInt), ...leakOption('tmp.maxEntries', isPositiveInt),
  ...leakOption('memory.gcs', isPositiveInt), ...leakOption('memory.minBytesPerInvocation', isPositiveInt),
]

// Wrong values: anything fast-check makes (numbers, strings, objects, arrays, null…),
// plus the near misses users write: numeric strings, 'yes', NaN, Infinity, fractions, negatives.
const anyValue = fc.oneof(
  fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withDate: true, withBigInt: true }),
  fc.constantFrom<unknown>('yes', 'true', '1000', 1.5, -1, 0, NaN, Infinity, 2 ** 31, null, [], {}, [1], ['/tmp', 5], [''], () => 1),
)

const thrown = (fn: () => unknown): unknown => { try { fn(); return undefined } catch (e) { return e } }

describe('every option rejects wrong types at the call, naming the key', () => {
  test.prop([fc.constantFrom(...OPTIONS), anyValue], { numRuns: 800 })('cleanup({ key: wrong }) and new CleanupScope({ key: wrong }) throw CleanupConfigError naming the key', (option, value) => {
    fc.pre(value !== undefined && !option.valid(value))
    // allow.* lists: an array of well-formed names is valid (an empty one allows nothing); everything else here is not.
    if (option.key.startsWith('allow.') && Array.isArray(value) && value.every((e) => typeof e === 'string' && /^[a-z0-9][a-z0-9.-]{2,40}$/.test(e))) return
    for (const make of [() => cleanup(option.wrap(value) as never), () => new CleanupScope(option.wrap(value) as never)]) {
      const error = thrown(make)
      expect(error).toBeInstanceOf(CleanupConfigError)
      const message = (error as Error).message
      expect(message).toContain(`'${option.key}`)
      // and says what to pass instead
      expect(message).toMatch(/Pass|[Kk]nown|Did you mean|must/)
    }
  })

  it('valid values of every option are accepted (the property above is not rejecting everything)', () => {
    expect(() => cleanup({
      timeoutMs: 1, safetyMarginMs: 0, logger: false, onReport: () => {}, failOnCleanupError: true,
      allow: { paths: [tmpdir()], s3: ['scratch-bucket/tmp/'], dynamodb: ['Scratch'] }, s3: fakeClient, dynamodb: fakeClient, detectLeaks: false,
    })).not.toThrow()
    expect(() => cleanup({ logger: (message: string) => { void message } })).not.toThrow()
    expect(() => cleanup({ logger: console })).not.toThrow()
  })
})

describe('every option object rejects unknown keys, naming the key', () => {
  const unknownKey = (known: string[]) => fc.string({ minLength: 1, maxLength: 40 }).filter((k) => !known.includes(k) && k !== '__proto__')

  test.prop([unknownKey(TOP), anyValue], { numRuns: 200 })('cleanup({ unknown: … }) throws naming it', (key, value) => {
    const error = thrown(() => cleanup({ [key]: value } as never))
    expect(error).toBeInstanceOf(CleanupConfigError)
    expect((error as Error).message).toContain(`unknown option '${key.length > 60 ? `${key.slice(0, 60)}…` : key}'`)
    // and the fix: every key it could have meant
    for (const known of TOP) expect((error as Error).message).toContain(known)
  })

  test.prop([unknownKey(ALLOW), anyValue], { numRuns: 100 })('cleanup({ allow: { unknown: … } }) throws naming allow.<key>', (key, value) => {
    const error = thrown(() => cleanup({ allow: { [key]: value } } as never))
    expect(error).toBeInstanceOf(CleanupConfigError)
    expect((error as Error).message).toContain(`unknown option 'allow.${key}'`)
    for (const known of ALLOW) expect((error as Error).message).toContain(`allow.${known}`)
  })

  test.prop([unknownKey(LEAKS), anyValue], { numRuns: 50 })('cleanup({ detectLeaks: { unknown: … } }) throws naming detectLeaks.<key>', (key, value) => {
    const error = thrown(() => cleanup({ detectLeaks: { [key]: value } } as never))
    expect(error).toBeInstanceOf(CleanupConfigError)
    expect((error as Error).message).toContain(`unknown option 'detectLeaks.${key}'`)
    for (const known of LEAKS) expect((error as Error).message).toContain(`detectLeaks.${known}`)
  })

  test.prop([fc.constantFrom<[string, string[]]>(['tmp', ['dir', 'maxDepth', 'maxEntries']], ['memory', ['gcs', 'minBytesPerInvocation']]), fc.string({ minLength: 1, maxLength: 40 }), anyValue], { numRuns: 100 })('cleanup({ detectLeaks: { tmp|memory: { unknown: … } } }) throws naming detectLeaks.<check>.<key> and listing the known ones', ([check, known], key, value) => {
    fc.pre(!known.includes(key) && key !== '__proto__')
    for (const make of [() => cleanup({ detectLeaks: { [check]: { [key]: value } } } as never), () => new CleanupScope({ detectLeaks: { [check]: { [key]: value } } } as never)]) {
      const error = thrown(make)
      expect(error).toBeInstanceOf(CleanupConfigError)
      expect((error as Error).message).toContain(`unknown option 'detectLeaks.${check}.${key}'`)
      for (const k of known) expect((error as Error).message).toContain(`detectLeaks.${check}.${k}`)
    }
  })

  // A key one typing slip away from a known one (of 5 characters or more: shorter ones
  // are too close to each other to guess) gets that key as its fix.
  const misspelt = (known: readonly string[]) => fc.tuple(
    fc.constantFrom(...known.filter((k) => k.length >= 5)), fc.nat(), fc.constantFrom('delete', 'insert', 'replace', 'swap'), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzAZ019_'),
  ).map(([k, at, edit, c]) => {
    const i = at % k.length
    const j = Math.min(i + 1, k.length - 1)
    const typo = edit === 'delete' ? k.slice(0, i) + k.slice(i + 1)
      : edit === 'insert' ? k.slice(0, i) + c + k.slice(i)
        : edit === 'replace' ? k.slice(0, i) + c + k.slice(i + 1)
          : k.slice(0, i) + k[j] + k[i] + k.slice(j + 1)
    return { meant: k, typo }
  }).filter(({ typo }) => !known.includes(typo))

  test.prop([misspelt(TOP)], { numRuns: 200 })('a top-level key one slip away from a known one: Did you mean that one', ({ meant, typo }) => {
    expect(() => cleanup({ [typo]: 1 } as never)).toThrow(`Did you mean '${meant}'?`)
  })

  test.prop([misspelt(LEAKS)], { numRuns: 100 })('a detectLeaks key one slip away from a known one: Did you mean detectLeaks.<that one>', ({ meant, typo }) => {
    expect(() => cleanup({ detectLeaks: { [typo]: 1 } } as never)).toThrow(`Did you mean 'detectLeaks.${meant}'?`)
  })

  it('a misspelt key gets the closest known one as its fix', () => {
    expect(() => cleanup({ timeoutMS: 10 } as never)).toThrow(/unknown option 'timeoutMS'\. Did you mean 'timeoutMs'\?/)
    expect(() => cleanup({ allow: { path: ['/tmp'] } } as never)).toThrow(/unknown option 'allow\.path'\. Did you mean 'allow\.paths'\?/)
    expect(() => cleanup({ failOnCleanupErrors: true } as never)).toThrow(/Did you mean 'failOnCleanupError'\?/)
  })

  it('entries that can never match an S3 bucket or a DynamoDB table are refused with the fix', () => {
    expect(() => cleanup({ allow: { s3: ['s3://scratch/tmp/'] } })).toThrow(/'allow\.s3\[0\]'.*without s3:\/\//)
    expect(() => cleanup({ allow: { s3: ['Scratch_Bucket'] } })).toThrow(/'allow\.s3\[0\]'.*not an S3 bucket name/)
    expect(() => cleanup({ allow: { dynamodb: ['arn:aws:dynamodb:us-east-1:123456789012:table/Scratch'] } })).toThrow(/'allow\.dynamodb\[0\]'.*not a DynamoDB table name/)
  })

  it('a client of the other service is refused', () => {
    class DynamoDBClient { send = async () => ({}) }
    class S3Client { send = async () => ({}) }
    expect(() => cleanup({ s3: new DynamoDBClient() })).toThrow(/option 's3' got a DynamoDBClient/)
    expect(() => cleanup({ dynamodb: new S3Client() })).toThrow(/option 'dynamodb' got a S3Client/)
  })
})

describe('options are resolved once, into a frozen plain object', () => {
  const FIELDS = ['timeoutMs', 'safetyMarginMs', 'logger', 'onReport', 'failOnCleanupError', 'allowPaths', 'allowS3', 'allowDynamodb', 's3', 'dynamodb', 'detectLeaks']

  // Valid options, each one set or left out, so the defaults are exercised too.
  const validOptions = fc.record({
    timeoutMs: fc.integer({ min: 1, max: 2_147_483_647 }),
    safetyMarginMs: fc.integer({ min: 0, max: 2_147_483_647 }),
    failOnCleanupError: fc.boolean(),
    allow: fc.record({ s3: fc.array(fc.constantFrom('scratch-bucket', 'scratch-bucket/tmp/', 'b.example-1/x'), { maxLength: 3 }), dynamodb: fc.array(fc.constantFrom('Scratch', 'jobs_v2', 'a.b-c'), { maxLength: 3 }) }, { requiredKeys: [] }),
    detectLeaks: fc.oneof(fc.boolean(), fc.record({ every: fc.integer({ min: 1, max: 100 }), memory: fc.boolean() }, { requiredKeys: [] })),
  }, { requiredKeys: [] })

  test.prop([validOptions], { numRuns: 100 })('every valid combination resolves to what was passed (or the default), frozen, and is taken as is when passed again', (options) => {
    const config = resolveOptions({ ...options, logger: false })
    expect(Object.keys(config).sort()).toEqual([...FIELDS].sort())
    expect(Object.isFrozen(config)).toBe(true)
    expect(config.timeoutMs).toBe(options.timeoutMs ?? 2000)
    expect(config.safetyMarginMs).toBe(options.safetyMarginMs ?? 50)
    expect(config.failOnCleanupError).toBe(options.failOnCleanupError ?? false)
    expect(config.allowS3).toEqual(options.allow?.s3)
    expect(config.allowDynamodb).toEqual(options.allow?.dynamodb)
    expect(config.detectLeaks === undefined).toBe(options.detectLeaks === undefined || options.detectLeaks === false)
    if (typeof options.detectLeaks === 'object') expect(config.detectLeaks).toMatchObject({ every: options.detectLeaks.every ?? 1, memory: options.detectLeaks.memory === false ? undefined : expect.any(Object) })
    expect(isResolved(config)).toBe(true)
    expect(resolveOptions(config)).toBe(config)
  })

  it('only what resolveOptions made counts as resolved: a copy of it is user input, validated again', () => {
    const config = resolveOptions({ logger: false })
    expect(isResolved({ ...config })).toBe(false)
    expect(() => resolveOptions({ ...config })).toThrow(/unknown option 'allowPaths'/)
    expect(() => new CleanupScope({ ...config } as never)).toThrow(CleanupConfigError)
  })

  it('the allow-lists cannot be changed after the fact', () => {
    const s3: string[] = ['scratch-bucket/tmp/']
    const config = resolveOptions({ logger: false, allow: { s3 } })
    s3.push('other-bucket')
    expect(config.allowS3).toEqual(['scratch-bucket/tmp/'])
    expect(() => { (config.allowS3 as string[]).push('x') }).toThrow(TypeError)
    expect(() => { (config as { timeoutMs: number }).timeoutMs = 1 }).toThrow(TypeError)
  })
})

describe('flushLeftovers() never throws (it runs on the way out), so it says what is wrong', () => {
  it('a misspelt key is logged with the fix, and the flush still runs', async () => {
    const logger = recordingLogger()
    const report = await flushLeftovers({ timeoutMs: 100, logger, recievedSignal: 'SIGTERM' } as never)
    expect(report.exitPath).toBe('shutdown')
    expect(logger.lines.map((l) => l.message)).toContainEqual(expect.stringMatching(/unknown option 'recievedSignal'\. Did you mean 'receivedSignal'\?/))
  })

  it('a receivedSignal that is not a name is logged', async () => {
    const logger = recordingLogger()
    await flushLeftovers({ timeoutMs: 100, logger, receivedSignal: 15 as never })
    expect(logger.lines.map((l) => l.message)).toContainEqual(expect.stringContaining("option 'receivedSignal' must be the signal's name"))
  })
})

describe('a context whose getRemainingTimeInMillis() is not a number', () => {
  // A custom deleter that needs a few ticks: with a NaN budget its deadline expired at once
  // and a resource it did delete was reported failed.
  const store = new Set<string>()
  const slowDeleter: RemoteDeleter<RemoteResource & { key: string }> = {
    kind: 'memory',
    delete: async (resources) => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      for (const r of resources) store.delete(r.key)
      return { cleaned: resources, failed: [] }
    },
  }

  it.each([
    ['NaN', () => NaN],
    ['a string', () => 'soon'],
    ['undefined', () => undefined],
    ['a throw', () => { throw new Error('no deadline here') }],
  ])('returning %s: cleanup uses timeoutMs, deletes everything and reports it cleaned', async (_name, remaining) => {
    const { middy } = middyVersions[2]!
    const logger = recordingLogger()
    const reports: CleanupReport[] = []
    let file = ''
    const key = `k-${_name}`
    // Middy's own timeoutEarly reads the same function: off, so cleanup's budget is what is tested.
    const handler = middy({ timeoutEarlyInMillis: 0 }).use(cleanup({ logger, onReport: (r) => { reports.push(r) } })).handler(async (_e: unknown, context: any) => {
      file = await context.cleanup.tempFile()
      store.add(key)
      context.cleanup.trackRemote(slowDeleter, { kind: 'memory', id: `memory://${key}`, key })
      return 'ok'
    })
    await expect(handler({}, { ...lambdaContext(), getRemainingTimeInMillis: remaining })).resolves.toBe('ok')
    const own = reports.filter((r) => r.exitPath === 'success') // the first invocation may also report a sweep
    expect(own).toHaveLength(1)
    expect(own[0]).toMatchObject({ exitPath: 'success', failed: [], resources: 2, cleaned: 2 })
    expect(existsSync(file)).toBe(false)
    expect(store.has(key)).toBe(false)
    expect(logger.lines.filter((l) => l.message.includes('NaN ms'))).toEqual([])
  })
})
