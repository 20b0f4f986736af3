import { type SdkClientLike, isClient } from './aws-send.js'
import { CleanupDeclarationError } from './errors.js'
import { type S3Resource, s3Deleter, s3Resource } from './s3.js'
import { type DeclaringScope, multipartUpload } from './s3-multipart.js'
import { isRecord, typeOf } from './validation.js'

/**
 * What `upload(scope, u)` accepts: `@aws-sdk/lib-storage`'s `Upload` (structural,
 * so this package's declarations do not import the optional peer; the fields it
 * reads — `client`, `params`, `uploadId` — are private in lib-storage's types).
 *
 * @example
 * ```ts
 * import { Upload } from '@aws-sdk/lib-storage'
 * const u: UploadLike = new Upload({ client: s3, params: { Bucket: 'scratch-bucket', Key: key, Body: stream } })
 * ```
 */
export interface UploadLike { done: () => Promise<unknown> }

/** What `upload()` reads and replaces of lib-storage's `Upload` at run time. */
interface UploadFields {
  client: SdkClientLike
  readonly params: { Bucket?: string | undefined, Key?: string | undefined, [field: string]: any }
  /** set by lib-storage once CreateMultipartUpload answered */
  readonly uploadId?: string | undefined
  done: () => Promise<unknown>
}

interface MiddlewareStackLike { add: (mw: unknown, options: Record<string, unknown>) => void }
type Handler = (args: unknown) => Promise<{ output?: Record<string, unknown> }>
const wrapped = new WeakSet<object>()

// lib-storage sends through `upload.client`: each of its commands gets a middleware that
// sees the one request this scope cares about. A single-part upload is one PutObject,
// whose object is tracked before it is sent (like putObject); a multipart upload is
// tracked the moment CreateMultipartUpload answers, before its first part goes out.
const reporter = (scope: DeclaringScope, real: SdkClientLike, bucket: string, key: string) =>
  (next: Handler, context: { commandName?: string }): Handler => async (args) => {
    if (context.commandName === 'PutObjectCommand') {
      const object: S3Resource = s3Resource('upload', { bucket, key, client: real }, scope.config)
      scope.trackRemote(s3Deleter, object)
      const result = await next(args)
      const version = result.output?.VersionId
      // versioned bucket: delete exactly the version written, no delete marker left behind
      if (typeof version === 'string' && version !== '' && version !== 'null') object.versionIds.push(version)
      return result
    }
    const result = await next(args)
    const uploadId = result.output?.UploadId
    if (context.commandName === 'CreateMultipartUploadCommand' && typeof uploadId === 'string') {
      multipartUpload(scope, { bucket, key, uploadId, client: real })
    }
    return result
  }

/**
 * @internal (the public API is `scope.upload(u)`, which calls this)
 * Tracks an `@aws-sdk/lib-storage` `Upload` as temp (declare it before `done()`):
 * its multipart upload is declared with `multipartUpload` as soon as
 * CreateMultipartUpload returns its id (aborted on every exit path; deleted, if it
 * completed, while it has the ETag the completion returned), and a small upload
 * (one part: one PutObject) is tracked as an S3 object before it is sent. Checks
 * `params.Bucket`/`params.Key` against `allow.s3` now. Returns the same `Upload`.
 *
 * @example
 * ```ts
 * import { Upload } from '@aws-sdk/lib-storage'
 * await upload(context.cleanup, new Upload({ client: s3, params: { Bucket: 'scratch-bucket', Key: key, Body: stream } })).done()
 * ```
 */
export const upload = <U extends UploadLike>(scope: DeclaringScope, given: U): U => {
  const u = given as unknown as UploadFields
  if (!isRecord(u) || typeof u.done !== 'function' || !isRecord(u.params)) {
    throw new CleanupDeclarationError(`cleanup: upload() needs an @aws-sdk/lib-storage Upload, e.g. upload(new Upload({ client, params: { Bucket, Key, Body } })); got ${typeOf(u)}.`)
  }
  if (!isClient(u.client)) {
    throw new CleanupDeclarationError(`cleanup: upload() got an Upload without a client (an object with send()); got ${typeOf(u.client)}.`)
  }
  const real = u.client
  // the bucket, key and allow.s3 checks of s3Object, with the Upload's own names
  const { bucket, key } = s3Resource('upload', { bucket: u.params.Bucket, key: u.params.Key, client: real }, scope.config, { bucket: 'params.Bucket', key: 'params.Key' })
  if (wrapped.has(u)) return given
  wrapped.add(u)
  if (typeof u.uploadId === 'string' && u.uploadId !== '') multipartUpload(scope, { bucket, key, uploadId: u.uploadId, client: real })
  const report = reporter(scope, real, bucket, key)
  // The rest of the client (config, middlewareStack, destroy) is the real one, by prototype.
  u.client = Object.create(real, {
    send: {
      value: (command: { middlewareStack?: MiddlewareStackLike }, ...rest: unknown[]) => {
        command?.middlewareStack?.add?.(report, { step: 'initialize', name: 'middyCleanupUpload', override: true })
        return (real.send as (...a: unknown[]) => Promise<unknown>)(command, ...rest)
      },
    },
  }) as SdkClientLike
  return given
}
