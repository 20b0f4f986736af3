// Response streaming (issue 15.1, middyjs/middy#1317): Middy runs every `after` before it
// pipes the body into the response stream, so a streamed temp file or S3 object must stay
// until the body is over, and be gone once it is. Real Middy 5 (`streamifyResponse: true`),
// 6 (same) and 7 (`executionModeStreamifyResponse`), each detecting streaming mode and
// piping the body with its own code; the `awslambda` global is faked as the Node runtime
// provides it (streamifyResponse(fn) marks fn; HttpResponseStream.from(stream, metadata)
// writes the JSON prelude and 8 NUL bytes to it). The response stream is a slow consumer
// that, at every chunk, checks whether the temp file and the S3 object (real servers:
// embedded fauxqs, moto when on PATH) still exist.
import { afterAll, describe, expect, it } from '@jest/globals'
import { appendFileSync, createReadStream, existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { Readable, Writable } from 'node:stream'
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { backends, objectExists, uid, withBackend } from './support/backends.js'
import { installFakeAwslambda } from './support/fake-awslambda.js'
import { lambdaContext, middyVersions, ourInvocationDirs, recordingLogger } from './support/middy.js'
import { cleanup, CleanupError, type CleanupReport } from '../src/index.js'
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse'

afterAll(installFakeAwslambda())

const BODY = Array.from({ length: 8000 }, (_, i) => `line ${String(i).padStart(5, '0')} of the streamed body\n`).join('') // ~250 KiB
const CHUNK = 16 * 1024

interface Probe { file: boolean, object: boolean, beforeCleanup: boolean, /** the HeadObject answer came before cleanup's DeleteObjects was sent */ beforeDelete: boolean }
interface Sink { stream: Writable, raw: () => string, body: () => string, probes: Array<Promise<Probe>>, handedOver: () => number, firstAt?: number, lastAt?: number }

/**
 * The response stream, read slowly (`delayMs` per chunk; `failAfter` chunks: the client
 * goes away). Each chunk is probed when it is handed over (the stream's write() call,
 * synchronous in Middy's pipeline): does the temp file exist (checked then), the S3
 * object (HeadObject sent then), and had cleanup started?
 */
const slowSink = (probe: () => Promise<Probe>, { delayMs = 10, failAfter }: { delayMs?: number, failAfter?: number } = {}): Sink => {
  const chunks: Buffer[] = []
  const probes: Array<Promise<Probe>> = []
  let handed = 0
  const raw = (): string => Buffer.concat(chunks).toString('utf8')
  const body = (): string => { const r = raw(); const sep = r.indexOf('\u0000'.repeat(8)); return sep < 0 ? r : r.slice(sep + 8) }
  const stream = new Writable({
    highWaterMark: CHUNK,
    write (chunk: Buffer, _enc, callback) {
      chunks.push(Buffer.from(chunk))
      if (failAfter !== undefined && chunks.length > failAfter) { callback(new Error('client went away')); return }
      setTimeout(callback, delayMs)
    },
  })
  const sink: Sink = { stream, raw, body, probes, handedOver: () => handed }
  const write = stream.write.bind(stream) as (...args: any[]) => boolean
  stream.write = ((chunk: any, ...rest: any[]) => {
    const bytes = Buffer.byteLength(chunk)
    if ((stream as { inPrelude?: boolean }).inPrelude !== true && bytes > 0) {
      handed += bytes
      sink.firstAt ??= performance.now()
      sink.lastAt = performance.now()
      probes.push(probe())
    }
    return write(chunk, ...rest)
  }) as Writable['write']
  return sink
}

const frozenLogger = recordingLogger()

/** The temp file's chunks, then `boom` at the fourth. */
async function * failingChunks (file: string, boom: Error): AsyncGenerator<Buffer> {
  let n = 0
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
    if (++n === 4) throw boom
    yield chunk as Buffer
  }
}
const timings = process.env.MC_STREAM_TIMINGS
/** Appends, when MC_STREAM_TIMINGS names a file, how long the body took and when cleanup ran, relative to the handler's start. */
const record = (what: string, t: { start: number, firstChunk?: number, lastChunk?: number, cleanupStart?: number, report?: number, settled: number }): void => {
  if (timings === undefined) return
  const rel = (x: number | undefined): number | null => x === undefined ? null : Math.round(x - t.start)
  appendFileSync(timings, `${JSON.stringify({ what, firstChunkMs: rel(t.firstChunk), lastChunkMs: rel(t.lastChunk), cleanupStartMs: rel(t.cleanupStart), reportMs: rel(t.report), settledMs: rel(t.settled) })}\n`)
}

