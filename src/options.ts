import { tmpdir } from 'node:os'
import { CleanupConfigError } from './errors.js'
import { checkAllowedRoots } from './files.js'
import { type Logger, resolveLogger } from './logger.js'
import type { CleanupReport } from './report.js'

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
  /** Where warnings (what could not be cleaned, where it was left) go. @default console */
  logger?: Logger
  /** Called with the report of every cleanup (errors it throws are logged, never rethrown). */
  onReport?: (report: CleanupReport) => void | Promise<void>
  /** Fail a successful invocation (throw {@link CleanupError} from `after`) when something could not be cleaned. The handler's own error always stays primary. @default false */
  failOnCleanupError?: boolean
  /** What cleanup may delete. */
  allow?: AllowOptions
  /** S3 client used by `putObject` / `s3Object` when no per-declaration client is given. */
  s3?: SdkClientLike
  /** DynamoDB client (`DynamoDBClient` or `DynamoDBDocumentClient`) used by `putItem` / `dynamoItem`. */
  dynamodb?: SdkClientLike
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

/** Options after validation; built once per `cleanup()` call, shared by its invocations. */
export class ResolvedOptions {
  constructor (
    readonly timeoutMs: number,
    readonly safetyMarginMs: number,
    readonly logger: Logger,
    readonly onReport: ((report: CleanupReport) => void | Promise<void>) | undefined,
    readonly failOnCleanupError: boolean,
    readonly allowPaths: readonly string[],
    readonly allowS3: readonly string[] | undefined,
    readonly allowDynamodb: readonly string[] | undefined,
    readonly s3: SdkClientLike | undefined,
    readonly dynamodb: SdkClientLike | undefined,
    /** options added by later features (e.g. detectLeaks), validated by their own modules */
    readonly extra: Readonly<Record<string, unknown>>,
  ) {}
}

export const defaults = {
  timeoutMs: 2000,
  safetyMarginMs: 50,
  failOnCleanupError: false,
} as const

const OWNER = 'cleanup'
const KNOWN = new Set(['timeoutMs', 'safetyMarginMs', 'logger', 'onReport', 'failOnCleanupError', 'allow', 's3', 'dynamodb'])
const KNOWN_ALLOW = new Set(['paths', 's3', 'dynamodb'])

/** Keys (and their validators) that other modules add, e.g. `detectLeaks`. */
export const extraOptionValidators = new Map<string, (value: unknown) => unknown>()

const typeOf = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v

const nonNegativeInt = (name: string, v: unknown, example: string, allowZero: boolean): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (!allowZero && v === 0)) {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be a ${allowZero ? 'non-negative' : 'positive'} integer number of milliseconds; got ${typeOf(v) === 'number' ? String(v) : typeOf(v)}. Pass e.g. { ${name}: ${example} }.`)
  }
  return v
}

const stringList = (name: string, v: unknown, example: string): string[] => {
  if (!Array.isArray(v) || v.some((e) => typeof e !== 'string' || e.trim() === '')) {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be an array of non-empty strings; got ${typeOf(v)}. Pass e.g. { allow: { ${name.split('.')[1]}: ${example} } }.`)
  }
  return v as string[]
}

const client = (name: string, v: unknown): SdkClientLike | undefined => {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || typeof (v as SdkClientLike).send !== 'function') {
    throw new CleanupConfigError(`${OWNER}: option '${name}' must be an AWS SDK v3 client (an object with send()); got ${typeOf(v)}. Pass e.g. { ${name}: new ${name === 's3' ? 'S3Client' : 'DynamoDBClient'}({}) }.`)
  }
  return v as SdkClientLike
}

export const resolveOptions = (options: unknown): ResolvedOptions => {
  if (options instanceof ResolvedOptions) return options
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupConfigError(`${OWNER}: options must be an object; got ${typeOf(options)}. Call cleanup() or cleanup({ timeoutMs: 2000 }).`)
  }
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key) && !extraOptionValidators.has(key)) {
      throw new CleanupConfigError(`${OWNER}: unknown option '${key}'. Known options: ${[...KNOWN, ...extraOptionValidators.keys()].join(', ')}. Check the spelling.`)
    }
  }
  const timeoutMs = o.timeoutMs === undefined ? defaults.timeoutMs : nonNegativeInt('timeoutMs', o.timeoutMs, '2000', false)
  const safetyMarginMs = o.safetyMarginMs === undefined ? defaults.safetyMarginMs : nonNegativeInt('safetyMarginMs', o.safetyMarginMs, '50', true)
  const logger = resolveLogger(o.logger, OWNER)
  if (o.onReport !== undefined && typeof o.onReport !== 'function') {
    throw new CleanupConfigError(`${OWNER}: option 'onReport' must be a function; got ${typeOf(o.onReport)}. Pass e.g. { onReport: (report) => console.log(report) }.`)
  }
  if (o.failOnCleanupError !== undefined && typeof o.failOnCleanupError !== 'boolean') {
    throw new CleanupConfigError(`${OWNER}: option 'failOnCleanupError' must be a boolean; got ${typeOf(o.failOnCleanupError)}. Pass { failOnCleanupError: true } or leave it out.`)
  }
  let allowPaths: string[] = [tmpdir()]
  let allowS3: string[] | undefined
  let allowDynamodb: string[] | undefined
  if (o.allow !== undefined) {
    if (typeof o.allow !== 'object' || o.allow === null || Array.isArray(o.allow)) {
      throw new CleanupConfigError(`${OWNER}: option 'allow' must be an object like { paths: ['/tmp'], s3: ['bucket/prefix/'], dynamodb: ['Table'] }; got ${typeOf(o.allow)}.`)
    }
    const a = o.allow as Record<string, unknown>
    for (const key of Object.keys(a)) {
      if (!KNOWN_ALLOW.has(key)) throw new CleanupConfigError(`${OWNER}: unknown option 'allow.${key}'. Known: allow.paths, allow.s3, allow.dynamodb.`)
    }
    if (a.paths !== undefined) allowPaths = stringList('allow.paths', a.paths, "['/tmp']")
    if (a.s3 !== undefined) allowS3 = stringList('allow.s3', a.s3, "['scratch-bucket/tmp/']")
    if (a.dynamodb !== undefined) allowDynamodb = stringList('allow.dynamodb', a.dynamodb, "['Scratch']")
  }
  const extra: Record<string, unknown> = {}
  for (const [key, validate] of extraOptionValidators) {
    if (o[key] !== undefined) extra[key] = validate(o[key])
  }
  return new ResolvedOptions(
    timeoutMs, safetyMarginMs, logger, o.onReport as ResolvedOptions['onReport'],
    o.failOnCleanupError === true, checkAllowedRoots(allowPaths), allowS3, allowDynamodb,
    client('s3', o.s3), client('dynamodb', o.dynamodb), extra,
  )
}
