// G1 (orphan part): overlapping invocations never dispose each other's running scopes.
// A scope is disposed by someone other than its own invocation only on proof that the
// invocation ended (docs/exit-paths.md): Middy 6/7 `'earlyResponse' in request`, or a
// later invocation / SIGTERM in a sequential Lambda runtime. Real Middy 5, 6 and 7, the
// real file system; the "remote" store is an in-memory Set behind a custom trackRemote
// deleter (the property is about who deletes, not about a service).
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanup, type CleanupScope, type RemoteDeleter, type RemoteResource } from '../src/index.js'
import { gate, lambdaContext, middyVersions } from './support/middy.js'

const quiet = { warn: () => {}, error: () => {} }

const savedEnv = { ...process.env }
afterEach(() => {
  for (const k of ['AWS_LAMBDA_RUNTIME_API', 'AWS_LAMBDA_MAX_CONCURRENCY']) {
    if (savedEnv[k] === undefined) delete process.env[k]
    else process.env[k] = savedEnv[k]
  }
})

// The first invocation of a process also sweeps stale dirs of dead processes; done here
// once, so each test sees the steady state of a warm process.
beforeAll(async () => {
  await middyVersions[2]!.middy().use(cleanup({ logger: quiet })).handler(async (_e: unknown, c: any) => { await c.cleanup.tempFile() })({}, lambdaContext())
})

describe('observation 2: a set request.response is not the end of an invocation', () => {
  it.each(middyVersions)('Middy $major, cleanup() first, a later middleware with an async after: 50 overlapping invocations keep their own file until their own cleanup', async ({ middy }) => {
    delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
    delete process.env.AWS_LAMBDA_RUNTIME_API
    const N = 50
    const done = Array.from({ length: N }, () => gate())
    const inAfter = Array.from({ length: N }, () => gate())
    let lost = 0
    const handler = middy()
      .use(cleanup({ logger: quiet }))
      .use({
        // Invocation i is still in its after chain while invocation i + 1 runs from start
        // to end (its before, its background sweep, its cleanup): its file must survive that.
        after: async (request: any) => {
          const i: number = request.event.i
          inAfter[i]!.open()
          if (i + 1 < N) await done[i + 1]!.promise
          if (!existsSync(request.response.file)) lost++
        },
      })
      .handler(async (_e: unknown, context: any) => ({ file: await context.cleanup.tempFile() }))
    const results = await Promise.all(Array.from({ length: N }, async (_, i) => {
      if (i > 0) await inAfter[i - 1]!.promise
      try { return await handler({ i }, lambdaContext()) } finally { done[i]!.open() }
    }))
    expect(lost).toBe(0)
    for (const r of results) expect(existsSync(r.file)).toBe(false)
  })
})

describe('a leftover of an ended invocation is not deleted while a running one holds the same resource', () => {
  it.each(middyVersions)('Middy $major: the retry of a failed delete of an ended invocation waits for the running invocation that holds the same key', async ({ middy }) => {
    delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
    delete process.env.AWS_LAMBDA_RUNTIME_API
    const live = new Set<string>()
    let failNext = true
    const flaky: RemoteDeleter<RemoteResource & { key: string }> = {
      kind: 'memory',
      delete: async (resources) => {
        if (failNext) {
          failNext = false
          aSending.open()
          await bDeclared.promise
          return { cleaned: [], failed: resources.map((r) => ({ resource: r, error: new Error('throttled'), retryable: true })) }
        }
        for (const r of resources) live.delete(r.key)
        return { cleaned: resources, failed: [] }
      },
    }
    const key = `shared-${middy === middyVersions[0]!.middy ? 5 : middy === middyVersions[1]!.middy ? 6 : 7}`
    const aSending = gate()
    const bDeclared = gate()
    const bRelease = gate()
    let bSawItGone = false
    const handler = middy().use(cleanup({ logger: quiet })).handler(async (event: { name: string }, context: any) => {
      if (event.name === 'c') return 'c'
      live.add(key)
      context.cleanup.trackRemote(flaky, { kind: 'memory', id: `memory://${key}`, key })
      if (event.name === 'b') {
        bDeclared.open()
        await bRelease.promise
        bSawItGone = !live.has(key)
      }
      return event.name
    })
    // a declares the key and ends; while its delete is in flight b declares the key too
    // and keeps running; a's delete fails (retryable): the key goes to the leftovers
    // list; c's before sweeps them. (a ending while b already held the key sends
    // nothing at all: the next describe.)
    const a = handler({ name: 'a' }, lambdaContext())
    await aSending.promise
    const b = handler({ name: 'b' }, lambdaContext())
    await bDeclared.promise
    await a
    expect(live.has(key)).toBe(true)
    await handler({ name: 'c' }, lambdaContext())
    expect(live.has(key)).toBe(true)
    bRelease.open()
    await expect(b).resolves.toBe('b')
    expect(bSawItGone).toBe(false)
    expect(live.has(key)).toBe(false)
    // the waiting leftover is settled by a later sweep (the key is gone already)
    await handler({ name: 'c' }, lambdaContext())
    await handler({ name: 'c' }, lambdaContext())
  })
})

