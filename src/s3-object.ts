// What an S3 object declaration is: the tracked resource, its checks, its errors.
// Shared by the declarations (s3.ts), the batch sender (s3-delete.ts) and F's multipart kind.
import { RemoteDeleteError } from './aws-failure.js'
import { type SdkClientLike, isClient, lazy } from './aws-send.js'
import { CleanupDeclarationError } from './errors.js'
import type { RemoteResource } from './scope-items.js'
import { rejectUnknownKeys, shown, typeOf } from './validation.js'

/**
 * @internal
 * The S3 SDK (an optional peer), loaded on first use, once per process.
 *
 * @example
 * ```ts
 * const { DeleteObjectsCommand } = await loadS3Sdk()
 * ```
 */
export const loadS3Sdk = lazy(() => import('@aws-sdk/client-s3'))

/**
 * A temp S3 object to delete on cleanup (`scope.s3Object(...)`).
 *
 * @example
 * ```ts
 * context.cleanup.s3Object({ bucket: 'scratch-bucket', key: `tmp/${context.awsRequestId}.jpg` })
 * ```
 */
export interface S3ObjectTarget {
  bucket: string
  key: string
  /** Deletes exactly this version (versioned buckets) instead of adding a delete marker. */
  versionId?: string
  /** ETag the object had when you wrote it: it is deleted only if it still has it (`If-Match`). */
  etag?: string
  /** Client for this object; default: the `s3` option of `cleanup()`. */
  client?: SdkClientLike
}

/**
 * An S3 object as the deleter tracks it.
 *
 * @example
 * ```ts
 * const r: S3Resource = s3Resource('s3Object', { bucket: 'b', key: 'tmp/a' }, config)
 * ```
 */
export interface S3Resource extends RemoteResource {
  readonly kind: 's3'
  readonly client: SdkClientLike
  readonly bucket: string
  readonly key: string
  /** versions to delete (versioned buckets); empty: delete the key (a delete marker if versioned) */
  readonly versionIds: string[]
  /** ETag to delete with `If-Match` (unversioned deletes only: a version id is already exact) */
  etag: string | undefined
  /** `verify` asked for, but the put never returned an ETag: ownership cannot be checked. */
  unverified: boolean
  /** set once deleted: a retry from the leftovers list does not send it again */
  done: boolean
}

/**
 * Why an S3 object was not deleted (per-key error, conditional delete refused, a
 * request the SDK gave up on, …). In the report it is plain JSON:
 * `report.failed[].error` is `{ name: 'S3DeleteError', message, code }`, `code`
 * being S3's error code (`AccessDenied`, `SlowDown`, …).
 *
 * @example
 * ```ts
 * cleanup({
 *   onReport: (r) => {
 *     for (const f of r.failed) {
 *       if (f.error.name === 'S3DeleteError' && f.error.code === 'AccessDenied') console.error(`grant s3:DeleteObject for ${f.id}`)
 *     }
 *   },
 * })
 * ```
 */
export class S3DeleteError extends RemoteDeleteError {
  override name = 'S3DeleteError'
}

/**
 * One entry of `allow.s3`: `'bucket'` → that exact bucket; `'bucket/prefix'` → keys
 * of that bucket starting with prefix.
 *
 * @example
 * ```ts
 * parseS3Allow(['scratch-bucket/tmp/']) // [{ bucket: 'scratch-bucket', prefix: 'tmp/' }]
 * ```
 */
export interface S3AllowEntry { bucket: string, prefix: string | undefined }

/**
 * Parses `allow.s3` entries.
 *
 * @example
 * ```ts
 * parseS3Allow(['a', 'b/tmp/']) // [{ bucket: 'a', prefix: undefined }, { bucket: 'b', prefix: 'tmp/' }]
 * ```
 */
export const parseS3Allow = (list: readonly string[]): S3AllowEntry[] => list.map((entry) => {
  const slash = entry.indexOf('/')
  return slash === -1 ? { bucket: entry, prefix: undefined } : { bucket: entry.slice(0, slash), prefix: entry.slice(slash + 1) }
})

/** Prefixes allowed per bucket (undefined: the whole bucket). */
type AllowIndex = Map<string, Array<string | undefined>>
// Parsed once per config, not once per declaration: an invocation declares against one
// list. A list that is not frozen could change under us, so it is checked entry by entry
// (a few strings) against the copy it was parsed from.
let parsedFrom: readonly string[] | undefined
let parsedCopy: readonly string[] = []
let parsed: AllowIndex = new Map()
const unchanged = (allow: readonly string[]): boolean =>
  Object.isFrozen(allow) || (allow.length === parsedCopy.length && allow.every((e, i) => e === parsedCopy[i]))
const allowIndexOf = (allow: readonly string[]): AllowIndex => {
  if (allow === parsedFrom && unchanged(allow)) return parsed
  const index: AllowIndex = new Map()
  for (const { bucket, prefix } of parseS3Allow(allow)) {
    const prefixes = index.get(bucket)
    if (prefixes === undefined) index.set(bucket, [prefix])
    else prefixes.push(prefix)
  }
  parsedFrom = allow
  parsedCopy = [...allow]
  parsed = index
  return index
}

