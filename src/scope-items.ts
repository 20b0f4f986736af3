// What a scope holds and hands to a disposal run: the item types (disposer, path,
// remote), the public resource/deleter types users implement, identity, attempts.
import { clientId } from './client-id.js'
import type { Deadline } from './deadline.js'
import type { Logger } from './logger.js'

/**
 * A remote resource (S3 object, DynamoDB item, …) as a deleter sees it. `id` is
 * unique per resource of one client (`s3://bucket/key`): the same `id` through two
 * `client`s (two regions, two accounts) is two resources (see `identityOf`).
 * Its `kind` and `id` are what a failure shows as `report.failed[].kind` / `.id`.
 *
 * @example
 * ```ts
 * interface CacheEntry extends RemoteResource { kind: 'redis', id: string, key: string }
 * const entry: CacheEntry = { kind: 'redis', id: `redis://sessions/${key}`, key }
 * ```
 */
export interface RemoteResource {
  readonly kind: string
  readonly id: string
  /** the SDK client (or any object) the resource lives behind: part of its identity */
  readonly client?: object
}

/**
 * What makes two declarations the same resource: kind, client and id. Names alone
 * are not enough — the same table and key through clients of two regions are two
 * items, and deduplicating them would leave one undeleted.
 *
 * @example
 * ```ts
 * identityOf({ kind: 's3', id: 's3://b/k', client: east }) === identityOf({ kind: 's3', id: 's3://b/k', client: west }) // false
 * ```
 */
export const identityOf = (r: RemoteResource): string => {
  const client = r.client
  return `${r.kind}\0${typeof client === 'object' && client !== null ? clientId(client) : 0}\0${r.id}`
}

/**
 * What a deleter gets: the budget as a signal to pass to every `send()`, the
 * deadline (`deadline.sleep(ms)` for a backoff that ends when the budget does and
 * holds the event loop exactly while the invocation waits), and `countRequests` to
 * call as requests go out, so `report.requests` is true even when the deleter is
 * still running at the deadline.
 *
 * @example
 * ```ts
 * const deleteAll = async (resources: CacheEntry[], { signal, deadline, countRequests }: DeleteContext) => {
 *   for (let attempt = 0; !signal.aborted; attempt++) {
 *     countRequests(1)
 *     if (await redis.del(resources.map((r) => r.key), { signal })) return
 *     await deadline.sleep(50 * 2 ** attempt) // resolves early when the budget is spent
 *   }
 * }
 * ```
 */
export interface DeleteContext {
  signal: AbortSignal
  deadline: Deadline
  logger: Logger
  /** Adds `n` requests sent (HTTP attempts, retries included) to `report.requests`. */
  countRequests: (n: number) => void
}

/**
 * What a deleter returns. `cleaned`: confirmed deleted. `retryable` failures go to
 * the leftovers list; a failure with `sent: false` (no request for that resource
 * ever went out, e.g. the budget was already spent) does not use up one of its
 * attempts, so nothing is given up before real attempts were made.
 *
 * @example
 * ```ts
 * const outcome: DeleteOutcome<CacheEntry> = { cleaned: [], failed: [] }
 * for (const r of resources) {
 *   if (deleted.has(r.key)) outcome.cleaned.push(r)
 *   else outcome.failed.push({ resource: r, error: new Error(`${r.id} still exists`), retryable: true })
 * }
 * ```
 */
export interface DeleteOutcome<R extends RemoteResource = RemoteResource> {
  cleaned: R[]
  failed: Array<{ resource: R, error: unknown, retryable: boolean, sent?: false }>
  /**
   * Requests sent, retries included — only for a deleter that does not call
   * `context.countRequests` (when it does, this is ignored).
   */
  requests?: number
}

