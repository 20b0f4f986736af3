// The core scope (src/scope-core.ts) alone, without the facade, Middy or a service:
// one resource per identity (kind + client + id, or the real path), its states, its
// registry entry, and what it does with a declaration once disposal has begun.
import { afterAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { processState } from '../src/registry.js'
import type { TrackedItem } from '../src/scope-items.js'
import { base, memoryKind, newCore, recorder, remote } from './support/core-scope.js'

afterAll(() => { rmSync(base, { recursive: true, force: true }) })

const clients = [undefined, { name: 'east' }, { name: 'west' }] as const

describe('one resource per identity', () => {
  test.prop([fc.array(fc.record({ kind: fc.constantFrom('a', 'b'), client: fc.constantFrom(0, 1, 2), key: fc.constantFrom('k1', 'k2', 'k3', 'k4') }), { maxLength: 60 })], { numRuns: 150 })(
    'each kind + client + id is handed to its deleter once, counted once, and hold() is true only for its first declaration',
    async (declarations) => {
      const kinds = { a: memoryKind('a'), b: memoryKind('b') }
      const core = newCore()
      const expected = new Set<string>()
      for (const d of declarations) {
        const name = `${d.kind}|${d.client}|${d.key}`
        expect(core.hold(remote(kinds[d.kind], d.key, clients[d.client]))).toBe(!expected.has(name))
        expected.add(name)
      }
      const report = await core.disposeFor('manual', 2000)
      const handed = [...kinds.a.calls.flat(), ...kinds.b.calls.flat()].map((r) => `${r.kind}|${clients.indexOf(r.client as typeof clients[number])}|${r.key}`)
      expect(handed.sort()).toEqual([...expected].sort())
      expect(report).toMatchObject({ resources: expected.size, cleaned: expected.size, failed: [] })
      // one call per deleter that had anything: the run batches by deleter
      expect(kinds.a.calls.length + kinds.b.calls.length).toBe(new Set(declarations.map((d) => d.kind)).size)
    })

  it('a path is one resource by its real path however often it is declared; disposers are never merged', async () => {
    const file = join(base, 'twice.txt')
    writeFileSync(file, 'x')
    const core = newCore()
    const path = (): TrackedItem => ({ type: 'path', kind: 'path', id: file, real: file, roots: [base], attempts: 0, covers: 1 })
    expect(core.hold(path())).toBe(true)
    expect(core.hold(path())).toBe(false)
    let runs = 0
    const defer = (): TrackedItem => ({ type: 'disposer', kind: 'defer', id: 'defer', run: () => { runs++ }, attempts: 0 })
    expect(core.hold(defer())).toBe(true)
    expect(core.hold(defer())).toBe(true)
    expect([...core.heldIdentities()]).toEqual([file])
    const report = await core.disposeFor('manual', 2000)
    expect(report).toMatchObject({ resources: 3, cleaned: 3, failed: [] })
    expect(runs).toBe(2)
    expect(existsSync(file)).toBe(false)
  })
})

describe('states and the registry', () => {
  it('active → disposing (seen from a disposer) → disposed; registered from its first declaration until disposed; one disposal', async () => {
    const core = newCore()
    expect(processState().active.has(core)).toBe(false)
    let during: string | undefined
    core.hold({ type: 'disposer', kind: 'defer', id: 'defer', run: () => { during = core.state }, attempts: 0 })
    expect(core.state).toBe('active')
    expect(processState().active.has(core)).toBe(true)
    const first = core.disposeFor('success', 2000)
    expect(core.state).toBe('disposing')
    expect(core.disposeFor('error', 2000)).toBe(first)
    const report = await first
    expect(during).toBe('disposing')
    expect(core.state).toBe('disposed')
    expect(report.exitPath).toBe('success')
    expect(processState().active.has(core)).toBe(false)
  })

  it('a scope that declared nothing ends at once (no promise, not registered) and reports empty with the exit path it ended on', async () => {
    const core = newCore()
    expect(core.endNowIfEmpty('timeout')).toBe(true)
    expect(core.state).toBe('disposed')
    expect(processState().active.has(core)).toBe(false)
    expect(await core.disposeFor('manual', 2000)).toMatchObject({ exitPath: 'timeout', resources: 0, failed: [] })
  })

  it.each([
    ['something declared', (c: ReturnType<typeof newCore>) => { c.hold({ type: 'disposer', kind: 'defer', id: 'defer', run: () => {}, attempts: 0 }) }],
    ['a report hook', (c: ReturnType<typeof newCore>) => { c.addReportHook(() => {}) }],
    ['the per-invocation dir named', (c: ReturnType<typeof newCore>) => { c.dir() }],
  ])('no fast path with %s: the full disposal runs', async (_name, prepare) => {
    const core = newCore()
    prepare(core)
    expect(core.endNowIfEmpty('success')).toBe(false)
    expect(core.state).toBe('active')
    await core.disposeFor('success', 2000)
    expect(core.state).toBe('disposed')
  })

  it('no fast path when onReport wants the report', async () => {
    const reports: unknown[] = []
    const core = newCore(recorder().logger, (r) => { reports.push(r) })
    expect(core.endNowIfEmpty('success')).toBe(false)
    await core.disposeFor('success', 2000)
    expect(reports).toHaveLength(1)
  })

  it('isOrphaned only with a proof of end and only while active; the proof is asked, never guessed', async () => {
    const core = newCore()
    expect(core.isOrphaned()).toBe(false) // standalone: only its owner disposes it
    let ended = false
    const notes: string[] = []
    core.watchEnd({ ended: () => ended, exitPath: () => 'shutdown', noteLaterInvocation: (id) => { notes.push(`later ${id}`) }, noteShutdown: () => { notes.push('sigterm') }, holdOutput: () => { notes.push('hold') } })
    expect(core.isOrphaned()).toBe(false)
    ended = true
    expect(core.isOrphaned()).toBe(true)
    expect(core.orphanExitPath()).toBe('shutdown')
    core.noteLaterInvocation('r2')
    core.noteShutdown()
    core.holdOutput()
    expect(notes).toEqual(['later r2', 'sigterm', 'hold'])
    await core.disposeFor('shutdown', 2000)
    expect(core.isOrphaned()).toBe(false)
  })
})

describe('declarations once disposal has begun go to the leftovers, never thrown', () => {
  it('a path, a disposer, a remote resource and the per-invocation dir declared late are on the leftovers list, each said once', async () => {
    const log = recorder()
    const core = newCore(log.logger)
    core.hold({ type: 'disposer', kind: 'defer', id: 'first', run: () => {}, attempts: 0 })
    const disposal = core.disposeFor('timeout', 2000)
    const before = processState().leftovers.length
    const kind = memoryKind('late', { encode: (r) => ({ key: r.key }) })
    const late: TrackedItem[] = [
      { type: 'path', kind: 'path', id: join(base, 'late'), real: join(base, 'late'), roots: [base], attempts: 0, covers: 1 },
      { type: 'disposer', kind: 'defer', id: 'defer late', run: () => {}, attempts: 0 },
    ]
    try {
      for (const item of late) expect(core.hold(item)).toBe(false)
      const r = remote(kind, 'k')
      expect(core.holdRemote(r)).toBe(false)
      const dir = core.dir()
      expect(processState().leftovers.slice(before)).toEqual([...late, r, dir])
      expect(log.warnings.filter((w) => w.includes('was declared after its invocation\'s cleanup had started'))).toHaveLength(4)
      await disposal
      expect(kind.calls).toEqual([]) // not this disposal's: the next sweep's
      expect(existsSync(dir.real)).toBe(false) // a late remote resource is not journaled: the dir is not recreated
    } finally {
      processState().leftovers.splice(before)
    }
  })
})
