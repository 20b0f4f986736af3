// G9 (shape): report.failed[].error is plain JSON — { name, message, code? } — so
// JSON.stringify(report), what every structured logger does, keeps every reason (issue
// 12 obs 12: an Error printed "error":{}). The engine converts whatever a deleter or
// disposer threw, hostile values included, and never throws itself. Pure engine logic:
// disposers and an in-memory deleter stand in for services.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { CleanupError, CleanupScope, type RemoteDeleter, type RemoteResource } from '../src/index.js'

const quiet = { warn: () => {}, error: () => {} }

class CodedError extends Error {
  override name = 'CodedError'
  constructor (message: string, readonly code: string) { super(message) }
}

const hostile = (): Array<[string, unknown]> => {
  const getterThrows = Object.defineProperty(new Error('hidden'), 'message', { get () { throw new Error('no message for you') } })
  const nameThrows = Object.defineProperty({}, 'name', { get () { throw new Error('no name') } })
  const cyclic: Record<string, unknown> = { why: 'cyclic' }
  cyclic.self = cyclic
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return [
    ['an Error with a code', new CodedError('denied', 'AccessDenied')],
    ['a string', 'c failed'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a plain object', { code: 'Throttling', message: 'slow down' }],
    ['an Error whose message getter throws', getterThrows],
    ['an object whose name getter throws', nameThrows],
    ['a cyclic object', cyclic],
    ['a revoked Proxy', proxy],
    ['a BigInt', 10n],
    ['a symbol', Symbol('s')],
  ]
}

describe('report.failed[].error is plain JSON, whatever was thrown', () => {
  it('every thrown value becomes { name, message, code? } that JSON.stringify keeps', async () => {
    const cases = hostile()
    const scope = new CleanupScope({ logger: quiet })
    for (const [label, value] of cases) {
      const fn = (): never => { throw value }
      Object.defineProperty(fn, 'name', { value: label })
      scope.defer(fn)
    }
    const report = await scope.dispose()
    expect(report.failed).toHaveLength(cases.length)
    const parsed = JSON.parse(JSON.stringify(report)) as typeof report
    expect(parsed.failed).toEqual(report.failed) // nothing lost in JSON
    for (const f of parsed.failed) {
      expect(Object.keys(f.error).sort()).toEqual(f.error.code === undefined ? ['message', 'name'] : ['code', 'message', 'name'])
      expect(typeof f.error.name).toBe('string')
      expect(typeof f.error.message).toBe('string')
    }
    const byLabel = Object.fromEntries(parsed.failed.map((f) => [f.id.replace(/^defer /, ''), f.error]))
    expect(byLabel['an Error with a code']).toEqual({ name: 'CodedError', message: 'denied', code: 'AccessDenied' })
    expect(byLabel['a string']).toEqual({ name: 'NonError', message: 'c failed' })
    expect(byLabel.null).toEqual({ name: 'NonError', message: 'null' })
    expect(byLabel['a plain object']).toEqual({ name: 'NonError', message: 'slow down', code: 'Throttling' })
    expect(byLabel['a cyclic object']!.message).toContain('[object Object]')
  })

  test.prop([fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true })], { numRuns: 100 })(
    'the conversion never throws, and its result survives JSON',
    async (value) => {
      const scope = new CleanupScope({ logger: quiet })
      scope.defer(() => { throw value })
      scope.defer(async () => { throw value })
      const report = await scope.dispose()
      expect(report.failed).toHaveLength(2)
      expect(JSON.parse(JSON.stringify(report.failed))).toEqual(report.failed)
    },
  )

  it('a deleter failure keeps its name, message and code in JSON; CleanupError rebuilds Errors from them', async () => {
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources) => ({ cleaned: [], failed: resources.map((resource) => ({ resource, error: new CodedError(`${resource.id} is locked`, 'Locked'), retryable: false })), requests: 1 }),
    }
    const scope = new CleanupScope({ logger: quiet })
    scope.trackRemote(deleter, { kind: 'memory', id: 'memory://a' })
    const report = await scope.dispose()
    expect(JSON.stringify(report)).toContain('"error":{"name":"CodedError","message":"memory://a is locked","code":"Locked"}')
    const error = new CleanupError(report)
    expect(error.errors).toHaveLength(1)
    expect(error.errors[0]).toBeInstanceOf(Error)
    expect(error.errors[0]).toMatchObject({ name: 'CodedError', message: 'memory://a is locked', code: 'Locked' })
  })
})
