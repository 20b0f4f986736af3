import { tmpdir } from 'node:os'
import { CleanupConfigError } from './errors.js'
import { checkAllowedRoots } from './files.js'
import { type LoggerOption, type SafeLogger, resolveLogger } from './logger.js'
import { type LeakConfig, OPTION as LEAK_OPTION, resolveLeakOptions } from './leaks/options.js'
import type { LeakDetectionOptions } from './leaks/types.js'
import type { CleanupReport } from './report.js'
import { describeValue, isRecord, unknownKey, unknownKeyMessage } from './validation.js'

import type { SdkClientLike } from './aws-send.js'
export type { SdkClientLike } from './aws-send.js'

/**
 * Options of `cleanup()` and `new CleanupScope()`. Validated once, when
 * `cleanup()` is called; an unknown key or a wrong type throws
 * {@link CleanupConfigError} naming the option and the fix.
 *
 * @example
 * ```ts
 * cleanup({ timeoutMs: 1000, logger: new Logger(), onReport: (r) => console.log(r) })
 * ```
 */
export interface CleanupOptions {
  /** Cap on the time cleanup may take, in ms. @default 2000 */
  timeoutMs?: number
  /** Kept free before Lambda's deadline: budget = min(timeoutMs, remaining − safetyMarginMs). @default 50 */
  safetyMarginMs?: number
  /**
   * Where warnings (what could not be cleaned, where it was left) go: `console`, a
   * Powertools Logger, a function `(message, ...extra) => void`, or `false` for none.
   * A logger that throws is ignored: it never changes the handler's outcome. @default console
   */
  logger?: LoggerOption
  /** Called with the report of every cleanup; not awaited (errors it throws or rejects with are logged, never rethrown). */
  onReport?: (report: CleanupReport) => void | Promise<void>
  /** Fail a successful invocation (throw {@link CleanupError} from `after`) when something could not be cleaned. The handler's own error always stays primary. @default false */
  failOnCleanupError?: boolean
  /** What cleanup may delete. */
  allow?: AllowOptions
  /** S3 client used by `putObject` / `s3Object` when no per-declaration client is given. */
  s3?: SdkClientLike
  /** DynamoDB client (`DynamoDBClient` or `DynamoDBDocumentClient`) used by `putItem` / `dynamoItem`. */
  dynamodb?: SdkClientLike
  /**
   * Find what invocations leave behind that nobody declared: open handles and
   * file descriptors, files under os.tmpdir(), a rising heap, watched values.
   * Off by default; `true` turns every check on. See docs/leaks.md.
   * @default false
   */
  detectLeaks?: boolean | LeakDetectionOptions
}

/**
 * Allow-lists: nothing outside them is ever deleted; a declaration outside them throws.
 *
 * @example
 * ```ts
 * cleanup({ s3, dynamodb, allow: { paths: [tmpdir()], s3: ['scratch-bucket/tmp/'], dynamodb: ['Scratch'] } })
 * ```
 */
export interface AllowOptions {
  /** Directories under which `path()` may delete. @default [os.tmpdir()] */
  paths?: string[]
  /** `'bucket'` (that exact bucket) or `'bucket/prefix'` (keys starting with prefix). Unset: any bucket. */
  s3?: string[]
  /** Exact table names. Unset: any table. */
  dynamodb?: string[]
}

/**
 * Options after validation: a frozen plain object built once per `cleanup()` call (or
 * `new CleanupScope(options)`), shared by its invocations. Only {@link resolveOptions}
 * makes one; {@link isResolved} tells it from what a user passed, so it is never
 * validated twice.
 *
 * @example
 * ```ts
 * const config = resolveOptions({ timeoutMs: 1000 })
 * new CleanupScope(config) // taken as is
 * ```
 */
export interface ResolvedOptions {
  readonly timeoutMs: number
  readonly safetyMarginMs: number
  readonly logger: SafeLogger
  readonly onReport: ((report: CleanupReport) => void | Promise<void>) | undefined
  readonly failOnCleanupError: boolean
  /** real paths of `allow.paths` (default: os.tmpdir()) */
  readonly allowPaths: readonly string[]
  readonly allowS3: readonly string[] | undefined
  readonly allowDynamodb: readonly string[] | undefined
  readonly s3: SdkClientLike | undefined
  readonly dynamodb: SdkClientLike | undefined
  /** `detectLeaks` validated; undefined when detection is off (the default) */
  readonly detectLeaks: LeakConfig | undefined
}

