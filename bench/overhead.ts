// Scenario 1: per-invocation overhead of `.use(cleanup())`, measured with tinybench on
// Middy 5, 6 and 7 side by side in one run. Each tinybench sample is a batch of
// sequential invocations (timer resolution and the per-sample await stay out of the
// per-invocation figure); reported per invocation. Every invocation gets a fresh
// Lambda-like context object, as the runtime makes one per invocation: reusing one
// hides what a new object costs (cleanup adds `context.cleanup` to each).
// Each contender runs in a node process of its own: an AsyncLocalStorage turns on Node's
// promise hooks for the whole process once entered (Node 20/22), so in one shared process
// the bare rows measured after a cleanup row paid cleanup's cost too, and which rows did
// depended on their order.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import middy7 from '@middy/core'
import middy5 from 'middy5'
import middy6 from 'middy6'
import { Bench } from 'tinybench'
import { type Lib, QUICK, lambdaContext, loadLib, quietLogger } from './common.js'
import { type Section, renderTable, stats, us } from './table.js'

type Middy = typeof middy7
interface Row { key: string, label: string, batch: number, make: (middy: Middy) => (event: unknown, context: any) => Promise<unknown>, env?: Record<string, string> }
const MAJORS: Array<{ major: string, middy: Middy }> = [
  { major: '5', middy: middy5 as unknown as Middy },
  { major: '6', middy: middy6 as unknown as Middy },
  { major: '7', middy: middy7 },
]

const noop = (): void => {}

