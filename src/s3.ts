// The SDK's types only inside this module (they are not part of its declarations): a
// project without @aws-sdk/client-s3 type-checks against this package's .d.ts files.
import type { PutObjectCommandInput } from '@aws-sdk/client-s3'
import {
  DEFAULT_CONCURRENCY, type ResponseMetadata, type SendClient, backoffWithin, chunk, clientId, describeRequestFailure, isAbort, isClient,
  isRetryable, isRetryableCode, pool, rejectUnknownKeys, sendCounted, shown, typeOf,
} from './aws-retry.js'
import { CleanupDeadlineError, CleanupDeclarationError } from './errors.js'
import type { Logger } from './logger.js'
import type { DeleteContext, DeleteOutcome, RemoteDeleter, RemoteResource } from './tracked.js'

// Optional peers, loaded on first use (importing middy-cleanup must work without them)
// and once per process: a dynamic import() costs ~0.7 ms each time under loader hooks.
let loadS3SdkPromise: Promise<typeof import('@aws-sdk/client-s3')> | undefined
const loadS3Sdk = (): Promise<typeof import('@aws-sdk/client-s3')> => (loadS3SdkPromise ??= import('@aws-sdk/client-s3'))

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
  client?: SendClient
}

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
  client?: SendClient
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

/** @internal An S3 object as the deleter tracks it. */
export interface S3Resource extends RemoteResource {
  readonly kind: 's3'
  readonly client: SendClient
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
export class S3DeleteError extends Error {
  override name = 'S3DeleteError'
  readonly code: string | undefined
  constructor (message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** `'bucket'` → that exact bucket; `'bucket/prefix'` → keys of that bucket starting with prefix. */
export interface S3AllowEntry { bucket: string, prefix: string | undefined }

export const parseS3Allow = (list: readonly string[]): S3AllowEntry[] => list.map((entry) => {
  const slash = entry.indexOf('/')
  return slash === -1 ? { bucket: entry, prefix: undefined } : { bucket: entry.slice(0, slash), prefix: entry.slice(slash + 1) }
})

/** True when `bucket`/`key` is inside one of the entries (no entries list: everything is). */
export const s3Allowed = (allow: readonly string[] | undefined, bucket: string, key: string): boolean => {
  if (allow === undefined) return true
  return parseS3Allow(allow).some((e) => e.bucket === bucket && (e.prefix === undefined || key.startsWith(e.prefix)))
}

/** Keys of an `s3Object()` target; anything else is refused (a misspelt `versionId` would delete the current version). */
const S3_TARGET_KEYS = ['bucket', 'key', 'versionId', 'etag', 'client'] as const
/** Keys of `putObject(input, options)`'s options. */
const PUT_OBJECT_OPTION_KEYS = ['client', 'verify', 'tags'] as const

export const s3Id = (bucket: string, key: string, versionId?: string): string =>
  `s3://${bucket}/${key}${versionId === undefined ? '' : `?versionId=${versionId}`}`

interface S3Config { s3?: SendClient | undefined, allowS3?: readonly string[] | undefined }

/**
 * Validates a declaration and builds the tracked resource. Throws
 * {@link CleanupDeclarationError} now — never at cleanup time — for malformed
 * input, a missing client or a target outside `allow.s3`.
 */
export const s3Resource = (
  method: string, target: unknown, config: S3Config,
  names: { bucket: string, key: string } = { bucket: 'bucket', key: 'key' },
): S3Resource => {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() needs an object like { bucket: 'scratch-bucket', key: 'tmp/x.jpg' }; got ${typeOf(target)}.`)
  }
  const t = target as Record<string, unknown>
  rejectUnknownKeys(t, S3_TARGET_KEYS, (k) => `${method}({ ${k} })`, (m) => new CleanupDeclarationError(m))
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

// putObject resources of each scope by client+bucket+key: writing one key twice in an
// invocation tracks it once, and on a versioned bucket collects every version written.
const putByScope = new WeakMap<object, Map<string, S3Resource>>()

const encodeTags = (tags: Record<string, string>): string =>
  Object.entries(tags).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')

/** Adds tags (`true`: {@link TEMP_TAG}) to a PutObject input's `Tagging` query string. */
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

/** Options of {@link deleteS3Objects}. */
export interface DeleteS3Options {
  /** the cleanup budget's signal, passed to every `send()` */
  signal: AbortSignal
  /** the cleanup budget: `sleep` paces the per-key retries and ends with it */
  deadline: { remainingMs: () => number, sleep: (ms: number) => Promise<void> }
  /** called with 1 as each HTTP attempt goes out (the SDK's retries included) */
  countRequests: (n: number) => void
  logger?: Logger
  /** requests in flight at once, across buckets @default 8 */
  concurrency?: number
  /** jitter of the per-key retry backoff, in [0, 1) @default Math.random */
  random?: () => number
}

/**
 * Deletes S3 objects in batches: grouped by client and bucket, one DeleteObjects
 * (`Quiet: true`) per ≤ 1000 keys; objects with a known ETag to verify go one by
 * one with `If-Match`. A request that fails as a whole was already retried by the
 * SDK (the client's `maxAttempts`): its objects are `failed`, retryable when the
 * error is, for the next invocation. Per-key `Errors` with a transient code
 * ({@link RETRYABLE_KEY_CODES}) are re-sent with backoff within the budget; other
 * per-key errors are final. `cleaned` holds only confirmed deletes. Never throws.
 */
export const deleteS3Objects = async (targets: readonly S3Resource[], options: DeleteS3Options): Promise<DeleteOutcome<S3Resource>> => {
  const outcome: DeleteOutcome<S3Resource> = { cleaned: [], failed: [] }
  const { signal, random = Math.random } = options
  const ctx = { signal, countRequests: options.countRequests }
  const budget = { signal, remainingMs: () => options.deadline.remainingMs(), sleep: (ms: number) => options.deadline.sleep(ms) }
  // One entry per distinct object (declared twice → deleted once); all its declarations share the outcome.
  const distinct = new Map<string, S3Resource[]>()
  for (const r of targets) {
    if (r.done) { outcome.cleaned.push(r); continue }
    if (r.unverified) {
      outcome.failed.push({ resource: r, retryable: false, sent: false, error: new S3DeleteError(`${r.id} was not deleted: putObject(…, { verify: true }) got no ETag back (the write failed or was interrupted), so ownership cannot be checked`, 'Unverified') })
      continue
    }
    const k = `${clientId(r.client)}\0${r.bucket}\0${r.key}\0${[...r.versionIds].sort().join(',')}\0${r.etag ?? ''}`
    const same = distinct.get(k)
    if (same === undefined) distinct.set(k, [r])
    else same.push(r)
  }
  const ok = (group: S3Resource[]): void => { for (const r of group) { r.done = true; outcome.cleaned.push(r) } }
  const fail = (group: S3Resource[], error: unknown, retryable: boolean, sent: boolean): void => {
    for (const r of group) outcome.failed.push(sent ? { resource: r, error, retryable } : { resource: r, error, retryable, sent: false })
  }
  const deadlineError = (): unknown => signal.reason ?? new CleanupDeadlineError(Math.max(0, options.deadline.remainingMs()))

  // One ObjectIdentifier per key or per version; a group is cleaned when all its entries are.
  interface GroupState { left: number, error: unknown, retryable: boolean, sent: boolean }
  interface Entry { group: S3Resource[], versionId: string | undefined, state: GroupState }
  const settle = (entry: Entry, error?: unknown, retryable = false): void => {
    const st = entry.state
    if (error !== undefined && st.error === undefined) { st.error = error; st.retryable = retryable }
    if (--st.left > 0) return
    if (st.error === undefined) ok(entry.group)
    else fail(entry.group, st.error, st.retryable, st.sent)
  }
  const batches = new Map<string, Entry[]>()
  const tasks: Array<() => Promise<void>> = []
  for (const group of distinct.values()) {
    const r = group[0]!
    // A version id is exact: If-Match only matters when deleting "the" object of an unversioned key.
    if (r.etag !== undefined && r.versionIds.length === 0) {
      tasks.push(() => deleteVerified(group))
      continue
    }
    const versions: Array<string | undefined> = r.versionIds.length === 0 ? [undefined] : r.versionIds
    const state: GroupState = { left: versions.length, error: undefined, retryable: false, sent: false }
    // Batches never mix clients: two clients may be two regions or two accounts.
    const k = `${clientId(r.client)}\0${r.bucket}`
    let list = batches.get(k)
    if (list === undefined) batches.set(k, list = [])
    for (const versionId of versions) list.push({ group, versionId, state })
  }
  for (const entries of batches.values()) {
    for (const part of chunk(entries, 1000)) tasks.push(() => deleteBatch(part))
  }

  async function deleteBatch (entries: Entry[]): Promise<void> {
    if (signal.aborted) { for (const e of entries) settle(e, deadlineError(), true); return }
    const { DeleteObjectsCommand } = await loadS3Sdk()
    const { client, bucket } = entries[0]!.group[0]!
    let pending = entries
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) { for (const e of pending) settle(e, deadlineError(), true); return }
      const sent = await sendCounted<{ Errors?: Array<{ Key?: string, VersionId?: string, Code?: string, Message?: string }> }>(client, new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: pending.map((e) => ({ Key: e.group[0]!.key, VersionId: e.versionId })), Quiet: true },
      }), ctx)
      if (sent.attempts > 0) for (const e of pending) e.state.sent = true
      if (!sent.ok) {
        // The SDK has already retried it as your client is configured: not re-sent here.
        const retryable = isRetryable(sent.error)
        let reason = deadlineError()
        if (!isAbort(sent.error, signal)) {
          const { code, text } = describeRequestFailure(sent.error)
          reason = new S3DeleteError(`DeleteObjects of ${pending.length} key(s) in bucket ${bucket} failed, ${text}`, code, { cause: sent.error })
        }
        for (const e of pending) settle(e, reason, retryable)
        return
      }
      const errors = new Map<string, { Code?: string, Message?: string }>()
      for (const e of sent.output?.Errors ?? []) {
        if (typeof e?.Key !== 'string') continue
        errors.set(`${e.Key}\0${e.VersionId ?? ''}`, e)
        // some servers leave VersionId out of the error: fall back to the key
        if (!errors.has(`${e.Key}\0*`)) errors.set(`${e.Key}\0*`, e)
      }
      const retry: Array<{ entry: Entry, error: S3DeleteError }> = []
      for (const entry of pending) {
        const r = entry.group[0]!
        const e = errors.get(`${r.key}\0${entry.versionId ?? ''}`) ?? errors.get(`${r.key}\0*`)
        if (e === undefined) { settle(entry); continue }
        const error = new S3DeleteError(`${s3Id(r.bucket, r.key, entry.versionId)} was not deleted: ${e.Code ?? 'Error'}: ${e.Message ?? ''}`, e.Code)
        if (isRetryableCode(e.Code)) retry.push({ entry, error })
        else settle(entry, error, false)
      }
      if (retry.length === 0) return
      pending = retry.map((x) => x.entry)
      if (!await backoffWithin(attempt, budget, random)) {
        // no room for another attempt: the next invocation retries these keys
        for (const { entry, error } of retry) settle(entry, error, true)
        return
      }
    }
  }

  async function deleteVerified (group: S3Resource[]): Promise<void> {
    const r = group[0]!
    if (signal.aborted) { fail(group, deadlineError(), true, false); return }
    const { DeleteObjectCommand } = await loadS3Sdk()
    if (signal.aborted) { fail(group, deadlineError(), true, false); return }
    const sent = await sendCounted(r.client, new DeleteObjectCommand({ Bucket: r.bucket, Key: r.key, IfMatch: r.etag }), ctx)
    if (sent.ok) { ok(group); return }
    const error = sent.error
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    const name = (error as Error).name
    if (status === 404 || name === 'NoSuchKey') { ok(group); return } // already gone
    if (status === 412 || name === 'PreconditionFailed') {
      fail(group, new S3DeleteError(`${r.id} was not deleted: it changed since it was written (ETag is no longer ${r.etag}); someone else owns it now`, 'PreconditionFailed', { cause: error }), false, true)
      return
    }
    const { code, text } = describeRequestFailure(error)
    fail(group, isAbort(error, signal) ? deadlineError() : new S3DeleteError(`${r.id} was not deleted: DeleteObject failed, ${text}`, code, { cause: error }), isRetryable(error), sent.attempts > 0)
  }

  await pool(tasks, options.concurrency ?? DEFAULT_CONCURRENCY)
  return outcome
}

/**
 * The S3 deleter plugged into the scope's remote-resource extension point: one
 * per process, so every S3 object of a cleanup reaches it in one call and is batched.
 */
export const s3Deleter: RemoteDeleter<S3Resource> = {
  kind: 's3',
  delete: (resources: S3Resource[], context: DeleteContext) =>
    deleteS3Objects(resources, { signal: context.signal, deadline: context.deadline, countRequests: context.countRequests, logger: context.logger }),
}
