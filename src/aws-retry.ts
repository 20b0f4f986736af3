import { subscribe, unsubscribe } from 'node:diagnostics_channel'
// Aliased: a top-level `createRequire` binding collides with the banner CDK's NodejsFunction
// puts in ESM bundles (`import { createRequire } from 'module'`).
import { createRequire as requireFrom } from 'node:module'
import { CleanupDeadlineError } from './errors.js'

/**
 * Shared by the S3 and DynamoDB deleters: sending with per-attempt request
 * counting, error classification, backoff for partial results, a small
 * concurrency pool and the declaration checks. No static AWS SDK import: the
 * package loads without the SDK installed.
 *
 * One retry layer per failure: a whole request that fails is retried by the
 * SDK's own strategy (the client's `maxAttempts` / `retryMode`), bounded by the
 * cleanup budget through `abortSignal`, and never re-sent here; a request the SDK
 * gave up on becomes a retryable failure for the next invocation. The deleters
 * loop only on partial results the SDK reports as a success (S3 per-key
 * `Errors`, DynamoDB `UnprocessedItems`), which no SDK strategy retries.
 */

/** An SDK v3 client, detected by its `send` function (never `instanceof`: any SDK copy works). */
export interface SendClient {
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

export const isClient = (v: unknown): v is SendClient =>
  typeof v === 'object' && v !== null && typeof (v as SendClient).send === 'function'

interface AwsErrorLike {
  name?: string
  $retryable?: unknown
  $metadata?: { httpStatusCode?: number, attempts?: number }
}

/** True for an abort caused by our own deadline signal (not worth another attempt now). */
export const isAbort = (e: unknown, signal?: AbortSignal): boolean =>
  (signal?.aborted === true) || (e as AwsErrorLike | undefined)?.name === 'AbortError' || e instanceof CleanupDeadlineError

type Classify = (e: unknown) => boolean
let sdkClassify: Classify | null | undefined

/**
 * The SDK's own retry classification (throttling, transient or server error —
 * what its retry strategy retries), loaded from the SDK's own dependencies
 * (`@smithy/core/retry`, or `@smithy/service-error-classification` of older
 * SDKs) rather than copied here. Null when it cannot be loaded.
 */
const loadSdkClassify = (): Classify | null => {
  if (sdkClassify !== undefined) return sdkClassify
  sdkClassify = null
  let req: NodeRequire
  try { req = requireFrom(import.meta.url) } catch { return null }
  const from = (base: NodeRequire, name: string): NodeRequire | undefined => {
    try { return requireFrom(base.resolve(name)) } catch { return undefined }
  }
  const bases = ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3'].map((n) => from(req, n)).filter((b): b is NodeRequire => b !== undefined)
  for (const base of [...bases, req]) {
    const retryPkg = from(base, '@smithy/middleware-retry')
    for (const [r, name] of [[base, '@smithy/core/retry'], [retryPkg, '@smithy/service-error-classification'], [base, '@smithy/service-error-classification']] as const) {
      if (r === undefined) continue
      try {
        const m = r(name) as Record<string, unknown>
        const { isThrottlingError, isTransientError, isServerError } = m as Record<string, (e: unknown) => boolean>
        if (typeof isThrottlingError === 'function' && typeof isTransientError === 'function' && typeof isServerError === 'function') {
          return (sdkClassify = (e) => isThrottlingError(e) || isTransientError(e) || isServerError(e))
        }
      } catch { /* not there: try the next place */ }
    }
  }
  return null
}

/**
 * Whether a whole request that failed — after the SDK's own retries — may
 * succeed at a later invocation: its retry trait (`$retryable`), a status of
 * 429 or ≥ 500, the SDK's own classification (it retried it, or its classifier
 * says throttling/transient/server), or no answer from any server at all (a
 * reset, a refused connection, our deadline). A definitive 4xx answer such as
 * AccessDenied or NoSuchBucket is not: retrying cannot fix it.
 */
export const isRetryable = (e: unknown): boolean => {
  if (typeof e !== 'object' || e === null) return false
  if (isAbort(e)) return true
  const err = e as AwsErrorLike
  if (err.$retryable !== undefined && err.$retryable !== null && err.$retryable !== false) return true
  const status = err.$metadata?.httpStatusCode
  if (status !== undefined && (status >= 500 || status === 429)) return true
  if ((err.$metadata?.attempts ?? 0) > 1) return true // the SDK's strategy retried it: it judged it retryable
  const classify = loadSdkClassify()
  if (classify !== null) {
    try { if (classify(e)) return true } catch { /* an odd error object: judged below */ }
  }
  return status === undefined
}

/**
 * S3 `DeleteObjects` per-key error codes worth another attempt within the budget
 * (the request succeeded, one key did not): the few S3 documents as transient.
 * Every other code (AccessDenied, NoSuchVersion, …) is final for that key.
 */
export const RETRYABLE_KEY_CODES: ReadonlySet<string> = new Set(['InternalError', 'SlowDown', 'ServiceUnavailable'])

/** Whether a per-key error code (S3 DeleteObjects `Errors[].Code`) is worth another attempt. */
export const isRetryableCode = (code: string | undefined): boolean => code !== undefined && RETRYABLE_KEY_CODES.has(code)

/**
 * The AWS error code, HTTP status and SDK attempts of a failed request, as one
 * line for a report reason ("HTTP 503 after 3 attempt(s): SlowDown: Please reduce…").
 */
export const describeRequestFailure = (error: unknown): { code: string | undefined, text: string } => {
  const e = (typeof error === 'object' && error !== null ? error : {}) as AwsErrorLike & { Code?: unknown, code?: unknown, message?: unknown }
  const code = [e.Code, e.code, e.name].find((c): c is string => typeof c === 'string' && c !== '' && c !== 'Error')
  const status = e.$metadata?.httpStatusCode
  const attempts = e.$metadata?.attempts
  const message = typeof e.message === 'string' ? e.message : String(error)
  return {
    code,
    text: `${status === undefined ? 'no HTTP answer' : `HTTP ${status}`}${typeof attempts === 'number' ? ` after ${attempts} attempt(s) (the client's retry strategy)` : ''}: ${code ?? 'Error'}: ${message}`,
  }
}

/** HTTP attempts the SDK made for one `send()` (its retries included), from `$metadata.attempts`. */
export const attemptsOf = (resultOrError: unknown): number => {
  const n = (resultOrError as AwsErrorLike | undefined)?.$metadata?.attempts
  return typeof n === 'number' && n > 0 ? n : 1
}

/** What a deleter needs of its {@link DeleteContext} to send. */
export interface SendContext {
  signal: AbortSignal
  /** called with 1 as each HTTP attempt goes out */
  countRequests: (n: number) => void
}

/** How one `send()` ended, and how many HTTP attempts it put on the wire. */
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
 */
export const sendCounted = async <T = any>(client: SendClient, command: unknown, ctx: SendContext): Promise<Sent<T>> => {
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

/** Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)]. */
export const backoffMs = (attempt: number, random: () => number = Math.random, baseMs = 25, capMs = 1000): number =>
  Math.floor(Math.min(1, Math.max(0, random())) * Math.min(capMs, baseMs * 2 ** attempt))

/** What the partial-result loops need of the {@link Deadline}. */
export interface BackoffDeadline {
  readonly signal: AbortSignal
  remainingMs: () => number
  sleep: (ms: number) => Promise<void>
}

/**
 * Waits the backoff before re-sending the part of a batch that came back
 * unprocessed. Returns false, without waiting, when the budget has no room for
 * the wait: what is left then goes to the next invocation.
 */
export const backoffWithin = async (attempt: number, deadline: BackoffDeadline, random: () => number): Promise<boolean> => {
  if (deadline.signal.aborted) return false
  const wait = backoffMs(attempt, random)
  if (wait >= deadline.remainingMs()) return false
  await deadline.sleep(wait)
  return !deadline.signal.aborted
}

/** Runs `tasks` with at most `limit` of them at a time; never rejects (tasks handle their errors). */
export const pool = async (tasks: Array<() => Promise<void>>, limit: number): Promise<void> => {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++]!
      await task()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
}

/** Splits `items` into chunks of at most `size`. */
export const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Per-client numbering, so groups can be keyed by client without holding the client in a string. */
const clientIds = new WeakMap<object, number>()
let nextClientId = 1
export const clientId = (client: object): number => {
  let id = clientIds.get(client)
  if (id === undefined) clientIds.set(client, id = nextClientId++)
  return id
}

/** How many deletion requests run at once, across buckets/tables of one cleanup. */
export const DEFAULT_CONCURRENCY = 8

// ---- declaration checks (shared by s3.ts and dynamodb.ts) ----

export const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Uint8Array ? 'Uint8Array' : typeof v

/** A value as a message shows it: strings quoted, the rest by type. */
export const shown = (v: unknown): string => typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' ? `${typeOf(v)} ${String(v)}` : typeOf(v)

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`. */
const editDistance = (a: string, b: string): number => {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The known key a misspelt one most likely meant: the same ignoring case, one
 * that starts or ends the other (`tableName` → `table`, `version` → `versionId`),
 * or a few typing slips away — from the whole key or from its start
 * (`verison` → `versionId`).
 */
export const closestKey = (name: string, known: readonly string[]): string | undefined => {
  const n = name.toLowerCase()
  let best: string | undefined
  let bestScore = Infinity
  for (const k of known) {
    const kl = k.toLowerCase()
    if (kl === n) return k
    let score = editDistance(n, kl)
    if (n.length >= 3 && (n.startsWith(kl) || kl.startsWith(n))) score = Math.min(score, 1)
    if (n.length >= 4) score = Math.min(score, editDistance(n, kl.slice(0, n.length)) + 1)
    if (score < bestScore) { best = k; bestScore = score }
  }
  return bestScore <= Math.min(2, Math.max(1, Math.floor(n.length / 3))) ? best : undefined
}

/**
 * Throws when `obj` has a key outside `known`: a misspelt key would otherwise be
 * dropped silently (`verison` instead of `versionId` deletes the current version).
 * `label(key)` shows where the key was, e.g. `s3Object({ verison })`.
 */
export const rejectUnknownKeys = (
  obj: object, known: readonly string[], label: (key: string) => string,
  makeError: (message: string) => Error,
): void => {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue
    const meant = closestKey(key, known)
    throw makeError(`cleanup: ${label(key)}: unknown key '${key}'${meant === undefined ? '' : ` — did you mean ${meant}?`} Known keys: ${known.join(', ')}.`)
  }
}
