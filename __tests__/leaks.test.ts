// Leak detection against real leaks: an unclosed FileHandle, undeclared files in
// os.tmpdir(), a module-level array that grows, a TCP socket left open, a heap that
// keeps growing — and the same handlers fixed, which must give no finding. Servers
// run in a child process, so only the client side of a connection is in this process.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals'
import middy from '@middy/core'
import { HeadObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises'
import { get } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, CleanupConfigError, invocationLocal, watch, type CleanupReport, type LeakFinding } from '../src/index.js'
import { state } from '../src/leftovers.js'
import { backends } from './support/backends.js'
import { middyVersions } from './support/middy.js'

// A private directory stands in for os.tmpdir() (other test runs on this machine
// write to /tmp; jest's process.env is a copy, so TMPDIR cannot be changed here).
const privateTmp = mkdtempSync(join(tmpdir(), 'leaks-test-'))
const tmp = { dir: privateTmp }

let n = 0
const lambdaContext = (): any => {
  const deadline = Date.now() + 30_000
  return {
    awsRequestId: `leak-${++n}`, functionName: 'test', functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test', memoryLimitInMB: '128',
    logGroupName: '/aws/lambda/test', logStreamName: 'stream', callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
}

const recorder = () => {
  const warnings: string[] = []
  const reports: CleanupReport[] = []
  const leaks: LeakFinding[] = []
  return {
    warnings, reports, leaks,
    logger: { warn: (m: string) => { warnings.push(m) }, error: (m: string) => { warnings.push(`error: ${m}`) } },
    onReport: (r: CleanupReport) => { reports.push(r) },
    onLeak: (f: LeakFinding) => { leaks.push(f) },
  }
}

/** Runs `times` invocations of `handler` one after the other. */
const invoke = async (handler: (e: unknown, c: any) => Promise<unknown>, times: number): Promise<void> => {
  for (let i = 0; i < times; i++) await handler({ i }, lambdaContext())
}

const socketFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
  try { return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:') } catch { return false }
}).length

const startServer = async (mode: 'tcp' | 'keepalive'): Promise<{ port: number, child: ChildProcessWithoutNullStreams }> => {
  const script = fileURLToPath(new URL('./fixtures/leaks-servers.mjs', import.meta.url))
  const child = spawn(process.execPath, [script, mode], { stdio: 'pipe' }) as ChildProcessWithoutNullStreams
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port))
  })
  return { port, child }
}

const stats = (port: number): Promise<{ connections: number }> => new Promise((resolve, reject) => {
  get({ host: '127.0.0.1', port, path: '/__stats', agent: false }, (res) => {
    let body = ''
    res.on('data', (d: Buffer) => { body += d.toString() })
    res.on('end', () => resolve(JSON.parse(body) as { connections: number }))
  }).on('error', reject)
})

const dataFile = join(process.cwd(), 'package.json')

// A process's first invocation does one-off work (sweeping stale per-invocation dirs
// of earlier processes); take it out of the measured invocations.
beforeAll(async () => { await middy().use(cleanup()).handler(async () => 1)({}, lambdaContext()) })

beforeEach(() => {
  // "once per kind per process": forget earlier tests' warnings so each test sees its own
  for (const key of [...state.warned]) if (key.startsWith('leak:')) state.warned.delete(key)
})

afterAll(() => { rmSync(privateTmp, { recursive: true, force: true }) })

