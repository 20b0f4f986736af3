import { afterEach, describe, expect, it } from '@jest/globals'
import { type Child, cleanEnv, type FakeRuntimeApi, spawnChild, spawnFixture, startFakeRuntimeApi } from './fixtures/shutdown-harness.js'

const REGISTER = '/2020-01-01/extension/register'
const EVENT_NEXT = '/2020-01-01/extension/event/next'
const RUNTIME_NEXT = '/2018-06-01/runtime/invocation/next'

const extensionCalls = (api: FakeRuntimeApi): string[] => api.calls.filter((c) => c.path.startsWith('/2020-01-01/')).map((c) => `${c.method} ${c.path}`)
const warnings = (child: Child): string[] => child.events.filter((e) => e.event === 'log' && e.level === 'warn').map((e) => String(e.message))

describe('internal extension (in-process, registered by shutdown())', () => {
  let api: FakeRuntimeApi | undefined
  afterEach(async () => { await api?.stop(); api = undefined })

  it('registers during init, before the runtime asks for the first invocation, then keeps event/next pending; SIGTERM exits 0', async () => {
    api = await startFakeRuntimeApi()
    const child = spawnFixture('shutdown-runtime.ts', { AWS_LAMBDA_RUNTIME_API: api.address })
    await child.waitFor((e) => e.event === 'invoked')
    const register = await api.waitForCall((c) => c.path === REGISTER)
    const eventNext = await api.waitForCall((c) => c.path === EVENT_NEXT)
    const runtimeNext = await api.waitForCall((c) => c.path === RUNTIME_NEXT)

    expect(register.method).toBe('POST')
    expect(register.headers['lambda-extension-name']).toBe('middy-cleanup')
    expect(register.headers['content-type']).toBe('application/json')
    expect(JSON.parse(register.body)).toEqual({ events: [] })
    expect(eventNext.method).toBe('GET')
    expect(eventNext.headers['lambda-extension-identifier']).toBe(`ext-${register.seq}`)
    // The order Lambda requires: register, then event/next; and registration done
    // before the runtime's first /runtime/invocation/next (top-level await).
    expect(register.seq).toBeLessThan(eventNext.seq)
    expect(register.seq).toBeLessThan(runtimeNext.seq)
    expect(extensionCalls(api)).toEqual([`POST ${REGISTER}`, `GET ${EVENT_NEXT}`])
    expect(child.events.find((e) => e.event === 'ready-status')?.status).toEqual({ state: 'registered', name: 'middy-cleanup', extensionId: `ext-${register.seq}` })
    expect(warnings(child)).toEqual([])

    // Idle between invocations (second runtime next held), as on Lambda; then SIGTERM.
    await api.waitForCall((c) => c.path === RUNTIME_NEXT && c.seq > runtimeNext.seq)
    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.events.filter((e) => e.event === 'teardown')).toEqual([{ event: 'teardown', name: 'db' }])
    expect(child.events.filter((e) => e.event === 'report')).toHaveLength(1)
  })

  it('never keeps the process alive: with nothing else to do it exits 0 while event/next is still pending', async () => {
    api = await startFakeRuntimeApi()
    const child = spawnFixture('shutdown-runtime.ts', { AWS_LAMBDA_RUNTIME_API: api.address, MODE: 'natural-exit' })
    const exit = await child.exited

    expect(exit).toEqual({ code: 0, signal: null })
    expect(child.events.some((e) => e.event === 'invoked')).toBe(true)
    expect(extensionCalls(api)).toEqual([`POST ${REGISTER}`, `GET ${EVENT_NEXT}`])
    expect(child.events.some((e) => e.event === 'report')).toBe(false)
  })

  it('warns once and carries on when the Extensions API refuses the registration', async () => {
    api = await startFakeRuntimeApi({ registerStatus: 403 })
    const child = spawnFixture('shutdown-runtime.ts', { AWS_LAMBDA_RUNTIME_API: api.address })
    await child.waitFor((e) => e.event === 'invoked')

    const status = child.events.find((e) => e.event === 'ready-status')?.status as { state: string, reason: string }
    expect(status.state).toBe('failed')
    expect(status.reason).toContain('HTTP 403')
    expect(warnings(child)).toHaveLength(1)
    expect(warnings(child)[0]).toContain('could not register the internal Lambda extension')
    expect(extensionCalls(api)).toEqual([`POST ${REGISTER}`])
    await api.waitForCall((c) => c.path === RUNTIME_NEXT && c.seq > 1)
    child.proc.kill('SIGTERM') // the listener is there regardless (another extension may send SIGTERM)
    expect(await child.exited).toEqual({ code: 0, signal: null })
  })

  it('does not register with registerExtension: false', async () => {
    api = await startFakeRuntimeApi()
    const child = spawnFixture('shutdown-runtime.ts', { AWS_LAMBDA_RUNTIME_API: api.address, MODE: 'no-register' })
    await child.waitFor((e) => e.event === 'invoked')
    child.proc.kill('SIGTERM')

    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(extensionCalls(api)).toEqual([])
    expect(child.events.find((e) => e.event === 'ready-status')?.status).toEqual({ state: 'skipped', reason: 'registerExtension: false' })
  })

  it('does not register on Lambda Managed Instances, and warns once', async () => {
    api = await startFakeRuntimeApi()
    const child = spawnFixture('shutdown-runtime.ts', { AWS_LAMBDA_RUNTIME_API: api.address, AWS_LAMBDA_MAX_CONCURRENCY: '8', MODE: 'natural-exit' })

    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(extensionCalls(api)).toEqual([])
    expect(warnings(child)).toHaveLength(1)
    expect(child.events.find((e) => e.event === 'ready-status')?.status).toEqual({ state: 'skipped', reason: 'Lambda Managed Instances' })
  })

  it("warns once when registerExtension is true but AWS_LAMBDA_RUNTIME_API is not set ('auto' stays quiet)", async () => {
    const forced = spawnFixture('shutdown-runtime.ts', { MODE: 'forced' })
    const auto = spawnFixture('shutdown-runtime.ts', { MODE: 'tla' })
    expect(await forced.exited).toEqual({ code: 0, signal: null })
    expect(await auto.exited).toEqual({ code: 0, signal: null })

    expect(warnings(forced)).toHaveLength(1)
    expect(warnings(forced)[0]).toContain("option 'registerExtension' is true but AWS_LAMBDA_RUNTIME_API is not set")
    expect(warnings(auto)).toEqual([])
    expect(auto.events.find((e) => e.event === 'ready-status')?.status).toEqual({ state: 'skipped', reason: 'AWS_LAMBDA_RUNTIME_API is not set' })
  })
})

