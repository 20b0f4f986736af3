import type { Deadline } from './deadline.js'
import type { Logger } from './logger.js'

/**
 * A remote resource (S3 object, DynamoDB item, …) as a deleter sees it. `id` is
 * unique per resource (`s3://bucket/key`), so one declared twice is deleted once.
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
}

/**
 * What a deleter gets: the budget as a signal to pass to every `send()`.
 *
 * @example
 * ```ts
 * const deleteAll = async (resources: CacheEntry[], { signal, logger }: DeleteContext) => {
 *   if (signal.aborted) logger.warn('cleanup budget already spent')
 *   await redis.del(resources.map((r) => r.key), { signal }) // stop when the budget is spent
 * }
 * ```
 */
export interface DeleteContext {
  signal: AbortSignal
  deadline: Deadline
  logger: Logger
}

/**
 * What a deleter returns. `retryable` failures go to the leftovers list.
 *
 * @example
 * ```ts
 * const outcome: DeleteOutcome<CacheEntry> = { cleaned: [], failed: [], requests: 1 }
 * for (const r of resources) {
 *   if (deleted.has(r.key)) outcome.cleaned.push(r)
 *   else outcome.failed.push({ resource: r, error: new Error(`${r.id} still exists`), retryable: true })
 * }
 * ```
 */
export interface DeleteOutcome<R extends RemoteResource = RemoteResource> {
  cleaned: R[]
  failed: Array<{ resource: R, error: unknown, retryable: boolean }>
  /** API calls actually sent, retries included */
  requests: number
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

/** A local disposer (`defer`, `handle`). */
export interface DisposerItem { type: 'disposer', kind: 'defer' | 'handle', id: string, run: () => unknown, attempts: number }
/** A file or directory (`path`, `tempFile`, `tempDir`, the per-invocation directory). */
export interface PathItem { type: 'path', kind: 'path', id: string, real: string, roots: readonly string[], attempts: number, covers: number }
export interface RemoteItem { type: 'remote', kind: string, id: string, deleter: RemoteDeleter<any>, resource: RemoteResource, attempts: number }
export type TrackedItem = DisposerItem | PathItem | RemoteItem

/** Gives up on a leftover after this many failed cleanups (the first one included). */
export const MAX_ATTEMPTS = 3
