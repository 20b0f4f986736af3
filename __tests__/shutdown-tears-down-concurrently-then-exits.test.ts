import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { CleanupConfigError } from '../src/errors.js'
import { onShutdown, shutdown } from '../src/shutdown.js'
import { type Child, type ChildEvent, spawnFixture, startTcpServer } from './fixtures/shutdown-harness.js'

type Report = { signal: string, teardowns: Array<{ name: string, status: string, error?: { message: string } }>, cleanup?: unknown }

const reports = (child: Child): Report[] => child.events.filter((e) => e.event === 'report').map((e) => e.report as Report)
const statusOf = (report: Report): Record<string, string> => Object.fromEntries(report.teardowns.map((t) => [t.name, t.status]))
const order = (child: Child): string[] => child.events.filter((e) => e.event === 'start' || e.event === 'end').map((e) => `${e.event}:${String(e.name)}`)
const isReady = (e: ChildEvent): boolean => e.event === 'ready'

describe('shutdown() in a real child process, real SIGTERM', () => {
  let server: Awaited<ReturnType<typeof startTcpServer>>
  beforeEach(async () => { server = await startTcpServer() })
  afterEach(async () => { await server.stop() })

  const run = (scenario: string, env: Record<string, string> = {}): Child =>
    spawnFixture('shutdown-child.ts', { SCENARIO: scenario, SERVER_PORT: String(server.port), ...env })

  it('runs three ~100 ms teardowns concurrently, closes every connection, reports each, exits 0', async () => {
    const child = run('three')
    await child.waitFor(isReady)
    expect(child.events.find((e) => e.event === 'invoked')?.response).toEqual({ ok: true })
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    // Concurrent: every teardown started before any finished.
    const seen = order(child)
    expect(seen.slice(0, 3).sort()).toEqual(['start:a', 'start:b', 'start:c'])
    expect(seen.slice(3).sort()).toEqual(['end:a', 'end:b', 'end:c'])
    await server.allClosed(3)
    expect(server.connections.map((c) => [c.name, c.goodbye]).sort()).toEqual([['a', true], ['b', true], ['c', true]])
    const [report, ...more] = reports(child)
    expect(more).toEqual([])
    expect(report?.signal).toBe('SIGTERM')
    expect(statusOf(report!)).toEqual({ a: 'ok', b: 'ok', c: 'ok' })
    // no cleanup() in this process: nothing registered a flush, so an empty one is reported (not a missed deadline)
    expect(report?.cleanup).toMatchObject({ exitPath: 'shutdown', resources: 0, cleaned: 0, failed: [] })
    const logged = child.events.filter((e) => e.event === 'log' && String(e.message).startsWith('shutdown: SIGTERM handled'))
    expect(logged).toHaveLength(1)
    expect(logged[0]?.level).toBe('info')
  })

  it('exits 0 by the deadline when a teardown never settles, and reports it timed out', async () => {
    const child = run('hang', { TIMEOUT_MS: '400' })
    await child.waitFor(isReady)
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    const [report] = reports(child)
    expect(statusOf(report!)).toEqual({ a: 'ok', stuck: 'timed-out' })
    await server.allClosed(2)
    expect(Object.fromEntries(server.connections.map((c) => [c.name, c.goodbye]))).toEqual({ a: true, stuck: false })
    expect(child.events.filter((e) => e.event === 'log' && e.level === 'warn' && String(e.message).includes('stuck timed-out'))).toHaveLength(1)
  })

  it('still runs the other teardowns when one throws synchronously and one rejects', async () => {
    const child = run('throws')
    await child.waitFor(isReady)
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    const [report] = reports(child)
    expect(statusOf(report!)).toEqual({ a: 'ok', 'sync-throw': 'failed', rejects: 'failed', b: 'ok' })
    const errors = Object.fromEntries(report!.teardowns.map((t) => [t.name, t.error?.message]))
    expect(errors).toEqual({ a: undefined, 'sync-throw': 'boom (sync)', rejects: 'boom (async)', b: undefined })
    await server.allClosed(2)
    expect(server.connections.every((c) => c.goodbye)).toBe(true)
  })

  it('installs one SIGTERM listener however often shutdown() is called, even from two copies of the module', async () => {
    const child = run('twice')
    await child.waitFor(isReady)
    expect(child.events.find((e) => e.event === 'listeners')).toEqual({ event: 'listeners', SIGTERM: 1, SIGINT: 0 })
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    // The teardown registered through the second copy ran in the one shutdown.
    expect(reports(child).map(statusOf)).toEqual([{ a: 'ok' }])
    expect(server.connections.map((c) => c.goodbye)).toEqual([true])
  })

  it('handles a signal that arrives during an invocation', async () => {
    const child = run('during-invocation')
    await child.waitFor((e) => e.event === 'invocation-start')
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(child.events.some((e) => e.event === 'invocation-end')).toBe(false)
    expect(reports(child).map(statusOf)).toEqual([{ a: 'ok' }])
    await server.allClosed(1)
    expect(server.connections[0]?.goodbye).toBe(true)
  })

  it('ignores a second signal during the shutdown: one run, one report, exit 0', async () => {
    const child = run('second-signal')
    await child.waitFor(isReady)
    child.proc.kill('SIGTERM')
    await child.waitFor((e) => e.event === 'start')
    child.proc.kill('SIGTERM')
    child.proc.kill('SIGTERM')
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(order(child).filter((s) => s.startsWith('start:')).sort()).toEqual(['start:a', 'start:b'])
    expect(reports(child)).toHaveLength(1)
    expect(statusOf(reports(child)[0]!)).toEqual({ a: 'ok', b: 'ok' })
    expect(child.events.filter((e) => e.event === 'log' && e.level === 'debug' && String(e.message).includes('ignored')).length).toBeGreaterThanOrEqual(1)
  })

  it("the report is plain JSON: JSON.stringify keeps each failed teardown's and listener's reason", async () => {
    // shutdown-neighbour.ts hands onReport's report to JSON.stringify as is, as a structured logger does.
    const spec = {
      timeoutMs: 1000,
      listeners: [{ name: 'rejectingListener', when: 'before', kind: 'reject', ms: 5, once: false }],
      teardowns: [{ name: 'throwingTeardown', kind: 'throw', ms: 0 }],
    }
    const child = spawnFixture('shutdown-neighbour.ts', { SPEC: JSON.stringify(spec) })
    await child.waitFor(isReady)
    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })

    const [report] = child.events.filter((e) => e.event === 'report').map((e) => e.report as { teardowns: unknown[], listeners: unknown[] })
    expect(report?.teardowns).toEqual([{ name: 'throwingTeardown', status: 'failed', durationMs: expect.any(Number), error: { name: 'Error', message: 'throwingTeardown throws' } }])
    expect(report?.listeners).toContainEqual({ name: 'rejectingListener', status: 'failed', durationMs: expect.any(Number), error: { name: 'Error', message: 'rejectingListener rejects' } })
  })

  it('on Lambda Managed Instances installs no listener and warns once', async () => {
    const child = run('managed', { AWS_LAMBDA_MAX_CONCURRENCY: '4' })
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(child.events.find((e) => e.event === 'listeners')).toEqual({ event: 'listeners', SIGTERM: 0, ready: { state: 'skipped', reason: 'Lambda Managed Instances' } })
    const warnings = child.events.filter((e) => e.event === 'log' && e.level === 'warn')
    expect(warnings).toHaveLength(1)
    expect(String(warnings[0]?.message)).toContain('AWS_LAMBDA_MAX_CONCURRENCY')
  })

  it('on Lambda Managed Instances, the host runs the teardowns with shutdown().run(): each closes its connection, one run per process', async () => {
    const child = run('managed-run', { AWS_LAMBDA_MAX_CONCURRENCY: '4' })
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.events.find((e) => e.event === 'listeners')).toMatchObject({ SIGTERM: 0, ready: { state: 'skipped' } })
    const [report] = child.events.filter((e) => e.event === 'report').map((e) => e.report as { teardowns: Array<{ name: string, status: string }> })
    expect(report?.teardowns.map((t) => [t.name, t.status])).toEqual([['a', 'ok']])
    expect(child.events.find((e) => e.event === 'ran')).toEqual({ event: 'ran', same: true, signal: 'manual' })
    await server.allClosed(1)
    expect(server.connections.map((c) => [c.name, c.goodbye])).toEqual([['a', true]])
  })
})

