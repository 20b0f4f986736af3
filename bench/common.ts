// Shared plumbing of the benchmark: settings, the built library, the servers,
// SDK clients that count the HTTP requests they send, and a Lambda-like context.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type Backend, motoAvailable, startEmbedded, startMoto } from '../test-support/servers.mjs'

/** The package root: the nearest directory up with middy-cleanup's package.json (works from bench/ and from .bench-tmp/bench/). */
export const ROOT = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && /"name":\s*"middy-cleanup"/.test(readFileSync(pkg, 'utf8'))) return dir
    if (dirname(dir) === dir) throw new Error('bench: cannot find the middy-cleanup package root')
  }
})()
export const DIST_INDEX = join(ROOT, 'dist', 'index.js')

/** `BENCH_QUICK=1`: a seconds-long smoke run (few rounds, small N) for CI. Numbers are not checked. */
export const QUICK = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true'
/** `BENCH_FULL=1`: also run the slowest cells that a default run on moto leaves out. */
export const FULL = process.env.BENCH_FULL === '1' || process.env.BENCH_FULL === 'true'

export const REGION = 'us-east-1'
export const CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' }

/** The library as users get it: dist/, built from the current src/ when missing or older. */
export type Lib = typeof import('../src/index.js')

const newestMtime = (dir: string): number => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

/** Runs `npm run build` when dist/ is missing or older than src/. Returns what it did. */
export const ensureBuilt = (): string => {
  const srcTime = newestMtime(join(ROOT, 'src'))
  const distTime = existsSync(DIST_INDEX) ? statSync(DIST_INDEX).mtimeMs : 0
  if (distTime >= srcTime && existsSync(DIST_INDEX)) return 'dist/ is up to date'
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) {
    if (existsSync(DIST_INDEX)) {
      console.warn(`bench: npm run build failed; benchmarking the existing, older dist/:\n${r.stdout}${r.stderr}`)
      return 'npm run build FAILED, older dist/ used'
    }
    throw new Error(`bench: npm run build failed and there is no dist/ to benchmark:\n${r.stdout}${r.stderr}`)
  }
  return 'rebuilt dist/ (npm run build)'
}

let lib: Promise<Lib> | undefined
export const loadLib = (): Promise<Lib> => lib ??= import(pathToFileURL(DIST_INDEX).href) as Promise<Lib>

/** The backend: moto when `BENCH_BACKEND=moto` or moto_server is on PATH (unless `BENCH_BACKEND=embedded`). */
export const chooseBackend = (): { name: 'moto' | 'embedded', why: string } => {
  const asked = process.env.BENCH_BACKEND
  if (asked === 'moto') return { name: 'moto', why: 'BENCH_BACKEND=moto' }
  if (asked === 'embedded') return { name: 'embedded', why: 'BENCH_BACKEND=embedded' }
  if (asked !== undefined && asked !== '') throw new Error(`bench: BENCH_BACKEND must be 'moto' or 'embedded'; got '${asked}'.`)
  return motoAvailable()
    ? { name: 'moto', why: 'moto_server is on PATH (BENCH_BACKEND=embedded to use fauxqs + dynalite)' }
    : { name: 'embedded', why: 'default: fauxqs + dynalite in-process (moto_server is not on PATH)' }
}

export const startBackend = (name: 'moto' | 'embedded'): Promise<Backend> => name === 'moto' ? startMoto() : startEmbedded()

/** Counts HTTP requests (every attempt, retries included) sent by SDK clients it is attached to. */
export class RequestCounter {
  count = 0
  reset (): void { this.count = 0 }
  attach (client: { middlewareStack: { add: (mw: any, options: any) => void } }): void {
    // The deserialize step runs once per attempt, inside the SDK's retry loop.
    client.middlewareStack.add((next: (a: unknown) => Promise<unknown>) => (args: unknown) => { this.count++; return next(args) },
      { step: 'deserialize', name: 'benchRequestCounter', priority: 'low' })
  }
}

/** A Lambda context with a deadline far away (cleanup's budget is its timeoutMs). */
export const lambdaContext = (id: string, remainingMs = 900_000): any => {
  const deadline = Date.now() + remainingMs
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'bench',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench',
    memoryLimitInMB: '1024',
    awsRequestId: id,
    logGroupName: '/aws/lambda/bench',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

/** A logger that keeps quiet unless something is wrong. */
export const quietLogger = {
  warn: (...a: unknown[]) => { console.warn('[cleanup warn]', ...a) },
  error: (...a: unknown[]) => { console.error('[cleanup error]', ...a) },
  debug: () => {},
}

/** Runs `fn` with at most `limit` in flight. */
export const pooled = async <T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> => {
  let next = 0
  const worker = async (): Promise<void> => { while (next < items.length) await fn(items[next++]!) }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

export const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export const now = (): number => performance.now()

/** One measured contender of a remote scenario. */
export interface Contender<C> {
  key: string
  label: string
  /** creates the resources one round deletes (not timed) */
  setup: (round: number) => Promise<C>
  /** one invocation, timed; resolves once the invocation settled */
  run: (fixture: C, round: number) => Promise<void>
  /** throws when something the round declared survived */
  verify: (fixture: C) => Promise<void>
}

export interface CellResult { samples: number[], requests: number[], skipped?: string }

/** One round: setup (untimed), the timed invocation, then the check on the server. */
export const measureRound = async <C>(c: Contender<C>, counter: RequestCounter, round: number): Promise<{ ms: number, requests: number }> => {
  const fixture = await c.setup(round)
  counter.reset()
  const t0 = now()
  await c.run(fixture, round)
  const elapsed = now() - t0
  const requests = counter.count
  await c.verify(fixture)
  return { ms: elapsed, requests }
}

/**
 * Rounds of one contender: at least `minRounds`, more up to `maxRounds` while the
 * time spent stays under `budgetMs`. Requests are counted per round.
 */
export const measure = async <C>(c: Contender<C>, counter: RequestCounter, o: { minRounds: number, maxRounds: number, budgetMs: number }): Promise<CellResult> => {
  const samples: number[] = []
  const requests: number[] = []
  const started = now()
  for (let round = 0; round < o.maxRounds; round++) {
    if (round >= o.minRounds && now() - started > o.budgetMs) break
    const fixture = await c.setup(round)
    counter.reset()
    const t0 = now()
    await c.run(fixture, round)
    samples.push(now() - t0)
    requests.push(counter.count)
    await c.verify(fixture)
  }
  return { samples, requests }
}
