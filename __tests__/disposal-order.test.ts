// G6 LIFO across every kind, as AsyncDisposableStack: a resource is released only
// after everything declared after it. Disposers (defer, handle) are barriers; the
// paths and remote resources between two of them are independent and released
// together (remote ones batched per deleter). Observed with real files, real
// disposers and a custom deleter (the extension point) that records its calls: pure
// engine logic, so an in-memory store stands in for a service.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { createWriteStream, existsSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CleanupScope, type RemoteDeleter, type RemoteResource } from '../src/index.js'
import { coreOf } from '../src/scope.js'

const quiet = { warn: () => {}, error: () => {} }
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

type Kind = 'defer' | 'deferAsync' | 'handle' | 'path' | 'tempFile' | 'tempDir' | 'remote'
const KINDS: Kind[] = ['defer', 'deferAsync', 'handle', 'path', 'tempFile', 'tempDir', 'remote']
const isBarrier = (k: Kind): boolean => k === 'defer' || k === 'deferAsync' || k === 'handle'

interface Mem extends RemoteResource { i: number }

/**
 * Declares `kinds` in order on a fresh scope, disposes it, and returns every
 * ordering violation seen: at the moment an item is released (a disposer runs, a
 * deleter is called), everything declared after it (outside its own run of
 * independent deletes) must already be released, and nothing declared before it.
 */
const declareAndDispose = async (kinds: readonly Kind[]) => {
  const base = await mkdtemp(join(tmpdir(), 'mc-lifo-'))
  const scope = new CleanupScope({ logger: quiet, allow: { paths: [base] } })
  // run[i]: index of the maximal run of non-barrier items i belongs to (a barrier is its own run)
  const run: number[] = []
  kinds.forEach((k, i) => { run[i] = i > 0 && !isBarrier(k) && !isBarrier(kinds[i - 1]!) ? run[i - 1]! : i })
  const releasedFlag: boolean[] = kinds.map(() => false)
  const files: Array<string | undefined> = []
  const released = (j: number): boolean => files[j] !== undefined ? !existsSync(files[j]!) : releasedFlag[j]!
  const violations: string[] = []
  const calls: number[][] = []
  const check = (i: number): void => {
    const dir = coreOf(scope).invocationDir
    if (dir !== undefined && !existsSync(dir)) violations.push(`#${i} ${kinds[i]}: the per-invocation dir was removed before it`)
    for (let j = 0; j < kinds.length; j++) {
      if (j === i || run[j] === run[i]) continue
      if (j > i && !released(j)) violations.push(`#${i} ${kinds[i]} released before #${j} ${kinds[j]} (declared after it)`)
      if (j < i && released(j)) violations.push(`#${j} ${kinds[j]} released before #${i} ${kinds[i]} (declared after it)`)
    }
  }
  const deleter: RemoteDeleter<Mem> = {
    kind: 'memory',
    delete: async (resources) => {
      calls.push(resources.map((r) => r.i))
      for (const r of resources) check(r.i)
      await tick()
      for (const r of resources) releasedFlag[r.i] = true
      return { cleaned: resources, failed: [], requests: 1 }
    },
  }
  for (const [i, kind] of kinds.entries()) {
    if (kind === 'defer') scope.defer(() => { check(i); releasedFlag[i] = true })
    else if (kind === 'deferAsync') scope.defer(async () => { check(i); await tick(); releasedFlag[i] = true })
    else if (kind === 'handle') scope.handle({ close: async () => { check(i); await tick(); releasedFlag[i] = true } })
    else if (kind === 'path') { const f = join(base, `p${i}`); writeFileSync(f, 'x'); scope.path(f); files[i] = f }
    else if (kind === 'tempFile') files[i] = await scope.tempFile({ prefix: `t${i}-` })
    else if (kind === 'tempDir') { const d = await scope.tempDir({ prefix: `d${i}-` }); writeFileSync(join(d, 'inside'), 'x'); files[i] = d }
    else scope.trackRemote(deleter, { kind: 'memory', id: `memory://${i}`, i })
  }
  const dir = coreOf(scope).invocationDir
  const report = await scope.dispose()
  await rm(base, { recursive: true, force: true })
  return { violations, calls, report, run, dirLeft: dir !== undefined && existsSync(dir), allReleased: kinds.every((_, j) => released(j)) }
}

describe('G6: disposal is LIFO across every kind', () => {
  test.prop([fc.array(fc.constantFrom(...KINDS), { maxLength: 12 })], { numRuns: 60 })(
    'random declarations of every kind are released in reverse order, up to batching of consecutive independent deletes',
    async (kinds) => {
      const { violations, calls, report, run, dirLeft, allReleased } = await declareAndDispose(kinds)
      expect(violations).toEqual([])
      expect(report.failed).toEqual([])
      expect(report.cleaned).toBe(kinds.length)
      expect(allReleased).toBe(true)
      expect(dirLeft).toBe(false) // the per-invocation dir: removed last
      // one batch per run of consecutive remote/path declarations holding remote ones, exactly those
      const expected = [...new Set(kinds.flatMap((k, i) => k === 'remote' ? [run[i]!] : []))]
        .sort((a, b) => b - a)
        .map((r) => kinds.flatMap((k, i) => k === 'remote' && run[i] === r ? [i] : []))
      expect(calls).toEqual(expected)
    },
  )

  it('an S3-like object declared before a defer that may still write it is deleted only after the defer', async () => {
    const { violations, calls } = await declareAndDispose(['remote', 'deferAsync', 'remote'])
    expect(violations).toEqual([])
    expect(calls).toEqual([[2], [0]])
  })

  it('a stream declared after a tempFile is closed before the file is removed', async () => {
    const scope = new CleanupScope({ logger: quiet })
    const file = await scope.tempFile({ suffix: '.log' })
    const stream = scope.handle(createWriteStream(file))
    let fileWhenClosed: boolean | undefined
    stream.once('close', () => { fileWhenClosed = existsSync(file) })
    stream.write('x')
    const report = await scope.dispose()
    expect(fileWhenClosed).toBe(true)
    expect(existsSync(file)).toBe(false)
    expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
  })

  it('with no disposer between them, every remote resource of a deleter goes in one call (request counts unchanged)', async () => {
    const kinds: Kind[] = []
    for (let i = 0; i < 30; i++) kinds.push(i % 3 === 0 ? 'tempFile' : i % 3 === 1 ? 'remote' : 'path')
    const { violations, calls, report } = await declareAndDispose(kinds)
    expect(violations).toEqual([])
    expect(calls).toHaveLength(1)
    expect(calls[0]).toHaveLength(10)
    expect(report.requests).toBe(1)
  })
})