describe('handles', () => {
  const leaked: FileHandle[] = []
  afterEach(async () => { for (const fh of leaked.splice(0)) await fh.close() })

  it('a FileHandle opened and never closed is found on the third invocation, with its path, warned once', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger, onReport: r.onReport }))
      .handler(async () => {
        const fh = await open(dataFile, 'r')
        leaked.push(fh) // held so GC cannot close it behind the test's back
        return (await fh.stat()).size
      })
    await invoke(handler, 2)
    expect(r.leaks).toEqual([])
    await invoke(handler, 2)
    expect(r.leaks.map((f) => f.kind)).toEqual(['handles', 'handles'])
    const f = r.leaks[0]!
    expect(f.growth).toBe(1)
    expect(f.details).toMatchObject({ invocations: 3, byType: { 'fd:file': 3 } })
    expect(f.kind === 'handles' && f.details.targets).toEqual([dataFile])
    expect(f.kind === 'handles' && f.details.fds!.after - f.details.fds!.before).toBe(3)
    expect(f.fix).toContain('context.cleanup.handle(')
    expect(r.reports.map((rep) => rep.leaks?.length ?? 0)).toEqual([0, 0, 1, 1])
    expect(r.warnings.filter((w) => w.startsWith('cleanup: leak (handles)'))).toHaveLength(1)
    expect(r.warnings[0]).toContain(dataFile)
  })

  it('fixed with context.cleanup.handle(): no finding', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: true, logger: r.logger, onReport: r.onReport }))
      .handler(async (_e: unknown, context: any) => {
        const fh = context.cleanup.handle(await open(dataFile, 'r'))
        return (await fh.stat()).size
      })
    await invoke(handler, 6)
    expect(r.reports.flatMap((rep) => rep.leaks ?? [])).toEqual([])
    expect(r.warnings).toEqual([])
  })

  it('every: 2 samples one invocation in two: the third sample is the fifth invocation', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { every: 2, onLeak: r.onLeak }, logger: r.logger }))
      .handler(async () => { leaked.push(await open(dataFile, 'r')) })
    await invoke(handler, 4) // samples: 1st and 3rd
    expect(r.leaks).toEqual([])
    await invoke(handler, 1) // the 5th is the third sample
    expect(r.leaks.map((f) => f.kind)).toEqual(['handles'])
    expect(r.leaks[0]!.details).toMatchObject({ invocations: 3, fds: { } })
  })
})

describe('a TCP socket to a server on 127.0.0.1', () => {
  let server: { port: number, child: ChildProcessWithoutNullStreams }
  const sockets: Socket[] = []
  beforeAll(async () => { server = await startServer('tcp') })
  afterEach(() => { for (const s of sockets.splice(0)) s.destroy() })
  afterAll(() => { server.child.kill() })

  const connectTo = (port: number): Promise<Socket> => new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })

  it('left open: found as +1 TCPSocketWrap and +1 socket descriptor per invocation', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
      .handler(async () => {
        const s = await connectTo(server.port)
        sockets.push(s)
        s.write('ping')
      })
    await invoke(handler, 3)
    expect(r.leaks).toHaveLength(1)
    expect(r.leaks[0]).toMatchObject({ kind: 'handles', growth: 1, details: { invocations: 3, byType: { TCPSocketWrap: 3, 'fd:socket': 3 } } })
    expect(r.warnings).toHaveLength(1)
  })

  it('fixed with context.cleanup.handle(socket): no finding', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
      .handler(async (_e: unknown, context: any) => {
        const s = context.cleanup.handle(await connectTo(server.port))
        s.write('ping')
      })
    await invoke(handler, 6)
    expect(r.leaks).toEqual([])
    expect(r.warnings).toEqual([])
  })
})

describe('tmp', () => {
  it('undeclared files written to os.tmpdir() every invocation: found with paths and bytes', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { tmp, onLeak: r.onLeak }, logger: r.logger }))
      .handler(async (event: any) => { await writeFile(join(privateTmp, `report-${n}-${event.i}.csv`), 'a,b\n1,2\n') })
    await invoke(handler, 3)
    expect(r.leaks).toHaveLength(1)
    const f = r.leaks[0]!
    expect(f).toMatchObject({ kind: 'tmp', growth: 1, details: { invocations: 3, entries: 3, bytes: 24, dir: privateTmp } })
    expect(f.kind === 'tmp' && f.details.paths.every((p) => p.startsWith(join(privateTmp, 'report-')))).toBe(true)
    expect(r.warnings[0]).toMatch(/^cleanup: leak \(tmp\): 3 undeclared entries \(24 bytes\) appeared under /)
  })

  it('fixed with tempFile() / path(): no finding; a cache written once is not a leak either', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { tmp, onLeak: r.onLeak }, logger: r.logger }))
      .handler(async (_e: unknown, context: any) => {
        await writeFile(await context.cleanup.tempFile({ suffix: '.csv' }), 'a,b\n')
        await writeFile(context.cleanup.path(join(privateTmp, `out-${context.awsRequestId}.csv`)), 'a,b\n')
        const cache = join(privateTmp, 'model.bin')
        await readFile(cache).catch(async () => { await writeFile(cache, Buffer.alloc(1024)) })
      })
    await invoke(handler, 6)
    expect(r.leaks).toEqual([])
    expect(r.warnings).toEqual([])
  })
})

