// How S3 objects go on the wire: DeleteObjects batches (Quiet: true) of ≤ 1000 keys per
// client and bucket, or one conditional DeleteObject per object whose ETag is checked.
// The batching, the pool and the partial re-sends are remote-batch.ts's.
import { describeRequestFailure, isAbort, isRetryable, isRetryableCode } from './aws-failure.js'
import { sendCounted } from './aws-send.js'
import { clientId } from './client-id.js'
import { type BatchContext, type BatchKind, type BatchOptions, type BatchResult, allFailed, deleteInBatches } from './remote-batch.js'
import { type S3Resource, S3DeleteError, loadS3Sdk, s3Id } from './s3-object.js'
import type { DeleteOutcome } from './scope-items.js'

/** One ObjectIdentifier: the key, or one version of it. */
interface S3Entry { readonly resource: S3Resource, readonly versionId: string | undefined }

interface KeyError { Key?: string, VersionId?: string, Code?: string, Message?: string }

// A version id is exact: If-Match only matters when deleting "the" object of an unversioned key.
const verified = (r: S3Resource): boolean => r.etag !== undefined && r.versionIds.length === 0

/** Per-key Errors by key + version; some servers leave VersionId out of the error, so also by key alone. */
const keyErrors = (errors: readonly KeyError[] | undefined): Map<string, KeyError> => {
  const byKey = new Map<string, KeyError>()
  for (const e of errors ?? []) {
    if (typeof e?.Key !== 'string') continue
    byKey.set(`${e.Key}\0${e.VersionId ?? ''}`, e)
    if (!byKey.has(`${e.Key}\0*`)) byKey.set(`${e.Key}\0*`, e)
  }
  return byKey
}

const deleteObjects = async (part: S3Entry[], ctx: BatchContext): Promise<BatchResult<S3Entry>> => {
  const { DeleteObjectsCommand } = await loadS3Sdk()
  const { client, bucket } = part[0]!.resource
  const sent = await sendCounted<{ Errors?: KeyError[] }>(client, new DeleteObjectsCommand({
    Bucket: bucket,
    Delete: { Objects: part.map((e) => e.versionId === undefined ? { Key: e.resource.key } : { Key: e.resource.key, VersionId: e.versionId }), Quiet: true },
  }), ctx)
  if (!sent.ok) {
    // The SDK has already retried it as your client is configured: not re-sent here.
    const { code, text } = describeRequestFailure(sent.error)
    const reason = isAbort(sent.error, ctx.signal)
      ? ctx.deadlineError()
      : new S3DeleteError(`DeleteObjects of ${part.length} key(s) in bucket ${bucket} failed, ${text}`, code, { cause: sent.error })
    return allFailed(part, reason, isRetryable(sent.error), sent.attempts > 0)
  }
  const result: BatchResult<S3Entry> = { sent: sent.attempts > 0, cleaned: [], retry: [], failed: [] }
  const errors = keyErrors(sent.output?.Errors)
  if (errors.size === 0) { result.cleaned = part; return result }
  for (const entry of part) {
    const { key, bucket } = entry.resource
    const e = errors.get(`${key}\0${entry.versionId ?? ''}`) ?? errors.get(`${key}\0*`)
    if (e === undefined) { result.cleaned.push(entry); continue }
    const error = new S3DeleteError(`${s3Id(bucket, key, entry.versionId)} was not deleted: ${e.Code ?? 'Error'}: ${e.Message ?? ''}`, e.Code)
    if (isRetryableCode(e.Code)) result.retry.push({ entry, error })
    else result.failed.push({ entry, error, retryable: false })
  }
  return result
}

const deleteVerified = async (entry: S3Entry, ctx: BatchContext): Promise<BatchResult<S3Entry>> => {
  const r = entry.resource
  const { DeleteObjectCommand } = await loadS3Sdk()
  if (ctx.signal.aborted) return allFailed([entry], ctx.deadlineError(), true, false)
  const sent = await sendCounted(r.client, new DeleteObjectCommand({ Bucket: r.bucket, Key: r.key, IfMatch: r.etag }), ctx)
  const cleaned: BatchResult<S3Entry> = { sent: sent.attempts > 0, cleaned: [entry], retry: [], failed: [] }
  if (sent.ok) return cleaned
  const error = sent.error
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  const name = (error as Error).name
  if (status === 404 || name === 'NoSuchKey') return cleaned // already gone
  if (status === 412 || name === 'PreconditionFailed') {
    return allFailed([entry], new S3DeleteError(`${r.id} was not deleted: it changed since it was written (ETag is no longer ${r.etag}); someone else owns it now`, 'PreconditionFailed', { cause: error }), false, true)
  }
  const { code, text } = describeRequestFailure(error)
  const reason = isAbort(error, ctx.signal) ? ctx.deadlineError() : new S3DeleteError(`${r.id} was not deleted: DeleteObject failed, ${text}`, code, { cause: error })
  return allFailed([entry], reason, isRetryable(error), sent.attempts > 0)
}

/**
 * S3 objects as remote-batch.ts sends them: grouped by client and bucket (batches
 * never mix clients: two clients may be two regions or two accounts), one
 * DeleteObjects per ≤ 1000 keys or versions; an object with an ETag to verify goes
 * alone, with `If-Match`. Per-key `Errors` with a transient code
 * (`RETRYABLE_KEY_CODES`) are the partial result re-sent within the budget; other
 * per-key errors are final.
 *
 * @example
 * ```ts
 * const outcome = await deleteInBatches(s3Batch, objects, { signal, deadline, countRequests })
 * ```
 */
export const s3Batch: BatchKind<S3Resource, S3Entry> = {
  settleEarly: (r) => r.done
    ? 'cleaned'
    : r.unverified
      ? { error: new S3DeleteError(`${r.id} was not deleted: putObject(…, { verify: true }) got no ETag back (the write failed or was interrupted), so ownership cannot be checked`, 'Unverified'), retryable: false }
      : undefined,
  entries: (r) => r.versionIds.length === 0 ? [{ resource: r, versionId: undefined }] : r.versionIds.map((versionId) => ({ resource: r, versionId })),
  groupKey: (e) => `${clientId(e.resource.client)}\0${e.resource.bucket}${verified(e.resource) ? '\0If-Match' : ''}`,
  batchSize: (e) => verified(e.resource) ? 1 : 1000,
  sendBatch: (part, ctx) => verified(part[0]!.resource) ? deleteVerified(part[0]!, ctx) : deleteObjects(part, ctx),
  onCleaned: (r) => { r.done = true },
}

/**
 * Deletes S3 objects (see {@link s3Batch}). A request that fails as a whole was
 * already retried by the SDK (the client's `maxAttempts`): its objects are
 * `failed`, retryable when the error is, for the next invocation. `cleaned` holds
 * only confirmed deletes. Never throws.
 *
 * @example
 * ```ts
 * const outcome = await deleteS3Objects([s3Resource('s3Object', { bucket, key }, config)], { signal, deadline, countRequests })
 * ```
 */
export const deleteS3Objects = (targets: readonly S3Resource[], options: BatchOptions): Promise<DeleteOutcome<S3Resource>> =>
  deleteInBatches(s3Batch, targets, options)