const defaults = {
  timeoutMs: 2000,
  safetyMarginMs: 50,
  failOnCleanupError: false,
} as const

const OWNER = 'cleanup'
const KNOWN = ['timeoutMs', 'safetyMarginMs', 'logger', 'onReport', 'failOnCleanupError', 'allow', 's3', 'dynamodb', LEAK_OPTION]
const KNOWN_ALLOW = ['paths', 's3', 'dynamodb']
// setTimeout clamps anything above 2^31 − 1 ms to 1 ms: a larger budget would end at once.
const MAX_MS = 2_147_483_647

// What resolveOptions made: a resolved object passed again (cleanup() hands its config to
// each invocation's scope) is taken as is, without validating it twice. Per copy of the
// package: another copy's object has another shape history and is validated again.
const resolved = new WeakSet<object>()

/**
 * True for an object {@link resolveOptions} returned.
 *
 * @example
 * ```ts
 * const config = isResolved(options) ? options : resolveOptions(options)
 * ```
 */
export const isResolved = (v: unknown): v is ResolvedOptions => typeof v === 'object' && v !== null && resolved.has(v)

const milliseconds = (name: string, v: unknown, example: string, allowZero: boolean): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (!allowZero && v === 0) || v > MAX_MS) {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be a ${allowZero ? 'non-negative' : 'positive'} integer number of milliseconds (at most ${MAX_MS}); got ${describeValue(v)}. Pass e.g. { ${name}: ${example} }.`)
  }
  return v
}

const stringList = (name: string, v: unknown, example: string, check?: (entry: string) => string | undefined): string[] => {
  if (!Array.isArray(v)) {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be an array of non-empty strings; got ${describeValue(v)}. Pass e.g. { allow: { ${name.split('.')[1]}: ${example} } }.`)
  }
  v.forEach((e: unknown, i) => {
    const problem = typeof e !== 'string' || e.trim() === '' ? `is ${describeValue(e)}, not a non-empty string` : check?.(e)
    if (problem !== undefined) {
      throw new CleanupConfigError(`${OWNER}: option '${name}[${i}]' ${problem}. Pass e.g. { allow: { ${name.split('.')[1]}: ${example} } }.`)
    }
  })
  return v as string[]
}