describe('globals (watch list)', () => {
  it('a module-level array pushed to every invocation: found, with the values', async () => {
    const seenFiles: string[] = []
    const unwatch = watch('seenFiles', () => seenFiles.length)
    try {
      const r = recorder()
      const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
        .handler(async () => { seenFiles.push('incoming/report.csv'); return seenFiles.length === 1 })
      await invoke(handler, 4)
      expect(r.leaks.map((f) => f.kind)).toEqual(['globals', 'globals'])
      expect(r.leaks[1]).toMatchObject({ kind: 'globals', growth: 1, details: { name: 'seenFiles', invocations: 4, values: [0, 1, 2, 3, 4] } })
      expect(r.warnings).toEqual([
        "cleanup: leak (globals): watched value 'seenFiles' grew in each of the last 3 invocations: 0 → 1 → 2 → 3 (+1 per invocation). Fix: keep per-invocation state in invocationLocal(() => …) instead of the module-level 'seenFiles' (or clear it at the start of every invocation).",
      ])
    } finally { unwatch() }
  })

  it('fixed with invocationLocal() (or cleared each invocation): no finding', async () => {
    const seenFiles = invocationLocal(() => [] as string[])
    const cleared: string[] = []
    const unwatch = watch('cleared', () => cleared.length)
    try {
      const r = recorder()
      const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
        .handler(async () => {
          seenFiles.get().push('incoming/report.csv')
          cleared.length = 0
          cleared.push('incoming/report.csv')
          return seenFiles.get().length === 1
        })
      await invoke(handler, 6)
      expect(r.leaks).toEqual([])
    } finally { unwatch() }
  })

  it('watch() checks its arguments; unwatch removes only its own entry', () => {
    expect(() => watch('', () => 1)).toThrow(/non-empty name/)
    expect(() => watch('x', 5 as any)).toThrow(/needs a function/)
    const un1 = watch('dup', () => 1)
    const un2 = watch('dup', () => 2)
    un1() // replaced: a no-op
    un2()
  })
})

describe('memory (in a child process, a major GC forced after each invocation)', () => {
  const run = (mode: 'leaky' | 'fixed', invocations: number): Promise<{ found: LeakFinding[], warnings: string[] }> => new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL('./fixtures/leaks-memory.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', script, mode, String(invocations)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out) as { found: LeakFinding[], warnings: string[] }) : reject(new Error(`exit ${code}`)))
  })

  it('a module-level array retaining 256 KiB per invocation: what survives each major GC keeps rising', async () => {
    // the first 10 sampled invocations are warm-up; then 4 rising post-GC readings in a row are
    // needed, and under load a reading can come late: 40 invocations leave room for that
    const { found, warnings } = await run('leaky', 40)
    expect(found.length).toBeGreaterThanOrEqual(1)
    expect(found.every((f) => f.kind === 'memory')).toBe(true)
    expect(found[0]!.growth).toBeGreaterThan(200 * 1024)
    expect(found[0]!.growth).toBeLessThan(400 * 1024)
    expect(found[0]!.details).toMatchObject({ invocations: 3 })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^cleanup: leak \(memory\): the memory left after each of the last 4 major GCs kept rising: /)
  })

  it('fixed with invocationLocal(): no finding over 50 invocations', async () => {
    const { found, warnings } = await run('fixed', 50)
    expect(found).toEqual([])
    expect(warnings).toEqual([])
  })
})

