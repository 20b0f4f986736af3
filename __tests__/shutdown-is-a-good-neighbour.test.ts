import { afterAll, describe, expect, it } from '@jest/globals'
import { test, fc } from '@fast-check/jest'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { S3Client } from '@aws-sdk/client-s3'
import { backends, createBucket, createTable, dynamoClient, itemExists, objectExists, s3Client, uid } from './support/backends.js'
import { type Child, type ChildEvent, spawnFixture } from './fixtures/shutdown-harness.js'
import type { Kind, ListenerSpec, Spec, WorkSpec } from './fixtures/shutdown-neighbour.js'

// G8: shutdown() is a good neighbour. Real child processes, real SIGTERM. Order is read
// from the child's own monotonic timestamps (`t`) and line order, never from the test's
// clock; the only wall-clock bound is a generous one against a hung child.

type Report = {
  listeners?: Array<{ name: string, status: string }>
  teardowns: Array<{ name: string, status: string }>
  cleanup?: { resources: number, cleaned: number, failed: unknown[] }
}

const isReady = (e: ChildEvent): boolean => e.event === 'ready'
const indexOf = (child: Child, pred: (e: ChildEvent) => boolean): number => child.events.findIndex(pred)
const ended = (child: Child, name: string): ChildEvent | undefined => child.events.find((e) => e.event === 'end' && e.name === name)
const exitEvent = (child: Child): ChildEvent | undefined => child.events.find((e) => e.event === 'exit')
const reports = (child: Child): Report[] => child.events.filter((e) => e.event === 'report').map((e) => e.report as Report)
const lastLog = (child: Child, prefix: string): string | undefined =>
  child.events.filter((e) => e.event === 'log' && String(e.message).startsWith(prefix)).map((e) => String(e.message)).pop()
const statuses = (list: Array<{ name: string, status: string }> | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((l) => [l.name, l.status]))

const run = (spec: Spec, env: Record<string, string> = {}): Child =>
  spawnFixture('shutdown-neighbour.ts', { SPEC: JSON.stringify(spec), ...env })

/** Sends SIGTERM once the child is ready; resolves with the exit and the ms the test saw it take (for the notes only). */
const terminate = async (child: Child): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number }> => {
  await child.waitFor(isReady, 20000)
  const sent = performance.now()
  child.proc.kill('SIGTERM')
  const exit = await child.exited
  return { ...exit, ms: performance.now() - sent }
}

const GENEROUS_MS = 10000

