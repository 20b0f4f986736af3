// waitForLiveHolders (src/registry.ts), what a scope's disposal and the sweep use to
// leave alone whatever another live scope holds: checked against the plain definition
// (same path, a path inside or around a held one, the same remote identity) over
// random trees of paths and random holders.
import { afterEach, describe, expect } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { type LiveScope, processState, waitForLiveHolders } from '../src/registry.js'
import type { TrackedItem } from '../src/scope-items.js'
import { identityOf } from '../src/scope-items.js'

const holder = (ids: string[]): LiveScope => ({
  isOrphaned: () => false,
  orphanExitPath: () => 'early-return',
  noteLaterInvocation: () => {},
  noteShutdown: () => {},
  heldIdentities: () => ids,
  invocationDir: undefined,
  disposeFor: async () => { throw new Error('never disposed here') },
})

const added: LiveScope[] = []
afterEach(() => { for (const s of added.splice(0)) processState().active.delete(s) })

const segment = fc.constantFrom('a', 'b', 'ab', 'a-b', 'b.c')
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/tmp/${parts.join('/')}`)
const key = fc.constantFrom('k1', 'k2', 'k3')

const inside = (a: string, b: string): boolean => a.startsWith(`${b}/`)

describe('waitForLiveHolders', () => {
  test.prop([
    fc.array(fc.array(fc.oneof(path, key.map((k) => `remote:${k}`)), { maxLength: 6 }), { maxLength: 3 }),
    fc.array(fc.oneof(path.map((p) => ({ p })), key.map((k) => ({ k }))), { maxLength: 12 }),
  ], { numRuns: 300 })('keeps exactly what the plain definition says another live scope holds, in order, and leaves the rest', (holders, declared) => {
    const client = {}
    const remote = (k: string): TrackedItem => {
      const resource = { kind: 'memory', id: `memory://${k}`, client }
      return { type: 'remote', kind: 'memory', id: resource.id, resource, attempts: 0, deleter: { kind: 'memory', delete: async () => ({ cleaned: [], failed: [] }) } }
    }
    const heldIds = holders.map((ids) => ids.map((id) => id.startsWith('remote:') ? identityOf({ kind: 'memory', id: `memory://${id.slice(7)}`, client }) : id))
    for (const ids of heldIds) { const s = holder(ids); added.push(s); processState().active.add(s) }
    const items: TrackedItem[] = declared.map((d) => 'p' in d
      ? { type: 'path', kind: 'path', id: d.p, real: d.p, roots: ['/tmp'], attempts: 0, covers: 1 }
      : remote(d.k))
    items.push({ type: 'disposer', kind: 'defer', id: '/tmp/a', run: () => {}, attempts: 0 }) // a disposer is never someone else's
    const all = heldIds.flat()
    const expectedLive = (item: TrackedItem): boolean => item.type === 'path'
      ? all.some((h) => h === item.real || inside(h, item.real) || inside(item.real, h))
      : item.type === 'remote' && all.includes(identityOf(item.resource))
    const before = processState().leftovers.length
    try {
      const go = waitForLiveHolders(items, [])
      expect(go).toEqual(items.filter((i) => !expectedLive(i)))
      expect(processState().leftovers.slice(before)).toEqual(items.filter(expectedLive))
    } finally {
      processState().leftovers.splice(before)
      for (const s of added.splice(0)) processState().active.delete(s)
    }
  })

  test.prop([fc.array(path, { maxLength: 8 })], { numRuns: 50 })('the scopes being disposed are not holders', (paths) => {
    const self = holder(paths)
    added.push(self)
    processState().active.add(self)
    const items: TrackedItem[] = paths.map((p) => ({ type: 'path', kind: 'path', id: p, real: p, roots: ['/tmp'], attempts: 0, covers: 1 }))
    try {
      expect(waitForLiveHolders(items, [self])).toEqual(items)
    } finally {
      processState().active.delete(self)
    }
  })
})