describe.each(backends())('$name', (b) => {
  let s3: S3Client
  let bucket: string
  // Observes (does not change) what cleanup sends: when its DeleteObjects goes out.
  let onDelete: () => void = () => {}
  withBackend(b, (env) => {
    ({ s3, bucket } = env)
    s3.middlewareStack.add((next) => async (args) => {
      if ((args.input as { Delete?: unknown }).Delete !== undefined) onDelete()
      return await next(args)
    }, { step: 'initialize', name: 'streamingTestWatchesDeletes' })
  })

  describe.each(middyVersions)('Middy $major', ({ major, middy }) => {
    const streamingMiddy = (): any => major === 7 ? middy({ executionMode: executionModeStreamifyResponse }) : middy({ streamifyResponse: true })
    type BodyOf = (file: string, key: string) => Promise<unknown>
    const bodies: Array<[string, BodyOf]> = [
      ['an fs.ReadStream of the temp file', async (file) => createReadStream(file, { highWaterMark: CHUNK })],
      ['the temp S3 object\'s GetObject Body', async (_f, key) => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body],
      ...(major === 5 ? [] : [['a web ReadableStream', async (file: string) => Readable.toWeb(createReadStream(file, { highWaterMark: CHUNK }))] as [string, BodyOf]]),
    ]

    // A handler that writes BODY to a temp file and a temp S3 object, and returns one of
    // them as its streamed body. Its last declaration is a defer: disposal runs it first
    // (LIFO), so it marks the moment cleanup starts.
    const setup = (bodyOf: BodyOf, options: { wrap?: 'statusCode' | 'bare', extra?: Parameters<typeof cleanup>[0] } = {}) => {
      const reports: Array<{ report: CleanupReport, at: number }> = []
      const declared = { file: '', key: '' }
      const marks: { cleanupStart?: number, handedAtCleanup?: number, handedAtDelete?: number } = {}
      let sink: Sink | undefined
      onDelete = () => { marks.handedAtDelete ??= sink?.handedOver() }
      const handler = streamingMiddy()
        .use(cleanup({ s3, ...options.extra, onReport: (report) => { if (report.exitPath !== 'leftovers') reports.push({ report, at: performance.now() }) } }))
        .handler(async (_event: unknown, context: any) => {
          declared.file = await context.cleanup.tempFile({ suffix: '.txt' })
          await writeFile(declared.file, BODY)
          declared.key = `tmp/stream-${uid()}.txt`
          await context.cleanup.putObject({ Bucket: bucket, Key: declared.key, Body: BODY })
          const body = await bodyOf(declared.file, declared.key)
          context.cleanup.defer(function markCleanupStart () { marks.cleanupStart = performance.now(); marks.handedAtCleanup = sink?.handedOver() })
          return options.wrap === 'bare' ? body : { statusCode: 200, headers: { 'content-type': 'text/plain' }, body }
        })
      const probe = async (): Promise<Probe> => {
        const beforeCleanup = marks.cleanupStart === undefined
        const file = existsSync(declared.file)
        const object = await objectExists(s3, bucket, declared.key)
        return { file, object, beforeCleanup, beforeDelete: marks.handedAtDelete === undefined }
      }
      const newSink = (o?: Parameters<typeof slowSink>[1]): Sink => (sink = slowSink(probe, o))
      return { handler, reports, declared, marks, newSink }
    }

    const expectGone = async (declared: { file: string, key: string }): Promise<void> => {
      expect(existsSync(declared.file)).toBe(false)
      expect(await objectExists(s3, bucket, declared.key)).toBe(false)
      expect(await ourInvocationDirs()).toEqual([])
    }

    it.each(bodies)('%s: the whole body arrives; the temp file and S3 object exist while it streams, cleanup starts once every byte is handed over, and they are gone when the invocation settles', async (what, bodyOf) => {
      const t = setup(bodyOf)
      const sink = t.newSink()
      const start = performance.now()
      await expect(t.handler({}, sink.stream, lambdaContext())).resolves.toBeUndefined()
      const settled = performance.now()
      await expectGone(t.declared)
      expect(JSON.parse(sink.raw().slice(0, sink.raw().indexOf('\u0000')))).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain' } })
      expect(sink.body()).toBe(BODY)
      const probes = await Promise.all(sink.probes)
      expect(probes.length).toBeGreaterThanOrEqual(3) // a body in several chunks
      // every chunk was handed over before cleanup started, and saw the temp file; the
      // S3 object was there for every HeadObject answered before the delete went out
      expect(probes.filter((p) => !p.beforeCleanup || !p.file)).toEqual([])
      expect(probes.filter((p) => p.beforeDelete && !p.object)).toEqual([])
      expect(probes[0]!.object).toBe(true)
      expect(t.marks.handedAtCleanup).toBe(BODY.length)
      expect(t.marks.handedAtDelete).toBe(BODY.length)
      // one report, after the body, before the invocation settled
      expect(t.reports.map((r) => [r.report.exitPath, r.report.failed.length])).toEqual([['success', 0]])
      expect(t.reports[0]!.report.cleaned).toBeGreaterThanOrEqual(3) // file, object, defer (+ the invocation dir)
      record(`Middy ${major} ${b.name}: ${what}`, { start, firstChunk: sink.firstAt, lastChunk: sink.lastAt, cleanupStart: t.marks.cleanupStart, report: t.reports[0]?.at, settled })
    })

    it('a response that is the stream itself (no statusCode): held the same way', async () => {
      const t = setup(async (file) => createReadStream(file, { highWaterMark: CHUNK }), { wrap: 'bare' })
      const sink = t.newSink()
      await t.handler({}, sink.stream, lambdaContext())
      await expectGone(t.declared)
      expect(sink.raw()).toBe(BODY)
      expect((await Promise.all(sink.probes)).filter((p) => !p.beforeCleanup || !p.file || (p.beforeDelete && !p.object))).toEqual([])
      expect(t.marks.handedAtDelete).toBe(BODY.length)
      expect(t.reports.map((r) => r.report.exitPath)).toEqual(['success'])
    })

    const failingBodies: Array<[string, (file: string, boom: Error) => unknown]> = [
      ['a Node Readable', (file, boom) => Readable.from(failingChunks(file, boom), { objectMode: false })],
      ...(major === 5 ? [] : [['a web ReadableStream', (file: string, boom: Error) => Readable.toWeb(Readable.from(failingChunks(file, boom), { objectMode: false }))] as [string, (file: string, boom: Error) => unknown]]),
    ]
    it.each(failingBodies)('%s that fails half-way: the invocation fails with that very error, and is cleaned before it settles (exit path error)', async (_what, failing) => {
      const boom = new Error('disk read failed')
      const t = setup(async (file) => failing(file, boom))
      const sink = t.newSink()
      await expect(t.handler({}, sink.stream, lambdaContext())).rejects.toBe(boom)
      await expectGone(t.declared)
      expect(sink.body().length).toBeLessThan(BODY.length)
      expect(t.reports.map((r) => r.report.exitPath)).toEqual(['error'])
    })

    // Node's pipeline settles as soon as its destination closed (it does not wait for the
    // source's close), so here cleanup starts at the abort but the invocation does not wait.
    it.each(bodies.filter(([what]) => !what.includes('S3')))('%s whose reader goes away half-way (the response stream fails): the body is not read on, the invocation fails, and cleanup starts at once (exit path error)', async (_what, bodyOf) => {
      const logger = recordingLogger()
      const t = setup(bodyOf, { extra: { logger } })
      const sink = t.newSink({ failAfter: 4 })
      await expect(t.handler({}, sink.stream, lambdaContext(5_000))).rejects.toThrow('client went away')
      for (let i = 0; i < 300 && t.reports.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      await expectGone(t.declared)
      expect(sink.body().length).toBeLessThan(BODY.length)
      expect(t.reports.map((r) => r.report.exitPath)).toEqual(['error'])
      expect(logger.lines.filter((l) => /not over/.test(l.message))).toEqual([]) // not left to the cap
    })

    it('failOnCleanupError: a streamed invocation whose cleanup failed fails with CleanupError once the body has been read', async () => {
      const logger = recordingLogger()
      const t = setup(async (file) => createReadStream(file, { highWaterMark: CHUNK }), { extra: { failOnCleanupError: true, logger } })
      const failing = t.handler.before((request: any) => { request.context.cleanup.defer(function closeAudit () { throw new Error('audit log unreachable') }) })
      const sink = t.newSink()
      const outcome = await failing({}, sink.stream, lambdaContext()).then(() => 'resolved', (e: unknown) => e)
      expect(outcome).toBeInstanceOf(CleanupError)
      expect(t.marks.handedAtCleanup).toBe(BODY.length)
      await expectGone(t.declared)
      expect(t.reports.map((r) => [r.report.exitPath, r.report.failed.length])).toEqual([['success', 1]])
    })
  })

  describe('edge cases (Middy 7)', () => {
    const { middy } = middyVersions.find((v) => v.major === 7)!
    const declare = async (context: any): Promise<{ file: string, key: string }> => {
      const file = await context.cleanup.tempFile()
      await writeFile(file, BODY)
      const key = `tmp/edge-${uid()}.txt`
      await context.cleanup.putObject({ Bucket: bucket, Key: key, Body: BODY })
      return { file, key }
    }

    it('an `after` that throws once cleanup\'s has held the body: onError cleans at once (exit path error), that error is the invocation\'s, and the cap is cancelled', async () => {
      const reports: CleanupReport[] = []
      const logger = recordingLogger()
      const failure = new Error('signing the response failed')
      let d = { file: '', key: '' }
      const handler = middy({ executionMode: executionModeStreamifyResponse })
        .use({ after: () => { throw failure } })
        .use(cleanup({ s3, logger, onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
        .handler(async (_e: unknown, context: any) => {
          d = await declare(context)
          return { statusCode: 200, body: createReadStream(d.file) }
        })
      // 1000 ms left: the cap would fire at 750 ms
      await expect(handler({}, new Writable({ write: (_c, _e, cb) => cb() }), lambdaContext(1_000))).rejects.toBe(failure)
      expect(reports.map((r) => r.exitPath)).toEqual(['error'])
      expect(existsSync(d.file)).toBe(false)
      expect(await objectExists(s3, bucket, d.key)).toBe(false)
      await new Promise((resolve) => setTimeout(resolve, 800))
      expect(reports).toHaveLength(1)
      expect(logger.lines.filter((l) => /not over/.test(l.message))).toEqual([])
    })

    it('a frozen response (its body cannot be replaced): cleaned in `after` as before, with one warning per process', async () => {
      const reports: CleanupReport[] = []
      const logger = frozenLogger // one for every backend's run: the warning is said once per process
      const handler = middy()
        .use(cleanup({ s3, logger, onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
        .handler(async (_e: unknown, context: any) => {
          const d = await declare(context)
          return Object.freeze({ statusCode: 200, body: createReadStream(d.file) })
        })
      const response = await handler({}, lambdaContext()) as { body: Readable }
      expect(reports.map((r) => r.exitPath)).toEqual(['success'])
      expect(logger.lines.filter((l) => /the response is a stream, but the response's body cannot be replaced/.test(l.message))).toHaveLength(1)
      response.body.destroy()
    })
  })

  describe('a streamed body nobody reads', () => {
    const withSequentialRuntime = async (fn: () => Promise<void>): Promise<void> => {
      const saved = { api: process.env.AWS_LAMBDA_RUNTIME_API, max: process.env.AWS_LAMBDA_MAX_CONCURRENCY }
      process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9001'
      delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
      try { await fn() } finally {
        if (saved.api === undefined) delete process.env.AWS_LAMBDA_RUNTIME_API
        else process.env.AWS_LAMBDA_RUNTIME_API = saved.api
        if (saved.max !== undefined) process.env.AWS_LAMBDA_MAX_CONCURRENCY = saved.max
      }
    }
    const { middy } = middyVersions.find((v) => v.major === 7)!
    interface Declared { file: string, key: string, response?: unknown }
    const waitFor = async (what: () => boolean): Promise<void> => {
      for (let i = 0; i < 300 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    // Standard (not streaming) mode returning a stream body: nothing reads it.
    const unreadHandler = (reports: CleanupReport[], logger: ReturnType<typeof recordingLogger>, declared: Declared) => middy()
      .use(cleanup({ s3, timeoutMs: 200, logger, onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
      .handler(async (_e: unknown, context: any) => {
        declared.file = await context.cleanup.tempFile()
        await writeFile(declared.file, BODY)
        declared.key = `tmp/unread-${uid()}.txt`
        await context.cleanup.putObject({ Bucket: bucket, Key: declared.key, Body: BODY })
        return (declared.response = { statusCode: 200, body: createReadStream(declared.file) })
      })

    it('is cleaned at the cap taken from the remaining time (exit path timeout, said in a warning); the response object is the handler\'s', async () => {
      const reports: CleanupReport[] = []
      const logger = recordingLogger()
      const declared: Declared = { file: '', key: '' }
      // 1000 ms left, margin 50, timeoutMs 200: the cap is 950 − min(200, 475) = 750 ms
      const response = await unreadHandler(reports, logger, declared)({}, lambdaContext(1_000)) as { statusCode: number, body: Readable }
      expect(response).toBe(declared.response)
      expect(response.body).toBeInstanceOf(Readable)
      expect(existsSync(declared.file)).toBe(true) // held: the body may still be read
      await waitFor(() => reports.length > 0)
      expect(reports.map((r) => r.exitPath)).toEqual(['timeout'])
      expect(existsSync(declared.file)).toBe(false)
      expect(await objectExists(s3, bucket, declared.key)).toBe(false)
      expect(logger.lines.filter((l) => /streamed response body was not over/.test(l.message))).toHaveLength(1)
      response.body.destroy()
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(reports).toHaveLength(1) // destroyed later: nothing cleaned or reported twice
    })

    it('in a sequential Lambda runtime, the next invocation proves its end: its sweep cleans it, and the cap later says and reports nothing', async () => withSequentialRuntime(async () => {
      const reports: CleanupReport[] = []
      const logger = recordingLogger()
      const first: Declared = { file: '', key: '' }
      const second: Declared = { file: '', key: '' }
      await unreadHandler(reports, logger, first)({}, lambdaContext(1_000))
      expect(existsSync(first.file)).toBe(true)
      const response = await unreadHandler(reports, logger, second)({}, lambdaContext(1_000)) as { body: Readable }
      await waitFor(() => reports.length > 0)
      expect(existsSync(first.file)).toBe(false)
      expect(await objectExists(s3, bucket, first.key)).toBe(false)
      expect(reports.map((r) => r.exitPath)).toEqual(['early-return']) // the sweep's label for a scope whose end was proven
      // the second's body is read after all: cleaned when it is over
      response.body.resume()
      await new Promise((resolve) => response.body.once('close', resolve))
      expect(reports.map((r) => r.exitPath)).toEqual(['early-return', 'success'])
      expect(existsSync(second.file)).toBe(false)
      await new Promise((resolve) => setTimeout(resolve, 800)) // past the first's cap (750 ms)
      expect(reports).toHaveLength(2)
      expect(logger.lines.filter((l) => /not over/.test(l.message))).toEqual([])
    }))
  })
})