describe('shutdown() lets other SIGTERM listeners finish (real child, real SIGTERM)', () => {
  it('gives an async listener registered before shutdown() and one registered after it their 300 ms, and exits 0 once both are done, before the 1000 ms deadline', async () => {
    const child = run({
      timeoutMs: 1000,
      listeners: [
        { name: 'otelFlush', when: 'before', kind: 'async', ms: 300, once: false },
        { name: 'dbDriverClose', when: 'after', kind: 'async', ms: 300, once: true },
      ],
      teardowns: [],
    })
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.ms).toBeLessThan(GENEROUS_MS)
    const signal = child.events.find((e) => e.event === 'signal')
    const first = ended(child, 'otelFlush')
    const second = ended(child, 'dbDriverClose')
    const exited = exitEvent(child)
    expect(first).toBeDefined()
    expect(second).toBeDefined()
    expect(exited).toMatchObject({ code: 0 })
    expect(Number(signal?.t)).toBeLessThan(Number(first?.t))
    expect(Number(first?.t)).toBeLessThan(Number(exited?.t))
    expect(Number(second?.t)).toBeLessThan(Number(exited?.t))
    // Exited because everything settled, not because the deadline fired.
    expect(lastLog(child, 'shutdown: exit')).toMatch(/^shutdown: exit 0 after [\d.]+ ms \(everything settled\)$/)
    const [report, ...more] = reports(child)
    expect(more).toEqual([])
    expect(statuses(report?.listeners)).toEqual({ signalMarker: 'ok', otelFlush: 'ok', dbDriverClose: 'ok' })
  })

  it('exits 0 at the deadline when another SIGTERM listener never settles, and says which one it still waited for', async () => {
    const child = run({
      timeoutMs: 600,
      listeners: [
        { name: 'stuckExporter', when: 'before', kind: 'hang', ms: 0, once: false },
        { name: 'quick', when: 'after', kind: 'async', ms: 50, once: false },
      ],
      teardowns: [{ name: 'pg', kind: 'async', ms: 50 }],
    })
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.ms).toBeLessThan(GENEROUS_MS)
    expect(exitEvent(child)).toMatchObject({ code: 0 })
    expect(ended(child, 'quick')).toBeDefined()
    expect(ended(child, 'pg')).toBeDefined()
    expect(ended(child, 'stuckExporter')).toBeUndefined()
    expect(lastLog(child, 'shutdown: exit')).toMatch(/^shutdown: exit 0 after [\d.]+ ms \(deadline of 600 ms; still running: SIGTERM listener 'stuckExporter'\)$/)
    const [report] = reports(child)
    expect(statuses(report?.listeners)).toEqual({ signalMarker: 'ok', stuckExporter: 'pending', quick: 'ok' })
    expect(statuses(report?.teardowns)).toEqual({ pg: 'ok' })
  })

  it("waits until the deadline for a listener it could not follow (added after someone removed shutdown()'s newListener hook)", async () => {
    const child = run({
      timeoutMs: 700,
      unhook: true,
      listeners: [{ name: 'addedBehindItsBack', when: 'after', kind: 'async', ms: 100, once: false }],
      teardowns: [],
    })
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(ended(child, 'addedBehindItsBack')).toBeDefined()
    expect(lastLog(child, 'shutdown: exit')).toMatch(/^shutdown: exit 0 after [\d.]+ ms \(deadline of 700 ms; still running: 1 SIGTERM listener it could not follow\)$/)
    expect(statuses(reports(child)[0]?.listeners)).toMatchObject({ addedBehindItsBack: 'unknown' })
  })

  it('a listener registered before shutdown() that calls process.exit(0) at once does not cut the teardowns off; exit 0 comes after them', async () => {
    const child = run({
      timeoutMs: 1000,
      listeners: [{ name: 'exitsAtOnce', when: 'before', kind: 'exit', ms: 0, code: 0, once: true }],
      teardowns: [{ name: 'redis', kind: 'async', ms: 200 }],
    })
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(indexOf(child, (e) => e.event === 'end' && e.name === 'redis')).toBeGreaterThan(-1)
    expect(indexOf(child, (e) => e.event === 'end' && e.name === 'redis')).toBeLessThan(indexOf(child, (e) => e.event === 'exit'))
    expect(lastLog(child, 'shutdown: exit')).toMatch(/\(everything settled\)$/)
  })

  it('following them is invisible to their owners: listeners() and removeListener(original) work, once stays once, no extra MaxListenersExceededWarning, all put back after an exit: false run', async () => {
    const child = spawnFixture('shutdown-wrap-probe.ts', {})
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.events.find((e) => e.event === 'wrapped')).toEqual({ event: 'wrapped', count: 12, originalsInOrder: true, rawAreWrappers: true })
    expect(child.events.find((e) => e.event === 'removed')).toEqual({ event: 'removed', count: 11, stillThere: false })
    // One warning: Node's own, when shutdown() added the 11th listener; rebuilding the list adds none.
    expect(child.events.find((e) => e.event === 'after-run')).toEqual({ event: 'after-run', onceCalls: 1, count: 9, rawAreOriginals: true, warnings: ['MaxListenersExceededWarning'] })
  })

  it('a logger whose every method throws and an onReport that throws never prevent the exit (G4)', async () => {
    const child = run({
      timeoutMs: 1000,
      hostileLogger: true,
      listeners: [{ name: 'throwsToo', when: 'before', kind: 'throw', ms: 0, once: false }],
      teardowns: [{ name: 'fails', kind: 'reject', ms: 10 }, { name: 'fine', kind: 'async', ms: 10 }],
    })
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exitEvent(child)).toMatchObject({ code: 0 })
    expect(ended(child, 'fine')).toBeDefined()
    // No crash trace (an uncaught exception or unhandled rejection prints one).
    expect(child.stderr()).not.toMatch(/^\s+at /m)
  })
})

