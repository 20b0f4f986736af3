import { sleep } from './deadline.js'

/**
 * Shared by the S3 and DynamoDB deleters: error classification, backoff, request
 * counting and a small concurrency pool. No AWS SDK import: everything here is
 * structural, so the package loads without the SDK installed.
 */

/** An SDK v3 client, detected by its `send` function (never `instanceof`: any SDK copy works). */
export interface SendClient {
  send: (command: any, options?: any) => Promise<any>
}

export const isClient = (v: unknown): v is SendClient =>
  typeof v === 'object' && v !== null && typeof (v as SendClient).send === 'function'

const THROTTLING = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottledException',
  'TooManyRequestsException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded',
  'TransactionInProgressException', 'RequestThrottled', 'BandwidthLimitExceeded', 'EC2ThrottledException',
  'PriorRequestNotComplete', 'LimitExceededException',
])
const TRANSIENT = new Set([
  'InternalError', 'InternalServerError', 'InternalFailure', 'ServiceUnavailable', 'RequestTimeout',
  'RequestTimeoutException', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'NetworkingError',
])

interface AwsErrorLike {
  name?: string
  code?: string
  Code?: string
  $retryable?: unknown
  $metadata?: { httpStatusCode?: number, attempts?: number }
}

/** True for an abort caused by our own deadline signal (not worth another attempt now). */
export const isAbort = (e: unknown, signal?: AbortSignal): boolean =>
  (signal?.aborted === true) || (e as AwsErrorLike | undefined)?.name === 'AbortError'

/**
 * Whether retrying the same request later may succeed: throttling (503 SlowDown,
 * ProvisionedThroughputExceeded), 5xx, timeouts and network resets. A 4xx such as
 * AccessDenied or NoSuchBucket is not: retrying cannot fix it.
 */
export const isRetryable = (e: unknown): boolean => {
  if (typeof e !== 'object' || e === null) return false
  const err = e as AwsErrorLike
  if (err.$retryable !== undefined && err.$retryable !== null && err.$retryable !== false) return true
  for (const name of [err.name, err.code, err.Code]) {
    if (name !== undefined && (THROTTLING.has(name) || TRANSIENT.has(name))) return true
  }
  const status = err.$metadata?.httpStatusCode
  if (status !== undefined && (status >= 500 || status === 429)) return true
  // a connection reset without a response: the SDK's own error has no status
  if (status === undefined && /socket hang up|ECONNRESET|EPIPE|other side closed/i.test(String((e as Error).message))) return true
  return false
}

/** Whether a per-key error code (S3 DeleteObjects `Errors[].Code`) is worth another attempt. */
export const isRetryableCode = (code: string | undefined): boolean =>
  code !== undefined && (THROTTLING.has(code) || TRANSIENT.has(code))

/** HTTP attempts the SDK made for one `send()` (its retries included), from `$metadata.attempts`. */
export const attemptsOf = (resultOrError: unknown): number => {
  const n = (resultOrError as AwsErrorLike | undefined)?.$metadata?.attempts
  return typeof n === 'number' && n > 0 ? n : 1
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)]. */
export const backoffMs = (attempt: number, baseMs = 25, capMs = 1000, random: () => number = Math.random): number =>
  Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt))

/**
 * Sleeps the backoff for `attempt`, or less when the deadline comes first.
 * Returns false when there is no time left for another attempt.
 */
export const backoffWithin = async (attempt: number, deadlineAt: number, signal: AbortSignal): Promise<boolean> => {
  if (signal.aborted) return false
  const wait = backoffMs(attempt)
  if (Date.now() + wait >= deadlineAt) return false
  await sleep(wait, signal)
  return !signal.aborted
}

/** How one request sent by {@link sendUntilDeadline} ended. */
export type SendOutcome = { ok: true } | { ok: false, error: unknown, retryable: boolean }

/**
 * Sends one request until it succeeds, until `settle` says an error is final,
 * until an error is not retryable, or until the deadline; counts every HTTP
 * attempt (the SDK's own retries included). A deadline miss is retryable later.
 */
export const sendUntilDeadline = async (
  send: () => Promise<unknown>,
  o: {
    signal: AbortSignal
    deadlineAt: number
    deadlineError: () => unknown
    count: (attempts: number) => void
    /** an answer for errors that mean something here (404 = already gone, 412 = not ours) */
    settle?: (error: unknown) => SendOutcome | undefined
  },
): Promise<SendOutcome> => {
  let lastError: unknown
  for (let attempt = 0; ; attempt++) {
    if (o.signal.aborted) return { ok: false, error: o.deadlineError(), retryable: true }
    try {
      o.count(attemptsOf(await send()))
      return { ok: true }
    } catch (error) {
      o.count(attemptsOf(error))
      if (isAbort(error, o.signal)) return { ok: false, error: o.deadlineError(), retryable: true }
      const settled = o.settle?.(error)
      if (settled !== undefined) return settled
      if (!isRetryable(error)) return { ok: false, error, retryable: false }
      lastError = error
    }
    if (!await backoffWithin(attempt, o.deadlineAt, o.signal)) {
      return { ok: false, error: o.signal.aborted ? o.deadlineError() : lastError, retryable: true }
    }
  }
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
