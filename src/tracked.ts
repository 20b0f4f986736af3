import type { Deadline } from './deadline.js'
import type { Logger } from './logger.js'

/**
 * A remote resource (S3 object, DynamoDB item, …) as a deleter sees it. `id` is
 * unique per resource (`s3://bucket/key`), so one declared twice is deleted once.
 */
export interface RemoteResource {
  readonly kind: string
  readonly id: string
}

/** What a deleter gets: the budget as a signal to pass to every `send()`. */
export interface DeleteContext {
  signal: AbortSignal
  deadline: Deadline
  logger: Logger
}

/** What a deleter returns. `retryable` failures go to the leftovers list. */
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
