// The S3 object kind: declarations by putObject, and the kind object the scope tracks
// them with (its batched deleter, s3-delete.ts, and its journal codec). The SDK's types
// only inside this module: a project without @aws-sdk/client-s3 type-checks against
// this package's .d.ts files.
import type { PutObjectCommandInput } from '@aws-sdk/client-s3'
import type { ResponseMetadata, SdkClientLike } from './aws-send.js'
import { clientId } from './client-id.js'
import { CleanupDeclarationError } from './errors.js'
import { batchDeleter } from './remote-batch.js'
import type { JournalCodec, RemoteKind } from './remote-kind.js'
import { s3Batch } from './s3-delete.js'
import { type S3Config, type S3Resource, loadS3Sdk, s3Resource } from './s3-object.js'
import { rejectUnknownKeys, shown, typeOf } from './validation.js'

export { type S3Config, type S3ObjectTarget, type S3Resource, S3DeleteError, s3Allowed, s3Id, s3Resource } from './s3-object.js'
export { deleteS3Objects } from './s3-delete.js'

/**
 * Options of `scope.putObject(input, options)`.
 *
 * @example
 * ```ts
 * await context.cleanup.putObject(
 *   { Bucket: 'scratch-bucket', Key: `tmp/${context.awsRequestId}.jpg`, Body },
 *   { tags: true, verify: true }, // tagged middy-cleanup=temp; deleted only if still ours
 * )
 * ```
 */
export interface PutObjectOptions {
  /** Client for this write; default: the `s3` option of `cleanup()`. */
  client?: SdkClientLike
  /**
   * Ownership check: delete with `If-Match` of the ETag this put returned, so an
   * object someone overwrote since is left alone (reported in `failed`). One
   * DeleteObject per object instead of a batch. Needs a server that supports
   * conditional deletes (AWS S3 since 2025-09, moto; see docs/aws-resources.md).
   * @default false
   */
  verify?: boolean
  /**
   * Object tags, so a lifecycle rule can expire what a killed process left
   * behind. `true` adds {@link TEMP_TAG} (`middy-cleanup=temp`). Merged into
   * `input.Tagging`.
   */
  tags?: true | Record<string, string>
}

/**
 * Input of `scope.putObject`: PutObject's input as the AWS SDK types it
 * (`PutObjectCommandInput`), of which cleanup reads `Bucket`, `Key` and
 * `Tagging`; every other field goes to `PutObjectCommand` unchanged. Written out
 * structurally so this package's declarations import no optional peer: an
 * input typed with the SDK's `PutObjectCommandInput` is accepted as it is.
 *
 * @example
 * ```ts
 * import type { PutObjectCommandInput } from '@aws-sdk/client-s3'
 * const input: PutObjectCommandInput = { Bucket: 'scratch-bucket', Key: `tmp/${id}.jpg`, Body, ContentType: 'image/jpeg' }
 * await context.cleanup.putObject(input)
 * ```
 */
export interface PutObjectInput {
  Bucket: string | undefined
  Key: string | undefined
  /** URL-encoded tags (`a=1&b=2`); `putObject(input, { tags })` appends to it. */
  Tagging?: string | undefined
  /** `Body`, `ContentType`, `IfNoneMatch`…: any other field of the SDK's PutObject input, sent unchanged. */
  [field: string]: any
}

/**
 * Output of `scope.putObject`: what the S3 client's PutObject returned (the SDK's
 * `PutObjectCommandOutput`). The fields cleanup reads are typed here; assign it
 * to the SDK's type for the others.
 *
 * @example
 * ```ts
 * import type { PutObjectCommandOutput } from '@aws-sdk/client-s3'
 * const out: PutObjectCommandOutput = await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key, Body })
 * console.log(out.ETag, out.VersionId, out.ServerSideEncryption)
 * ```
 */
export interface PutObjectOutput {
  ETag?: string | undefined
  VersionId?: string | undefined
  $metadata: ResponseMetadata
}

