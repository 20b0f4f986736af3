// Scenario 1: per-invocation overhead of `.use(cleanup())`, measured with tinybench.
// Each tinybench sample is a batch of sequential invocations (timer resolution and
// the per-sample await stay out of the per-invocation figure); reported per invocation.
import middy from '@middy/core'
import { Bench } from 'tinybench'
import { type Lib, QUICK, lambdaContext, quietLogger } from './common.js'
import { type Section, renderTable, stats, us } from './table.js'

interface Row { key: string, label: string, batch: number, make: () => (event: unknown, context: any) => Promise<unknown> }

const noop = (): void => {}

/** Runs the contenders; `extra` rows (e.g. leak detection) when the library offers them. */
export const runOverhead = async (lib: Lib): Promise<Section> => {
  const { cleanup } = lib
  const rows: Row[] = [
    { key: 'bare', label: 'bare `middy().handler(fn)`', batch: 500, make: () => middy().handler(async () => 'ok') },
    {
      key: 'noop',
      label: 'no-op before/after middleware',
      batch: 500,
      make: () => middy().use({ before: noop, after: noop }).handler(async () => 'ok'),
    },
    {
      key: 'empty',
      label: '`cleanup()`, empty scope',
      batch: 500,
      make: () => middy().use(cleanup({ logger: quietLogger })).handler(async () => 'ok'),
    },
    {
      key: 'defers',
      label: '`cleanup()` + 10 `defer`s',
      batch: 200,
      make: () => middy().use(cleanup({ logger: quietLogger })).handler(async (_e: unknown, context) => {
        for (let i = 0; i < 10; i++) context.cleanup.defer(noop)
        return 'ok'
      }),
    },
    {
      key: 'files',
      label: '`cleanup()` + 3 `tempFile()`s',
      batch: 10,
      make: () => middy().use(cleanup({ logger: quietLogger })).handler(async (_e: unknown, context) => {
        await context.cleanup.tempFile()
        await context.cleanup.tempFile()
        await context.cleanup.tempFile({ suffix: '.jpg' })
        return 'ok'
      }),
    },
  ]
  if (leakDetectionAvailable(lib)) {
    rows.push({
      key: 'leaks',
      label: '`cleanup({ detectLeaks: true })`, empty scope',
      batch: 20,
      make: () => middy().use(cleanup({ logger: quietLogger, detectLeaks: true } as Parameters<Lib['cleanup']>[0])).handler(async () => 'ok'),
    })
  }

  const samples = new Map<string, number[]>(rows.map((r) => [r.key, []]))
  const passes = QUICK ? 1 : 2
  for (let pass = 0; pass < passes; pass++) {
    const bench = new Bench({
      name: `overhead pass ${pass + 1}`,
      time: QUICK ? 40 : 500,
      warmupTime: QUICK ? 20 : 300,
      warmupIterations: QUICK ? 5 : 20,
      iterations: QUICK ? 5 : 30,
      retainSamples: true,
      throws: true,
    })
    // second pass in reverse order, so JIT warm-up and GC pressure do not favour one contender
    const order = pass % 2 === 0 ? rows : [...rows].reverse()
    for (const row of order) {
      const handler = row.make()
      const context = lambdaContext(`overhead-${row.key}`)
      const event = { n: 1 }
      bench.add(row.label, async () => {
        const t0 = performance.now()
        for (let i = 0; i < row.batch; i++) await handler(event, context)
        const elapsed = performance.now() - t0
        return { overriddenDuration: elapsed / row.batch, overriddenIterationCost: elapsed }
      }, { async: true })
    }
    await bench.run()
    for (const task of bench.tasks) {
      const row = rows.find((r) => r.label === task.name)!
      const r = task.result as { state: string, latency?: { samples?: readonly number[] }, error?: unknown }
      if (r.state === 'errored') throw new Error(`overhead: ${row.label} failed: ${String(r.error)}`)
      samples.get(row.key)!.push(...(r.latency?.samples ?? []).map((v) => v * 1000))
    }
  }

  const med = (key: string): number => stats(samples.get(key)!).median
  const bare = med('bare')
  const table = renderTable(
    ['contender', 'median / invocation', 'p95', 'added vs bare', 'ratio vs bare', 'samples × batch'],
    rows.map((r) => {
      const s = stats(samples.get(r.key)!)
      return [r.label, us(s.median), us(s.p95), r.key === 'bare' ? '–' : us(s.median - bare), `${(s.median / bare).toFixed(2)}×`, `${s.n} × ${r.batch}`]
    }),
  )
  const added = med('empty') - bare
  const target = 1.5
  const notes = [
    `Empty scope adds ${us(added)} over bare Middy (target ≤ ${target} µs): ${added <= target ? 'MET' : 'MISSED'}; a no-op middleware alone adds ${us(med('noop') - bare)}, so cleanup() itself costs ${us(med('empty') - med('noop'))} beyond the floor any middleware pays.`,
  ]
  if (!leakDetectionAvailable(lib)) notes.push('Leak detection row: not measured — `cleanup({ detectLeaks })` is not in this build yet.')
  return {
    title: '1. Per-invocation overhead (tinybench, warm)',
    table,
    notes,
    summary: {
      'overhead: bare middy': us(bare),
      'overhead: empty scope added': `${us(added)} (${(med('empty') / bare).toFixed(2)}× bare; target ≤ ${target} µs ${added <= target ? 'met' : 'MISSED'})`,
    },
  }
}

/** True when this build validates a `detectLeaks` option (src/leaks lands it). */
export const leakDetectionAvailable = (lib: Lib): boolean => {
  try {
    lib.cleanup({ detectLeaks: true } as Parameters<Lib['cleanup']>[0])
    return true
  } catch {
    return false
  }
}
