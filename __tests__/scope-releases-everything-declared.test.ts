// CleanupScope on its own (no Middy) and the declaration-time checks.
import { describe, expect, it } from '@jest/globals'
import { createReadStream, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CleanupConfigError, CleanupDeclarationError, CleanupError, CleanupScope, cleanup,
  currentScope, invocationLocal, type RemoteDeleter, type RemoteResource,
} from '../src/index.js'
import { CleanupDeadlineError } from './support/internals.js'
import { gate, lambdaContext, middyVersions, ourInvocationDirs, recordingLogger } from './support/middy.js'

describe('disposal', () => {
  it('runs defers and handles in reverse order of declaration, then removes files', async () => {
    const order: string[] = []
    const scope = new CleanupScope()
    const file = await scope.tempFile()
    scope.defer(() => { order.push(`first (file exists: ${existsSync(file)})`) })
    scope.handle({ close: async () => { order.push('handle') } })
    scope.defer(async () => { order.push('last') })
    const report = await scope.dispose()
    expect(order).toEqual(['last', 'handle', 'first (file exists: true)'])
    expect(existsSync(file)).toBe(false)
    expect(report).toMatchObject({ exitPath: 'manual', resources: 4, cleaned: 4, failed: [] })
  })

  it('runs every disposer when earlier ones fail, and reports each failure', async () => {
    const logger = recordingLogger()
    const ran: string[] = []
    const scope = new CleanupScope({ logger })
    scope.defer(() => { ran.push('a') })
    scope.defer(() => { throw new Error('b failed') })
    scope.defer(async () => { throw 'c failed' }) // eslint-disable-line prefer-promise-reject-errors
    scope.defer(() => { ran.push('d') })
    const report = await scope.dispose()
    expect(ran).toEqual(['d', 'a'])
    expect(report.cleaned).toBe(2)
    expect(report.failed.map((f) => [f.error.name, f.error.message])).toEqual([['NonError', 'c failed'], ['Error', 'b failed']])
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1)
    expect(logger.lines[0]!.message).toContain('2 of 4 resource(s) could not be cleaned')
  })

  it('is idempotent: dispose() twice gives the same report and runs nothing twice', async () => {
    let calls = 0
    const scope = new CleanupScope()
    scope.defer(() => { calls++ })
    const [a, b] = await Promise.all([scope.dispose(), scope.dispose()])
    expect(a).toBe(b)
    expect(await scope.dispose()).toBe(a)
    expect(calls).toBe(1)
  })

  it('a path declared twice is removed and counted once', async () => {
    const base = await mkdtemp(join(tmpdir(), 'mc-twice-'))
    writeFileSync(join(base, 'f'), 'x')
    const scope = new CleanupScope()
    scope.path(join(base, 'f'))
    scope.path(join(base, '.', 'f'))
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
    expect(existsSync(join(base, 'f'))).toBe(false)
    await rm(base, { recursive: true, force: true })
  })

  it('works with `await using`', async () => {
    let file = ''
    let fhClosed = false
    {
      await using scope = new CleanupScope()
      file = await scope.tempFile({ prefix: 'using-', suffix: '.txt' })
      const fh = scope.handle(await open(file, 'w'))
      await fh.write('hello')
      scope.defer(() => { fhClosed = fh.fd === -1 })
    }
    expect(fhClosed).toBe(false) // defer declared after the handle runs first
    expect(existsSync(file)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  })

  it('stops waiting at the budget: a hanging disposer is reported, files are still removed', async () => {
    const scope = new CleanupScope({ timeoutMs: 50 })
    const file = await scope.tempFile()
    scope.defer(() => new Promise(() => {}))
    const report = await scope.dispose()
    expect(report.failed.map((f) => [f.kind, f.error.name === new CleanupDeadlineError(0).name, f.retrying === true])).toEqual([
      ['defer', true, false], // a disposer is never run twice
      ['path', true, true], // out of budget: the temp file, declared before it, is handed to the leftovers…
    ])
    expect(report.leftovers).toBe(1)
    const handler = middyVersions[2]!.middy().use(cleanup()).handler(async () => 'ok')
    await handler({}, lambdaContext()) // …which the next invocation sweeps
    expect(existsSync(file)).toBe(false)
  })

  it('closes FileHandles, fs streams, sockets and servers', async () => {
    const server = createServer((s) => { s.on('error', () => {}) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const socket: Socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const scope = new CleanupScope()
    const file = await scope.tempFile()
    scope.handle(server) // closed last: a server only closes once its connections have
    const fh = scope.handle(await open(file, 'r'))
    const stream = scope.handle(createReadStream(file))
    scope.handle(socket)
    const report = await scope.dispose()
    expect(report.failed).toEqual([])
    expect(fh.fd).toBe(-1)
    expect(stream.destroyed).toBe(true)
    expect(socket.destroyed).toBe(true)
    expect(server.listening).toBe(false)
  })
})

describe('trackRemote(): a custom deleter (pure logic, so an in-memory store stands in for a service)', () => {
  it('gets all its resources in one call, once each; retryable failures go to the leftovers and are retried', async () => {
    const store = new Set(['a', 'b', 'c'])
    const calls: string[][] = []
    let flaky = true
    const deleter: RemoteDeleter<RemoteResource & { key: string }> = {
      kind: 'memory',
      delete: async (resources) => {
        calls.push(resources.map((r) => r.key))
        const failed = resources.filter((r) => r.key === 'c' && flaky).map((resource) => ({ resource, error: new Error('throttled'), retryable: true }))
        const cleaned = resources.filter((r) => !(r.key === 'c' && flaky))
        for (const r of cleaned) store.delete(r.key)
        return { cleaned, failed, requests: 1 }
      },
    }
    const scope = new CleanupScope({ logger: recordingLogger() })
    for (const key of ['a', 'b', 'c', 'a']) scope.trackRemote(deleter, { kind: 'memory', id: `memory://${key}`, key })
    const report = await scope.dispose()
    expect(calls).toEqual([['a', 'b', 'c']])
    expect(report).toMatchObject({ resources: 3, cleaned: 2, requests: 1, leftovers: 1 })
    expect(report.failed.map((f) => [f.id, f.retrying])).toEqual([['memory://c', true]])
    flaky = false
    await middyVersions[2]!.middy().use(cleanup()).handler(async () => 'next')({}, lambdaContext())
    expect(calls).toEqual([['a', 'b', 'c'], ['c']])
    expect([...store]).toEqual([])
  })
})

describe('bad input is refused at declaration, naming the argument and the fix', () => {
  const scope = new CleanupScope()
  it.each([
    ['empty path', () => scope.path(''), /path\(\) needs a non-empty string/],
    ['non-string path', () => scope.path(42 as any), /path\(\) needs a non-empty string; got number/],
    ['path outside allow.paths', () => scope.path('/etc/passwd'), /outside allow\.paths/],
    ['path escaping with ..', () => scope.path(join(tmpdir(), '..', 'etc', 'x')), /outside allow\.paths/],
    ['the allowed root itself', () => scope.path(tmpdir()), /outside allow\.paths/],
    ['a sibling sharing the prefix', () => scope.path(`${tmpdir()}x/file`), /outside allow\.paths/],
    ['a handle with no way to close it', () => scope.handle({ foo: 1 } as any), /no way to close it/],
    ['a handle that is not an object', () => scope.handle(undefined as any), /handle\(\) needs an object/],
    ['defer with a non-function', () => scope.defer('flush' as any), /defer\(\) needs a function.*got string/],
  ])('%s', (_name, declare, message) => {
    expect(declare).toThrow(CleanupDeclarationError)
    expect(declare).toThrow(message)
  })

  // allow.paths is narrowed to <base>/allowed, with <base>/outside beside it: the
  // test holds wherever the checkout is (CI clones under /tmp).
  const sandbox = async (): Promise<{ base: string, allowed: string, outside: string }> => {
    const base = await mkdtemp(join(tmpdir(), 'mc-sandbox-'))
    mkdirSync(join(base, 'allowed'))
    mkdirSync(join(base, 'outside'))
    writeFileSync(join(base, 'outside', 'precious'), 'keep me')
    return { base, allowed: join(base, 'allowed'), outside: join(base, 'outside') }
  }

  it('a path through a symlink inside the allowed dir that points outside is refused', async () => {
    const { base, allowed, outside } = await sandbox()
    try {
      const s = new CleanupScope({ allow: { paths: [allowed] } })
      symlinkSync(outside, join(allowed, 'link'))
      // path(link) itself is accepted and removes only the link: path-removes-the-path.test.ts
      expect(() => s.path(join(allowed, 'link', 'precious'))).toThrow(/outside allow\.paths/)
      expect(() => s.path(join(allowed, '..', 'outside'))).toThrow(/outside allow\.paths/)
      expect(existsSync(join(outside, 'precious'))).toBe(true)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })

  it('a path swapped for a symlink after declaration is not followed at cleanup', async () => {
    const { base, allowed, outside } = await sandbox()
    try {
      const s = new CleanupScope({ allow: { paths: [allowed] }, logger: recordingLogger() })
      const dir = s.path(join(allowed, 'work'))
      mkdirSync(dir)
      await rm(dir, { recursive: true })
      symlinkSync(outside, dir) // now allowed/work → outside
      const report = await s.dispose()
      expect(report.failed).toEqual([]) // only the link is removed (G2: path(p) removes p itself)
      expect(existsSync(join(outside, 'precious'))).toBe(true)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })

  it('tempFile() refuses a prefix or suffix with a path separator', async () => {
    await expect(scope.tempFile({ suffix: '/../../etc' })).rejects.toThrow(/tempFile\(\{ suffix \}\) must be a string without '\/'/)
  })
})

describe('options are validated once, at cleanup() time', () => {
  it.each([
    [{ timeoutMS: 10 }, /unknown option 'timeoutMS'.*Check the spelling/],
    [{ timeoutMs: -1 }, /'timeoutMs' must be a positive integer.*got -1/],
    [{ timeoutMs: '10' }, /'timeoutMs' must be a positive integer.*got string/],
    [{ safetyMarginMs: 1.5 }, /'safetyMarginMs' must be a non-negative integer/],
    [{ logger: {} }, /'logger' must have warn\(\) and error\(\)/],
    [{ onReport: 'yes' }, /'onReport' must be a function/],
    [{ failOnCleanupError: 1 }, /'failOnCleanupError' must be a boolean/],
    [{ allow: { paths: '/tmp' } }, /'allow\.paths' must be an array of non-empty strings/],
    [{ allow: { path: ['/tmp'] } }, /unknown option 'allow\.path'/],
    [{ s3: {} }, /'s3' must be an AWS SDK v3 client/],
    ['fast', /options must be an object; got string/],
  ])('%j', (options, message) => {
    expect(() => cleanup(options as any)).toThrow(CleanupConfigError)
    expect(() => cleanup(options as any)).toThrow(message)
  })

  it('allow.paths widens where path() may delete', async () => {
    const base = await mkdtemp(join(process.cwd(), '.mc-allowed-'))
    try {
      const scope = new CleanupScope({ allow: { paths: [base] } })
      writeFileSync(join(base, 'f'), 'x')
      scope.path(join(base, 'f'))
      expect(() => scope.path(join(tmpdir(), 'x'))).toThrow(/outside allow\.paths/)
      await scope.dispose()
      expect(existsSync(join(base, 'f'))).toBe(false)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })
})

describe('failOnCleanupError', () => {
  it('fails a successful invocation with a CleanupError listing what was left', async () => {
    const handler = middyVersions[2]!.middy()
      .use(cleanup({ failOnCleanupError: true, logger: recordingLogger() }))
      .handler(async (_e: unknown, context: any) => { context.cleanup.defer(() => { throw new Error('flush failed') }); return 'ok' })
    const error = await handler({}, lambdaContext()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CleanupError)
    expect((error as CleanupError).report.failed).toHaveLength(1)
  })

  it("never replaces the handler's own error", async () => {
    const own = new Error('own')
    const handler = middyVersions[2]!.middy()
      .use(cleanup({ failOnCleanupError: true, logger: recordingLogger() }))
      .handler(async (_e: unknown, context: any) => { context.cleanup.defer(() => { throw new Error('flush failed') }); throw own })
    await expect(handler({}, lambdaContext())).rejects.toBe(own)
  })

  it('by default a failed cleanup leaves the result alone and is logged', async () => {
    const logger = recordingLogger()
    const handler = middyVersions[2]!.middy()
      .use(cleanup({ logger }))
      .handler(async (_e: unknown, context: any) => { context.cleanup.defer(() => { throw new Error('flush failed') }); return 'ok' })
    await expect(handler({}, lambdaContext())).resolves.toBe('ok')
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('defer: Error: flush failed'))).toBe(true)
  })
})

describe('currentScope() and invocationLocal()', () => {
  it('currentScope() finds the invocation\'s scope deep in its call tree, and throws outside', async () => {
    expect(() => currentScope()).toThrow(/outside an invocation/)
    let file = ''
    const deep = async (): Promise<void> => { await Promise.resolve(); file = await currentScope().tempFile() }
    const handler = middyVersions[2]!.middy().use(cleanup()).handler(async (_e: unknown, context: any) => {
      await deep()
      expect(currentScope()).toBe(context.cleanup)
      return 'ok'
    })
    await handler({}, lambdaContext())
    expect(existsSync(file)).toBe(false)
    // enterWith left the ended scope in this context: it must count as outside.
    expect(() => currentScope()).toThrow(/outside an invocation/)
  })

  it('invocationLocal() gives each invocation, even concurrent ones, its own value', async () => {
    const seen = invocationLocal(() => [] as string[])
    expect(() => seen.get()).toThrow(/outside an invocation/)
    const bothIn = gate()
    let arrived = 0
    const handler = middyVersions[2]!.middy().use(cleanup()).handler(async (event: { id: string }) => {
      seen.get().push(event.id)
      if (++arrived === 2) bothIn.open()
      await bothIn.promise
      seen.get().push(event.id)
      return [...seen.get()]
    })
    const results = await Promise.all([handler({ id: 'a' }, lambdaContext()), handler({ id: 'b' }, lambdaContext())])
    expect(results).toEqual([['a', 'a'], ['b', 'b']])
    expect(await handler({ id: 'c' }, lambdaContext())).toEqual(['c', 'c'])
  })

  it('scope.run() makes a standalone scope current for its async call tree', async () => {
    const scope = new CleanupScope()
    const local = invocationLocal(() => ({ n: 0 }))
    const file = await scope.run(async () => {
      await Promise.resolve()
      local.get().n++
      expect(local.get().n).toBe(1)
      return currentScope().tempFile()
    })
    expect(existsSync(file)).toBe(true)
    await scope.dispose()
    expect(existsSync(file)).toBe(false)
    expect(() => scope.run(() => currentScope())).toThrow(/outside an invocation/)
  })

  it('invocationLocal() refuses a non-function factory', () => {
    expect(() => invocationLocal([] as any)).toThrow(/needs a factory function/)
  })
})
