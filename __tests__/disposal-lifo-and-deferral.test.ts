// G3 and G6 as properties of one disposal run (src/disposal.ts), over random plans of
// disposers, paths and remote resources of two deleters with random outcomes:
// - LIFO with disposers as barriers: a disposer starts only once everything declared
//   after it is released, and before anything declared before it; the paths and remote
//   resources between two disposers go together, one call per deleter with exactly them;
// - every item ends exactly one way (cleaned, given up with its reason, or handed back
//   in declaration order), and the report's counts say which;
// - out of time, only the trailing disposers still run; everything else is deferred,
//   in order, with no attempt used and nothing sent;
// - a journaled per-invocation dir stays exactly while one of its resources is pending;
// - a resource is given up at its MAX_ATTEMPTS-th real attempt, never before; deferrals
//   (`sent: false`) never count.
// In-memory deleters (the properties are about the run's bookkeeping, not a service)
// and the real file system.
import { afterAll, beforeAll, describe, expect } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addToPlan, emptyPlan, runDisposal } from '../src/disposal.js'
import type { CleanupReport } from '../src/report.js'
import type { DeleteOutcome, RemoteDeleter, RemoteResource } from '../src/remote-kind.js'
import { MAX_ATTEMPTS, type PathItem, type RemoteItem, type TrackedItem, journaledIn } from '../src/scope-items.js'

const quiet = { warn: () => {}, error: () => {} }
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

type DisposerOutcome = 'sync' | 'async' | 'throw' | 'reject'
type RemoteOutcome = 'ok' | 'retry' | 'fatal' | 'unsent' | 'silent'
type Spec = { t: 'disposer', outcome: DisposerOutcome } | { t: 'path' } | { t: 'remote', deleter: 0 | 1, outcome: RemoteOutcome }

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({ t: fc.constant('disposer' as const), outcome: fc.constantFrom<DisposerOutcome>('sync', 'async', 'throw', 'reject') }),
  fc.record({ t: fc.constant('path' as const) }),
  fc.record({ t: fc.constant('remote' as const), deleter: fc.constantFrom<0 | 1>(0, 1), outcome: fc.constantFrom<RemoteOutcome>('ok', 'retry', 'fatal', 'unsent', 'silent') }),
)

let base: string
let n = 0
beforeAll(async () => { base = await mkdtemp(join(tmpdir(), 'mc-disposal-props-')) })
afterAll(async () => { await rm(base, { recursive: true, force: true }) })

/** A plan built from specs, with an event log the disposers and deleters write to. */
const build = (specs: readonly Spec[]) => {
  const events: string[] = []
  const outcomeOf = new Map<string, RemoteOutcome>()
  const paths: PathItem[] = []
  const deleter = (index: 0 | 1): RemoteDeleter<RemoteResource> => ({
    kind: `memory${index}`,
    delete: async (resources, { countRequests }) => {
      events.push(`call ${index} ${resources.map((r) => r.id).sort().join(',')}`)
      countRequests(1)
      await turn()
      const outcome: DeleteOutcome<RemoteResource> = { cleaned: [], failed: [] }
      for (const resource of resources) {
        const o = outcomeOf.get(resource.id)!
        if (o === 'ok') outcome.cleaned.push(resource)
        else if (o === 'retry') outcome.failed.push({ resource, error: new Error('SlowDown'), retryable: true })
        else if (o === 'fatal') outcome.failed.push({ resource, error: new Error('AccessDenied'), retryable: false })
        else if (o === 'unsent') outcome.failed.push({ resource, error: new Error('not sent'), retryable: true, sent: false })
      }
      return outcome
    },
  })
  const deleters = [deleter(0), deleter(1)] as const
  const items: TrackedItem[] = specs.map((s, i): TrackedItem => {
    const id = `#${i}`
    if (s.t === 'disposer') {
      return {
        type: 'disposer', kind: 'defer', id, attempts: 0,
        run: () => {
          // LIFO for paths: the ones declared after this disposer are gone, the ones before it are not
          events.push(`start ${id} ${paths.filter((p) => !existsSync(p.real)).map((p) => p.id).join(',')}`)
          if (s.outcome === 'sync') { events.push(`end ${id}`); return undefined }
          if (s.outcome === 'throw') { events.push(`end ${id}`); throw new Error(`thrown by ${id}`) }
          return turn().then(() => { events.push(`end ${id}`); if (s.outcome === 'reject') throw new Error(`rejected by ${id}`) })
        },
      }
    }
    if (s.t === 'path') {
      const real = join(base, `f${++n}`)
      writeFileSync(real, 'x')
      const p: PathItem = { type: 'path', kind: 'path', id, real, roots: [base], attempts: 0, covers: 1 }
      paths.push(p)
      return p
    }
    outcomeOf.set(id, s.outcome)
    const d = deleters[s.deleter]
    return { type: 'remote', kind: d.kind, id, deleter: d, resource: { kind: d.kind, id }, attempts: 0 }
  })
  return { items, events, paths, outcomeOf }
}

