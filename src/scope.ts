import { type Closeable, asyncDisposeSymbol, checkDefer, closerFor, describeHandle } from './disposers.js'
import { type DynamoItemTarget, type PutItemInput, type PutItemOptions, type PutItemOutput, dynamoDeleter, dynamoResource, putDynamoItem } from './dynamodb.js'
import { type RequestTrace, InvocationEnd } from './end-proof.js'
import { checkPath, pathItem } from './files.js'
import { newInvocationDir } from './invocation-dirs.js'
import { type CleanupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { registerShutdownFlush } from './process-state.js'
import type { CleanupReport } from './report.js'
import { type PutObjectInput, type PutObjectOptions, type PutObjectOutput, type S3ObjectTarget, putS3Object, s3Deleter, s3Resource } from './s3.js'
import { type DeclaringScope, type MultipartUploadTarget, multipartUpload } from './s3-multipart.js'
import { type UploadLike, upload } from './s3-multipart-upload.js'
import { scopeStorage } from './scope-als.js'
import { type ScopeState, ScopeCore } from './scope-core.js'
import { flushLeftovers } from './sweep.js'
import { type TempDirOptions, type TempFileOptions, tempDirIn, tempFileIn } from './temp-files.js'
import type { RemoteDeleter, RemoteResource } from './scope-items.js'

export type { TempDirOptions, TempFileOptions } from './temp-files.js'

let coreOfScope: (scope: CleanupScope) => ScopeCore

/**
 * One invocation's cleanup scope: declare temp resources on it, and they are
 * released on every exit path. In a Middy handler it is `context.cleanup`; it
 * also works alone, with `await using` or `dispose()`.
 *
 * Disposal order: `defer`s and handles in reverse order of declaration (like
 * `AsyncDisposableStack`), then files and directories; S3 objects and DynamoDB
 * items are deleted in batches meanwhile. Every disposer runs even when an
 * earlier one fails; failures are reported, never thrown.
 *
 * @example
 * ```ts
 * await using scope = new CleanupScope()
 * const file = await scope.tempFile({ suffix: '.csv' })
 * const fh = scope.handle(await open(file, 'w'))
 * // leaving the block closes fh and removes file
 * ```
 */
export class CleanupScope {
  readonly #config: ResolvedOptions
  readonly #core: ScopeCore

  /** @param options - validated here: an unknown or ill-typed option throws {@link CleanupConfigError}. */
  constructor (options?: CleanupOptions) {
    const config = this.#config = resolveOptions(options)
    this.#core = new ScopeCore({ config, newDir: newInvocationDir })
    registerShutdownFlush(flushLeftovers)
  }

  static { coreOfScope = (scope) => scope.#core }

  /** `'active'` until disposal starts, then `'disposing'`, then `'disposed'`. */
  get state (): ScopeState { return this.#core.state }

  /**
   * Removes `p` (a file, or a directory recursively) on cleanup. Throws now, at
   * declaration, when `p` is empty or — after resolving `..` and symlinks —
   * outside `allow.paths` (default: os.tmpdir()).
   *
   * @returns `p`, so it can wrap an expression.
   * @example
   * ```ts
   * const out = context.cleanup.path(join(tmpdir(), `${context.awsRequestId}.jpg`))
   * ```
   */
  path (p: string): string {
    this.#core.hold(pathItem(checkPath(p, this.#config.allowPaths), this.#config.allowPaths))
    return p
  }

  /**
   * Creates an empty file with an unguessable name inside this invocation's own
   * directory under os.tmpdir(); it is removed on cleanup.
   *
   * @example
   * ```ts
   * const file = await context.cleanup.tempFile({ suffix: '.jpg' })
   * ```
   */
  tempFile (options?: TempFileOptions): Promise<string> { return tempFileIn(this.#core, options) }

  /**
   * Creates an empty directory inside this invocation's own directory under
   * os.tmpdir(); it is removed, with everything in it, on cleanup.
   *
   * @example
   * ```ts
   * const work = await context.cleanup.tempDir({ prefix: 'unzip-' })
   * ```
   */
  tempDir (options?: TempDirOptions): Promise<string> { return tempDirIn(this.#core, options) }

  /**
   * Closes `h` on cleanup: anything with `[Symbol.asyncDispose]`, `[Symbol.dispose]`,
   * `close()`, `destroy()` or `end()` (FileHandle, fs streams, sockets, DB clients).
   * Throws a TypeError now for anything it could not close.
   *
   * @returns `h`, so it can wrap the expression that opens it.
   * @example
   * ```ts
   * const fh = context.cleanup.handle(await open(file, 'w'))
   * ```
   */
  handle<T extends Closeable> (h: T): T {
    this.#core.hold({ type: 'disposer', kind: 'handle', run: closerFor(h), id: describeHandle(h), attempts: 0 })
    return h
  }

  /**
   * Calls `fn` on cleanup (after anything declared later, before files are removed).
   *
   * @example
   * ```ts
   * context.cleanup.defer(() => metrics.flush())
   * ```
   */
  defer (fn: () => unknown): void {
    this.#core.hold({ type: 'disposer', kind: 'defer', run: checkDefer(fn), id: fn.name === '' ? 'defer' : `defer ${fn.name}`, attempts: 0 })
  }

  /**
   * Deletes an S3 object on cleanup, batched with the invocation's other objects
   * (one DeleteObjects per ≤ 1000 keys). Throws now when no S3 client is known,
   * the target is outside `allow.s3`, or bucket/key are empty.
   *
   * @example
   * ```ts
   * context.cleanup.s3Object({ bucket: 'scratch-bucket', key: 'tmp/other.jpg' })
   * ```
   */
  s3Object (target: S3ObjectTarget): void { this.trackRemote(s3Deleter, s3Resource('s3Object', target, this.#config)) }

  /**
   * Sends PutObject with the scope's S3 client and deletes the object on cleanup.
   * Tracked before the request is sent, so an interrupted write is still cleaned.
   *
   * @example
   * ```ts
   * await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key: `tmp/${context.awsRequestId}.jpg`, Body }, { tags: true })
   * ```
   */
  putObject (input: PutObjectInput, options?: PutObjectOptions): Promise<PutObjectOutput> { return putS3Object(this.#core, (r) => this.trackRemote(s3Deleter, r), this.#config, input, options) }

  /**
   * Aborts an S3 multipart upload on cleanup (billed until aborted, in no listing); if it
   * completed meanwhile, deletes its object while it has the completion's ETag. Throws now like `s3Object`.
   * @example
   * ```ts
   * const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'scratch-bucket', Key: key }))
   * context.cleanup.multipartUpload({ bucket: 'scratch-bucket', key, uploadId: UploadId! })
   * ```
   */
  multipartUpload (target: MultipartUploadTarget): void { multipartUpload(this.#declaring(), target) }

  /**
   * Tracks an `@aws-sdk/lib-storage` `Upload` as temp (before `done()`): its multipart
   * upload once its id is known, its object once it completes. Returns the same `Upload`.
   * @example
   * ```ts
   * await context.cleanup.upload(new Upload({ client: s3, params: { Bucket: 'scratch-bucket', Key: key, Body: stream } })).done()
   * ```
   */
  upload<U extends UploadLike> (u: U): U { return upload(this.#declaring(), u) }

  /**
   * Deletes a DynamoDB item on cleanup, batched with the invocation's other items
   * (one BatchWriteItem per ≤ 25). Key as AttributeValues for a `DynamoDBClient`,
   * plain values for a `DynamoDBDocumentClient`. Throws now when no client is
   * known, the table is outside `allow.dynamodb`, or table/key are malformed.
   *
   * @example
   * ```ts
   * context.cleanup.dynamoItem({ table: 'Scratch', key: { pk: { S: 'job#1' }, sk: { S: 'step' } } })
   * ```
   */
  dynamoItem (target: DynamoItemTarget): void { this.trackRemote(dynamoDeleter, dynamoResource('dynamoItem', target, this.#config)) }

  /**
   * Sends PutItem (lib-dynamodb's Put for a DocumentClient) with the scope's
   * client and deletes the item on cleanup; the key comes from the table's key
   * schema (DescribeTable once per table per process). Tracked before the request
   * is sent.
   *
   * @example
   * ```ts
   * await context.cleanup.putItem({ TableName: 'Scratch', Item: { pk: { S: 'job#1' }, sk: { S: 'lock' } } }, { ttl: { attribute: 'expiresAt', seconds: 86400 } })
   * ```
   */
  putItem (input: PutItemInput, options?: PutItemOptions): Promise<PutItemOutput> { return putDynamoItem((r) => this.trackRemote(dynamoDeleter, r), this.#config, input, options) }

  /**
   * Tracks a remote resource to be deleted, in one batch with the others of its
   * kind, by `deleter` — the extension point the built-in S3 and DynamoDB support
   * uses, open for other services (a resource declared twice, by `id`, is deleted once).
   *
   * @example
   * ```ts
   * const redisKeys: RemoteDeleter<RemoteResource & { key: string }> = {
   *   kind: 'redis',
   *   delete: async (resources) => { await redis.del(resources.map((r) => r.key)); return { cleaned: resources, failed: [], requests: 1 } },
   * }
   * context.cleanup.trackRemote(redisKeys, { kind: 'redis', id: `redis://${key}`, key })
   * ```
   */
  trackRemote<R extends RemoteResource> (deleter: RemoteDeleter<R>, resource: R): void {
    this.#core.holdRemote({ type: 'remote', kind: resource.kind, id: resource.id, deleter, resource, attempts: 0 })
  }

  /**
   * Runs `fn` with this scope as the current one, so `currentScope()` and
   * `invocationLocal()` work in its async call tree — for standalone scopes
   * (in a Middy handler, `cleanup()` already does this).
   *
   * @example
   * ```ts
   * await using scope = new CleanupScope()
   * await scope.run(() => processBatch()) // processBatch() may call currentScope().tempFile()
   * ```
   */
  run<T> (fn: () => T): T { return scopeStorage().run(this, fn) }

  #declaring (): DeclaringScope { return { config: this.#config, trackRemote: (kind, resource) => this.trackRemote(kind, resource) } }

  /**
   * Releases everything declared, once: later calls return the same report.
   * Never throws; failures are in `report.failed` and logged.
   *
   * @example
   * ```ts
   * const report = await scope.dispose()
   * if (report.failed.length > 0) console.warn(report.failed)
   * ```
   */
  dispose (): Promise<CleanupReport> { return this.#core.disposeFor('manual', this.#config.timeoutMs) }

  /** Same as {@link CleanupScope.dispose}, for `await using scope = new CleanupScope()`. */
  async [Symbol.asyncDispose] (): Promise<void> { await this.dispose() }
}

// Also under the registered symbol, for realms where Symbol.asyncDispose is missing.
if (asyncDisposeSymbol !== (Symbol as { asyncDispose?: symbol }).asyncDispose) {
  Object.defineProperty(CleanupScope.prototype, asyncDisposeSymbol, { value: CleanupScope.prototype.dispose, writable: true, configurable: true })
}

/**
 * @internal The core of a scope: what the middleware, leak detection and
 * `invocationLocal()` work with (disposeFor, endNowIfEmpty, addReportHook, local).
 *
 * @example
 * ```ts
 * coreOf(context.cleanup).addReportHook((report) => { report.leaks = [] })
 * ```
 */
export const coreOf = (scope: CleanupScope): ScopeCore => coreOfScope(scope)

/**
 * @internal The scope of one Middy invocation (options already resolved): disposed by
 * others only on proof of its end (see end-proof.ts).
 *
 * @example
 * ```ts
 * const scope = invocationScope(config, request)
 * ```
 */
export const invocationScope = (config: ResolvedOptions, request: RequestTrace): CleanupScope => {
  const scope = new CleanupScope(config as unknown as CleanupOptions)
  coreOfScope(scope).watchEnd(new InvocationEnd(request))
  return scope
}
