import { runInScope } from './context.js'
import { appendJournal, journalLine } from './journal.js'
import { asyncDisposeSymbol, checkDefer, type Closeable, closerFor, describeHandle } from './disposers.js'
import { type Work, addToWork, emptyWork, runWork } from './engine.js'
import { describeError } from './errors.js'
import { checkPath, checkTempOptions, createTempDir, createTempFile, invocationDirName, realTmpdir } from './files.js'
import { type RegisteredScope, identityKey, logFailures, retryLater, state, warnOnce } from './leftovers.js'
import { type CleanupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { type CleanupReport, type ExitPath, emptyReport } from './report.js'
import { type PathItem, type RemoteDeleter, type RemoteItem, type RemoteResource, type TrackedItem, journaledIn } from './tracked.js'
import { type PutObjectInput, type PutObjectOptions, type PutObjectOutput, type S3ObjectTarget, putS3Object, s3Deleter, s3Resource } from './s3.js'
import { type DynamoItemTarget, type PutItemInput, type PutItemOptions, type PutItemOutput, dynamoDeleter, dynamoResource, putDynamoItem } from './dynamodb.js'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Options of {@link CleanupScope.tempFile}.
 *
 * @example
 * ```ts
 * const thumb = await context.cleanup.tempFile({ prefix: 'thumb-', suffix: '.jpg' })
 * ```
 */
export interface TempFileOptions {
  /** Start of the file name, e.g. `'thumb-'`. */
  prefix?: string
  /** End of the file name, e.g. `'.jpg'`. */
  suffix?: string
}

/**
 * Options of {@link CleanupScope.tempDir}.
 *
 * @example
 * ```ts
 * const work = await context.cleanup.tempDir({ prefix: 'unzip-' })
 * ```
 */
export interface TempDirOptions {
  /** Start of the directory name. */
  prefix?: string
}

/**
 * The Middy request fields a scope looks at to tell whether its invocation has ended:
 * `earlyResponse` (Middy 6/7 set it right before returning early) and the context's
 * `awsRequestId` (a later invocation of another id in a sequential runtime). Never
 * `response`: a running request has one as soon as its handler returned.
 */
export interface RequestTrace {
  earlyResponse?: unknown
  context?: unknown
}

/** How an invocation scope's end was proven without it disposing itself. */
type EndProof = 'early-response' | 'later-invocation' | 'shutdown'

type ScopeState = 'active' | 'disposing' | 'disposed'

const requestIdOf = (request: RequestTrace): string | undefined => {
  const id = (request.context as { awsRequestId?: unknown } | null | undefined)?.awsRequestId
  return typeof id === 'string' && id !== '' ? id : undefined
}

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
export class CleanupScope implements RegisteredScope {
  /** @internal */ readonly config: ResolvedOptions
  #state: ScopeState = 'active'
  #items: TrackedItem[] | undefined
  #dir: PathItem | undefined
  #dirReady: Promise<PathItem> | undefined
  #disposal: Promise<CleanupReport> | undefined
  #registered = false
  #request: RequestTrace | undefined
  #requestId: string | undefined
  #proof: EndProof | undefined
  #locals: Map<object, unknown> | undefined
  #ids: Set<string> | undefined
  #journalLines: string[] | undefined
  #emptyExit: ExitPath | undefined
  /** @internal Runs after disposal, before `onReport` (leak detection adds `report.leaks` here). Never throws. */
  beforeReport: ((report: CleanupReport) => void | Promise<void>) | undefined

  /**
   * @param options - validated here: an unknown or ill-typed option throws {@link CleanupConfigError}.
   */
  constructor (options?: CleanupOptions) {
    this.config = resolveOptions(options)
  }

  /** @internal Scope for one Middy invocation (options already validated). */
  static forInvocation (config: ResolvedOptions, request: RequestTrace): CleanupScope {
    const scope = new CleanupScope(config as unknown as CleanupOptions)
    scope.#request = request
    scope.#requestId = requestIdOf(request)
    return scope
  }

  /** `'active'` until disposal starts, then `'disposing'`, then `'disposed'`. */
  get state (): ScopeState { return this.#state }

  /** @internal The per-invocation temp directory, once a temp file or dir was made. */
  get invocationDir (): string | undefined { return this.#dir?.real }

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
    const real = checkPath(p, this.config.allowPaths)
    this.#track({ type: 'path', kind: 'path', id: real, real, roots: this.config.allowPaths, attempts: 0, covers: 1 })
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
  async tempFile (options?: TempFileOptions): Promise<string> {
    const { prefix, suffix } = checkTempOptions('tempFile', options)
    const dir = await this.#invocationDir()
    const file = await createTempFile(dir.real, prefix, suffix)
    // Its own LIFO entry: a stream declared after it is closed before it is removed.
    // Only what holds the journal, the per-invocation dir, is removed last.
    this.#track({ type: 'path', kind: 'path', id: file, real: file, roots: dir.roots, attempts: 0, covers: 1 })
    return file
  }

  /**
   * Creates an empty directory inside this invocation's own directory under
   * os.tmpdir(); it is removed, with everything in it, on cleanup.
   *
   * @example
   * ```ts
   * const work = await context.cleanup.tempDir({ prefix: 'unzip-' })
   * ```
   */
  async tempDir (options?: TempDirOptions): Promise<string> {
    const { prefix } = checkTempOptions('tempDir', options)
    const dir = await this.#invocationDir()
    const sub = await createTempDir(dir.real, prefix)
    this.#track({ type: 'path', kind: 'path', id: sub, real: sub, roots: dir.roots, attempts: 0, covers: 1 })
    return sub
  }

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
    const close = closerFor(h)
    this.#track({ type: 'disposer', kind: 'handle', id: describeHandle(h), run: close, attempts: 0 })
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
    const run = checkDefer(fn)
    this.#track({ type: 'disposer', kind: 'defer', id: fn.name === '' ? 'defer' : `defer ${fn.name}`, run, attempts: 0 })
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
  s3Object (target: S3ObjectTarget): void {
    this.trackRemote(s3Deleter, s3Resource('s3Object', target, this.config))
  }

  /**
   * Sends PutObject with the scope's S3 client and deletes the object on cleanup.
   * Tracked before the request is sent, so an interrupted write is still cleaned.
   *
   * @example
   * ```ts
   * await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key: `tmp/${context.awsRequestId}.jpg`, Body }, { tags: true })
   * ```
   */
  putObject (input: PutObjectInput, options?: PutObjectOptions): Promise<PutObjectOutput> {
    return putS3Object(this, (r) => this.trackRemote(s3Deleter, r), this.config, input, options)
  }

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
  dynamoItem (target: DynamoItemTarget): void {
    this.trackRemote(dynamoDeleter, dynamoResource('dynamoItem', target, this.config))
  }

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
  putItem (input: PutItemInput, options?: PutItemOptions): Promise<PutItemOutput> {
    return putDynamoItem((r) => this.trackRemote(dynamoDeleter, r), this.config, input, options)
  }

  /**
   * Tracks a remote resource to be deleted, in one batch with the others of its
   * kind, by `deleter` — the extension point the built-in S3 and DynamoDB support
   * uses, open for other services (a resource declared twice, by `id`, is deleted once).
   *
   * @example
   * ```ts
   * const redisKeys: RemoteDeleter<RemoteResource & { key: string }> = {
   *   kind: 'redis',
   *   delete: async (resources, { signal }) => {
   *     await redis.del(resources.map((r) => r.key), { signal })
   *     return { cleaned: resources, failed: [], requests: 1 }
   *   },
   * }
   * context.cleanup.trackRemote(redisKeys, { kind: 'redis', id: `redis://${key}`, key })
   * ```
   */
  trackRemote<R extends RemoteResource> (deleter: RemoteDeleter<R>, resource: R): void {
    const tracked = this.#track({ type: 'remote', kind: resource.kind, id: resource.id, deleter, resource, attempts: 0 } satisfies RemoteItem)
    if (tracked) this.#journal(resource)
  }

  /** @internal Per-invocation values of `invocationLocal()`. */
  local<T> (key: object, factory: () => T): T {
    const locals = this.#locals ??= new Map()
    if (locals.has(key)) return locals.get(key) as T
    const value = factory()
    locals.set(key, value)
    return value
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
  run<T> (fn: () => T): T {
    return runInScope(this, fn)
  }

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
  dispose (): Promise<CleanupReport> {
    return this.disposeAs('manual', this.config.timeoutMs)
  }

  /** Same as {@link CleanupScope.dispose}, for `await using scope = new CleanupScope()`. */
  async [Symbol.asyncDispose] (): Promise<void> {
    await this.dispose()
  }

  /** @internal Disposes with a known exit path and budget. */
  disposeAs (exitPath: ExitPath, budgetMs: number): Promise<CleanupReport> {
    if (this.#disposal !== undefined) return this.#disposal
    if (this.#state === 'disposed') return (this.#disposal = Promise.resolve(emptyReport(this.#emptyExit ?? exitPath)))
    // "Never throws": a failure inside disposal (a hook, a bug) is logged, not rethrown
    // into the invocation or the standalone owner awaiting it.
    return (this.#disposal = this.#dispose(exitPath, budgetMs).then(undefined, (e: unknown) => {
      this.config.logger.error(`cleanup: disposing the scope (exit path ${exitPath}) failed: ${describeError(e)}`)
      return emptyReport(exitPath)
    }))
  }

  /**
   * @internal The per-invocation fast path: when nothing was declared and no hook
   * wants a report, ends the scope synchronously — no promise, no timer — and
   * returns true. A later `dispose()` still returns an (empty) report.
   */
  endIfEmpty (exitPath: ExitPath): boolean {
    if (this.#items !== undefined || this.#dir !== undefined || this.#disposal !== undefined ||
      this.beforeReport !== undefined || this.config.onReport !== undefined) return false
    this.#state = 'disposed'
    this.#emptyExit = exitPath
    this.#locals = undefined
    return true
  }

  /**
   * @internal True when this scope's invocation has provably ended without the
   * scope disposing itself (another middleware returned early, or its cleanup was
   * skipped): only then may anyone else dispose it. Proof is one of: Middy 6/7
   * `'earlyResponse' in request` (set synchronously right before Middy returns), a
   * later invocation of another request id in a sequential runtime, SIGTERM in a
   * sequential runtime (see {@link CleanupScope.noteLaterInvocation}). Never
   * `request.response`: an invocation still in its `after` chain has one.
   * Standalone scopes (no request) are only ever disposed by their owner.
   */
  isOrphaned (): boolean {
    if (this.#state !== 'active' || this.#request === undefined) return false
    if (this.#proof !== undefined) return true
    if ('earlyResponse' in this.#request) this.#proof = 'early-response'
    return this.#proof !== undefined
  }

  /** @internal The exit path to report when someone else disposes this orphan. */
  orphanExitPath (): ExitPath {
    return this.#proof === 'shutdown' ? 'shutdown' : 'early-return'
  }

  /**
   * @internal Called, in a sequential runtime only, by the `before` of a new
   * invocation: the runtime asked for that event after this scope's invocation
   * settled, so it has ended. A call with the same request id is a nested Middy
   * handler (same context) inside this very invocation: no proof; nor without ids.
   */
  noteLaterInvocation (requestId: string | undefined): void {
    if (this.#request === undefined || this.#proof !== undefined) return
    if (requestId === undefined || this.#requestId === undefined || requestId === this.#requestId) return
    this.#proof = 'later-invocation'
  }

  /** @internal Called, in a sequential runtime only, on SIGTERM: Lambda is shutting the environment down. */
  noteShutdown (): void {
    if (this.#request === undefined || this.#proof !== undefined) return
    this.#proof = 'shutdown'
  }

  /**
   * @internal The identities this scope still holds (declared paths, remote
   * resources, its per-invocation dir): a leftover of an ended scope with one of
   * these waits, since deleting it would delete what this scope is using.
   */
  heldIdentities (): Iterable<string> {
    const held: string[] = this.#ids === undefined ? [] : [...this.#ids]
    const dir = this.#dir?.real
    if (dir !== undefined) held.push(dir)
    return held
  }

  async #dispose (exitPath: ExitPath, budgetMs: number): Promise<CleanupReport> {
    this.#state = 'disposing'
    const items = this.#items
    const dir = this.#dir
    this.#items = undefined
    this.#dir = undefined
    this.#dirReady = undefined
    let report: CleanupReport
    if (items === undefined && dir === undefined) {
      // Nothing declared: no timer, no file system call, no promise fan-out.
      report = emptyReport(exitPath)
    } else {
      const work: Work = emptyWork()
      if (items !== undefined) for (const item of items) addToWork(work, item)
      if (dir !== undefined) {
        // The dir holds the journal of these: it stays until each is deleted or given up.
        if (items !== undefined) journaledIn(dir, items.filter((i): i is RemoteItem => i.type === 'remote' && journalLine(i.resource) !== undefined))
        addToWork(work, dir)
      }
      report = await runWork(work, { exitPath, budgetMs, logger: this.config.logger, retryLater })
    }
    if (this.#registered) state.active.delete(this)
    this.#state = 'disposed'
    // AsyncLocalStorage may keep this scope reachable until the next enterWith:
    // drop per-invocation values now (get() throws on a disposed scope anyway).
    this.#locals = undefined
    if (this.beforeReport !== undefined) await this.beforeReport(report)
    if (report.failed.length > 0) logFailures(this.config.logger, report)
    const onReport = this.config.onReport
    if (onReport !== undefined) {
      try {
        const r = onReport(report)
        if (r instanceof Promise) r.catch((e: unknown) => this.config.logger.warn(`cleanup: onReport threw: ${describeError(e)}`))
      } catch (e) {
        this.config.logger.warn(`cleanup: onReport threw: ${describeError(e)}`)
      }
    }
    return report
  }

  /** Returns true when the item is now tracked by this (active) scope. */
  #track (item: TrackedItem): boolean {
    if (this.#state !== 'active') { this.#late(item); return false }
    if (item.type !== 'disposer') {
      // Declared twice (same path, or same resource through the same client): deleted,
      // and counted, once. The client is part of the identity: one table and key
      // through two regions' clients are two items.
      const ids = this.#ids ??= new Set()
      const identity = identityKey(item)
      if (ids.has(identity)) return false
      ids.add(identity)
    }
    this.#register()
    ;(this.#items ??= []).push(item)
    return true
  }

  #invocationDir (): Promise<PathItem> {
    if (this.#dirReady !== undefined) return this.#dirReady
    const item = this.#dirItem()
    const ready = mkdir(item.real, { recursive: true, mode: 0o700 }).then(() => item)
    this.#dirReady = ready
    return ready
  }

  // Registered before it exists, so a directory whose creation is interrupted is still removed.
  #dirItem (): PathItem {
    if (this.#dir !== undefined) return this.#dir
    const real = join(realTmpdir(), invocationDirName())
    const item: PathItem = { type: 'path', kind: 'path', id: `dir:${real}`, real, roots: [realTmpdir()], attempts: 0, covers: 0 }
    if (this.#state === 'active') {
      this.#dir = item
      this.#register()
    } else {
      this.#late(item)
    }
    return item
  }

  // Remote declarations are journaled in the per-invocation dir (see journal.ts), in
  // one synchronous write per tick: before the request that creates them goes out.
  #journal (resource: RemoteResource): void {
    const line = journalLine(resource)
    if (line === undefined) return
    const pending = this.#journalLines ??= []
    pending.push(line)
    if (pending.length > 1) return
    const dir = this.#dirItem().real
    queueMicrotask(() => {
      const lines = this.#journalLines ?? []
      this.#journalLines = undefined
      // disposal already has these resources (and removes the dir): do not recreate it
      if (this.#state !== 'active' || lines.length === 0) return
      try { appendJournal(dir, lines) } catch (e) { warnOnceJournal(this.config.logger, e) }
    })
  }

  // Code still running after its invocation timed out: throwing here would be an
  // unhandled rejection in orphaned code, so the resource goes to the leftovers.
  #late (item: TrackedItem): void {
    retryLater(item)
    this.config.logger.warn(`cleanup: ${item.kind} ${item.id} was declared after its invocation's cleanup had started (the handler kept running after a timeout?); it will be cleaned at the next invocation or at shutdown.`)
  }

  #register (): void {
    if (this.#registered) return
    this.#registered = true
    state.active.add(this)
  }
}

// Also under the registered symbol, for realms where Symbol.asyncDispose is missing.
if (asyncDisposeSymbol !== (Symbol as { asyncDispose?: symbol }).asyncDispose) {
  Object.defineProperty(CleanupScope.prototype, asyncDisposeSymbol, { value: CleanupScope.prototype.dispose, writable: true, configurable: true })
}

const warnOnceJournal = (logger: ResolvedOptions['logger'], e: unknown): void =>
  warnOnce(logger, 'journal', `cleanup: could not write the journal of temp S3 objects / DynamoDB items to /tmp (${describeError(e)}); they are still deleted on every exit path, but not after a hard kill.`)