describe('issue 12 obs 14: a FileHandle leak after unrelated keep-alive socket churn (real S3 server, each Middy major)', () => {
  // fauxqs (a real S3 emulator that keeps connections alive, as AWS endpoints do) behind a
  // relay in a child process that closes one idle pooled connection on command
  let relay: { port: number, control: number, child: ChildProcessWithoutNullStreams }
  beforeAll(async () => {
    const fauxqs = backends().find((b) => b.name === 'embedded')!
    const script = fileURLToPath(new URL('./fixtures/leaks-servers.mjs', import.meta.url))
    const child = spawn(process.execPath, [script, 'relay', fauxqs.s3Endpoint], { stdio: 'pipe' }) as ChildProcessWithoutNullStreams
    const ports = await new Promise<{ port: number, control: number }>((resolve, reject) => {
      child.once('error', reject)
      child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { port: number, control: number }))
    })
    relay = { ...ports, child }
  })
  afterAll(() => { relay.child.kill() })

  interface ChurnRun { foundAt: number | null, pooledSockets: number, serverClosed: number, finding?: LeakFinding, allFindings: LeakFinding[] }
  const run = (major: number, mode: 'fresh' | 'churn'): Promise<ChurnRun> => new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL('./fixtures/leaks-churn.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', script, String(major), mode, String(relay.port), String(relay.control)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out) as ChurnRun) : reject(new Error(`leaks-churn.ts ${major} ${mode}: exit ${code}`)))
  })

  it.each(middyVersions.map((v) => v.major))('Middy %i: found by the same invocation as in a fresh process, and the churned sockets are not named', async (major) => {
    const [fresh, churn] = await Promise.all([run(major, 'fresh'), run(major, 'churn')])
    expect(fresh.foundAt).toBe(3)
    // the scenario is real: earlier handlers left pooled keep-alive sockets, and the server
    // closed one of them inside each leaky invocation
    expect(churn.pooledSockets).toBeGreaterThanOrEqual(3)
    expect(churn.serverClosed).toBe(churn.foundAt ?? 6)
    expect(churn.foundAt).toBe(fresh.foundAt)
    expect(churn.finding).toMatchObject({ kind: 'handles', growth: 1, details: { invocations: 3, byType: { 'fd:file': 3 } } })
    for (const f of churn.allFindings) {
      expect(f.kind === 'handles' && Object.keys(f.details.byType)).toEqual(['fd:file'])
      expect(f.kind === 'handles' && f.details.targets.some((t) => t.startsWith('socket:'))).toBe(false)
    }
  })
})

describe('no false positives', () => {
  it('50 invocations of a clean handler that uses files, timers and declared temp files', async () => {
    const r = recorder()
    const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger, onReport: r.onReport }))
      .handler(async (_e: unknown, context: any) => {
        const text = await readFile(dataFile, 'utf8')
        const file = await context.cleanup.tempFile({ suffix: '.json' })
        const fh = context.cleanup.handle(await open(file, 'w'))
        await fh.write(text)
        await new Promise((resolve) => setTimeout(resolve, 1))
        return JSON.parse(text).name
      })
    await invoke(handler, 50)
    expect(r.reports).toHaveLength(50)
    expect(r.leaks).toEqual([])
    expect(r.warnings).toEqual([])
  })

  describe('the AWS SDK with keep-alive sockets against a server that keeps connections open', () => {
    let server: { port: number, child: ChildProcessWithoutNullStreams }
    beforeAll(async () => { server = await startServer('keepalive') })
    afterAll(() => { server.child.kill() })

    const client = (port: number): S3Client => new S3Client({
      endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    })

    it('50 invocations, one S3Client at module scope: one pooled connection, no finding', async () => {
      const s3 = client(server.port)
      const socketsBefore = socketFds()
      const r = recorder()
      const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
        .handler(async () => {
          await s3.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'key.txt' }))
          const got = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'key.txt' }))
          return got.Body?.transformToString()
        })
      await invoke(handler, 50)
      // the scenario is real: 100 requests went over at most two connections (the
      // pool's), and they are still open here, in this process
      const pooled = socketFds() - socketsBefore
      const { connections } = await stats(server.port)
      expect(connections).toBeGreaterThanOrEqual(1)
      expect(connections).toBeLessThanOrEqual(2)
      expect(pooled).toBe(connections)
      expect(r.leaks).toEqual([])
      expect(r.warnings).toEqual([])
      s3.destroy()
    })

    it('a new S3Client every invocation (a pool per invocation, never destroyed) is found', async () => {
      const clients: S3Client[] = []
      const r = recorder()
      const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
        .handler(async () => {
          const s3 = client(server.port)
          clients.push(s3)
          await s3.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'key.txt' }))
        })
      await invoke(handler, 3)
      expect(r.leaks).toHaveLength(1)
      const f = r.leaks[0]
      expect(f).toMatchObject({ kind: 'handles', growth: 1, details: { invocations: 3, byType: { 'fd:socket': 3 } } })
      // pooled idle sockets are unref'd by Node's Agent: not among the ref'd handles
      expect(f!.kind === 'handles' && f!.details.byType.TCPSocketWrap).toBeUndefined()
      for (const c of clients) c.destroy()
    })
  })
})

