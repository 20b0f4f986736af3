// The SDK's types only inside this module (they are not part of its declarations).
import type { AbortMultipartUploadCommandInput, DeleteObjectCommandInput } from '@aws-sdk/client-s3'
import { describeRequestFailure, isAbort, isRetryable } from './aws-failure.js'
import { type SdkClientLike, sendCounted } from './aws-send.js'
import { clientId } from './client-id.js'
import { CleanupDeclarationError } from './errors.js'
import { type BatchContext, type BatchKind, type BatchResult, allFailed, batchDeleter } from './remote-batch.js'
import type { JournalCodec, RemoteKind, RemoteResource } from './remote-kind.js'
import { type S3Config, S3DeleteError, s3Id, s3Resource } from './s3.js'
import { loadS3Sdk } from './s3-object.js'
import { isRecord, rejectUnknownKeys, shown, typeOf } from './validation.js'

// An incomplete multipart upload is invisible to object listings and billed (its parts'
// storage) until it is aborted: a temp resource like any other. Aborting it is one
// request per upload (there is no batch abort), hence a batch size of 1.

/**
 * A multipart upload to abort on cleanup (`scope.multipartUpload(target)`): the
 * `UploadId` CreateMultipartUpload returned, with its bucket and key.
 *
 * @example
 * ```ts
 * const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'scratch-bucket', Key: key }))
 * context.cleanup.multipartUpload({ bucket: 'scratch-bucket', key, uploadId: UploadId! })
 * ```
 */
export interface MultipartUploadTarget {
  bucket: string
  key: string
  uploadId: string
  /** Client of the upload; default: the `s3` option of `cleanup()`. */
  client?: SdkClientLike
}

/**
 * @internal A multipart upload as the deleter tracks it.
 *
 * @example
 * ```ts
 * const r: MultipartResource = multipartResource('multipartUpload', { bucket, key, uploadId }, config)
 * r.id // 's3://scratch-bucket/tmp/a.bin?uploadId=…'
 * ```
 */
export interface MultipartResource extends RemoteResource {
  readonly kind: 's3-multipart'
  readonly client: SdkClientLike
  readonly bucket: string
  readonly key: string
  readonly uploadId: string
  /** ETag CompleteMultipartUpload returned through this client: the upload became this object */
  etag: string | undefined
  /** VersionId CompleteMultipartUpload returned (versioned bucket): the exact version to delete */
  versionId: string | undefined
  /** aborted (by anyone, through this client) or its object deleted: nothing left to send */
  done: boolean
}

/**
 * @internal What a declaration needs of a scope: its resolved `s3`/`allow.s3` and
 * `trackRemote` (the public API). CleanupScope keeps its options private, so its
 * `multipartUpload`/`upload` methods pass both.
 *
 * @example
 * ```ts
 * // in CleanupScope
 * multipartUpload (target: MultipartUploadTarget): void { multipartUpload({ config: this.#config, trackRemote: (k, r) => this.trackRemote(k, r) }, target) }
 * ```
 */
export interface DeclaringScope {
  readonly config: S3Config
  trackRemote: (kind: RemoteKind<any, any>, resource: any) => void
}

const TARGET_KEYS = ['bucket', 'key', 'uploadId', 'client'] as const

/**
 * @internal The id of an upload: its object's id and the upload id.
 *
 * @example
 * ```ts
 * multipartId('scratch-bucket', 'tmp/a.bin', 'u1') // 's3://scratch-bucket/tmp/a.bin?uploadId=u1'
 * ```
 */
export const multipartId = (bucket: string, key: string, uploadId: string): string => `${s3Id(bucket, key)}?uploadId=${uploadId}`

/**
 * @internal Validates a declaration and builds the resource (the bucket, key,
 * client and `allow.s3` checks are s3Object's). Throws {@link CleanupDeclarationError} now.
 *
 * @example
 * ```ts
 * multipartResource('multipartUpload', { bucket: 'scratch-bucket', key: 'keep/a', uploadId }, config) // throws: outside allow.s3
 * ```
 */