describe('a resource two running invocations declared is deleted when the last of them ends', () => {
  it.each(middyVersions)('Middy $major: a path and a remote key declared by a and by b, a ends first: both stay until b ends, then they are gone', async ({ middy }) => {
    delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
    delete process.env.AWS_LAMBDA_RUNTIME_API
    const live = new Set<string>()
    const sent: string[] = []
    const memory: RemoteDeleter<RemoteResource & { key: string }> = {
      kind: 'memory',
      delete: async (resources) => {
        for (const r of resources) { sent.push(r.key); live.delete(r.key) }
        return { cleaned: resources, failed: [] }
      },
    }
    const file = join(tmpdir(), `overlap-shared-${process.pid}-${middy === middyVersions[0]!.middy ? 5 : middy === middyVersions[1]!.middy ? 6 : 7}.txt`)
    writeFileSync(file, 'shared')
    const key = `shared-${file}`
    live.add(key)
    const bDeclared = gate()
    const bRelease = gate()
    let bSaw: { file: boolean, key: boolean } | undefined
    const handler = middy().use(cleanup({ logger: quiet })).handler(async (event: { name: string }, context: any) => {
      context.cleanup.path(file)
      context.cleanup.trackRemote(memory, { kind: 'memory', id: `memory://${key}`, key })
      if (event.name === 'b') {
        bDeclared.open()
        await bRelease.promise
        bSaw = { file: existsSync(file), key: live.has(key) }
      }
      return event.name
    })
    const b = handler({ name: 'b' }, lambdaContext())
    await bDeclared.promise
    await expect(handler({ name: 'a' }, lambdaContext())).resolves.toBe('a')
    expect(existsSync(file)).toBe(true)
    expect(sent).toEqual([])
    await handler({ name: 'c' }, lambdaContext()) // its sweep leaves them to b too
    bRelease.open()
    await expect(b).resolves.toBe('b')
    expect(bSaw).toEqual({ file: true, key: true })
    expect(existsSync(file)).toBe(false)
    expect(live.has(key)).toBe(false)
    // what a handed over is settled by a later sweep (gone already: a second delete, confirmed)
    await handler({ name: 'c' }, lambdaContext())
  })
})

// ---------------------------------------------------------------------------------------
// The property: random interleavings (fast-check's scheduler decides which pending await
// resumes next) of overlapping invocations, each ending one of five ways, with cleanup()
// registered first or last, a neighbour middleware with an async after, and the three
// environments that matter. Probes run at every await of the handler and of the
// neighbour's after, and at the very start of cleanup's own after/onError: until its own
// cleanup started, an invocation must find its temp file and its remote key in place.
// Then, once every invocation ended: what is provably ended is cleaned by the next
// invocations (Middy 6/7 earlyResponse, or the sequential runtime on any major); what is
// not (Middy 5 off a sequential runtime, its cleanup skipped) is untouched, left to the
// next process (its dir is swept by the start-of-process sweep, __tests__/stale-dirs).

type Exit = 'returns' | 'throws' | 'early return from before' | 'early return from after' | 'onError returns a response'
type Env = 'off Lambda' | 'Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY)' | 'sequential Lambda runtime'

