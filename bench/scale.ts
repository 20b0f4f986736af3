// Scenario: one invocation deletes 20,000 temp objects, keyed under one prefix
// (`tmp/<invocation>/<i>`, what most handlers write) vs spread by tempKey()
// (`tmp/<2 hex>/<uuid>/…`). S3 takes ~3,500 DELETE/s per partitioned prefix (each key
// of a DeleteObjects counts) and answers 503 SlowDown beyond; no emulator does, so a
// small proxy in front of the server models it: a token bucket of 3,500 keys/s (1 s
// burst) per partition, a partition being the key's first <scratch prefix> + 2
// characters (S3 split the scratch prefix there: the same rule for both layouts), and a
// DeleteObjects that would overdraw one answered SlowDown as a whole. Invocations go on
// (empty handlers; cleanup retries the leftovers) until the server has none of them.
import middy from '@middy/core'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import type { Backend } from '../test-support/servers.mjs'
import { CREDENTIALS, type Lib, QUICK, REGION, ROOT, lambdaContext, quietLogger } from './common.js'
import { ensureBucket, putObjects, s3Client } from './s3.js'
import { type Section, ms, renderTable } from './table.js'

const BUCKET = 'bench-scale'
const SCRATCH = 'tmp/'
const KEYS_PER_SECOND = 3500
/** what remote-batch.ts's DEFAULT_CONCURRENCY is: DeleteObjects in flight at once */
const CONCURRENCY = 8
const BUDGET_MS = 5000
const MAX_INVOCATIONS = 30

interface Limiter { endpoint: string, slowDowns: number, deletes: number, stop: () => Promise<void> }

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>BENCH</RequestId></Error>'

/** The per-partition limiter in front of the real server. */
const startLimiter = async (target: string): Promise<Limiter> => {
  const t = new URL(target)
  const buckets = new Map<string, { tokens: number, at: number }>()
  const take = (keys: readonly string[]): boolean => {
    const now = performance.now()
    const need = new Map<string, number>()
    for (const k of keys) { const p = k.slice(0, SCRATCH.length + 2); need.set(p, (need.get(p) ?? 0) + 1) }
    const state = [...need].map(([p, n]) => {
      const b = buckets.get(p) ?? { tokens: KEYS_PER_SECOND, at: now }
      b.tokens = Math.min(KEYS_PER_SECOND, b.tokens + (now - b.at) * KEYS_PER_SECOND / 1000)
      b.at = now
      buckets.set(p, b)
      return { b, n }
    })
    if (state.some(({ b, n }) => b.tokens < n)) return false
    for (const { b, n } of state) b.tokens -= n
    return true
  }
  const limiter: Limiter = { endpoint: '', slowDowns: 0, deletes: 0, stop: async () => {} }
  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (req.method === 'POST' && /[?&]delete(=|&|$)/.test(req.url ?? '')) {
      limiter.deletes++
      const keys = [...body.toString('utf8').matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => m[1]!)
      if (!take(keys)) {
        limiter.slowDowns++
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(SLOW_DOWN)) })
        res.end(SLOW_DOWN)
        return
      }
    }
    const out = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    out.on('error', () => { res.destroy() })
    out.end(body)
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handle(req, res, Buffer.concat(chunks)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  limiter.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  limiter.stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  return limiter
}

type TempKey = (name?: string, o?: { prefix?: string }) => string
/** tempKey from the built library's entry; until the entry exports it, from src/ (dist/ is one bundle). */
const loadTempKey = async (lib: Lib): Promise<TempKey> => {
  const fromEntry = (lib as unknown as { tempKey?: TempKey }).tempKey
  if (fromEntry !== undefined) return fromEntry
  const { tsImport } = await import('tsx/esm/api')
  return (await tsImport(pathToFileURL(join(ROOT, 'src', 'temp-key.ts')).href, import.meta.url) as { tempKey: TempKey }).tempKey
}

const countLeft = async (client: S3Client, prefix: string): Promise<number> => {
  let left = 0
  let token: string | undefined
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }))
    left += r.KeyCount ?? 0
    token = r.NextContinuationToken
  } while (token !== undefined)
  return left
}

interface Run { layout: string, first: { requests: number, cleaned: number, leftovers: number, ms: number, cleanupMs: number }, invocations: number, requests: number, slowDowns: number, ms: number, left: number }