/**
 * The tag `putObject(input, { tags: true })` adds; match it in a lifecycle rule.
 *
 * @example
 * ```ts
 * // AWS CDK: expire tagged temp objects a killed process left behind
 * scratchBucket.addLifecycleRule({ tagFilters: TEMP_TAG, expiration: Duration.days(1) })
 * ```
 */
export const TEMP_TAG: Readonly<Record<string, string>> = Object.freeze({ 'middy-cleanup': 'temp' })

/** Keys of `putObject(input, options)`'s options. */
const PUT_OBJECT_OPTION_KEYS = ['client', 'verify', 'tags'] as const

// putObject resources of each scope by client+bucket+key: writing one key twice in an
// invocation tracks it once, and on a versioned bucket collects every version written.
const putByScope = new WeakMap<object, Map<string, S3Resource>>()

const encodeTags = (tags: Record<string, string>): string =>
  Object.entries(tags).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')

/**
 * Adds tags (`true`: {@link TEMP_TAG}) to a PutObject input's `Tagging` query string.
 *
 * @example
 * ```ts
 * withTags({ Bucket: 'b', Key: 'k', Tagging: 'a=1' }, true).Tagging // 'a=1&middy-cleanup=temp'
 * ```
 */
export const withTags = <I extends PutObjectInput>(input: I, tags: PutObjectOptions['tags']): I => {
  if (tags === undefined) return input
  if (tags !== true && (typeof tags !== 'object' || tags === null || Array.isArray(tags) || Object.values(tags).some((v) => typeof v !== 'string'))) {
    throw new CleanupDeclarationError(`cleanup: putObject(input, { tags }) must be true or an object of string values like { 'middy-cleanup': 'temp' }; got ${shown(tags)}.`)
  }
  const extra = encodeTags(tags === true ? TEMP_TAG : tags)
  if (extra === '') return input
  return { ...input, Tagging: input.Tagging === undefined || input.Tagging === '' ? extra : `${input.Tagging}&${extra}` }
}

/**
 * Sends PutObject with the scope's client and tracks the object. The object is
 * tracked *before* the request is sent, so a write interrupted half-way is still
 * deleted. Returns PutObject's output.
 *
 * @example
 * ```ts
 * const out = await putS3Object(scope, (r) => scope.trackRemote(s3Deleter, r), scope.config, { Bucket: 'b', Key: 'tmp/a', Body }, { verify: true })
 * ```
 */
