// G4 (leak part): an `onLeak` that throws, rejects or hangs — and a logger that throws
// while a leak is reported — never changes the handler's outcome (the same value
// object, the same error object) and never holds cleanup up: the invocation settles,
// what it declared is removed, the report reaches onReport with its findings.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync } from 'node:fs'
import { runInNewContext } from 'node:vm'
import { cleanup, watch, type CleanupReport } from '../src/index.js'
import { processState } from '../src/registry.js'
import { lambdaContext, middyVersions } from './support/middy.js'

/** A value whose every use throws: instanceof, property reads, conversion to a string. */
const hostile = (): unknown => new Proxy({}, {
  getPrototypeOf () { throw new Error('hostile: getPrototypeOf') },
  get () { throw new Error('hostile: get') },
  has () { throw new Error('hostile: has') },
  ownKeys () { throw new Error('hostile: ownKeys') },
  getOwnPropertyDescriptor () { throw new Error('hostile: getOwnPropertyDescriptor') },
})

/** What a misbehaving onLeak does; each returns what onLeak returns (or throws). */
const BEHAVIOURS = {
  'throws an Error': () => { throw new Error('metrics down') },
  'throws null': () => { throw null }, // eslint-disable-line no-throw-literal
  'throws a hostile value': () => { throw hostile() },
  'throws an Error whose name getter throws': () => { throw Object.defineProperty(new Error('x'), 'name', { get () { throw new Error('name getter') } }) },
  'rejects with an Error': () => Promise.reject(new Error('metrics down')),
  'rejects with a hostile value': () => Promise.reject(hostile()),
  'rejects from another realm (not an instance of this Promise)': () => runInNewContext('Promise.reject(new Error("other realm"))') as unknown,
  'returns a thenable whose then throws': () => ({ then () { throw new Error('then') } }),
  'returns a hostile value': () => hostile(),

  'hangs (a promise that never settles)': () => new Promise(() => {}),
  'mutates the finding': (f: any) => { f.details = null; f.kind = 'nonsense' },
} as const
type Behaviour = keyof typeof BEHAVIOURS

const LOGGERS = {
  'a recording logger': (lines: string[]) => ({ warn: (m: string) => { lines.push(m) }, error: (m: string) => { lines.push(m) } }),
  'a logger that throws': (lines: string[]) => ({ warn: (m: string) => { lines.push(m); throw new Error('logger down') }, error: () => { throw new Error('logger down') } }),
} as const
type LoggerKind = keyof typeof LOGGERS

const unhandled: unknown[] = []
const onUnhandled = (e: unknown): void => { unhandled.push(e) }
beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
  for (const key of [...processState().warned]) if (key.startsWith('leak:')) processState().warned.delete(key)
})
afterEach(() => { process.off('unhandledRejection', onUnhandled) })

/** Lets rejections nobody handled surface as 'unhandledRejection'. */
const turns = async (k: number): Promise<void> => { for (let i = 0; i < k; i++) await new Promise((resolve) => setImmediate(resolve)) }

/**
 * One invocation with a watched value that grows (confirm: 1, so it is a finding at
 * once), a declared temp file, and the handler returning `outcome` (or throwing it).
 */
const once = async (major: number, behaviour: Behaviour, loggerKind: LoggerKind, outcome: 'value' | 'error') => {
  const middy = middyVersions.find((v) => v.major === major)!.middy
  const grows: number[] = []
  const unwatch = watch(`onleak-${major}-${outcome}`, () => grows.length)
  const lines: string[] = []
  const reports: CleanupReport[] = []
  let onLeakCalls = 0
  let file = ''
  const value = { ok: true }
  const error = new Error('handler failed')
  try {
    const handler = middy()
      .use(cleanup({
        detectLeaks: { confirm: 1, handles: false, tmp: false, memory: false, onLeak: (f) => { onLeakCalls++; return (BEHAVIOURS[behaviour] as (f: unknown) => void)(f) } },
        logger: LOGGERS[loggerKind](lines),
        // the start-of-process sweep reports too ('leftovers') when other test files' dead
        // children left dirs in the shared os.tmpdir(): only the invocation's own report counts
        onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) },
      }))
      .handler(async (_e: unknown, context: any) => {
        file = await context.cleanup.tempFile()
        grows.push(1)
        if (outcome === 'error') throw error
        return value
      })
    const settled = await handler({}, lambdaContext()).then((v: unknown) => ({ v }), (e: unknown) => ({ e }))
    await turns(5)
    return { settled, value, error, lines, reports, onLeakCalls, fileLeft: existsSync(file) }
  } finally { unwatch() }
}

describe.each(middyVersions.map((v) => v.major))('Middy %i', (major) => {
  it.each(Object.keys(BEHAVIOURS) as Behaviour[])('an onLeak that %s: the same value object, the same error object; cleanup done, report delivered', async (behaviour) => {
    for (const outcome of ['value', 'error'] as const) {
      const r = await once(major, behaviour, 'a recording logger', outcome)
      expect(r.onLeakCalls).toBe(1)
      if (outcome === 'value') expect(r.settled).toEqual({ v: r.value })
      else expect(r.settled).toEqual({ e: r.error })
      if ('v' in r.settled) expect(r.settled.v).toBe(r.value)
      else expect(r.settled.e).toBe(r.error)
      expect(r.fileLeft).toBe(false)
      expect(r.reports).toHaveLength(1)
      expect(r.reports[0]!.leaks?.length).toBe(1)
      // what onLeak did to its finding is not in the report
      expect(r.reports[0]!.leaks![0]).toMatchObject({ kind: 'globals', details: { invocations: 1 } })
      expect(unhandled).toEqual([])
    }
  })
})

it('what a throwing or rejecting onLeak did is logged, named', async () => {
  const thrown = await once(7, 'throws an Error', 'a recording logger', 'value')
  expect(thrown.lines).toContain('cleanup: onLeak threw: Error: metrics down')
  const rejected = await once(7, 'rejects with an Error', 'a recording logger', 'value')
  expect(rejected.lines).toContain('cleanup: onLeak threw: Error: metrics down')
  const otherRealm = await once(7, 'rejects from another realm (not an instance of this Promise)', 'a recording logger', 'value')
  expect(otherRealm.lines).toContain('cleanup: onLeak threw: Error: other realm')
  const hostileValue = await once(7, 'throws a hostile value', 'a recording logger', 'value')
  expect(hostileValue.lines.some((l) => l.startsWith('cleanup: onLeak threw: '))).toBe(true)
})

test.prop({
  major: fc.constantFrom(...middyVersions.map((v) => v.major)),
  behaviour: fc.constantFrom(...(Object.keys(BEHAVIOURS) as Behaviour[])),
  logger: fc.constantFrom(...(Object.keys(LOGGERS) as LoggerKind[])),
  outcome: fc.constantFrom('value' as const, 'error' as const),
}, { numRuns: 60 })('property: whatever onLeak and the logger do, the outcome object is the handler\'s and cleanup completes', async ({ major, behaviour, logger, outcome }) => {
  const r = await once(major, behaviour, logger, outcome)
  if (outcome === 'value') expect('v' in r.settled && r.settled.v === r.value).toBe(true)
  else expect('e' in r.settled && r.settled.e === r.error).toBe(true)
  expect(r.onLeakCalls).toBe(1)
  expect(r.fileLeft).toBe(false)
  expect(r.reports).toHaveLength(1)
  expect(unhandled).toEqual([])
})
