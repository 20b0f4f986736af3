// G4: the outcome is the handler's. Whatever the logger, onReport, a disposer or a
// custom deleter does — throws, rejects, hangs past the deadline, returns garbage —
// the invocation returns the very same value object or rejects with the very same
// error object (toBe), on Middy 5, 6 and 7, cleanup() registered first or last.
// The failing logger, hooks and deleters are test doubles on purpose: these are faults
// of user code, which no server produces. Everything else (Middy, files) is real.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync } from 'node:fs'
import { cleanup, type CleanupReport, type RemoteDeleter, type RemoteResource } from '../src/index.js'
import { flushLeftovers } from './support/internals.js'
import { gate, lambdaContext, middyVersions, ourInvocationDirs } from './support/middy.js'

const never = new Promise<never>(() => {})
// Disposers and deleters "hang" on this until every property run is over; then what
// the hangs kept (LIFO: files declared before them) is flushed, so this process leaves
// no temp dir for the next test process to sweep.
const hang = gate()
let released = false

// An unhandled rejection would crash a Lambda process (Node ≥ 15): that changes the
// outcome as surely as a replaced error, so none may be left behind.
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
beforeAll(() => { process.on('unhandledRejection', onUnhandled) })
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled)
  released = true
  hang.open()
  for (let i = 0; i < 3 && (await ourInvocationDirs()).length > 0; i++) await flushLeftovers({ timeoutMs: 5000, logger: false })
  expect(await ourInvocationDirs()).toEqual([])
})
const settleTicks = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

class MyError extends Error { override name = 'MyError' }

describe('observation 5: a logger that throws does not replace the outcome', () => {
  const loggerDown = () => { throw new Error('logger down') }
  const throwingLogger = { warn: loggerDown, error: loggerDown, debug: loggerDown, info: loggerDown }

  it.each(middyVersions)('Middy $major: a returned value comes back as the very same object', async ({ middy }) => {
    const result = { ok: true }
    const handler = middy()
      .use(cleanup({ logger: throwingLogger, timeoutMs: 50 }))
      .handler(async (_e: unknown, context: any) => {
        context.cleanup.defer(() => { throw new Error('disposer failed') }) // a failure to log
        return result
      })
    await expect(handler({}, lambdaContext())).resolves.toBe(result)
  })

  it.each(middyVersions)('Middy $major: a thrown MyError comes back as the very same error, no cause added', async ({ middy }) => {
    const error = new MyError('handler failed')
    const handler = middy()
      .use(cleanup({ logger: throwingLogger, timeoutMs: 50 }))
      .handler(async (_e: unknown, context: any) => {
        context.cleanup.defer(() => { throw new Error('disposer failed') })
        throw error
      })
    const outcome = await handler({}, lambdaContext()).catch((e: unknown) => e)
    expect(outcome).toBe(error)
    expect((outcome as Error).cause).toBeUndefined()
  })
})

type LoggerMode = 'console-like ok' | 'throws' | 'rejects' | 'function that throws' | 'false'
type HookMode = 'none' | 'throws' | 'rejects' | 'hangs'
type DeleterMode = 'none' | 'ok' | 'throws sync' | 'rejects' | 'hangs' | 'returns undefined' | 'returns garbage' | 'reports strangers'

const loggerFor = (mode: LoggerMode, levels: Set<string>): unknown => {
  if (mode === 'false') return false
  if (mode === 'function that throws') return () => { throw new Error('function logger down') }
  const level = (name: string) => {
    if (!levels.has(name) || mode === 'console-like ok') return () => {}
    if (mode === 'throws') return () => { throw new Error(`${name} down`) }
    return async () => { throw new Error(`${name} rejected`) }
  }
  return { warn: level('warn'), error: level('error'), debug: level('debug'), info: level('info') }
}

const deleterFor = (mode: DeleterMode): RemoteDeleter<RemoteResource> => ({
  kind: 'memory',
  delete: (resources) => {
    switch (mode) {
      case 'throws sync': throw new Error('deleter threw')
      case 'rejects': return Promise.reject(new Error('deleter rejected'))
      case 'hangs': return released ? Promise.resolve({ cleaned: resources, failed: [] }) : hang.promise.then(() => ({ cleaned: resources, failed: [] }))
      case 'returns undefined': return Promise.resolve(undefined as never)
      case 'returns garbage': return Promise.resolve({ cleaned: 'all of them', failed: 42, requests: 'many' } as never)
      case 'reports strangers': return Promise.resolve({ cleaned: [{ kind: 'memory', id: 'stranger' }], failed: [{ resource: null, error: 'x', retryable: true }] } as never)
      default: return Promise.resolve({ cleaned: resources, failed: [] })
    }
  },
})