export const putS3Object = async (
  owner: { readonly state: string }, track: (resource: S3Resource) => void, config: S3Config,
  input: PutObjectInput, options: PutObjectOptions = {},
): Promise<PutObjectOutput> => {
  if (typeof input !== 'object' || input === null) {
    throw new CleanupDeclarationError(`cleanup: putObject() needs a PutObject input like { Bucket: 'scratch-bucket', Key: 'tmp/x.jpg', Body }; got ${typeOf(input)}.`)
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupDeclarationError(`cleanup: putObject(input, options) options must be an object like { tags: true, verify: true }; got ${typeOf(options)}.`)
  }
  rejectUnknownKeys(options, PUT_OBJECT_OPTION_KEYS, (k) => `putObject(input, { ${k} })`, (m) => new CleanupDeclarationError(m))
  if (options.verify !== undefined && typeof options.verify !== 'boolean') {
    throw new CleanupDeclarationError(`cleanup: putObject(input, { verify }) must be a boolean (true: delete only if the object still has the ETag this put returned); got ${shown(options.verify)}.`)
  }
  const fresh = s3Resource('putObject', { bucket: input.Bucket, key: input.Key, client: options.client }, config, { bucket: 'Bucket', key: 'Key' })
  const sendInput = withTags(input, options.tags)
  const { PutObjectCommand } = await loadS3Sdk()
  // Same key written again while the scope is active: one resource (deleted once), all its versions.
  // Once disposal has begun, a new resource: it goes to the leftovers list on its own.
  let byKey = putByScope.get(owner)
  if (byKey === undefined) putByScope.set(owner, byKey = new Map())
  const k = `${clientId(fresh.client)}\0${fresh.bucket}\0${fresh.key}`
  const known = byKey.get(k)
  const resource = owner.state === 'active' && known !== undefined && !known.done ? known : fresh
  if (options.verify === true) resource.unverified = true
  if (resource === fresh) {
    byKey.set(k, fresh)
    track(fresh)
  }
  let output: PutObjectOutput
  try {
    output = await resource.client.send(new PutObjectCommand(sendInput as PutObjectCommandInput)) as PutObjectOutput
  } catch (error) {
    // A conditional write (IfNoneMatch / IfMatch) that failed wrote nothing: the
    // object there is someone else's — unless an earlier put of this scope wrote it.
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    if (resource === fresh && (status === 412 || (error as Error).name === 'PreconditionFailed')) resource.done = true
    throw error
  }
  if (typeof output.VersionId === 'string' && output.VersionId !== '' && output.VersionId !== 'null') {
    // Versioned bucket: delete exactly the versions written (no delete marker left behind).
    if (!resource.versionIds.includes(output.VersionId)) resource.versionIds.push(output.VersionId)
  }
  if (options.verify === true && typeof output.ETag === 'string') {
    resource.etag = output.ETag
    resource.unverified = false
  }
  return output
}

/** A journal line's fields of an S3 object (`{"kind":"s3","bucket","key","versionIds"}`). */
type S3JournalEntry = { bucket: string, key: string, versionIds: string[] }

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''

/**
 * How S3 objects are journaled: bucket, key and the versions written; replayed only
 * under a configured `allow.s3`, through the declaration checks of today's config.
 *
 * @example
 * ```ts
 * s3Journal.encode(r) // { bucket: 'scratch-bucket', key: 'tmp/a', versionIds: [] }
 * ```
 */
export const s3Journal: JournalCodec<S3Resource, S3Config> = {
  encode: (r) => ({ bucket: r.bucket, key: r.key, versionIds: r.versionIds }),
  line: (r) => `{"kind":${JSON.stringify(r.kind)},"bucket":${JSON.stringify(r.bucket)},"key":${JSON.stringify(r.key)},"versionIds":${r.versionIds.length === 0 ? '[]' : JSON.stringify(r.versionIds)}}`,
  parse: (f): S3JournalEntry | undefined => {
    if (!Object.keys(f).every((k) => k === 'bucket' || k === 'key' || k === 'versionIds')) return undefined
    if (!nonEmpty(f.bucket) || !nonEmpty(f.key) || !Array.isArray(f.versionIds) || !f.versionIds.every(nonEmpty)) return undefined
    return { bucket: f.bucket, key: f.key, versionIds: [...f.versionIds as string[]] }
  },
  allowList: 'allow.s3',
  configured: (config) => config.allowS3 !== undefined,
  revive: (e: S3JournalEntry, config) => {
    const r = s3Resource('journal', { bucket: e.bucket, key: e.key }, config)
    r.versionIds.push(...e.versionIds)
    return r
  },
  show: (e: S3JournalEntry) => `s3://${e.bucket}/${e.key}`,
}

/**
 * The S3 object kind the scope tracks objects with: one per process, so every S3
 * object of a cleanup reaches its deleter in one call and is batched.
 *
 * @example
 * ```ts
 * scope.trackRemote(s3Deleter, s3Resource('s3Object', { bucket: 'scratch-bucket', key: 'tmp/a' }, config))
 * ```
 */
export const s3Deleter: RemoteKind<S3Resource, S3Config> & { readonly journal: JournalCodec<S3Resource, S3Config> } = { ...batchDeleter('s3', s3Batch), journal: s3Journal }