describe('node:http is loaded only to register (cold start)', () => {
  let api: FakeRuntimeApi | undefined
  afterEach(async () => { await api?.stop(); api = undefined })

  it('is not loaded by importing and calling shutdown() off Lambda', async () => {
    const child = spawnFixture('shutdown-http-probe.ts', {})
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.events.find((e) => e.event === 'probe')).toEqual({ event: 'probe', http: false, status: { state: 'skipped', reason: 'AWS_LAMBDA_RUNTIME_API is not set' } })
  })

  it('is loaded, with a dynamic import, when the extension registers', async () => {
    api = await startFakeRuntimeApi()
    const child = spawnFixture('shutdown-http-probe.ts', { AWS_LAMBDA_RUNTIME_API: api.address })
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.events.find((e) => e.event === 'probe')).toMatchObject({ http: true, status: { state: 'registered' } })
    expect(extensionCalls(api)[0]).toBe(`POST ${REGISTER}`)
  })
})

describe('external extension (extension/extensions/middy-cleanup-shutdown)', () => {
  let api: FakeRuntimeApi | undefined
  afterEach(async () => { await api?.stop(); api = undefined })
  const script = 'extension/extensions/middy-cleanup-shutdown'

  it('registers for SHUTDOWN under its file name, waits on event/next, exits 0 on SHUTDOWN', async () => {
    api = await startFakeRuntimeApi()
    const ext = spawnChild(script, [], cleanEnv({ AWS_LAMBDA_RUNTIME_API: api.address }))
    const register = await api.waitForCall((c) => c.path === REGISTER)
    const next = await api.waitForCall((c) => c.path === EVENT_NEXT)

    expect(register.method).toBe('POST')
    expect(register.headers['lambda-extension-name']).toBe('middy-cleanup-shutdown')
    expect(JSON.parse(register.body)).toEqual({ events: ['SHUTDOWN'] })
    expect(next.method).toBe('GET')
    expect(next.headers['lambda-extension-identifier']).toBe(`ext-${register.seq}`)
    expect(register.seq).toBeLessThan(next.seq)

    api.sendShutdown()
    expect(await ext.exited).toEqual({ code: 0, signal: null })
    expect(extensionCalls(api)).toEqual([`POST ${REGISTER}`, `GET ${EVENT_NEXT}`])
    expect(ext.stderr()).toBe('')
  })

  it('exits 1 with a message when the registration is refused', async () => {
    api = await startFakeRuntimeApi({ registerStatus: 500 })
    const ext = spawnChild(script, [], cleanEnv({ AWS_LAMBDA_RUNTIME_API: api.address }))

    expect(await ext.exited).toEqual({ code: 1, signal: null })
    expect(ext.stderr()).toContain('[middy-cleanup-shutdown] register failed: HTTP 500')
    expect(extensionCalls(api)).toEqual([`POST ${REGISTER}`])
  })
})
