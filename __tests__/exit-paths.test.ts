// Every exit path of a Middy invocation, on Middy 5, 6 and 7, against the real
// filesystem: after each invocation the disk and the handles are checked.
import { describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { open, writeFile, mkdtemp, rm, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanup, type CleanupReport, type CleanupScope } from '../src/index.js'
import { flushLeftovers, leftoverCount, INTERNAL_DISPOSE_KEY } from './support/internals.js'
import { gate, lambdaContext, middyVersions, ourInvocationDirs, recordingLogger } from './support/middy.js'

const isClosed = (fh: FileHandle): boolean => fh.fd === -1

/**
 * Runs `fn` as in a sequential Lambda runtime (AWS_LAMBDA_RUNTIME_API set,
 * AWS_LAMBDA_MAX_CONCURRENCY unset): there a new invocation proves the earlier ones
 * ended, which is what sweeps an early return on Middy 5 (it leaves no other sign).
 */
const inSequentialRuntime = async (fn: () => Promise<void>): Promise<void> => {
  const saved = { api: process.env.AWS_LAMBDA_RUNTIME_API, max: process.env.AWS_LAMBDA_MAX_CONCURRENCY }
  process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9001'
  delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
  try { await fn() } finally {
    if (saved.api === undefined) delete process.env.AWS_LAMBDA_RUNTIME_API
    else process.env.AWS_LAMBDA_RUNTIME_API = saved.api
    if (saved.max !== undefined) process.env.AWS_LAMBDA_MAX_CONCURRENCY = saved.max
  }
}

/** Off Lambda (a local server, a test harness): no runtime tells when an invocation ended. */
const offLambda = async (fn: () => Promise<void>): Promise<void> => {
  const saved = { api: process.env.AWS_LAMBDA_RUNTIME_API, max: process.env.AWS_LAMBDA_MAX_CONCURRENCY }
  delete process.env.AWS_LAMBDA_RUNTIME_API
  delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
  try { await fn() } finally {
    if (saved.api !== undefined) process.env.AWS_LAMBDA_RUNTIME_API = saved.api
    if (saved.max !== undefined) process.env.AWS_LAMBDA_MAX_CONCURRENCY = saved.max
  }
}

describe.each(middyVersions)('Middy $major', ({ major, middy }) => {
  const declareAll = async (context: any) => {
    const file = await context.cleanup.tempFile({ suffix: '.jpg' })
    const fh: FileHandle = context.cleanup.handle(await open(file, 'w'))
    const deferred: string[] = []
    context.cleanup.defer(() => { deferred.push('flushed') })
    return { file, fh, deferred }
  }

  it('1. success: the result stands, files removed, handle closed, defer called', async () => {
    const reports: CleanupReport[] = []
    let seen: any
    const handler = middy().use(cleanup({ onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } })).handler(async (_e: unknown, context: any) => {
      seen = await declareAll(context)
      expect(existsSync(seen.file)).toBe(true)
      return { ok: 1 }
    })
    await expect(handler({}, lambdaContext())).resolves.toEqual({ ok: 1 })
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
    expect(seen.deferred).toEqual(['flushed'])
    expect(await ourInvocationDirs()).toEqual([])
    expect(reports).toHaveLength(1)
    expect(reports[0]).toMatchObject({ exitPath: 'success', resources: 3, cleaned: 3, failed: [], requests: 0 })
  })

  it('2. handler throws: the very same error object is rethrown, stack intact, resources removed', async () => {
    const error = new Error('handler failed')
    const stack = error.stack
    let seen: any
    const reports: CleanupReport[] = []
    const handler = middy().use(cleanup({ onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } })).handler(async (_e: unknown, context: any) => {
      seen = await declareAll(context)
      throw error
    })
    const outcome = await handler({}, lambdaContext()).catch((e: unknown) => e)
    expect(outcome).toBe(error)
    expect((outcome as Error).stack).toBe(stack)
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
    expect(seen.deferred).toEqual(['flushed'])
    expect(reports[0]!.exitPath).toBe('error')
    expect(await ourInvocationDirs()).toEqual([])
  })

  it("3. another middleware's before throws: what it declared is removed, its error rethrown", async () => {
    const error = new Error('auth failed')
    let file = ''
    const handler = middy()
      .use(cleanup())
      .use({ before: async (request: any) => { file = await request.context.cleanup.tempFile(); throw error } })
      .handler(async () => 'never')
    await expect(handler({}, lambdaContext())).rejects.toBe(error)
    expect(file).not.toBe('')
    expect(existsSync(file)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  })

  it("4. another middleware's after throws: resources removed, that error rethrown", async () => {
    const error = new Error('serializer failed')
    let seen: any
    const handler = middy()
      .use(cleanup())
      .use({ after: () => { throw error } })
      .handler(async (_e: unknown, context: any) => { seen = await declareAll(context); return 'ok' })
    await expect(handler({}, lambdaContext())).rejects.toBe(error)
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
  })

  it('5a. an onError that returns a response, cleanup registered last: response stands, cleaned at once', async () => {
    let seen: any
    const handler = middy()
      .use({ onError: () => ({ statusCode: 500 }) })
      .use(cleanup())
      .handler(async (_e: unknown, context: any) => { seen = await declareAll(context); throw new Error('x') })
    await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 500 })
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
  })

  it('5b. an onError that returns a response, cleanup registered first (its onError skipped): swept by the next invocation (sequential Lambda runtime)', () => inSequentialRuntime(async () => {
    let seen: any
    let fail = true
    const handler = middy()
      .use(cleanup())
      .use({ onError: () => ({ statusCode: 500 }) })
      .handler(async (_e: unknown, context: any) => {
        if (fail) { seen = await declareAll(context); throw new Error('x') }
        return 'second'
      })
    await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 500 })
    // Middy skipped cleanup's onError: the file is still there until the next invocation ends.
    expect(existsSync(seen.file)).toBe(true)
    fail = false
    await expect(handler({}, lambdaContext())).resolves.toBe('second')
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
    expect(seen.deferred).toEqual(['flushed'])
    expect(await ourInvocationDirs()).toEqual([])
  }))

  it(`5b'. same, off Lambda: ${major === 5 ? 'Middy 5 leaves no proof of the end, nothing is touched (the next process sweeps the dir)' : "Middy's earlyResponse proves the end: swept by the next invocation"}`, () => offLambda(async () => {
    let seen: any
    let scope: CleanupScope | undefined
    let fail = true
    const handler = middy()
      .use(cleanup())
      .use({ before: (request: any) => { if (fail) scope = request.context.cleanup } })
      .use({ onError: () => ({ statusCode: 500 }) })
      .handler(async (_e: unknown, context: any) => {
        if (fail) { seen = await declareAll(context); throw new Error('x') }
        return 'second'
      })
    await expect(handler({}, lambdaContext())).resolves.toEqual({ statusCode: 500 })
    fail = false
    await expect(handler({}, lambdaContext())).resolves.toBe('second')
    expect(existsSync(seen.file)).toBe(major === 5)
    expect(isClosed(seen.fh)).toBe(major !== 5)
    expect(seen.deferred).toEqual(major === 5 ? [] : ['flushed'])
    expect(scope!.state).toBe(major === 5 ? 'active' : 'disposed')
    // The test knows the invocation ended; a real process leaves this to the next one.
    await scope!.dispose()
    expect(existsSync(seen.file)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  }))

  it("6. Middy's timeoutEarlyInMillis fires while the handler hangs: TimeoutError, resources removed before it settles", async () => {
    let seen: any
    const reports: CleanupReport[] = []
    const declared = gate()
    const handler = middy({ timeoutEarlyInMillis: 500 })
      .use(cleanup({ onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
      .handler(async (_e: unknown, context: any) => {
        seen = await declareAll(context)
        declared.open()
        await new Promise(() => {}) // hangs forever
      })
    const outcome = await handler({}, lambdaContext(1000)).catch((e: unknown) => e)
    expect((outcome as Error).name).toBe('TimeoutError')
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
    expect(reports[0]!.exitPath).toBe('timeout')
  })

  it('7a. a middleware after cleanup() returns early from before: nothing survives the end of the next invocation (sequential Lambda runtime)', () => inSequentialRuntime(async () => {
    let file = ''
    let hit = true
    const handler = middy()
      .use(cleanup())
      .use({ before: async (request: any) => { if (hit) { file = await request.context.cleanup.tempFile(); return 'cached' } } })
      .handler(async () => 'fresh')
    await expect(handler({}, lambdaContext())).resolves.toBe('cached')
    expect(existsSync(file)).toBe(true)
    hit = false
    await expect(handler({}, lambdaContext())).resolves.toBe('fresh')
    expect(existsSync(file)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  }))

  it(`7a'. same, off Lambda: ${major === 5 ? 'Middy 5 leaves no proof of the end, nothing is touched (the next process sweeps the dir)' : "Middy's earlyResponse proves the end: swept by the next invocation"}`, () => offLambda(async () => {
    let file = ''
    let scope: CleanupScope | undefined
    let hit = true
    const handler = middy()
      .use(cleanup())
      .use({ before: async (request: any) => { if (hit) { scope = request.context.cleanup; file = await request.context.cleanup.tempFile(); return 'cached' } } })
      .handler(async () => 'fresh')
    await expect(handler({}, lambdaContext())).resolves.toBe('cached')
    hit = false
    await expect(handler({}, lambdaContext())).resolves.toBe('fresh')
    expect(existsSync(file)).toBe(major === 5)
    expect(scope!.state).toBe(major === 5 ? 'active' : 'disposed')
    await scope!.dispose()
    expect(existsSync(file)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  }))

  it('7b. a cooperative middleware calls request.internal dispose before returning early: cleaned at once', async () => {
    let file = ''
    const handler = middy()
      .use(cleanup())
      .use({
        before: async (request: any) => {
          file = await request.context.cleanup.tempFile()
          await request.internal[INTERNAL_DISPOSE_KEY]()
          return 'cached'
        },
      })
      .handler(async () => 'fresh')
    await expect(handler({}, lambdaContext())).resolves.toBe('cached')
    expect(existsSync(file)).toBe(false)
  })

  it('8. declared after disposal began (handler running on after a timeout): no throw, leftovers, removed by the next invocation', async () => {
    const logger = recordingLogger()
    const late = gate()
    const lateDone = gate()
    let lateFile = ''
    let lateError: unknown
    let first = true
    const handler = middy({ timeoutEarlyInMillis: 400 })
      .use(cleanup({ logger }))
      .handler(async (_e: unknown, context: any) => {
        if (!first) return 'next'
        await late.promise
        try { lateFile = await context.cleanup.tempFile({ prefix: 'late-' }) } catch (e) { lateError = e }
        lateDone.open()
        return 'too late'
      })
    const outcome = await handler({}, lambdaContext(800)).catch((e: unknown) => e)
    expect((outcome as Error).name).toBe('TimeoutError')
    late.open()
    await lateDone.promise
    expect(lateError).toBeUndefined()
    expect(existsSync(lateFile)).toBe(true)
    expect(leftoverCount()).toBeGreaterThan(0)
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('after its invocation'))).toBe(true)
    first = false
    await expect(handler({}, lambdaContext())).resolves.toBe('next')
    expect(existsSync(lateFile)).toBe(false)
    expect(leftoverCount()).toBe(0)
  })

  it('9. a non-Error value thrown: the same value is rethrown, resources removed', async () => {
    let seen: any
    const handler = middy().use(cleanup()).handler(async (_e: unknown, context: any) => {
      seen = await declareAll(context)
      throw 'plain string' // eslint-disable-line no-throw-literal
    })
    await expect(handler({}, lambdaContext())).rejects.toBe('plain string')
    expect(existsSync(seen.file)).toBe(false)
    expect(isClosed(seen.fh)).toBe(true)
  })

  it('10. two interleaved invocations: each removes only its own, one finishing does not touch the other', async () => {
    const aDeclared = gate()
    const aRelease = gate()
    const files: Record<string, string> = {}
    const handler = middy().use(cleanup()).handler(async (event: { id: string }, context: any) => {
      files[event.id] = await context.cleanup.tempFile({ prefix: `${event.id}-` })
      if (event.id === 'a') { aDeclared.open(); await aRelease.promise }
      return event.id
    })
    const a = handler({ id: 'a' }, lambdaContext())
    await aDeclared.promise
    await expect(handler({ id: 'b' }, lambdaContext())).resolves.toBe('b')
    expect(existsSync(files.b!)).toBe(false)
    expect(existsSync(files.a!)).toBe(true)
    aRelease.open()
    await expect(a).resolves.toBe('a')
    expect(existsSync(files.a!)).toBe(false)
    expect(await ourInvocationDirs()).toEqual([])
  })
})

describe('paths outside the per-invocation directory', () => {
  it('path() removes a declared file and directory inside allow.paths on every exit', async () => {
    const base = await mkdtemp(join(tmpdir(), 'mc-test-'))
    try {
      const { middy } = middyVersions[2]!
      const handler = middy().use(cleanup()).handler(async (_e: unknown, context: any) => {
        const f = context.cleanup.path(join(base, 'out.bin'))
        await writeFile(f, 'x')
        const d = context.cleanup.path(join(base, 'dir'))
        await rm(d, { recursive: true, force: true })
        await (await import('node:fs/promises')).mkdir(join(d, 'nested'), { recursive: true })
        await writeFile(join(d, 'nested', 'f'), 'y')
        throw new Error('after writing')
      })
      await expect(handler({}, lambdaContext())).rejects.toThrow('after writing')
      expect(existsSync(join(base, 'out.bin'))).toBe(false)
      expect(existsSync(join(base, 'dir'))).toBe(false)
      expect(existsSync(base)).toBe(true)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })

  it('flushLeftovers() on SIGTERM in a sequential Lambda runtime (shutdown) cleans scopes still open', () => inSequentialRuntime(async () => {
    const { middy } = middyVersions[2]!
    const inside = gate()
    let file = ''
    const never = gate()
    const handler = middy({ timeoutEarlyInMillis: 0 }).use(cleanup()).handler(async (_e: unknown, context: any) => {
      file = await context.cleanup.tempFile()
      inside.open()
      await never.promise
    })
    const running = handler({}, lambdaContext())
    await inside.promise
    const report = await flushLeftovers({ timeoutMs: 1000, receivedSignal: 'SIGTERM' })
    expect(report.exitPath).toBe('shutdown')
    expect(report.cleaned).toBeGreaterThanOrEqual(1)
    expect(existsSync(file)).toBe(false)
    never.open()
    await running
  }))

  const whereFlushProvesNothing: Array<[string, (fn: () => Promise<void>) => Promise<void>, string | undefined]> = [
    ['off Lambda, on SIGTERM', offLambda, 'SIGTERM'],
    ['in a sequential Lambda runtime, without a signal (called from code, not a SIGTERM listener)', inSequentialRuntime, undefined],
  ]
  it.each(whereFlushProvesNothing)('flushLeftovers() %s never touches a scope still running', (_name, where, receivedSignal) => where(async () => {
    const { middy } = middyVersions[2]!
    const inside = gate()
    const release = gate()
    let file = ''
    let stillThere: boolean | undefined
    const handler = middy().use(cleanup()).handler(async (_e: unknown, context: any) => {
      file = await context.cleanup.tempFile()
      inside.open()
      await release.promise
      stillThere = existsSync(file)
      return 'done'
    })
    const running = handler({}, lambdaContext())
    await inside.promise
    const report = await flushLeftovers({ timeoutMs: 1000, ...(receivedSignal === undefined ? {} : { receivedSignal }) })
    expect(report.cleaned).toBe(0)
    expect(existsSync(file)).toBe(true)
    release.open()
    await expect(running).resolves.toBe('done')
    expect(stillThere).toBe(true)
    expect(existsSync(file)).toBe(false)
  }))
})