const run = async (items: readonly TrackedItem[], budgetMs: number): Promise<{ report: CleanupReport, later: TrackedItem[] }> => {
  const plan = emptyPlan()
  for (const item of items) addToPlan(plan, item)
  const later: TrackedItem[] = []
  const report = await runDisposal(plan, { exitPath: 'manual', budgetMs, logger: quiet, retryLater: (i) => later.push(i) })
  return { report, later }
}

/** The events one LIFO run must produce, phase by phase from the last declared item back. */
const expectedPhases = (specs: readonly Spec[], items: readonly TrackedItem[]): string[][] => {
  const phases: string[][] = []
  let end = specs.length
  while (end > 0) {
    const last = specs[end - 1]!
    if (last.t === 'disposer') {
      const gone = items.slice(end).filter((i) => i.type === 'path').map((i) => i.id).join(',')
      phases.push([`start #${end - 1} ${gone}`], [`end #${end - 1}`])
      end--
      continue
    }
    let start = end - 1
    while (start > 0 && specs[start - 1]!.t !== 'disposer') start--
    const calls = ([0, 1] as const).flatMap((d) => {
      const ids = specs.slice(start, end).flatMap((s, k) => s.t === 'remote' && s.deleter === d ? [`#${start + k}`] : [])
      return ids.length > 0 ? [`call ${d} ${ids.sort().join(',')}`] : []
    })
    if (calls.length > 0) phases.push(calls.sort())
    end = start
  }
  return phases
}

describe('one run with time: LIFO, barriers, batches, and every item ends one way', () => {
  test.prop([fc.array(specArb, { maxLength: 14 })], { numRuns: 80 })('random plans', async (specs) => {
    const built = build(specs)
    const { items, events } = built
    const { report, later } = await run(items, 10_000)

    // Order: the event log, cut into the expected phases (events within one phase in any order).
    const phases = expectedPhases(specs, items)
    const seen: string[][] = []
    let at = 0
    for (const phase of phases) { seen.push(events.slice(at, at + phase.length).sort()); at += phase.length }
    expect(seen).toEqual(phases.map((p) => [...p].sort()))
    expect(at).toBe(events.length)

    // Outcomes: cleaned, given up, or handed back (in declaration order) — exactly one each.
    const is = (pred: (s: Spec) => boolean): number => specs.filter(pred).length
    const cleaned = is((s) => (s.t === 'disposer' && (s.outcome === 'sync' || s.outcome === 'async')) || s.t === 'path' || (s.t === 'remote' && s.outcome === 'ok'))
    const givenUp = specs.flatMap((s, i) => (s.t === 'disposer' && (s.outcome === 'throw' || s.outcome === 'reject')) || (s.t === 'remote' && s.outcome === 'fatal') ? [`#${i}`] : [])
    const handedBack = specs.flatMap((s, i) => s.t === 'remote' && s.outcome !== 'ok' && s.outcome !== 'fatal' ? [`#${i}`] : [])
    expect(report.resources).toBe(specs.length)
    expect(report.cleaned).toBe(cleaned)
    expect(later.map((i) => i.id)).toEqual(handedBack)
    expect(report.failed.filter((f) => f.retrying !== true).map((f) => f.id).sort()).toEqual([...givenUp].sort())
    expect(report.failed.filter((f) => f.retrying === true).map((f) => f.id).sort()).toEqual([...handedBack].sort())
    expect(report.leftovers).toBe(handedBack.length)
    expect(report.deferred).toBe(is((s) => s.t === 'remote' && s.outcome === 'unsent'))
    expect(cleaned + givenUp.length + handedBack.length).toBe(specs.length)
    // attempts: one per real attempt; `sent: false` uses none
    const { outcomeOf } = built
    for (const item of later) expect(item.attempts).toBe(outcomeOf.get(item.id) === 'unsent' ? 0 : 1)
    expect(report.requests).toBe(events.filter((e) => e.startsWith('call ')).length)
  })
})