const disposerFor = (mode: HookMode): (() => unknown) => {
  switch (mode) {
    case 'throws': return () => { throw new Error('disposer threw') }
    case 'rejects': return async () => { throw new Error('disposer rejected') }
    case 'hangs': return () => hang.promise
    default: return () => undefined
  }
}

const onReportFor = (mode: HookMode): ((r: CleanupReport) => unknown) | undefined => {
  switch (mode) {
    case 'none': return undefined
    case 'throws': return () => { throw new Error('onReport threw') }
    case 'rejects': return async () => { throw new Error('onReport rejected') }
    default: return () => never
  }
}

const scenario = fc.record({
  major: fc.constantFrom(0, 1, 2),
  exit: fc.constantFrom('returns' as const, 'throws' as const, 'throws a non-Error' as const),
  cleanupFirst: fc.boolean(),
  logger: fc.constantFrom<LoggerMode>('console-like ok', 'throws', 'rejects', 'function that throws', 'false'),
  failingLevels: fc.subarray(['warn', 'error', 'debug', 'info'], { minLength: 1 }),
  onReport: fc.constantFrom<HookMode>('none', 'throws', 'rejects', 'hangs'),
  disposer: fc.constantFrom<HookMode>('none', 'throws', 'rejects', 'hangs'),
  deleter: fc.constantFrom<DeleterMode>('none', 'ok', 'throws sync', 'rejects', 'hangs', 'returns undefined', 'returns garbage', 'reports strangers'),
})

let n = 0
describe('the outcome is the handler\'s, whatever fails around it', () => {
  test.prop([scenario], { numRuns: 60 })('the same value object / the same error object comes back', async (s) => {
    const { middy } = middyVersions[s.major]!
    const result = { value: ++n }
    const error = s.exit === 'throws a non-Error' ? { notAnError: n } : new MyError(`failure ${n}`)
    const stack = error instanceof Error ? error.stack : undefined
    let file = ''
    const mw = cleanup({
      logger: loggerFor(s.logger, new Set(s.failingLevels)) as never,
      onReport: onReportFor(s.onReport) as never,
      // Short only where something hangs (so a run stays quick); generous otherwise, so
      // the file check below does not depend on how loaded the machine is.
      timeoutMs: s.disposer === 'hangs' || s.deleter === 'hangs' ? 40 : 5000,
    })
    // A neighbour middleware with an async after, so cleanup's after is not the only one.
    const neighbour = { after: async () => { await new Promise((resolve) => setImmediate(resolve)) } }
    let chain = middy()
    chain = s.cleanupFirst ? chain.use(mw).use(neighbour) : chain.use(neighbour).use(mw)
    const handler = chain.handler(async (_e: unknown, context: any) => {
      file = await context.cleanup.tempFile()
      context.cleanup.defer(disposerFor(s.disposer))
      if (s.deleter !== 'none') context.cleanup.trackRemote(deleterFor(s.deleter), { kind: 'memory', id: `memory://${n}` })
      if (s.exit === 'returns') return result
      throw error
    })

    const outcome = await handler({}, lambdaContext()).then((value: unknown) => ({ value }), (thrown: unknown) => ({ thrown }))
    if (s.exit === 'returns') {
      expect(outcome).toEqual({ value: result })
      expect((outcome as { value: unknown }).value).toBe(result)
    } else {
      expect((outcome as { thrown: unknown }).thrown).toBe(error)
      if (stack !== undefined) expect((error as Error).stack).toBe(stack)
    }
    // Cleanup still did its job around the failures: the temp file is gone (unless a
    // disposer or deleter declared after it hangs: LIFO, the file waits for it).
    if (s.disposer !== 'hangs' && s.deleter !== 'hangs') expect(existsSync(file)).toBe(false)
    await settleTicks()
    expect(unhandled).toEqual([])
  })
})

describe('failOnCleanupError: the one documented exception', () => {
  it.each(middyVersions)('Middy $major: only on the success path, and a failing logger does not change which error', async ({ middy }) => {
    const error = new MyError('primary')
    const handler = (fail: boolean) => middy()
      .use(cleanup({ failOnCleanupError: true, logger: { warn: () => { throw new Error('down') }, error: () => { throw new Error('down') } } }))
      .handler(async (_e: unknown, context: any) => {
        context.cleanup.defer(() => { throw new Error('disposer failed') })
        if (fail) throw error
        return 'ok'
      })
    await expect(handler(false)({}, lambdaContext())).rejects.toMatchObject({ name: 'CleanupError' })
    await expect(handler(true)({}, lambdaContext())).rejects.toBe(error)
  })
})
