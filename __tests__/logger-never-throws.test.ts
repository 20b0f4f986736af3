// G4, logger part, at unit level: every logger the package writes to goes through
// resolveLogger(), whose wrapper never throws and never leaves a rejected promise behind,
// whatever the configured logger does; a broken logger is said once on console.error.
// outcome-is-the-handlers.test.ts proves the outcome end to end on Middy 5/6/7; these
// run in milliseconds, so the mutation run (npm run mutation) can afford them per mutant.
// The loggers are test doubles on purpose: a throwing transport is a fault of user code.
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { CleanupConfigError } from '../src/index.js'
import { isLogger, resolveLogger } from '../src/logger.js'

const ticks = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)) }

afterEach(() => { jest.restoreAllMocks() })

describe('resolveLogger: what each logger option becomes', () => {
  it('undefined is console, called as console\'s own methods with every argument', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {})
    const error = jest.spyOn(console, 'error').mockImplementation(() => {})
    const info = jest.spyOn(console, 'info').mockImplementation(() => {})
    const debug = jest.spyOn(console, 'debug').mockImplementation(() => {})
    const logger = resolveLogger(undefined, 'cleanup')
    logger.warn('w', { a: 1 })
    logger.error('e')
    logger.info('i', 2, 3)
    logger.debug('d')
    expect(warn.mock.calls).toEqual([['w', { a: 1 }]])
    expect(error.mock.calls).toEqual([['e']])
    expect(info.mock.calls).toEqual([['i', 2, 3]])
    expect(debug.mock.calls).toEqual([['d']])
  })

  it('false is silent, and safe', () => {
    const spies = (['warn', 'error', 'info', 'debug'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => {}))
    const logger = resolveLogger(false, 'cleanup')
    for (const m of ['warn', 'error', 'info', 'debug'] as const) expect(() => logger[m]('x')).not.toThrow()
    for (const spy of spies) expect(spy).not.toHaveBeenCalled()
  })

  it('a logger already resolved is used as it is (not wrapped twice)', () => {
    const logger = resolveLogger({ warn: () => {}, error: () => {} }, 'cleanup')
    expect(resolveLogger(logger, 'shutdown')).toBe(logger)
    expect(resolveLogger(resolveLogger(false, 'a'), 'b')).toBe(resolveLogger(false, 'c'))
  })

  it('a function gets warn, error and info lines with their extra arguments, never debug lines', () => {
    const calls: unknown[][] = []
    const logger = resolveLogger((message: string, ...extra: unknown[]) => { calls.push([message, ...extra]) }, 'cleanup')
    logger.warn('w', { report: 1 })
    logger.error('e')
    logger.info('i')
    logger.debug('d')
    expect(calls).toEqual([['w', { report: 1 }], ['e'], ['i']])
  })

  it('an object logger is called as methods (a class logger keeps its this); missing info/debug are skipped', () => {
    class Pt {
      readonly #lines: string[] = []
      get lines (): string[] { return this.#lines }
      warn (message: string, ...extra: unknown[]): void { this.#lines.push(`warn ${message} ${JSON.stringify(extra)}`) }
      error (message: string): void { this.#lines.push(`error ${message}`) }
    }
    const said = jest.spyOn(console, 'error').mockImplementation(() => {})
    const target = new Pt()
    const logger = resolveLogger(target, 'cleanup')
    logger.warn('w', { cleanupReport: 1 })
    logger.error('e')
    logger.info('i')
    logger.debug('d')
    expect(target.lines).toEqual(['warn w [{"cleanupReport":1}]', 'error e'])
    expect(said).not.toHaveBeenCalled() // a missing optional method is not a broken logger
    const withAll = { lines: [] as string[], warn () {}, error () {}, info (m: string) { this.lines.push(`info ${m}`) }, debug (m: string) { this.lines.push(`debug ${m}`) } }
    const all = resolveLogger(withAll, 'cleanup')
    all.info('i')
    all.debug('d')
    expect(withAll.lines).toEqual(['info i', 'debug d'])
  })

  it.each([
    ['null', null, /option 'logger' must have warn\(\) and error\(\) methods .*; got null\. Pass e\.g\. \{ logger: console \}/],
    ['an empty object', {}, /got an object without warn\(\)/],
    ['an object with warn() only', { warn: () => {} }, /got an object without error\(\)/],
    ['an object whose warn is not a function', { warn: 'x', error: () => {} }, /got an object without warn\(\)/],
    ['a number', 5, /got number 5/],
    ['a string', 'console', /got string console/],
    ['true', true, /got boolean true/],
  ])('%s is refused with CleanupConfigError naming the owner and the fix', (_what, value, message) => {
    expect(() => resolveLogger(value, 'flushLeftovers')).toThrow(CleanupConfigError)
    expect(() => resolveLogger(value, 'flushLeftovers')).toThrow(/^flushLeftovers: option 'logger'/)
    expect(() => resolveLogger(value, 'flushLeftovers')).toThrow(message)
  })

  it('isLogger: an object with warn() and error() functions', () => {
    expect(isLogger(console)).toBe(true)
    expect(isLogger({ warn () {}, error () {} })).toBe(true)
    expect(isLogger({ warn () {} })).toBe(false)
    expect(isLogger({ error () {} })).toBe(false)
    expect(isLogger({ warn: 1, error () {} })).toBe(false)
    expect(isLogger(null)).toBe(false)
    expect(isLogger(() => {})).toBe(false)
  })
})

describe('a broken logger never throws through the wrapper, and is said once', () => {
  // "Said once" is once per module instance: each test takes its own instance of the module.
  it('a logger that returns something (null, a number, an object without then) is not broken; one that throws is swallowed and said once', async () => {
    const said = jest.spyOn(console, 'error').mockImplementation(() => {})
    // @ts-expect-error a query string makes jest load a separate instance of the module (its once-only flag fresh)
    const { resolveLogger: fresh } = await import('../src/logger.js?instance=sync') as typeof import('../src/logger.js')
    const odd = fresh({ warn: () => null, error: () => 42, info: () => ({ written: true }) }, 'cleanup')
    expect(() => { odd.warn('x'); odd.error('x'); odd.info('x') }).not.toThrow()
    await ticks()
    expect(said).not.toHaveBeenCalled()
    const throwing = fresh({ warn: () => { throw new TypeError('transport closed') }, error: () => { throw new Error('down') } }, 'cleanup')
    expect(() => throwing.warn('x')).not.toThrow()
    expect(said.mock.calls).toEqual([["middy-cleanup: the configured logger's warn() threw (TypeError: transport closed); its messages are dropped. This never changes the handler's outcome."]])
    expect(() => throwing.error('x')).not.toThrow()
    const fn = fresh(() => { throw 'a string' }, 'cleanup') // eslint-disable-line no-throw-literal
    expect(() => { fn.warn('x'); fn.error('x'); fn.info('x') }).not.toThrow()
    expect(said).toHaveBeenCalledTimes(1)
  })

  it('an async logger that rejects, or a thenable that fails: no unhandled rejection, said once', async () => {
    const said = jest.spyOn(console, 'error').mockImplementation(() => {})
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      // @ts-expect-error a query string makes jest load a separate instance of the module (its once-only flag fresh)
      const { resolveLogger: fresh } = await import('../src/logger.js?instance=async') as typeof import('../src/logger.js')
      const rejecting = fresh({ warn: () => {}, error: async () => { throw new Error('rejected') } }, 'cleanup')
      expect(() => rejecting.error('x')).not.toThrow()
      await ticks()
      expect(said.mock.calls).toEqual([["middy-cleanup: the configured logger's error() threw (Error: rejected); its messages are dropped. This never changes the handler's outcome."]])
      const thenable = fresh({ warn: () => ({ then: (_ok: unknown, fail: (e: unknown) => void) => fail('nope') }), error: () => {} }, 'cleanup')
      expect(() => thenable.warn('x')).not.toThrow()
      await ticks()
      expect(unhandled).toEqual([])
      expect(said).toHaveBeenCalledTimes(1)
    } finally { process.off('unhandledRejection', onUnhandled) }
  })
})