describe('out of time: only the trailing disposers run, everything else is deferred in order', () => {
  const starvedSpec = fc.oneof(
    fc.record({ t: fc.constant('disposer' as const), outcome: fc.constantFrom<DisposerOutcome>('sync', 'throw') }),
    fc.record({ t: fc.constant('path' as const) }),
    fc.record({ t: fc.constant('remote' as const), deleter: fc.constantFrom<0 | 1>(0, 1), outcome: fc.constant<RemoteOutcome>('ok') }),
  )
  test.prop([fc.array(starvedSpec, { maxLength: 14 })], { numRuns: 80 })('budget 0, random plans', async (specs) => {
    const { items, events, paths } = build(specs)
    let trailing = specs.length
    while (trailing > 0 && specs[trailing - 1]!.t === 'disposer') trailing--
    const { report, later } = await run(items, 0)
    // the trailing disposers ran, last first; nothing was sent, no path removed
    expect(events.filter((e) => e.startsWith('start')).map((e) => e.split(' ')[1])).toEqual(items.slice(trailing).map((i) => i.id).reverse())
    expect(events.some((e) => e.startsWith('call'))).toBe(false)
    for (const p of paths) expect(existsSync(p.real)).toBe(true)
    // the rest deferred, in declaration order, not started, no attempt used
    expect(later).toEqual(items.slice(0, trailing))
    for (const item of later) expect(item.attempts).toBe(0)
    expect(report.deferred).toBe(trailing)
    expect(report.leftovers).toBe(trailing)
    expect(report.failed.filter((f) => f.retrying === true).map((f) => [f.id, f.error.name])).toEqual(items.slice(0, trailing).map((i) => [i.id, 'CleanupDeadlineError']))
    expect(report.requests).toBe(0)
  })
})

describe('a journaled per-invocation dir stays exactly while one of its resources is pending', () => {
  test.prop([fc.array(fc.constantFrom<RemoteOutcome>('ok', 'retry', 'fatal', 'unsent'), { minLength: 1, maxLength: 6 })], { numRuns: 60 })('random outcomes, then a run where all succeed', async (outcomes) => {
    const { items, outcomeOf } = build(outcomes.map((outcome) => ({ t: 'remote', deleter: 0, outcome })))
    const real = join(base, `middy-cleanup-${++n}`)
    mkdirSync(real)
    writeFileSync(join(real, '.journal'), '{}\n')
    const dir: PathItem = { type: 'path', kind: 'path', id: `dir:${real}`, real, roots: [base], attempts: 0, covers: 0 }
    journaledIn(dir, items as RemoteItem[])
    const { report, later } = await run([...items, dir], 10_000)
    const pending = outcomes.filter((o) => o === 'retry' || o === 'unsent').length
    expect(later).toHaveLength(pending)
    expect(existsSync(real)).toBe(pending > 0)
    expect(report.failed.some((f) => f.id === dir.id)).toBe(false)
    expect(report.resources).toBe(outcomes.length) // the dir is bookkeeping, not a resource
    if (pending === 0) return
    // the next run (leftovers: without the dir in its plan) that settles the last of them removes it
    for (const id of outcomeOf.keys()) outcomeOf.set(id, 'ok')
    const again = await run(later, 10_000)
    expect(again.later).toEqual([])
    expect(existsSync(real)).toBe(false)
  })
})

