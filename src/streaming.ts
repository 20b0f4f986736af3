import { Readable } from 'node:stream'

// Middy's response-streaming mode runs every `after` before it pipes the body into the
// response stream (middyjs/middy#1317): cleaning up in `after` deleted a streamed temp
// file or S3 object half-way through its body. So when the response is a stream, the
// body is swapped for a pass-through that delivers every chunk and the same error, runs
// the cleanup once the source has ended, failed or been aborted, and only then ends
// itself: Middy's pipeline, hence the handler's promise, resolves after cleanup, and the
// runtime client (aws-lambda-ric 4.x calls /next as soon as it does) cannot freeze the
// process in the middle of it. A pass-through rather than a listener on the source:
// a listener cannot delay the end, and a web ReadableStream has no listeners at all.

/** How a streamed body's wait ended: read to its end, failed, aborted by its reader, or not read before the cap. */
export type BodyEnd = 'ended' | 'failed' | 'aborted' | 'unread'

/**
 * @internal Runs the cleanup of a streamed body's invocation, once. It resolves (never
 * rejects) when cleanup is over; to an Error when the body must fail with it instead
 * of ending (`failOnCleanupError`, only for `'ended'`).
 *
 * @example
 * ```ts
 * const whenDone: WhenStreamed = async (end) => { await scope.dispose(); return undefined }
 * ```
 */
export type WhenStreamed = (end: BodyEnd) => Promise<Error | undefined>

type NodeBody = Readable
type WebBody = ReadableStream<unknown>

const isNodeBody = (v: unknown): v is NodeBody =>
  // Middy's own test (`_readableState`), so what Middy pipes is what is held here
  typeof v === 'object' && v !== null && typeof (v as { _readableState?: unknown })._readableState === 'object' &&
  typeof (v as { on?: unknown }).on === 'function'

const isWebBody = (v: unknown): v is WebBody => typeof ReadableStream === 'function' && v instanceof ReadableStream

/**
 * @internal True when `v` is a body Middy streams: a Node Readable or a web ReadableStream.
 *
 * @example
 * ```ts
 * isStreamBody(createReadStream(file)) // true
 * isStreamBody('text') // false
 * ```
 */
export const isStreamBody = (v: unknown): boolean => isNodeBody(v) || isWebBody(v)

// A body that can no longer deliver anything: wrapping it would wait for an end that has come.
const finishedAlready = (body: NodeBody | WebBody): boolean =>
  isNodeBody(body) ? body.readableEnded || body.destroyed || body.errored != null : body.locked

// Cleanup runs in the pass-through's _destroy, which Node calls once the stream is over
// (autoDestroy after 'end', or destroy() on a failure or abort), and whose callback it
// delays: the stream's 'close' — hence Middy's pipeline, which waits for it — comes after
// cleanup. 'end' itself is emitted once the reader has taken every chunk.
const passNode = (source: NodeBody, done: WhenStreamed): NodeBody => {
  let failed = false
  const encoding = source.readableEncoding ?? undefined
  const out = new Readable({
    objectMode: source.readableObjectMode,
    highWaterMark: source.readableHighWaterMark,
    read () { source.resume() },
    destroy (error, callback) {
      const end: BodyEnd = out.readableEnded ? 'ended' : failed ? 'failed' : 'aborted'
      // Aborted by its reader (the client went away, another stream of the pipeline
      // failed): the source is not read any further.
      if (end === 'aborted') source.destroy()
      void done(end).then((e) => { callback(end === 'ended' ? e ?? null : error) })
    },
  })
  if (encoding !== undefined) out.setEncoding(encoding)
  source.on('data', (chunk: unknown) => { if (!out.push(chunk, encoding)) source.pause() })
  source.pause()
  source.once('end', () => { out.push(null) })
  const fail = (e: unknown): void => {
    if (failed || out.destroyed) return
    failed = true
    // the same error object (none: a premature close, reported as a pipeline of the source would)
    out.destroy(e as Error | undefined)
  }
  source.once('error', fail)
  source.once('close', () => { if (!source.readableEnded) fail(source.errored ?? undefined) })
  return out
}

// highWaterMark 0: pull() runs only when the reader asks for a chunk and has taken every
// earlier one, so the source's end is seen when the reader has the whole body.
const passWeb = (source: WebBody, done: WhenStreamed): WebBody => {
  const reader = source.getReader()
  let over = false
  return new ReadableStream<unknown>({
    async pull (controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (e) {
        over = true
        await done('failed')
        controller.error(e)
        return
      }
      if (!chunk.done) { controller.enqueue(chunk.value); return }
      over = true
      const e = await done('ended')
      if (e === undefined) controller.close(); else controller.error(e)
    },
    async cancel (reason) {
      if (over) return
      over = true
      const cancelled = reader.cancel(reason).then(undefined, () => undefined)
      await done('aborted')
      await cancelled
    },
  }, { highWaterMark: 0 })
}

const pass = (body: NodeBody | WebBody, done: WhenStreamed): NodeBody | WebBody =>
  isNodeBody(body) ? passNode(body, done) : passWeb(body, done)

const once = (fn: WhenStreamed): WhenStreamed => {
  let first: Promise<Error | undefined> | undefined
  return (end) => (first ??= fn(end))
}

/** @internal What {@link holdUntilStreamed} decided for one response. */
export type Hold =
  | { held: true, /** stops the cap's timer (the scope was cleaned another way) */ release: () => void }
  | { held: false, /** why not, when the response had a stream that could not be held */ reason?: string }

/**
 * @internal When `request.response`, or its `body`, is a stream, replaces it with a
 * pass-through (the response object itself stays, only its `body` is swapped) and
 * calls `whenStreamed` once: when the body has been read to its end, has failed or
 * been aborted, or — whichever comes first — `capMs` after now (`'unread'`: nobody
 * reads it, or not in time; the body goes on, its end then waits for that cleanup).
 * The cap's timer never holds the event loop.
 *
 * @example
 * ```ts
 * const hold = holdUntilStreamed(request, async (end) => { await scope.dispose(); return undefined }, 60_000)
 * if (!hold.held) await scope.dispose() // not a stream: clean up now
 * ```
 */
export const holdUntilStreamed = (request: { response: unknown }, whenStreamed: WhenStreamed, capMs: number): Hold => {
  const response = request.response
  const inBody = !isStreamBody(response)
  const body = inBody ? (response as { body?: unknown } | null | undefined)?.body : response
  if (!isStreamBody(body)) return { held: false }
  const stream = body as NodeBody | WebBody
  if (finishedAlready(stream)) return { held: false, reason: 'the body stream has already ended or is locked' }
  if (inBody) {
    const slot = Object.getOwnPropertyDescriptor(response, 'body')
    if (slot?.writable !== true || !Object.isExtensible(response)) return { held: false, reason: 'the response\'s body cannot be replaced (frozen or a getter)' }
  }
  let timer: NodeJS.Timeout | undefined
  const done = once((end) => { clearTimeout(timer); return whenStreamed(end) })
  const out = pass(stream, done)
  if (inBody) (response as { body: unknown }).body = out
  else request.response = out
  timer = setTimeout(() => { void done('unread') }, Math.min(Math.max(0, capMs), 2_147_483_647))
  timer.unref()
  return { held: true, release: () => clearTimeout(timer) }
}