/**
 * True when `bucket`/`key` is inside one of the `allow.s3` entries (no list: everything is).
 *
 * @example
 * ```ts
 * s3Allowed(['scratch-bucket/tmp/'], 'scratch-bucket', 'tmp/a.jpg') // true
 * s3Allowed(['scratch-bucket/tmp/'], 'scratch-bucket', 'data/a.jpg') // false
 * ```
 */
export const s3Allowed = (allow: readonly string[] | undefined, bucket: string, key: string): boolean => {
  if (allow === undefined) return true
  const prefixes = allowIndexOf(allow).get(bucket)
  return prefixes !== undefined && prefixes.some((prefix) => prefix === undefined || key.startsWith(prefix))
}

/** Keys of an `s3Object()` target; anything else is refused (a misspelt `versionId` would delete the current version). */
const S3_TARGET_KEYS = ['bucket', 'key', 'versionId', 'etag', 'client'] as const
const S3_TARGET_KEY_SET: ReadonlySet<string> = new Set(S3_TARGET_KEYS)

// The common case costs no closure or array per declaration: the message is built only for a bad key.
const hasUnknownKey = (t: object, known: ReadonlySet<string>): boolean => {
  for (const k of Object.keys(t)) if (!known.has(k)) return true
  return false
}

/**
 * The id of an S3 object (and of a version of it), as reports show it.
 *
 * @example
 * ```ts
 * s3Id('b', 'tmp/a') // 's3://b/tmp/a'; s3Id('b', 'tmp/a', 'v1') // 's3://b/tmp/a?versionId=v1'
 * ```
 */
export const s3Id = (bucket: string, key: string, versionId?: string): string =>
  `s3://${bucket}/${key}${versionId === undefined ? '' : `?versionId=${versionId}`}`

/**
 * What an S3 declaration reads of the resolved options.
 *
 * @example
 * ```ts
 * const config: S3Config = { s3: new S3Client({}), allowS3: ['scratch-bucket/tmp/'] }
 * ```
 */
export interface S3Config { s3?: SdkClientLike | undefined, allowS3?: readonly string[] | undefined }

/** How a message names the bucket and key fields (`putObject` says Bucket and Key). */
const TARGET_NAMES: Readonly<{ bucket: string, key: string }> = Object.freeze({ bucket: 'bucket', key: 'key' })

/**
 * Validates a declaration and builds the tracked resource. Throws
 * {@link CleanupDeclarationError} now — never at cleanup time — for malformed
 * input, a missing client or a target outside `allow.s3`.
 *
 * @example
 * ```ts
 * const r = s3Resource('s3Object', { bucket: 'scratch-bucket', key: 'tmp/a' }, config)
 * r.id // 's3://scratch-bucket/tmp/a'
 * ```
 */
export const s3Resource = (method: string, target: unknown, config: S3Config, names = TARGET_NAMES): S3Resource => {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() needs an object like { bucket: 'scratch-bucket', key: 'tmp/x.jpg' }; got ${typeOf(target)}.`)
  }
  const t = target as Record<string, unknown>
  if (hasUnknownKey(t, S3_TARGET_KEY_SET)) rejectUnknownKeys(t, S3_TARGET_KEYS, (k) => `${method}({ ${k} })`, (m) => new CleanupDeclarationError(m))
  const { bucket, key, versionId, etag } = t
  if (typeof bucket !== 'string' || bucket === '' || bucket.includes('/')) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ ${names.bucket} }) must be a non-empty bucket name without '/'; got ${shown(bucket)}. Pass e.g. { ${names.bucket}: 'scratch-bucket', ${names.key}: 'tmp/x.jpg' }.`)
  }
  if (typeof key !== 'string' || key === '') {
    throw new CleanupDeclarationError(`cleanup: ${method}({ ${names.key} }) must be a non-empty string; got ${shown(key)}. Pass e.g. { ${names.bucket}: '${bucket}', ${names.key}: 'tmp/x.jpg' }.`)
  }
  if (versionId !== undefined && (typeof versionId !== 'string' || versionId === '')) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ versionId }) must be a non-empty string when given (the VersionId PutObject returned); got ${shown(versionId)}.`)
  }
  if (etag !== undefined && (typeof etag !== 'string' || etag === '')) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ etag }) must be a non-empty string when given (the ETag PutObject returned); got ${shown(etag)}.`)
  }
  const client = t.client ?? config.s3
  if (t.client !== undefined && !isClient(t.client)) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ client }) must be an AWS SDK v3 S3Client (an object with send()); got ${typeOf(t.client)}.`)
  }
  if (!isClient(client)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() has no S3 client to delete s3://${bucket}/${key} with. Pass one once, cleanup({ s3: new S3Client({}) }), or per call, ${method}({ ..., client }).`)
  }
  if (!s3Allowed(config.allowS3, bucket, key)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() refused s3://${bucket}/${key}: it is outside allow.s3 [${(config.allowS3 ?? []).map((e) => `'${e}'`).join(', ')}]. Add '${bucket}' or '${bucket}/<prefix>' to allow.s3, or use a key under an allowed prefix.`)
  }
  return {
    kind: 's3', id: s3Id(bucket, key, versionId as string | undefined), client, bucket, key,
    versionIds: versionId === undefined ? [] : [versionId as string], etag: etag as string | undefined, unverified: false, done: false,
  }
}

