// G7 Work the invocation awaits holds the event loop; work that outlives it never does
// (issue 12 obs 10). The Lambda Node runtime takes an empty event loop for the end of
// the invocation, and a process whose loop empties during a top-level await exits
// with code 13. Real child processes (__tests__/fixtures/event-loop-child.ts), each
// calling a real Middy handler from top-level await with nothing else alive; the
// faults come from the fault proxy in front of the real servers (no emulator answers
// UnprocessedItems or 503 SlowDown), except the send that never settles, which no
// server produces: a custom deleter stands in for it.
import { describe, expect, it } from '@jest/globals'
import { type ChildEvent, cleanEnv, spawnChild } from './fixtures/shutdown-harness.js'
import { backends, type BackendInfo } from './support/backends.js'
import { slowDown, startFaultProxy } from './support/fault-proxy.js'

const run = async (env: Record<string, string>): Promise<{ events: ChildEvent[], code: number | null, signal: NodeJS.Signals | null, stderr: string }> => {
  const child = spawnChild(process.execPath, ['--import', 'tsx', '__tests__/fixtures/event-loop-child.ts'], cleanEnv(env), 25_000)
  const { code, signal } = await child.exited
  return { events: child.events, code, signal, stderr: child.stderr() }
}
const names = (events: ChildEvent[]): string[] => events.filter((e) => e.event !== 'report').map((e) => e.event)
/** The report of the invocation's own scope (the start-of-process sweep reports too). */
const ownReport = (events: ChildEvent[]): any => events.find((e) => e.event === 'report' && (e.report as { exitPath: string }).exitPath === 'success')!.report

/** The invocation completed before the loop emptied: done, then beforeExit and a clean exit. */
const endedCleanly = (r: Awaited<ReturnType<typeof run>>): void => {
  expect(r.signal).toBeNull() // exited on its own, not killed at the hard timeout
  expect(r.events.filter((e) => e.event === 'beforeExit' || e.event === 'exit').every((e) => e.done === true)).toBe(true)
  expect(r.code).toBe(0)
}

describe.each(backends().filter((b) => b.name === 'embedded'))('the event loop during cleanup ($name)', (b: BackendInfo) => {
  it('a whole DeleteObjects answered 503 SlowDown (the SDK retries it, then cleanup gives it to the leftovers): the invocation completes first', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...slowDown(), match: (s) => s.op === 's3:POST?delete' } })
    try {
      const r = await run({ SCENARIO: 'slowdown', S3_ENDPOINT: proxy.endpoint, BUCKET: 'loop-bucket', MAX_ATTEMPTS: '3' })
      expect(names(r.events)).toEqual(['result', 'done', 'beforeExit', 'exit'])
      endedCleanly(r)
      expect(proxy.injected.status).toBeGreaterThan(0)
      expect(ownReport(r.events).requests).toBe(proxy.seen.filter((s) => s.op === 's3:POST?delete').length)
    } finally { await proxy.stop() }
  })

  it('a cleanup looping on UnprocessedItems with a backoff keeps the invocation alive until it completes; then the process exits', async () => {
    const proxy = await startFaultProxy({ target: b.dynamodbEndpoint, unprocessed: { count: (n) => n } })
    try {
      const r = await run({ SCENARIO: 'unprocessed', DDB_ENDPOINT: proxy.endpoint, TABLE: 'loop-table' })
      expect(names(r.events)).toEqual(['result', 'done', 'beforeExit', 'exit'])
      endedCleanly(r)
      // it really backed off between attempts: more than one BatchWriteItem, each answered UnprocessedItems
      expect(proxy.injected.unprocessed).toBeGreaterThan(1)
      const report = ownReport(r.events) as { requests: number, failed: Array<{ retrying?: boolean }> }
      expect(report.requests).toBe(proxy.seen.filter((s) => s.op === 'BatchWriteItem').length)
      expect(report.failed.map((f) => f.retrying)).toEqual([true])
    } finally { await proxy.stop() }
  })

  it('a cleanup answered SlowDown for every key (DeleteObjects per-key errors) keeps the invocation alive through its backoffs; then the process exits', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, keyErrors: { count: (n) => n, code: 'SlowDown', message: 'Please reduce your request rate.' } })
    try {
      const r = await run({ SCENARIO: 'slowdown', S3_ENDPOINT: proxy.endpoint, BUCKET: 'loop-bucket' })
      expect(names(r.events)).toEqual(['result', 'done', 'beforeExit', 'exit'])
      endedCleanly(r)
      expect(proxy.injected.keyErrors).toBeGreaterThan(1)
      const report = ownReport(r.events) as { requests: number }
      expect(report.requests).toBe(proxy.seen.filter((s) => s.op === 's3:POST?delete').length)
    } finally { await proxy.stop() }
  })
})

describe('the event loop during cleanup (no server)', () => {
  it('a deleter whose send never settles: the invocation ends at the deadline instead of the process exiting mid-invocation (code 13)', async () => {
    const r = await run({ SCENARIO: 'never' })
    expect(names(r.events)).toEqual(['result', 'done', 'beforeExit', 'exit'])
    endedCleanly(r)
    const report = ownReport(r.events) as { failed: Array<{ id: string, retrying?: boolean, error: { name: string } }> }
    expect(report.failed).toEqual([{ kind: 'never', id: 'never://1', retrying: true, error: expect.objectContaining({ name: 'CleanupDeadlineError' }) }])
  })

  it('the converse: a background sweep nobody awaits (the invocation returned early) never keeps the process alive', async () => {
    const r = await run({ SCENARIO: 'background' })
    // the sweep was in its backoff when the process ended: it had started and never finished
    expect(names(r.events).filter((e) => e !== 'background-started')).toEqual(['result', 'result', 'done', 'beforeExit', 'exit'])
    expect(r.events.some((e) => e.event === 'background-started')).toBe(true)
    expect(r.events.some((e) => e.event === 'background-finished')).toBe(false)
    endedCleanly(r)
  })
})