describe(`given up at the ${MAX_ATTEMPTS}th real attempt, never before; deferrals never count`, () => {
  test.prop([fc.array(fc.constantFrom<RemoteOutcome>('retry', 'unsent', 'silent'), { minLength: 1, maxLength: 12 })], { numRuns: 80 })('random failures run after run', async (outcomes) => {
    const outcomeOf = { current: outcomes[0]! }
    const d: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources, { countRequests }) => {
        if (outcomeOf.current !== 'unsent') countRequests(1)
        if (outcomeOf.current === 'silent') return { cleaned: [], failed: [] }
        return { cleaned: [], failed: resources.map((resource) => ({ resource, error: new Error('SlowDown'), retryable: true, ...(outcomeOf.current === 'unsent' ? { sent: false as const } : {}) })) }
      },
    }
    let pending: TrackedItem[] = [{ type: 'remote', kind: 'memory', id: 'memory://x', deleter: d, resource: { kind: 'memory', id: 'memory://x' }, attempts: 0 }]
    let real = 0
    for (const outcome of outcomes) {
      outcomeOf.current = outcome
      const { report, later } = await run(pending, 10_000)
      if (outcome !== 'unsent') real++
      if (real >= MAX_ATTEMPTS) {
        expect(later).toEqual([])
        expect(report.failed.map((f) => f.retrying)).toEqual([undefined])
        return
      }
      expect(later).toHaveLength(1)
      expect(later[0]!.attempts).toBe(real)
      expect(report.failed.map((f) => f.retrying)).toEqual([true])
      expect(report.deferred).toBe(outcome === 'unsent' ? 1 : 0)
      pending = later
    }
  })
})

describe('twins: the same resource declared twice is sent once per batch and shares its fate', () => {
  const clients = [{ name: 'east' }, { name: 'west' }]
  test.prop([fc.array(fc.record({ id: fc.constantFrom('a', 'b', 'c'), client: fc.constantFrom(0, 1), fails: fc.boolean() }), { minLength: 1, maxLength: 12 })], { numRuns: 80 })('random declarations over few names and two clients', async (decls) => {
    const sent: string[][] = []
    const key = (r: RemoteResource): string => `${(r.client as { name: string }).name}/${r.id}`
    // a resource fails when its first declaration says so: its twins must follow it
    const fails = new Map<string, boolean>()
    for (const d of decls) if (!fails.has(`${clients[d.client]!.name}/${d.id}`)) fails.set(`${clients[d.client]!.name}/${d.id}`, d.fails)
    const deleter: RemoteDeleter<RemoteResource> = {
      kind: 'memory',
      delete: async (resources, { countRequests }) => {
        countRequests(1)
        sent.push(resources.map(key))
        return {
          cleaned: resources.filter((r) => fails.get(key(r)) !== true),
          failed: resources.filter((r) => fails.get(key(r)) === true).map((resource) => ({ resource, error: new Error('AccessDenied'), retryable: false })),
        }
      },
    }
    // every declaration is its own object: twins are found by identity (kind, client, id), not by reference
    const items: TrackedItem[] = decls.map((d, i) => ({ type: 'remote', kind: 'memory', id: `memory://${d.id}#${i}`, deleter, resource: { kind: 'memory', id: d.id, client: clients[d.client]! }, attempts: 0 }))
    const { report } = await run(items, 10_000)
    expect(sent).toHaveLength(1)
    expect([...sent[0]!].sort()).toEqual([...fails.keys()].sort()) // each identity once; the same name through two clients twice
    const failing = decls.filter((d) => fails.get(`${clients[d.client]!.name}/${d.id}`) === true).length
    expect(report.resources).toBe(decls.length)
    expect(report.cleaned).toBe(decls.length - failing)
    expect(report.failed).toHaveLength(failing)
    expect(report.requests).toBe(1)
  })
})