/** One invocation declares all keys; later ones (empty handlers) retry the leftovers until none is left. */
const runLayout = async (lib: Lib, backend: Backend, layout: string, keys: readonly string[], prefix: string): Promise<Run> => {
  const setup = s3Client(backend)
  await putObjects(setup, BUCKET, keys)
  const limiter = await startLimiter(backend.s3Endpoint)
  const via = new S3Client({ endpoint: limiter.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true })
  const reports: Array<{ requests: number, cleaned: number, leftovers: number, durationMs: number }> = []
  const options = { s3: via, timeoutMs: BUDGET_MS, logger: { ...quietLogger, warn: () => {} }, onReport: (r: (typeof reports)[number]) => { reports.push(r) } }
  const started = performance.now()
  const firstAt = performance.now()
  await middy().use(lib.cleanup(options)).handler(async (_e: unknown, context) => {
    for (const key of keys) context.cleanup.s3Object({ bucket: BUCKET, key })
  })({}, lambdaContext(`scale-${layout}-0`))
  const firstMs = performance.now() - firstAt
  const first = { requests: reports[0]?.requests ?? 0, cleaned: reports[0]?.cleaned ?? 0, leftovers: reports[0]?.leftovers ?? 0, ms: firstMs, cleanupMs: reports[0]?.durationMs ?? NaN }
  let invocations = 1
  let left = await countLeft(setup, prefix)
  const idle = middy().use(lib.cleanup(options)).handler(async () => {})
  while (left > 0 && invocations < MAX_INVOCATIONS) {
    await idle({}, lambdaContext(`scale-${layout}-${invocations}`))
    invocations++
    left = await countLeft(setup, prefix)
  }
  const run: Run = { layout, first, invocations, requests: reports.reduce((a, r) => a + r.requests, 0), slowDowns: limiter.slowDowns, ms: performance.now() - started, left }
  via.destroy()
  setup.destroy()
  await limiter.stop()
  return run
}

export const runScale = async (lib: Lib, backend: Backend): Promise<Section> => {
  const n = QUICK ? 4000 : 20_000
  const setup = s3Client(backend)
  await ensureBucket(setup, BUCKET)
  setup.destroy()
  const tempKey = await loadTempKey(lib)
  const id = `inv${Date.now().toString(36)}`
  const one = Array.from({ length: n }, (_, i) => `${SCRATCH}${id}/${i}.bin`)
  const spread = Array.from({ length: n }, () => tempKey('part.bin', { prefix: SCRATCH }))
  const runs = [
    await runLayout(lib, backend, `one prefix (${SCRATCH}${id}/<i>)`, one, `${SCRATCH}${id}/`),
    await runLayout(lib, backend, `tempKey() (${SCRATCH}<2 hex>/<uuid>/…)`, spread, SCRATCH),
  ]
  const partitions = (keys: readonly string[]): number => new Set(keys.map((k) => k.slice(0, SCRATCH.length + 2))).size
  const rows = runs.map((r, i) => [
    r.layout, String(partitions(i === 0 ? one : spread)), String(r.first.requests), String(r.first.cleaned), String(r.first.leftovers), ms(r.first.cleanupMs), ms(r.first.ms),
    String(r.invocations), String(r.requests), String(r.slowDowns), ms(r.ms), String(r.left),
  ])
  const failed = runs.filter((r) => r.left > 0)
  if (failed.length > 0) throw new Error(`bench: ${failed.map((r) => `${r.layout} left ${r.left} object(s) after ${r.invocations} invocations`).join('; ')}`)
  return {
    title: `Scale: ${n.toLocaleString('en')} temp objects of one invocation, one prefix vs tempKey() (${backend.name}, S3's per-prefix limit modelled)`,
    table: renderTable(
      ['key layout', 'partitions', '1st inv. requests', '1st inv. cleaned', '1st inv. leftovers', '1st inv. cleanup (report.durationMs)', '1st inv. time (declarations included)', 'invocations to empty', 'requests (all)', 'SlowDown answers', 'time (all)', 'left'],
      rows,
    ),
    notes: [
      `Modelled S3: ${KEYS_PER_SECOND.toLocaleString('en')} DELETE keys/s per partition (token bucket, 1 s burst), a partition = the first ${SCRATCH.length + 2} characters of the key; a DeleteObjects that would overdraw one is answered 503 SlowDown whole. Cleanup: budget ${BUDGET_MS} ms per invocation, ${CONCURRENCY} DeleteObjects of ≤ 1000 keys in flight, the SDK's default retries (3 attempts, throttling backoff from 500 ms); leftovers retried by the next invocations (empty handlers). Objects put untimed before each layout; 'left' is the server's listing at the end.`,
    ],
    summary: {
      [`scale ${n} objects, one prefix vs tempKey()`]: `${runs[0]!.invocations} vs ${runs[1]!.invocations} invocation(s), ${runs[0]!.slowDowns} vs ${runs[1]!.slowDowns} SlowDown, ${ms(runs[0]!.ms)} vs ${ms(runs[1]!.ms)}`,
    },
  }
}

/** `tsx bench/scale.ts` alone (the lead wires runScale into bench/index.ts). */
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { chooseBackend, ensureBuilt, loadLib, startBackend } = await import('./common.js')
  const { printSection } = await import('./table.js')
  console.log(ensureBuilt())
  const backend = await startBackend(chooseBackend().name)
  try { printSection(await runScale(await loadLib(), backend)) } finally { await backend.stop() }
}