interface Invocation {
  exit: Exit
  awaits: number
  inBefore: boolean
}

const invocation: fc.Arbitrary<Invocation> = fc.record({
  exit: fc.constantFrom<Exit>('returns', 'throws', 'early return from before', 'early return from after', 'onError returns a response'),
  awaits: fc.integer({ min: 0, max: 3 }),
  inBefore: fc.boolean(),
})

const setEnv = (env: Env): void => {
  delete process.env.AWS_LAMBDA_RUNTIME_API
  delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
  if (env !== 'off Lambda') process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9001'
  if (env === 'Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY)') process.env.AWS_LAMBDA_MAX_CONCURRENCY = '8'
}

interface Track {
  files: string[]
  keys: string[]
  scope?: CleanupScope
  ownCleanupStarted: boolean
  ended: boolean
}

const store = new Set<string>()
const memoryDeleter: RemoteDeleter<RemoteResource & { key: string }> = {
  kind: 'memory',
  delete: async (resources) => {
    await new Promise((resolve) => setImmediate(resolve))
    for (const r of resources) store.delete(r.key)
    return { cleaned: resources, failed: [] }
  },
}

let runId = 0

const runScenario = async (
  major: number, cleanupFirst: boolean, env: Env, plans: Invocation[], scheduler: fc.Scheduler | undefined,
): Promise<{ violations: string[], tracks: Track[] }> => {
  setEnv(env)
  const { middy } = middyVersions.find((v) => v.major === major)!
  const run = ++runId
  const violations: string[] = []
  const tracks: Track[] = plans.map(() => ({ files: [], keys: [], ownCleanupStarted: false, ended: false }))
  const pause = async (label: string): Promise<void> => { if (scheduler !== undefined) await scheduler.schedule(Promise.resolve(), label) }
  const probe = (i: number, where: string): void => {
    const t = tracks[i]
    if (t === undefined || t.ownCleanupStarted || t.ended) return
    for (const f of t.files) if (!existsSync(f)) violations.push(`invocation ${i} lost its temp file ${where}`)
    for (const k of t.keys) if (!store.has(k)) violations.push(`invocation ${i} lost its remote key ${where}`)
  }
  const declare = async (i: number, c: CleanupScope): Promise<void> => {
    const t = tracks[i]!
    t.scope = c
    t.files.push(await c.tempFile())
    const key = `run${run}-inv${i}-${t.keys.length}`
    store.add(key)
    t.keys.push(key)
    c.trackRemote(memoryDeleter, { kind: 'memory', id: `memory://${key}`, key })
  }

  const real = cleanup({ logger: quiet })
  // The real middleware, with a probe at the very moment its own after/onError starts.
  const mw = {
    before: real.before,
    after: (request: any) => {
      const i = request.event.i as number | undefined
      if (i !== undefined) { probe(i, "when its own cleanup's after started"); tracks[i]!.ownCleanupStarted = true }
      return real.after(request)
    },
    onError: (request: any) => {
      const i = request.event.i as number | undefined
      if (i !== undefined) { probe(i, "when its own cleanup's onError started"); tracks[i]!.ownCleanupStarted = true }
      return real.onError(request)
    },
  }
  const declarer = {
    before: async (request: any) => {
      const i = request.event.i as number | undefined
      if (i === undefined) return undefined
      const scope = request.context?.cleanup as CleanupScope | undefined
      if (scope !== undefined && plans[i]!.inBefore) await declare(i, scope)
      await pause(`inv ${i} before`)
      probe(i, 'in a later before')
      return plans[i]!.exit === 'early return from before' ? 'cached' : undefined
    },
  }
  const neighbour = {
    after: async (request: any) => {
      const i = request.event.i as number | undefined
      if (i === undefined) return
      probe(i, "in a neighbour's async after")
      await pause(`inv ${i} neighbour after`)
      probe(i, "in a neighbour's async after, after an await")
    },
  }
  const earlyAfter = { after: (request: any) => request.event.i !== undefined && plans[request.event.i]!.exit === 'early return from after' ? 'from after' : undefined }
  const errorResponse = { onError: (request: any) => request.event.i !== undefined && plans[request.event.i]!.exit === 'onError returns a response' ? { statusCode: 500 } : undefined }

  let chain = middy()
  chain = cleanupFirst
    ? chain.use(mw).use(declarer).use(neighbour).use(earlyAfter).use(errorResponse)
    : chain.use(errorResponse).use(earlyAfter).use(neighbour).use(declarer).use(mw)
  const handler = chain.handler(async (event: { i?: number }, context: any) => {
    const i = event.i
    if (i === undefined) return 'next'
    if (!plans[i]!.inBefore || tracks[i]!.scope === undefined) await declare(i, context.cleanup)
    for (let k = 0; k < plans[i]!.awaits; k++) {
      await pause(`inv ${i} handler ${k}`)
      probe(i, `in its handler after await ${k}`)
    }
    if (plans[i]!.exit === 'throws' || plans[i]!.exit === 'onError returns a response') throw new Error(`inv ${i}`)
    return `inv ${i}`
  })

  const invoke = (i: number): Promise<unknown> => handler({ i }, lambdaContext()).then(() => {}, () => {}).finally(() => { tracks[i]!.ended = true })
  if (env === 'sequential Lambda runtime') {
    // Lambda never overlaps invocations there: one after the other.
    for (let i = 0; i < plans.length; i++) await invoke(i)
  } else if (scheduler !== undefined) {
    const all = plans.map((_, i) => scheduler.schedule(Promise.resolve(), `start ${i}`).then(() => invoke(i)))
    await scheduler.waitFor(Promise.all(all))
  }
  // The next invocations of this process (two: a sweep already running when the first
  // starts has its own list; the second's starts fresh).
  await handler({}, lambdaContext())
  await handler({}, lambdaContext())
  return { violations, tracks }
}