describe('options and wiring', () => {
  it('off by default: no hook on the scope, no report.leaks', async () => {
    const r = recorder()
    let hook: unknown = 'unset'
    const leaked: FileHandle[] = []
    const handler = middy().use(cleanup({ onReport: r.onReport, logger: r.logger }))
      .handler(async (_e: unknown, context: any) => { hook = context.cleanup.beforeReport; leaked.push(await open(dataFile, 'r')) })
    await invoke(handler, 4)
    expect(hook).toBeUndefined()
    expect(r.reports.every((rep) => rep.leaks === undefined)).toBe(true)
    for (const fh of leaked) await fh.close()
  })

  it('detectLeaks: false is off', () => {
    const handler = middy().use(cleanup({ detectLeaks: false })).handler(async () => 1)
    expect(handler).toBeDefined()
  })

  it.each([
    [{ detectLeaks: 'yes' }, /option 'detectLeaks' must be true, false or an object/],
    [{ detectLeaks: { evrey: 2 } }, /unknown option 'detectLeaks.evrey'/],
    [{ detectLeaks: { every: 0 } }, /'detectLeaks.every' must be a positive integer; got 0/],
    [{ detectLeaks: { handles: 'on' } }, /'detectLeaks.handles' must be a boolean/],
    [{ detectLeaks: { tmp: { depth: 2 } } }, /unknown option 'detectLeaks.tmp.depth'/],
    [{ detectLeaks: { memory: { gcs: 1.5 } } }, /'detectLeaks.memory.gcs' must be a positive integer/],
    [{ detectLeaks: { onLeak: 'log' } }, /'detectLeaks.onLeak' must be a function/],
  ])('rejects %j at cleanup() time', (options, message) => {
    expect(() => cleanup(options as any)).toThrow(CleanupConfigError)
    expect(() => cleanup(options as any)).toThrow(message)
  })

  it('an onLeak that throws is logged, never rethrown; the handler result stands', async () => {
    const r = recorder()
    const seen: number[] = []
    const unwatch = watch('seen', () => seen.length)
    try {
      const handler = middy().use(cleanup({ detectLeaks: { confirm: 1, onLeak: () => { throw new Error('metrics down') } }, logger: r.logger }))
        .handler(async () => { seen.push(1); return 'ok' })
      await expect(handler({}, lambdaContext())).resolves.toBe('ok')
      expect(r.warnings).toContain('cleanup: onLeak threw: Error: metrics down')
    } finally { unwatch() }
  })

  it('a leak on the error path is found too, and the handler error stays primary', async () => {
    const r = recorder()
    const seen: number[] = []
    const unwatch = watch('errorPath', () => seen.length)
    const error = new Error('boom')
    try {
      const handler = middy().use(cleanup({ detectLeaks: { onLeak: r.onLeak }, logger: r.logger }))
        .handler(async () => { seen.push(1); throw error })
      for (let i = 0; i < 3; i++) await expect(handler({}, lambdaContext())).rejects.toBe(error)
      expect(r.leaks.map((f) => f.kind)).toEqual(['globals'])
    } finally { unwatch() }
  })
})
