// Aliased: a top-level `createRequire` binding collides with the banner CDK's NodejsFunction
// puts in ESM bundles (`import { createRequire } from 'module'`).
import { createRequire as requireFrom } from 'node:module'
import { CleanupDeadlineError } from './errors.js'

/**
 * What a failed AWS request means for cleanup: whether it is our own deadline,
 * whether a later invocation may succeed (the SDK's own classification where it can
 * be loaded), and one line describing it for a report. No static AWS SDK import.
 */

/**
 * Why a remote resource was not deleted, with the service's error code (`AccessDenied`,
 * `ConditionalCheckFailedException`, …): the base of each kind's error (S3DeleteError,
 * DynamoDeleteError), whose `name` is what a report shows.
 *
 * @example
 * ```ts
 * export class QueueDeleteError extends RemoteDeleteError { override name = 'QueueDeleteError' }
 * throw new QueueDeleteError('queue was not deleted: AccessDenied', 'AccessDenied', { cause: error })
 * ```
 */
export class RemoteDeleteError extends Error {
  readonly code: string | undefined
  constructor (message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/**
 * The fields of an SDK error cleanup reads.
 *
 * @example
 * ```ts
 * const status = (error as AwsErrorLike).$metadata?.httpStatusCode
 * ```
 */
export interface AwsErrorLike {
  name?: string
  $retryable?: unknown
  $metadata?: { httpStatusCode?: number, attempts?: number }
}

/**
 * True for an abort caused by our own deadline signal (not worth another attempt now).
 *
 * @example
 * ```ts
 * const reason = isAbort(error, signal) ? deadlineError() : new S3DeleteError(text)
 * ```
 */
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
 *
 * @example
 * ```ts
 * outcome.failed.push({ resource, error, retryable: isRetryable(error) })
 * ```
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
 *
 * @example
 * ```ts
 * RETRYABLE_KEY_CODES.has('SlowDown') // true
 * ```
 */
export const RETRYABLE_KEY_CODES: ReadonlySet<string> = new Set(['InternalError', 'SlowDown', 'ServiceUnavailable'])

/**
 * Whether a per-key error code (S3 DeleteObjects `Errors[].Code`) is worth another attempt.
 *
 * @example
 * ```ts
 * isRetryableCode('InternalError') // true; isRetryableCode('AccessDenied') // false
 * ```
 */
export const isRetryableCode = (code: string | undefined): boolean => code !== undefined && RETRYABLE_KEY_CODES.has(code)

/**
 * The AWS error code, HTTP status and SDK attempts of a failed request, as one
 * line for a report reason ("HTTP 503 after 3 attempt(s): SlowDown: Please reduce…").
 *
 * @example
 * ```ts
 * const { code, text } = describeRequestFailure(sent.error)
 * new S3DeleteError(`DeleteObjects of 3 key(s) in bucket b failed, ${text}`, code)
 * ```
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

/**
 * HTTP attempts the SDK made for one `send()` (its retries included), from `$metadata.attempts`.
 *
 * @example
 * ```ts
 * attemptsOf({ $metadata: { attempts: 3 } }) // 3; attemptsOf(undefined) // 1
 * ```
 */
export const attemptsOf = (resultOrError: unknown): number => {
  const n = (resultOrError as AwsErrorLike | undefined)?.$metadata?.attempts
  return typeof n === 'number' && n > 0 ? n : 1
}