const provablyEnded = (major: number, env: Env): boolean => major !== 5 || env === 'sequential Lambda runtime'

const checkEventually = async (major: number, env: Env, tracks: Track[]): Promise<void> => {
  for (const [i, t] of tracks.entries()) {
    if (t.scope === undefined) continue // returned early before cleanup's before ran: nothing declared
    if (t.ownCleanupStarted || provablyEnded(major, env)) {
      for (const f of t.files) expect([i, f, existsSync(f)]).toEqual([i, f, false])
      for (const k of t.keys) expect([i, k, store.has(k)]).toEqual([i, k, false])
    } else {
      // Middy 5, its cleanup skipped, nothing proves the end: nothing was touched.
      for (const f of t.files) expect([i, f, existsSync(f)]).toEqual([i, f, true])
      for (const k of t.keys) expect([i, k, store.has(k)]).toEqual([i, k, true])
      expect(t.scope.state).toBe('active')
      // The test knows it ended; the next process would sweep its dir.
      await t.scope.dispose()
      for (const k of t.keys) store.delete(k)
    }
  }
}

describe('G1: overlapping invocations never touch each other\'s running scopes, whatever the interleaving', () => {
  for (const env of ['off Lambda', 'Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY)'] as const) {
    test.prop([fc.constantFrom(5, 6, 7), fc.boolean(), fc.array(invocation, { minLength: 2, maxLength: 6 }), fc.scheduler()], { numRuns: 40 })(
      `${env}: nothing live is touched; what provably ended is cleaned by the next invocations, the rest is left untouched`,
      async (major, cleanupFirst, plans, s) => {
        const { violations, tracks } = await runScenario(major, cleanupFirst, env, plans, s)
        expect(violations).toEqual([])
        await checkEventually(major, env, tracks)
      },
    )
  }

  test.prop([fc.constantFrom(5, 6, 7), fc.boolean(), fc.array(invocation, { minLength: 2, maxLength: 6 })], { numRuns: 30 })(
    'sequential Lambda runtime (one invocation at a time): nothing live is touched, and every ended invocation is cleaned by the next one on every major',
    async (major, cleanupFirst, plans) => {
      const { violations, tracks } = await runScenario(major, cleanupFirst, 'sequential Lambda runtime', plans, undefined)
      expect(violations).toEqual([])
      await checkEventually(major, 'sequential Lambda runtime', tracks)
    },
  )
})