describe.each(backends())("a teardown's own process.exit(3) does not skip the leftovers flush, on $name", (b) => {
  const clients: Array<S3Client | DynamoDBClient> = []
  afterAll(() => { for (const c of clients) c.destroy() })

  it('deletes the temp S3 object and DynamoDB item of the interrupted invocation, then exits 3', async () => {
    const s3 = s3Client(b)
    const ddb = dynamoClient(b)
    clients.push(s3, ddb)
    const bucket = await createBucket(s3)
    const table = await createTable(ddb)
    const key = `tmp/${uid()}.txt`
    const child = run({
      timeoutMs: 5000, // generous: loaded CI machines; the assertion is on the outcome
      listeners: [],
      teardowns: [{ name: 'exitsAtOnce', kind: 'exit', ms: 0, code: 3 }, { name: 'slowClose', kind: 'async', ms: 100 }],
      remote: { s3Endpoint: b.s3Endpoint, dynamodbEndpoint: b.dynamodbEndpoint, bucket, table, key },
    }, {
      // A sequential Lambda runtime: SIGTERM proves the running invocation ended (contract item 7).
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9',
    })
    await child.waitFor(isReady, 20000)
    expect(await objectExists(s3, bucket, key)).toBe(true)
    expect(await itemExists(ddb, table, { pk: { S: key }, sk: { S: 'temp' } })).toBe(true)
    const exit = await terminate(child)

    expect(exit).toMatchObject({ code: 3, signal: null })
    expect(exitEvent(child)).toMatchObject({ code: 3 })
    expect(await objectExists(s3, bucket, key)).toBe(false)
    expect(await itemExists(ddb, table, { pk: { S: key }, sk: { S: 'temp' } })).toBe(false)
    expect(ended(child, 'slowClose')).toBeDefined()
    const [report] = reports(child)
    expect(report?.cleanup).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
    expect(lastLog(child, 'shutdown: exit')).toMatch(/^shutdown: exit 3 after [\d.]+ ms \(everything settled\)$/)
  })
})

// Random neighbours. Each run is a fresh child process with a real SIGTERM (~1 s of
// tsx start-up on a loaded 2-core machine, plus the deadline when something hangs),
// hence 10 runs: enough to mix every kind before/after shutdown(), once or not, with
// teardowns, without making `npm test` slow.
const TIMEOUT_MS = 800
const kinds: Kind[] = ['sync', 'async', 'hang', 'throw', 'reject', 'exit']
const work = fc.record({ kind: fc.constantFrom(...kinds), ms: fc.integer({ min: 0, max: 150 }) })
const scenario = fc.record({
  listeners: fc.array(fc.record({ work, when: fc.constantFrom<'before' | 'after'>('before', 'after'), once: fc.boolean() }), { maxLength: 4 }),
  teardowns: fc.array(work, { maxLength: 3 }),
})

describe('property: whatever the neighbours do', () => {
  test.prop([scenario], { numRuns: 10 })('exit code is the first requested one (else 0), every listener and teardown that can finish has finished before the exit', async (s) => {
    // Distinct exit codes, so the test can tell whose process.exit() won.
    let code = 3
    const listeners: ListenerSpec[] = s.listeners.map((l, i) => ({ name: `listener${i}`, ...l.work, when: l.when, once: l.once, code: code++ }))
    const teardowns: WorkSpec[] = s.teardowns.map((t, i) => ({ name: `teardown${i}`, ...t, code: code++ }))
    const child = run({ timeoutMs: TIMEOUT_MS, listeners, teardowns })
    const exit = await terminate(child)

    const all: WorkSpec[] = [...listeners, ...teardowns]
    // The first process.exit() call is the one right after the first 'end' of an exit kind.
    const exitCallers = all.filter((w) => w.kind === 'exit').map((w) => ({ w, at: indexOf(child, (e) => e.event === 'end' && e.name === w.name) }))
    const firstCaller = exitCallers.filter((c) => c.at >= 0).sort((a, b) => a.at - b.at)[0]
    const expected = firstCaller?.w.code ?? 0
    expect(exit).toMatchObject({ code: expected, signal: null })
    expect(exit.ms).toBeLessThan(GENEROUS_MS)
    const exitAt = indexOf(child, (e) => e.event === 'exit')
    expect(exitAt).toBeGreaterThan(-1)
    for (const w of all.filter((x) => x.kind !== 'hang')) {
      const at = indexOf(child, (e) => e.event === 'end' && e.name === w.name)
      expect({ name: w.name, finished: at >= 0 && at < exitAt }).toEqual({ name: w.name, finished: true })
    }
    expect(reports(child)).toHaveLength(1)
    const hangs = all.some((w) => w.kind === 'hang')
    expect(lastLog(child, 'shutdown: exit')).toMatch(hangs ? /\(deadline of 800 ms; still running: / : /\(everything settled\)$/)
  }, 120000)
})
