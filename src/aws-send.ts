import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { attemptsOf, isAbort } from './aws-failure.js'

/**
 * How a remote kind talks to AWS: sending with per-attempt request counting, and
 * loading an optional SDK peer once (what a failure means is aws-failure.ts's). No
 * static AWS SDK import: the package loads without the SDK installed.
 *
 * One retry layer per failure: a whole request that fails is retried by the
 * SDK's own strategy (the client's `maxAttempts` / `retryMode`), bounded by the
 * cleanup budget through `abortSignal`, and never re-sent here; a request the SDK
 * gave up on becomes a retryable failure for the next invocation. Only partial
 * results the SDK reports as a success (S3 per-key `Errors`, DynamoDB
 * `UnprocessedItems`) are re-sent, by remote-batch.ts.
 */

/**
 * An AWS SDK v3 client, detected by its `send` method (not `instanceof`, so any SDK copy works).
 *
 * @example
 * ```ts
 * cleanup({ s3: new S3Client({}), dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient({})) })
 * ```
 */
export interface SdkClientLike {
  send: (command: any, options?: any) => Promise<any>
}

/**
 * The `$metadata` every AWS SDK v3 output carries (`@smithy/types`' `ResponseMetadata`,
 * written out so this package's declarations need no SDK installed).
 *
 * @example
 * ```ts
 * const { $metadata } = await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key: 'tmp/a', Body })
 * console.log($metadata.httpStatusCode, $metadata.requestId, $metadata.attempts)
 * ```
 */
export interface ResponseMetadata {
  httpStatusCode?: number
  requestId?: string
  extendedRequestId?: string
  cfId?: string
  attempts?: number
  totalRetryDelay?: number
}

/**
 * True for anything with a `send` function: an SDK v3 client of any copy of the SDK.
 *
 * @example
 * ```ts
 * if (!isClient(options.client)) throw new CleanupDeclarationError('… must be an AWS SDK v3 client')
 * ```
 */
export const isClient = (v: unknown): v is SdkClientLike =>
  typeof v === 'object' && v !== null && typeof (v as SdkClientLike).send === 'function'

/**
 * What {@link sendCounted} needs of a deleter's `DeleteContext`.
 *
 * @example
 * ```ts
 * const ctx: SendContext = { signal: context.signal, countRequests: context.countRequests }
 * ```
 */
export interface SendContext {
  signal: AbortSignal
  /** called with 1 as each HTTP attempt goes out */
  countRequests: (n: number) => void
}

/**
 * How one `send()` ended, and how many HTTP attempts it put on the wire.
 *
 * @example
 * ```ts
 * const sent: Sent<{ Errors?: unknown[] }> = await sendCounted(client, command, ctx)
 * if (!sent.ok && sent.attempts === 0) console.log('nothing went out')
 * ```
 */
export type Sent<T> = { ok: true, output: T, attempts: number } | { ok: false, error: unknown, attempts: number }

interface CommandWithStack { middlewareStack?: { add: (mw: unknown, options: Record<string, unknown>) => void } }

// ---- which attempts reached the wire ----
//
// An attempt the SDK starts is not yet on the wire: its socket may still be connecting
// when the budget's abort destroys it (a CPU-starved process runs the abort timer before
// the connect completes), and then nothing was sent. node:http publishes every request it
// creates on the `http.client.request.start` diagnostics channel; the SDK's retry
// middleware tags each attempt with `amz-sdk-invocation-id` + `amz-sdk-request`. An
// attempt is counted when its request was written out ('finish') or answered
// ('response'), whichever comes first — never when it was destroyed before that.
// Subscribed only while a deleter has an attempt in flight.

type OnRequest = (request: ClientRequestLike) => void
interface ClientRequestLike { getHeader: (name: string) => unknown, once: (event: string, fn: () => void) => unknown }
const watched = new Map<string, OnRequest>()
const REQUEST_START = 'http.client.request.start'
const onRequestStart = (message: unknown): void => {
  const request = (message as { request?: ClientRequestLike } | undefined)?.request
  if (watched.size === 0 || typeof request?.getHeader !== 'function') return
  const key = `${String(request.getHeader('amz-sdk-invocation-id'))} ${String(request.getHeader('amz-sdk-request'))}`
  const on = watched.get(key)
  if (on === undefined) return
  watched.delete(key)
  on(request)
}
const watch = (key: string, on: OnRequest): void => {
  if (watched.size === 0) subscribe(REQUEST_START, onRequestStart)
  watched.set(key, on)
}
const unwatch = (key: string): void => {
  if (!watched.delete(key)) return
  if (watched.size === 0) unsubscribe(REQUEST_START, onRequestStart)
}