// In-process: only what wires nothing (validation fails before any listener is added).
describe('shutdown() options and onShutdown() registry', () => {
  it.each([
    [{ timeoutMs: -1 }, "shutdown: option 'timeoutMs' must be a positive integer number of milliseconds; got -1. Pass e.g. { timeoutMs: 400 }."],
    [{ timeoutMs: 1.5 }, "option 'timeoutMs' must be a positive integer"],
    [{ timeoutMs: '400' }, "option 'timeoutMs' must be a positive integer number of milliseconds; got string"],
    [{ timeOutMs: 400 }, "shutdown: unknown option 'timeOutMs'. Known options: timeoutMs, exit, logger, onReport, registerExtension, signals. Check the spelling."],
    [{ exit: 'no' }, "option 'exit' must be a boolean"],
    [{ logger: {} }, "option 'logger' must have warn() and error() methods"],
    [{ onReport: 'x' }, "option 'onReport' must be a function"],
    [{ registerExtension: 'yes' }, "option 'registerExtension' must be 'auto', true or false; got 'yes'"],
    [{ signals: 'SIGTERM' }, "option 'signals' must be a non-empty array of catchable signal names (not SIGKILL or SIGSTOP); got string"],
    [{ signals: [] }, 'got an empty array'],
    [{ signals: ['SIGKILL'] }, "got 'SIGKILL' in the array"],
    [{ signals: ['SIGTREM'] }, "got 'SIGTREM' in the array"],
    [[], 'shutdown: options must be an object; got array'],
  ])('rejects %j with a CleanupConfigError naming the option and the fix', (options, message) => {
    const before = process.listenerCount('SIGTERM')
    let thrown: unknown
    try { shutdown(options as never) } catch (e) { thrown = e }
    expect(thrown).toBeInstanceOf(CleanupConfigError)
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as Error).message).toContain(message)
    expect(process.listenerCount('SIGTERM')).toBe(before)
  })

  it('throws on a duplicate name until the first one is unregistered', () => {
    const first = onShutdown('dup', () => {})
    expect(() => onShutdown('dup', () => {})).toThrow(new CleanupConfigError("onShutdown: a teardown named 'dup' is already registered. Call the function the first onShutdown('dup', …) returned to unregister it, or pick another name."))
    first()
    first() // idempotent
    const second = onShutdown('dup', () => {})
    first() // a stale unregister does not remove the newer teardown
    expect(() => onShutdown('dup', () => {})).toThrow(CleanupConfigError)
    second()
  })

  it.each([
    ['', () => {}, 'the name must be a non-empty string'],
    [42, () => {}, 'the name must be a non-empty string; got number'],
    ['x', 'nope', "the teardown for 'x' must be a function"],
  ])('rejects onShutdown(%j, …)', (name, fn, message) => {
    expect(() => onShutdown(name as never, fn as never)).toThrow(message)
  })
})
