// The deletion matrix shared by the S3 and DynamoDB scenarios: for each N, each
// contender deletes N freshly created resources inside one Middy invocation;
// time and HTTP requests are measured per round, then verified on the server.
import { type CellResult, type Contender, type RequestCounter, measure, measureRound } from './common.js'
import { type Section, ms, ratio, renderTable, stats } from './table.js'

export type Key = 'a' | 'b' | 'c' | 'd'

export interface MatrixOptions {
  title: string
  ns: readonly number[]
  counter: RequestCounter
  contenders: (n: number) => Record<Key, Contender<any>>
  rounds: (n: number, key: Key) => { minRounds: number, maxRounds: number, budgetMs: number }
  /** a reason to leave a cell out (printed), or undefined to run it */
  skip?: (n: number, key: Key) => string | undefined
  labels: Record<Key, string>
  expectedRequests?: (n: number, key: Key) => number | undefined
  notes: string[]
  headlineN: number
  summaryPrefix: string
}

const KEYS: Key[] = ['a', 'b', 'c', 'd']

export const runMatrix = async (o: MatrixOptions): Promise<Section> => {
  const results = new Map<string, CellResult>()
  // warm-up: one unmeasured round per contender at the smallest N (JIT, SDK lazy init, sockets)
  const first = o.contenders(o.ns[0]!)
  for (const key of KEYS) await measure(first[key], o.counter, { minRounds: 1, maxRounds: 1, budgetMs: 0 })
  for (const n of o.ns) {
    const contenders = o.contenders(n)
    const run = KEYS.filter((key) => {
      const reason = o.skip?.(n, key)
      if (reason !== undefined) results.set(`${n}:${key}`, { samples: [], requests: [], skipped: reason })
      return reason === undefined
    })
    for (const key of run) results.set(`${n}:${key}`, { samples: [], requests: [] })
    // rounds interleaved across contenders (a b c d, a b c d, …), so load from elsewhere on
    // this shared machine drifts over all of them alike; a contender stops at its maxRounds,
    // or after minRounds once its own time spent passes budgetMs
    const spent = new Map<Key, number>(run.map((k) => [k, 0]))
    for (let round = 0; ; round++) {
      const now = run.filter((key) => {
        const r = o.rounds(n, key)
        return round < r.minRounds || (round < r.maxRounds && spent.get(key)! < r.budgetMs)
      })
      if (now.length === 0) break
      for (const key of now) {
        const t0 = performance.now()
        const one = await measureRound(contenders[key], o.counter, round)
        spent.set(key, spent.get(key)! + performance.now() - t0)
        const cell = results.get(`${n}:${key}`)!
        cell.samples.push(one.ms)
        cell.requests.push(one.requests)
      }
    }
  }

  const median = (n: number, key: Key): number | undefined => {
    const r = results.get(`${n}:${key}`)
    return r === undefined || r.samples.length === 0 ? undefined : stats(r.samples).median
  }
  const rows: string[][] = []
  const warnings: string[] = []
  for (const n of o.ns) {
    for (const key of KEYS) {
      const r = results.get(`${n}:${key}`)!
      if (r.skipped !== undefined) { rows.push([String(n), o.labels[key], '–', 'not run', '', '0']); continue }
      const s = stats(r.samples)
      const req = stats(r.requests)
      const reqText = req.min === req.p95 ? String(req.min) : `${req.min}–${req.p95}`
      const expected = o.expectedRequests?.(n, key)
      if (expected !== undefined && req.min !== expected) warnings.push(`N=${n} ${o.labels[key]}: ${reqText} requests, expected ${expected}`)
      rows.push([String(n), o.labels[key], reqText, ms(s.median), ms(s.p95), String(s.n)])
    }
  }
  const main = renderTable(['N', 'contender', 'requests', 'median', 'p95', 'rounds'], rows)
  const ratios = renderTable(
    ['N', '(a) seq ÷ (c) middy-cleanup', '(b) Promise.all ÷ (c)', '(c) middy-cleanup ÷ (d) hand-batched'],
    o.ns.map((n) => [String(n), ratio(median(n, 'a'), median(n, 'c')), ratio(median(n, 'b'), median(n, 'c')), ratio(median(n, 'c'), median(n, 'd'))]),
  )
  const skipped = [...results.entries()].filter(([, r]) => r.skipped !== undefined)
  const notes = [...o.notes]
  for (const [cell, r] of skipped) notes.push(`N=${cell.split(':')[0]} ${o.labels[cell.split(':')[1] as Key]}: not run — ${r.skipped}.`)
  for (const w of warnings) notes.push(`Request count differs from the expected: ${w}.`)
  const h = o.headlineN
  return {
    title: o.title,
    table: `${main}\n\n${ratios}`,
    notes,
    summary: o.ns.includes(h)
      ? {
          [`${o.summaryPrefix} N=${h}: sequential ÷ middy-cleanup`]: ratio(median(h, 'a'), median(h, 'c')),
          [`${o.summaryPrefix} N=${h}: Promise.all ÷ middy-cleanup`]: ratio(median(h, 'b'), median(h, 'c')),
          [`${o.summaryPrefix} N=${h}: middy-cleanup ÷ hand-batched`]: ratio(median(h, 'c'), median(h, 'd')),
          [`${o.summaryPrefix} N=${h}: medians a/b/c/d`]: KEYS.map((k) => ms(median(h, k))).join(' / '),
        }
      : {},
  }
}