// What S3 and DynamoDB accept as names: an entry that can never match would make
// every declaration throw later, far from the typo.
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const TABLE = /^[A-Za-z0-9_.-]{3,255}$/
const checkS3Entry = (e: string): string | undefined => {
  if (/^s3:\/\//i.test(e) || e.startsWith('arn:')) return `is ${JSON.stringify(e)}: write 'bucket' or 'bucket/prefix', without s3:// or an ARN`
  const bucket = e.split('/')[0]!
  if (!S3_BUCKET.test(bucket)) return `is ${JSON.stringify(e)}: '${bucket}' is not an S3 bucket name (3–63 characters: a-z, 0-9, '.', '-')`
  return undefined
}
const checkTableEntry = (e: string): string | undefined =>
  TABLE.test(e) ? undefined : `is ${JSON.stringify(e)}: not a DynamoDB table name (3–255 characters: A-Z, a-z, 0-9, '_', '-', '.'; no ARN)`

const client = (name: 's3' | 'dynamodb', v: unknown): SdkClientLike | undefined => {
  if (v === undefined) return undefined
  const example = name === 's3' ? 'S3Client' : 'DynamoDBClient'
  if (typeof v !== 'object' || v === null || typeof (v as SdkClientLike).send !== 'function') {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be an AWS SDK v3 client (an object with send()); got ${describeValue(v)}. Pass e.g. { ${name}: new ${example}({}) }.`)
  }
  // The other service's client would only fail at cleanup time, on every delete.
  const ctor = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  if (typeof ctor === 'string' && (name === 's3' ? /^DynamoDB/.test(ctor) : /^S3/.test(ctor))) {
    throw new CleanupConfigError(`${OWNER}: option '${name}' got a ${ctor}; it needs ${name === 's3' ? 'an S3Client' : 'a DynamoDBClient or DynamoDBDocumentClient'}. Pass e.g. { ${name}: new ${example}({}) }.`)
  }
  return v as SdkClientLike
}

interface Allow { paths: string[], s3: string[] | undefined, dynamodb: string[] | undefined }

const resolveAllow = (v: unknown): Allow => {
  const allow: Allow = { paths: [tmpdir()], s3: undefined, dynamodb: undefined }
  if (v === undefined) return allow
  if (!isRecord(v)) {
    throw new CleanupConfigError(`${OWNER}: option 'allow' must be an object like { paths: ['/tmp'], s3: ['bucket/prefix/'], dynamodb: ['Table'] }; got ${describeValue(v)}.`)
  }
  const key = unknownKey(v, KNOWN_ALLOW)
  if (key !== undefined) throw new CleanupConfigError(unknownKeyMessage(OWNER, key, KNOWN_ALLOW, 'allow.'))
  if (v.paths !== undefined) allow.paths = stringList('allow.paths', v.paths, "['/tmp']")
  if (v.s3 !== undefined) allow.s3 = stringList('allow.s3', v.s3, "['scratch-bucket/tmp/']", checkS3Entry)
  if (v.dynamodb !== undefined) allow.dynamodb = stringList('allow.dynamodb', v.dynamodb, "['Scratch']", checkTableEntry)
  return allow
}

const onReportOf = (v: unknown): ResolvedOptions['onReport'] => {
  if (v !== undefined && typeof v !== 'function') {
    throw new CleanupConfigError(`${OWNER}: option 'onReport' must be a function; got ${describeValue(v)}. Pass e.g. { onReport: (report) => console.log(report) }.`)
  }
  return v as ResolvedOptions['onReport']
}

const failOnCleanupErrorOf = (v: unknown): boolean => {
  if (v !== undefined && typeof v !== 'boolean') {
    throw new CleanupConfigError(`${OWNER}: option 'failOnCleanupError' must be a boolean; got ${describeValue(v)}. Pass { failOnCleanupError: true } or leave it out.`)
  }
  return v === true
}

const frozen = <T>(list: T[] | undefined): readonly T[] | undefined => list === undefined ? undefined : Object.freeze([...list])

/**
 * Validates `cleanup()` / `new CleanupScope()` options once and returns them resolved
 * (defaults filled in, allow-list roots made real, `detectLeaks` validated by its own
 * module). A resolved object is returned as is. Throws {@link CleanupConfigError}
 * naming the option and the fix: an unknown key (with the closest known one), a wrong type.
 *
 * @example
 * ```ts
 * const config = resolveOptions({ timeoutMs: 1000, allow: { s3: ['scratch-bucket/tmp/'] } })
 * config.allowS3 // ['scratch-bucket/tmp/']
 * ```
 */
export const resolveOptions = (options: unknown): ResolvedOptions => {
  if (isResolved(options)) return options
  if (options === undefined) options = {}
  if (!isRecord(options)) {
    throw new CleanupConfigError(`${OWNER}: options must be an object; got ${describeValue(options)}. Call cleanup() or cleanup({ timeoutMs: 2000 }).`)
  }
  const o = options
  const key = unknownKey(o, KNOWN)
  if (key !== undefined) throw new CleanupConfigError(unknownKeyMessage(OWNER, key, KNOWN))
  const timeoutMs = o.timeoutMs === undefined ? defaults.timeoutMs : milliseconds('timeoutMs', o.timeoutMs, '2000', false)
  const safetyMarginMs = o.safetyMarginMs === undefined ? defaults.safetyMarginMs : milliseconds('safetyMarginMs', o.safetyMarginMs, '50', true)
  const logger = resolveLogger(o.logger, OWNER)
  const onReport = onReportOf(o.onReport)
  const failOnCleanupError = failOnCleanupErrorOf(o.failOnCleanupError)
  const allow = resolveAllow(o.allow)
  const s3 = client('s3', o.s3)
  const dynamodb = client('dynamodb', o.dynamodb)
  // allow.paths rules (absolute, not the file system root, resolvable) are files.ts's.
  const allowPaths = checkAllowedRoots(allow.paths, OWNER)
  const detectLeaks = o.detectLeaks === undefined ? undefined : resolveLeakOptions(o.detectLeaks)
  const config = {
    timeoutMs, safetyMarginMs, logger, onReport, failOnCleanupError,
    allowPaths: frozen(allowPaths)!, allowS3: frozen(allow.s3), allowDynamodb: frozen(allow.dynamodb),
    s3, dynamodb, detectLeaks,
  }
  resolved.add(config)
  return Object.freeze(config) as ResolvedOptions
}