export const multipartResource = (method: string, target: unknown, config: DeclaringScope['config']): MultipartResource => {
  if (!isRecord(target)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() needs an object like { bucket: 'scratch-bucket', key: 'tmp/x.bin', uploadId } (uploadId: what CreateMultipartUpload returned); got ${typeOf(target)}.`)
  }
  rejectUnknownKeys(target, TARGET_KEYS, (k) => `${method}({ ${k} })`, (m) => new CleanupDeclarationError(m))
  const { bucket, key, uploadId, client } = target
  const object = s3Resource(method, { bucket, key, client }, config)
  if (typeof uploadId !== 'string' || uploadId === '') {
    throw new CleanupDeclarationError(`cleanup: ${method}({ uploadId }) must be a non-empty string (the UploadId CreateMultipartUpload returned); got ${shown(uploadId)}.`)
  }
  return {
    kind: 's3-multipart', id: multipartId(object.bucket, object.key, uploadId), client: object.client,
    bucket: object.bucket, key: object.key, uploadId, etag: undefined, versionId: undefined, done: false,
  }
}

// ---- what this process's clients say about the uploads declared ----
// The user (or lib-storage) completes or aborts an upload through the same client:
// one middleware per client sees it, so cleanup knows whether the upload became an
// object (and its ETag, to delete exactly that object) or is already gone.

const watchedUploads = new WeakMap<object, Map<string, Set<MultipartResource>>>()

interface MiddlewareStackLike { add: (mw: unknown, options: Record<string, unknown>) => void }
type Handler = (args: { input?: Record<string, unknown> }) => Promise<{ output?: Record<string, unknown> }>

const spy = (uploads: Map<string, Set<MultipartResource>>) => (next: Handler, context: { commandName?: string }): Handler => async (args) => {
  const name = context.commandName
  if (name !== 'CompleteMultipartUploadCommand' && name !== 'AbortMultipartUploadCommand') return next(args)
  const result = await next(args)
  const watched = uploads.get(String(args.input?.UploadId))
  for (const r of watched ?? []) {
    if (r.bucket !== args.input?.Bucket || r.key !== args.input?.Key) continue
    if (name === 'AbortMultipartUploadCommand') { r.done = true; continue }
    const { ETag, VersionId } = result.output ?? {}
    if (typeof ETag === 'string' && ETag !== '') r.etag = ETag
    if (typeof VersionId === 'string' && VersionId !== '' && VersionId !== 'null') r.versionId = VersionId
  }
  return result
}

/**
 * Watches `r` through its client; returns the resource to track: an upload already
 * declared and still pending is the very same object (declared twice, or by two
 * scopes: one state, cleaned once), so nothing watched is left without a settle.
 */
const watch = (r: MultipartResource): MultipartResource => {
  let uploads = watchedUploads.get(r.client)
  if (uploads === undefined) {
    const stack = (r.client as { middlewareStack?: MiddlewareStackLike }).middlewareStack
    if (typeof stack?.add !== 'function') return r // not an SDK client (a stub): nothing to learn from
    watchedUploads.set(r.client, uploads = new Map())
    stack.add(spy(uploads), { step: 'initialize', name: 'middyCleanupMultipartWatch', override: true })
  }
  let set = uploads.get(r.uploadId)
  if (set === undefined) uploads.set(r.uploadId, set = new Set())
  for (const known of set) if (known.id === r.id && !known.done) return known
  set.add(r)
  return r
}

const unwatch = (r: MultipartResource): void => {
  const set = watchedUploads.get(r.client)?.get(r.uploadId)
  set?.delete(r)
  if (set?.size === 0) watchedUploads.get(r.client)?.delete(r.uploadId)
}

// ---- deletion, on the shared batch skeleton (batch size 1: there is no batch abort) ----

type Result = BatchResult<MultipartResource>
const statusOf = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
const cleaned = (r: MultipartResource): Result => ({ sent: true, cleaned: [r], retry: [], failed: [] })

const failure = (r: MultipartResource, ctx: BatchContext, what: string, error: unknown, attempts: number): Result => {
  if (isAbort(error, ctx.signal)) return allFailed([r], ctx.deadlineError(), true, attempts > 0)
  const { code, text } = describeRequestFailure(error)
  return allFailed([r], new S3DeleteError(`${r.id} was not cleaned: ${what} failed, ${text}`, code, { cause: error }), isRetryable(error), attempts > 0)
}

/** Deletes the object a completed upload became: that exact version, or only while it has the upload's ETag. */
const deleteCompleted = async (r: MultipartResource, ctx: BatchContext): Promise<Result> => {
  const { DeleteObjectCommand } = await loadS3Sdk()
  const input: DeleteObjectCommandInput = r.versionId !== undefined
    ? { Bucket: r.bucket, Key: r.key, VersionId: r.versionId }
    : { Bucket: r.bucket, Key: r.key, IfMatch: r.etag }
  const sent = await sendCounted(r.client, new DeleteObjectCommand(input), ctx)
  if (sent.ok || statusOf(sent.error) === 404 || (sent.error as Error).name === 'NoSuchKey') return cleaned(r)
  if (statusOf(sent.error) === 412 || (sent.error as Error).name === 'PreconditionFailed') {
    const error = new S3DeleteError(`${s3Id(r.bucket, r.key)} (completed from upload ${r.uploadId}) was not deleted: its ETag is no longer ${r.etag ?? '?'}; someone else wrote that key since`, 'PreconditionFailed', { cause: sent.error })
    return allFailed([r], error, false, true)
  }
  return failure(r, ctx, 'DeleteObject of the completed upload', sent.error, sent.attempts)
}

/** Aborts one upload; a completed one (seen completing, before or by a NoSuchUpload answer) has its object deleted instead. */
const cleanOne = async (r: MultipartResource, ctx: BatchContext): Promise<Result> => {
  if (r.etag === undefined && r.versionId === undefined) {
    const { AbortMultipartUploadCommand } = await loadS3Sdk()
    const input: AbortMultipartUploadCommandInput = { Bucket: r.bucket, Key: r.key, UploadId: r.uploadId }
    const sent = await sendCounted(r.client, new AbortMultipartUploadCommand(input), ctx)
    if (sent.ok) return cleaned(r)
    const gone = statusOf(sent.error) === 404 || (sent.error as Error).name === 'NoSuchUpload'
    if (!gone) return failure(r, ctx, 'AbortMultipartUpload', sent.error, sent.attempts)
    // Completed or aborted out of this client's sight: no parts are billed any more.
    // Its object (if any) is left alone: without the upload's ETag it cannot be told from someone else's.
    if (r.etag === undefined && r.versionId === undefined) return cleaned(r)
  }
  return deleteCompleted(r, ctx)
}

/**
 * @internal How multipart uploads go on the wire: one request each (abort, or the completed
 * object's DeleteObject); one the declaring client saw aborted costs none.
 *
 * @example
 * ```ts
 * const outcome = await deleteInBatches(multipartBatch, uploads, { signal, deadline, countRequests })
 * ```
 */
export const multipartBatch: BatchKind<MultipartResource, MultipartResource> = {
  settleEarly: (r) => r.done ? 'cleaned' : undefined,
  entries: (r) => [r],
  groupKey: (r) => `${clientId(r.client)}\0${r.bucket}`,
  batchSize: () => 1,
  sendBatch: async ([r], ctx) => {
    try { return await cleanOne(r!, ctx) } catch (error) { return failure(r!, ctx, 'cleanup', error, 0) }
  },
  onCleaned: (r) => { r.done = true; unwatch(r) },
}

// ---- the kind ----

interface MultipartEntry { bucket: string, key: string, uploadId: string }
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''

/**
 * @internal The multipart-upload kind: its deleter and its journal codec (line
 * `{"kind":"s3-multipart","bucket","key","uploadId"}`, replayed under `allow.s3`).
 *
 * @example
 * ```ts
 * scope.trackRemote(multipartKind, multipartResource('multipartUpload', { bucket, key, uploadId }, scope.config))
 * ```
 */
export const multipartKind: RemoteKind<MultipartResource, S3Config> & { readonly journal: JournalCodec<MultipartResource, S3Config> } = {
  ...batchDeleter('s3-multipart', multipartBatch),
  journal: {
    encode: (r) => ({ bucket: r.bucket, key: r.key, uploadId: r.uploadId }),
    parse: (f) => Object.keys(f).every((k) => k === 'bucket' || k === 'key' || k === 'uploadId') &&
      nonEmpty(f.bucket) && nonEmpty(f.key) && nonEmpty(f.uploadId)
      ? { bucket: f.bucket, key: f.key, uploadId: f.uploadId } satisfies MultipartEntry
      : undefined,
    allowList: 'allow.s3',
    configured: (config) => config.allowS3 !== undefined,
    // an entry is { kind, ...fields }: only the fields are a declaration
    revive: ({ bucket, key, uploadId }: MultipartEntry, config) => multipartResource('journal', { bucket, key, uploadId }, config),
    show: (entry: MultipartEntry) => multipartId(entry.bucket, entry.key, entry.uploadId),
  },
}

/**
 * @internal (the public API is `scope.multipartUpload(target)`, which calls this)
 * Declares a multipart upload as temp: it is aborted on every exit path, so its
 * parts are not billed after the invocation. If it was completed meanwhile through
 * the same client, the object it became is a temp object and is deleted instead,
 * only while it still has the ETag CompleteMultipartUpload returned (someone who
 * overwrote the key since keeps their object). Synchronous; validated like
 * `s3Object` (bucket, key, client, `allow.s3`): a bad declaration throws
 * `CleanupDeclarationError` here, never at cleanup time.
 *
 * @example
 * ```ts
 * const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'scratch-bucket', Key: key }))
 * multipartUpload(context.cleanup, { bucket: 'scratch-bucket', key, uploadId: UploadId! })
 * // …UploadPart, CompleteMultipartUpload: on any exit the upload is aborted, or its object deleted
 * ```
 */
export const multipartUpload = (scope: DeclaringScope, target: MultipartUploadTarget): void => {
  scope.trackRemote(multipartKind, watch(multipartResource('multipartUpload', target, scope.config)))
}