const attemptKey = (request: unknown): string | undefined => {
  const headers = (request as { headers?: Record<string, unknown> } | undefined)?.headers
  const id = headers?.['amz-sdk-invocation-id']
  const attempt = headers?.['amz-sdk-request']
  return typeof id === 'string' && typeof attempt === 'string' ? `${id} ${attempt}` : undefined
}

/**
 * Sends `command` with the budget's abort signal and counts every HTTP attempt
 * that reaches the wire, as it does: a middleware at the `deserialize` step runs
 * inside the SDK's retry loop, once per attempt, so the SDK's own retries are
 * counted and the count is right even when the deadline stops the wait
 * mid-retries. With node:http (the SDK's default handler) an attempt counts once
 * its request is written or answered; with another handler, when it starts. An
 * attempt started after the budget's signal fired sends nothing and is not
 * counted. For a client that never runs the command's middleware stack (a stub),
 * `$metadata.attempts` of the result or error is counted when the send settles.
 * Never throws.
 *
 * @example
 * ```ts
 * const sent = await sendCounted(client, new DeleteObjectsCommand(input), { signal, countRequests })
 * if (sent.ok) console.log(sent.output.Errors)
 * ```
 */
export const sendCounted = async <T = any>(client: SdkClientLike, command: unknown, ctx: SendContext): Promise<Sent<T>> => {
  let stackRan = false
  let attempts = 0
  const count = (): void => { attempts++; ctx.countRequests(1) }
  const stack = (command as CommandWithStack | undefined)?.middlewareStack
  if (stack !== undefined && typeof stack.add === 'function') {
    // override: lib-dynamodb concatenates a command's stack twice; one copy of each runs
    stack.add((next: (a: unknown) => Promise<unknown>) => (args: unknown) => { stackRan = true; return next(args) },
      { step: 'initialize', name: 'middyCleanupStackRan', priority: 'high', override: true })
    stack.add((next: (a: unknown) => Promise<unknown>) => async (args: unknown) => {
      if (ctx.signal.aborted) return next(args) // the HTTP handler rejects it without sending
      const key = attemptKey((args as { request?: unknown }).request)
      if (key === undefined) { count(); return next(args) }
      let seen = false
      watch(key, (request) => {
        seen = true
        let counted = false
        const once = (): void => { if (!counted) { counted = true; count() } }
        request.once('finish', once)
        request.once('response', once)
      })
      try {
        const out = await next(args)
        unwatch(key)
        if (!seen) count() // answered, by a handler other than node:http
        return out
      } catch (error) {
        unwatch(key)
        // not a node:http request (or none was made): count it, unless our abort stopped it first
        if (!seen && !isAbort(error, ctx.signal)) count()
        throw error
      }
    }, { step: 'deserialize', name: 'middyCleanupCountAttempt', priority: 'low', override: true })
  }
  const fallback = (r: unknown): void => {
    if (stackRan) return
    const n = attemptsOf(r)
    attempts += n
    ctx.countRequests(n)
  }
  try {
    const output = await client.send(command, { abortSignal: ctx.signal }) as T
    fallback(output)
    return { ok: true, output, attempts }
  } catch (error) {
    fallback(error)
    return { ok: false, error, attempts }
  }
}

/**
 * Loads an optional peer on first use, once per process (importing middy-cleanup
 * must work without it, and a dynamic `import()` costs ~0.7 ms each time under
 * loader hooks). The specifier stays a literal in the caller, for bundlers.
 *
 * @example
 * ```ts
 * const loadS3Sdk = lazy(() => import('@aws-sdk/client-s3'))
 * const { DeleteObjectsCommand } = await loadS3Sdk()
 * ```
 */
export const lazy = <T>(load: () => Promise<T>): () => Promise<T> => {
  let loaded: Promise<T> | undefined
  return () => (loaded ??= load())
}