/** Runs the contenders; `extra` rows (e.g. leak detection) when the library offers them. */
const rowsFor = (lib: Lib): Row[] => {
  const { cleanup } = lib
  const rows: Row[] = [
    { key: 'bare', label: 'bare `middy().handler(fn)`', batch: 500, make: (middy) => middy().handler(async () => 'ok') },
    {
      key: 'noop',
      label: 'no-op before/after middleware',
      batch: 500,
      make: (middy) => middy().use({ before: noop, after: noop }).handler(async () => 'ok'),
    },
    {
      key: 'empty',
      label: '`cleanup()`, empty scope',
      batch: 500,
      make: (middy) => middy().use(cleanup({ logger: quietLogger })).handler(async () => 'ok'),
    },
    {
      key: 'defers',
      label: '`cleanup()` + 10 `defer`s',
      batch: 200,
      make: (middy) => middy().use(cleanup({ logger: quietLogger })).handler(async (_e: unknown, context) => {
        for (let i = 0; i < 10; i++) context.cleanup.defer(noop)
        return 'ok'
      }),
    },
    {
      key: 'files',
      label: '`cleanup()` + 3 `tempFile()`s',
      batch: 10,
      make: (middy) => middy().use(cleanup({ logger: quietLogger })).handler(async (_e: unknown, context) => {
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
      make: (middy) => middy().use(cleanup({ logger: quietLogger, detectLeaks: true } as Parameters<Lib['cleanup']>[0])).handler(async () => 'ok'),
    }, {
      key: 'leaksLambda',
      label: '`cleanup({ detectLeaks: true })`, empty scope, sequential Lambda runtime',
      batch: 20,
      // nothing connects to it: it only makes the runtime look like Lambda's (one invocation at a time)
      env: { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9' },
      make: (middy) => middy().use(cleanup({ logger: quietLogger, detectLeaks: true } as Parameters<Lib['cleanup']>[0])).handler(async () => 'ok'),
    })
  }
  return rows
}

/** One contender on Middy 5, 6 and 7, in this process: samples in µs per invocation, by `key@major`. */
const measureRow = async (row: Row): Promise<Record<string, number[]>> => {
  const out: Record<string, number[]> = {}
  {
    const bench = new Bench({
      name: `overhead ${row.key}`,
      time: QUICK ? 40 : 500,
      warmupTime: QUICK ? 20 : 300,
      warmupIterations: QUICK ? 5 : 20,
      iterations: QUICK ? 5 : 30,
      retainSamples: true,
      throws: true,
    })
    // majors interleaved, so load from other jobs hits them alike
    {
      for (const { major, middy } of MAJORS) {
        const handler = row.make(middy)
        const event = { n: 1 }
        let n = 0
        bench.add(`${row.key}@${major}`, async () => {
          const t0 = performance.now()
          for (let i = 0; i < row.batch; i++) await handler(event, lambdaContext(`overhead-${row.key}-${n++}`))
          const elapsed = performance.now() - t0
          return { overriddenDuration: elapsed / row.batch, overriddenIterationCost: elapsed }
        }, { async: true })
      }
    }
    await bench.run()
    for (const task of bench.tasks) {
      const r = task.result as { state: string, latency?: { samples?: readonly number[] }, error?: unknown }
      if (r.state === 'errored') throw new Error(`overhead: ${task.name} failed: ${String(r.error)}`)
      out[task.name] = (r.latency?.samples ?? []).map((v) => v * 1000)
    }
  }
  return out
}

const CHILD_ROW = 'BENCH_OVERHEAD_ROW'

/** Runs the contenders, each in a fresh node process (see the top of this file). */
export const runOverhead = async (lib: Lib): Promise<Section> => {
  const rows = rowsFor(lib)
  const samples = new Map<string, number[]>(rows.flatMap((r) => MAJORS.map(({ major }) => [`${r.key}@${major}`, []] as [string, number[]])))
  const passes = QUICK ? 1 : 2
  for (let pass = 0; pass < passes; pass++) {
    // second pass in reverse order, so drift in the machine's load does not favour one contender
    for (const row of pass % 2 === 0 ? rows : [...rows].reverse()) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
        encoding: 'utf8', env: { ...process.env, ...row.env, [CHILD_ROW]: row.key }, maxBuffer: 64 * 1024 * 1024,
      })
      if (r.status !== 0) throw new Error(`overhead: the ${row.key} process failed (${r.status}):\n${r.stderr}`)
      const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number[]>
      for (const [key, values] of Object.entries(got)) samples.get(key)!.push(...values)
    }
  }

  const med = (key: string, major: string): number => stats(samples.get(`${key}@${major}`)!).median
  const table = renderTable(
    ['contender', ...MAJORS.flatMap(({ major }) => [`Middy ${major} median`, `added vs bare`]), 'batch'],
    rows.map((r) => [
      r.label,
      ...MAJORS.flatMap(({ major }) => [us(med(r.key, major)), r.key === 'bare' ? '–' : us(med(r.key, major) - med('bare', major))]),
      String(r.batch),
    ]),
  )
  const target = 1.5
  const added = MAJORS.map(({ major }) => ({ major, us: med('empty', major) - med('bare', major), floor: med('noop', major) - med('bare', major) }))
  const met = added.every((a) => a.us <= target)
  const notes = [
    `Empty scope over bare Middy (target ≤ ${target} µs on each major): ${added.map((a) => `Middy ${a.major} ${us(a.us)}`).join(', ')} — ${met ? 'MET' : 'MISSED'}. A no-op before/after middleware alone adds ${added.map((a) => `${us(a.floor)} (Middy ${a.major})`).join(', ')}: the floor any middleware pays.`,
    'Each invocation gets a fresh Lambda-like context object (the runtime makes one per invocation); each contender runs in a node process of its own (an AsyncLocalStorage, once entered, makes every promise of its process pay Node 20/22\'s promise hooks).',
  ]
  const leakRow = rows.find((r) => r.key === 'leaks')
  if (leakRow !== undefined) {
    const leakCost = (key: string): number[] => MAJORS.map(({ major }) => med(key, major) - med('empty', major))
    const off = leakCost('leaks')
    const lambda = leakCost('leaksLambda')
    notes.push(`Sampled leak detection (every invocation sampled) costs, over an empty scope, in a sequential Lambda runtime ${lambda.map((v, i) => `${us(v)} (Middy ${MAJORS[i]!.major})`).join(', ')}; off Lambda ${off.map((v, i) => `${us(v)} (Middy ${MAJORS[i]!.major})`).join(', ')}. Target ≤ 50 µs on Lambda: ${lambda.every((v) => v <= 50) ? 'MET' : 'MISSED'}.`)
  } else {
    notes.push('Leak detection row: not measured — `cleanup({ detectLeaks })` is not in this build yet.')
  }
  return {
    title: '1. Per-invocation overhead on Middy 5, 6 and 7 (tinybench, warm, fresh context per invocation)',
    table,
    notes,
    summary: {
      'overhead: bare middy (5/6/7)': MAJORS.map(({ major }) => us(med('bare', major))).join(' / '),
      'overhead: empty scope added (5/6/7)': `${added.map((a) => us(a.us)).join(' / ')} (target ≤ ${target} µs ${met ? 'met' : 'MISSED'})`,
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

// A child process of runOverhead: measures one contender and prints its samples as JSON.
const childRow = process.env[CHILD_ROW]
if (childRow !== undefined) {
  const row = rowsFor(await loadLib()).find((r) => r.key === childRow)
  if (row === undefined) throw new Error(`overhead: no contender '${childRow}'`)
  process.stdout.write(`${JSON.stringify(await measureRow(row))}\n`)
}