/**
 * Batched deletion for one kind of remote resource. The extension point the S3
 * and DynamoDB modules plug into: a scope groups declared resources by deleter
 * and hands each deleter all of its resources at once, so it can batch.
 * Declare resources for your own deleter with `scope.trackRemote(deleter, resource)`;
 * keep one deleter object per process so a scope's resources batch together.
 *
 * @example
 * ```ts
 * const redisDeleter: RemoteDeleter<CacheEntry> = {
 *   kind: 'redis',
 *   delete: async (resources, { signal }) => {
 *     await redis.del(resources.map((r) => r.key), { signal }) // one round trip for all of them
 *     return { cleaned: resources, failed: [], requests: 1 }
 *   },
 * }
 * ```
 */
export interface RemoteDeleter<R extends RemoteResource = RemoteResource> {
  readonly kind: string
  delete: (resources: R[], context: DeleteContext) => Promise<DeleteOutcome<R>>
}

/**
 * A local disposer (`defer`, `handle`).
 *
 * @example
 * ```ts
 * const item: DisposerItem = { type: 'disposer', kind: 'defer', id: 'defer flush', run: () => metrics.flush(), attempts: 0 }
 * ```
 */
export interface DisposerItem { type: 'disposer', kind: 'defer' | 'handle', id: string, run: () => unknown, attempts: number }
/**
 * A file or directory (`path`, `tempFile`, `tempDir`, the per-invocation directory).
 * `covers`: resources it counts for (0 for a per-invocation dir, bookkeeping only).
 * `holders`: remote resources journaled in this dir and still pending; while there
 * are any, the dir (and its `.journal`) is kept.
 *
 * @example
 * ```ts
 * const item: PathItem = { type: 'path', kind: 'path', id: '/tmp/out.jpg', real: '/tmp/out.jpg', roots: ['/tmp'], attempts: 0, covers: 1 }
 * ```
 */
export interface PathItem {
  type: 'path', kind: 'path', id: string, real: string, roots: readonly string[], attempts: number, covers: number
  holders?: Set<RemoteItem>
}
/**
 * A remote resource; `dir`: the per-invocation dir whose journal lists it.
 *
 * @example
 * ```ts
 * const item: RemoteItem = { type: 'remote', kind: 's3', id: r.id, deleter: s3Deleter, resource: r, attempts: 0 }
 * ```
 */
export interface RemoteItem {
  type: 'remote', kind: string, id: string, deleter: RemoteDeleter<any>, resource: RemoteResource, attempts: number
  dir?: PathItem
  /** `identityOf` its resource, once computed (see {@link itemIdentity}) */
  identity?: string
}

/**
 * @internal `identityOf` an item's resource, built once per item: the scope's
 * dedupe and the disposal's grouping both need it, and 1000 objects' identities built
 * (and hashed as Map keys) twice were a measurable part of cleaning them.
 *
 * @example
 * ```ts
 * itemIdentity(item) === identityOf(item.resource) // true, and cached on the item
 * ```
 */
export const itemIdentity = (item: RemoteItem): string => item.identity ??= identityOf(item.resource)
/**
 * Anything a scope holds and a disposal run releases.
 *
 * @example
 * ```ts
 * const items: TrackedItem[] = [deferItem, pathItem, remoteItem] // released in reverse
 * ```
 */
export type TrackedItem = DisposerItem | PathItem | RemoteItem

/**
 * Gives up on a resource after this many real attempts (the first cleanup's
 * included). A delete that was never sent — the budget was spent before it could
 * start, a deleter's `sent: false` — is deferred without using one.
 *
 * @example
 * ```ts
 * if (item.attempts >= MAX_ATTEMPTS) report.failed.push({ kind: item.kind, id: item.id, error }) // given up
 * ```
 */
export const MAX_ATTEMPTS = 3

/**
 * Ties remote items to the per-invocation dir whose `.journal` lists them: the
 * engine keeps that dir until every one of them is confirmed deleted or given up,
 * so a process killed meanwhile leaves the journal for the next one.
 *
 * @example
 * ```ts
 * journaledIn(dirItem, revived.items) // the dir stays until each is deleted or given up
 * ```
 */
export const journaledIn = (dir: PathItem, items: Iterable<RemoteItem>): void => {
  const holders = dir.holders ??= new Set()
  for (const item of items) { item.dir = dir; holders.add(item) }
}
