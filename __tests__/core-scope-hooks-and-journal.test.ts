// The core scope's report hooks (a list, run in order; a throwing one never changes the
// report or the outcome) and its journal batching (one synchronous write per tick,
// asked of the kind's codec). node:fs is wrapped only to count appendFileSync calls:
// every call still goes to the real file system.
import { afterAll, describe, expect, it, jest } from '@jest/globals'
import { fc, test } from '@fast-check/jest'

const actual = await import('node:fs')
let writes = 0
jest.unstable_mockModule('node:fs', () => ({
  ...actual,
  default: actual,
  appendFileSync: (...args: Parameters<typeof actual.appendFileSync>) => { writes++; return actual.appendFileSync(...args) },
}))
const { existsSync, readFileSync, rmSync } = actual
const { join } = await import('node:path')
const { base, memoryKind, newCore, recorder, remote, untimed } = await import('./support/core-scope.js')
type Report = import('../src/report.js').CleanupReport

afterAll(() => { rmSync(base, { recursive: true, force: true }) })

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('report hooks', () => {
  const declareAndDispose = async (hooks: Array<(r: Report) => unknown>, log = recorder()) => {
    const reports: Report[] = []
    const core = newCore(log.logger, (r) => { reports.push(r) })
    core.hold({ type: 'disposer', kind: 'defer', id: 'defer', run: () => {}, attempts: 0 })
    for (const h of hooks) core.addReportHook(h as (r: Report) => void)
    expect(core.reportHooks).toBe(hooks.length)
    const report = await core.disposeFor('success', 2000)
    return { report, reports, log }
  }

  it('run in the order added, after disposal and before onReport; what they add is in the report onReport gets', async () => {
    const order: string[] = []
    const { report, reports } = await declareAndDispose([
      (r) => { order.push(`first ${r.cleaned}`) },
      async () => { await tick(); order.push('second (async, awaited)') },
      (r) => { order.push('third'); (r as Report & { leaks?: unknown[] }).leaks = [] },
    ])
    expect(order).toEqual(['first 1', 'second (async, awaited)', 'third'])
    expect(report.resources).toBe(1)
    expect(reports).toEqual([report])
    expect((report as Report & { leaks?: unknown[] }).leaks).toEqual([])
  })

  it('a hook that throws or rejects is logged; later hooks still run; report and outcome are those of a run without it', async () => {
    const order: string[] = []
    const plain = await declareAndDispose([() => { order.push('plain') }])
    const faulty = await declareAndDispose([
      () => { order.push('throws'); throw new Error('hook down') },
      async () => { order.push('rejects'); throw new Error('hook rejected') },
      () => { order.push('after them') },
    ])
    expect(order).toEqual(['plain', 'throws', 'rejects', 'after them'])
    expect(untimed(faulty.report)).toEqual(untimed(plain.report))
    expect(faulty.reports).toEqual([faulty.report])
    expect(faulty.log.warnings.filter((w) => /a report hook failed: .*hook (down|rejected)/.test(w))).toHaveLength(2)
    expect(faulty.log.errors).toEqual([])
  })
})

describe('journal batching: one synchronous write per tick, encoded by the kind', () => {
  const codecKind = () => memoryKind('mem', { encode: (r) => (r.key.startsWith('bin') ? undefined : { key: r.key }) })

  it('1000 declarations in one tick are one write of 1000 lines, before the tick ends; the next tick is a second write', async () => {
    const kind = codecKind()
    const core = newCore()
    const before = writes
    for (let i = 0; i < 1000; i++) core.holdRemote(remote(kind, `k${i}`))
    expect(writes - before).toBe(0)
    await Promise.resolve() // the batch is written in a microtask: before any request can go out
    expect(writes - before).toBe(1)
    core.holdRemote(remote(kind, 'later-1'))
    core.holdRemote(remote(kind, 'later-2'))
    await tick()
    expect(writes - before).toBe(2)
    const dir = core.invocationDir!
    const lines = readFileSync(join(dir, '.journal'), 'utf8').trim().split('\n')
    expect(lines).toHaveLength(1002)
    expect(lines[0]).toBe('{"kind":"mem","key":"k0"}')
    await core.disposeFor('success', 2000)
    expect(existsSync(dir)).toBe(false)
  })

  it('a kind without a codec, or a resource its codec cannot carry, is not journaled and names no dir', async () => {
    const core = newCore()
    const before = writes
    core.holdRemote(remote(memoryKind('plain'), 'k'))
    core.holdRemote(remote(codecKind(), 'bin-1'))
    await tick()
    expect(writes - before).toBe(0)
    expect(core.invocationDir).toBeUndefined()
    expect(await core.disposeFor('success', 2000)).toMatchObject({ resources: 2, cleaned: 2 })
  })

  it('a duplicate is not journaled again, and disposal begun in the same tick writes nothing (the dir is not recreated)', async () => {
    const kind = codecKind()
    const core = newCore()
    const before = writes
    expect(core.holdRemote(remote(kind, 'same'))).toBe(true)
    expect(core.holdRemote(remote(kind, 'same'))).toBe(false)
    const dir = core.invocationDir!
    const disposal = core.disposeFor('success', 2000)
    await tick()
    expect(writes - before).toBe(0)
    expect(await disposal).toMatchObject({ resources: 1, cleaned: 1 })
    expect(kind.calls.flat().map((r) => r.key)).toEqual(['same'])
    expect(existsSync(dir)).toBe(false)
  })

  test.prop([fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 })], { numRuns: 40 })(
    'over any run of ticks: writes = ticks that declared something; lines = distinct declarations',
    async (perTick) => {
      const kind = codecKind()
      const core = newCore()
      const before = writes
      let n = 0
      for (const count of perTick) {
        for (let i = 0; i < count; i++) core.holdRemote(remote(kind, `k${n++}`))
        await tick()
      }
      expect(writes - before).toBe(perTick.filter((c) => c > 0).length)
      const dir = core.invocationDir
      if (n > 0) expect(readFileSync(join(dir!, '.journal'), 'utf8').trim().split('\n')).toHaveLength(n)
      else expect(dir).toBeUndefined()
      await core.disposeFor('success', 2000)
    })
})
