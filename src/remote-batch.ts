import { backoffWithin } from './backoff.js'
import { CleanupDeadlineError } from './errors.js'
import type { DeleteContext, DeleteOutcome, RemoteDeleter, RemoteResource } from './scope-items.js'

// The one batch/retry skeleton of every remote kind (S3 objects, DynamoDB items,
// multipart uploads). Dedupe is not done here: the scope and the disposal run already
// hand a deleter one resource per identity (kind + client + id). A kind supplies how a
// resource goes on the wire (`entries`), which entries may share a request
// (`groupKey`, `batchSize`) and how one request is sent (`sendBatch`). One retry layer:
// a whole request that fails was already retried by the SDK's strategy and is never
// re-sent here; only a partial result (`retry`: S3 per-key Errors with a transient code,
// DynamoDB UnprocessedItems) is re-sent, with backoff, while the budget lasts.

/**
 * Requests in flight at once, across the buckets/tables of one cleanup.
 *
 * @example
 * ```ts
 * await deleteInBatches(kind, resources, { ...budget, concurrency: DEFAULT_CONCURRENCY })
 * ```
 */
export const DEFAULT_CONCURRENCY = 8

/**
 * Runs `tasks` with at most `limit` of them at a time; never rejects (tasks handle their errors).
 *
 * @example
 * ```ts
 * await pool(chunks.map((part) => () => send(part)), 8)
 * ```
 */
export const pool = async (tasks: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> => {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++]!
      await task()
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), tasks.length) }, worker))
}

/**
 * Splits `items` into chunks of at most `size`.
 *
 * @example
 * ```ts
 * chunk([1, 2, 3], 2) // [[1, 2], [3]]
 * ```
 */
export const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * What a kind's `sendBatch` gets: the budget's signal to pass to every `send()`,
 * the request counter, and the reason to give entries the budget stopped.
 *
 * @example
 * ```ts
 * const sent = await sendCounted(client, command, ctx) // SendContext is a subset
 * if (!sent.ok && isAbort(sent.error, ctx.signal)) return { sent: sent.attempts > 0, cleaned: [], retry: [], failed: part.map((entry) => ({ entry, error: ctx.deadlineError(), retryable: true })) }
 * ```
 */
export interface BatchContext {
  readonly signal: AbortSignal
  /** called with 1 as each HTTP attempt goes out (the SDK's retries included) */
  countRequests: (n: number) => void
  /** the signal's reason, or a CleanupDeadlineError */
  deadlineError: () => unknown
}

/**
 * What one request did with its chunk. Every entry of the chunk is in exactly one
 * list (one left out is failed, retryable).
 *
 * @example
 * ```ts
 * const result: BatchResult<Entry> = { sent: true, cleaned: part.filter((e) => !throttled.has(e)), retry: [...throttled].map((entry) => ({ entry, error })), failed: [] }
 * ```
 */
export interface BatchResult<E> {
  /** at least one HTTP attempt went out for the chunk (its entries used an attempt) */
  sent: boolean
  /** confirmed deleted, or already gone */
  cleaned: E[]
  /** partial result worth another attempt now: re-sent after a backoff while the budget lasts, else failed (retryable) with `error` */
  retry: Array<{ entry: E, error: unknown }>
  /** final for this cleanup; `retryable` ones go to the leftovers list */
  failed: Array<{ entry: E, error: unknown, retryable: boolean }>
}

/**
 * The result of a request that failed as a whole: every entry of `part` failed with `error`.
 *
 * @example
 * ```ts
 * if (!sent.ok) return allFailed(part, reason, isRetryable(sent.error), sent.attempts > 0)
 * ```
 */
export const allFailed = <E>(part: readonly E[], error: unknown, retryable: boolean, sent: boolean): BatchResult<E> =>
  ({ sent, cleaned: [], retry: [], failed: part.map((entry) => ({ entry, error, retryable })) })

/**
 * How a kind puts its resources on the wire, for {@link deleteInBatches}.
 *
 * @example
 * ```ts
 * const uploads: BatchKind<UploadResource, UploadResource> = {
 *   entries: (r) => [r],
 *   groupKey: (r) => `${clientId(r.client)}\0${r.bucket}`,
 *   batchSize: () => 1, // AbortMultipartUpload takes one upload
 *   sendBatch: ([r], ctx) => abortUpload(r!, ctx),
 * }
 * ```
 */
export interface BatchKind<R extends RemoteResource, E> {
  /** Settles a resource without a request: `'cleaned'` (already deleted), a failure (never sent), or undefined: send it. */
  settleEarly?: (r: R) => 'cleaned' | { error: unknown, retryable: boolean } | undefined
  /** the wire entries of a resource (S3: one per version); it is cleaned once all of them are */
  entries: (r: R) => readonly E[]
  /** entries with one key may share a request: client + bucket/table (+ mode); never two clients */
  groupKey: (e: E) => string
  /** entries per request at most, for the group `e` is in (≤ 1000 S3, ≤ 25 DynamoDB, 1 for single deletes) */
  batchSize: (e: E) => number
  /** sends one request for `chunk`; never throws */
  sendBatch: (chunk: E[], ctx: BatchContext) => Promise<BatchResult<E>>
  /** after a resource is confirmed deleted (e.g. marks it done, so a leftover retry does not send it again) */
  onCleaned?: (r: R) => void
}

/**
 * The budget of one {@link deleteInBatches} call (a `DeleteContext` has it).
 *
 * @example
 * ```ts
 * const options: BatchOptions = { signal: context.signal, deadline: context.deadline, countRequests: context.countRequests }
 * ```
 */
export interface BatchOptions {
  /** the cleanup budget's signal, passed to every `send()` */
  signal: AbortSignal
  /** the cleanup budget: `sleep` paces the partial re-sends and ends with it */
  deadline: { remainingMs: () => number, sleep: (ms: number) => Promise<void> }
  /** called with 1 as each HTTP attempt goes out (the SDK's retries included) */
  countRequests: (n: number) => void
  /** requests in flight at once, across groups @default DEFAULT_CONCURRENCY */
  concurrency?: number
  /** jitter of the partial re-send backoff, in [0, 1) @default Math.random */
  random?: () => number
}

/** How far one resource got: it settles when its last entry does, with the first error seen. */
interface Tally<R> { resource: R, left: number, error: unknown, retryable: boolean, sent: boolean }

class BatchRun<R extends RemoteResource, E> {
  readonly outcome: DeleteOutcome<R> = { cleaned: [], failed: [] }
  readonly #tallies = new Map<E, Tally<R>>()
  readonly #ctx: BatchContext
  readonly #budget: { signal: AbortSignal, remainingMs: () => number, sleep: (ms: number) => Promise<void> }

  constructor (readonly kind: BatchKind<R, E>, readonly options: BatchOptions) {
    const { signal, deadline } = options
    this.#ctx = {
      signal,
      countRequests: options.countRequests,
      deadlineError: () => signal.reason ?? new CleanupDeadlineError(Math.max(0, deadline.remainingMs())),
    }
    this.#budget = { signal, remainingMs: () => deadline.remainingMs(), sleep: (ms) => deadline.sleep(ms) }
  }

  /** The requests to make: one task per chunk of each group. */
  plan (resources: readonly R[]): Array<() => Promise<void>> {
    const { kind } = this
    const groups = new Map<string, E[]>()
    for (const r of resources) {
      const early = kind.settleEarly?.(r)
      if (early === 'cleaned') { this.outcome.cleaned.push(r); continue }
      if (early !== undefined) { this.outcome.failed.push({ resource: r, error: early.error, retryable: early.retryable, sent: false }); continue }
      const entries = kind.entries(r)
      const tally: Tally<R> = { resource: r, left: entries.length, error: undefined, retryable: false, sent: false }
      if (entries.length === 0) { this.#done(tally); continue }
      for (const e of entries) {
        this.#tallies.set(e, tally)
        const k = kind.groupKey(e)
        const list = groups.get(k)
        if (list === undefined) groups.set(k, [e])
        else list.push(e)
      }
    }
    const tasks: Array<() => Promise<void>> = []
    for (const list of groups.values()) {
      const size = Math.max(1, kind.batchSize(list[0]!))
      if (list.length <= size) tasks.push(() => this.run(list)) // the common case: no copy
      else for (const part of chunk(list, size)) tasks.push(() => this.run(part))
    }
    return tasks
  }

  /** Sends a chunk, then re-sends only what came back as a partial result, while the budget lasts. */
  async run (part: E[]): Promise<void> {
    const random = this.options.random ?? Math.random
    let pending = part
    for (let attempt = 0; ; attempt++) {
      if (this.#ctx.signal.aborted) { this.#settleAll(pending, this.#ctx.deadlineError(), true); return }
      let result: BatchResult<E>
      try {
        result = await this.kind.sendBatch(pending, this.#ctx)
      } catch (error) { // a sender is not supposed to throw: its entries are left for later
        this.#settleAll(pending, error, true)
        return
      }
      const { sent } = result
      for (const e of result.cleaned) this.#settle(e, sent)
      for (const f of result.failed) this.#settle(f.entry, sent, f.error, f.retryable)
      if (sent) for (const { entry } of result.retry) { const tally = this.#tallies.get(entry); if (tally !== undefined) tally.sent = true }
      if (result.cleaned.length + result.failed.length + result.retry.length !== pending.length) this.#unreported(pending, result)
      if (result.retry.length === 0) return
      if (!await backoffWithin(attempt, this.#budget, random)) {
        // no room for another attempt: the next invocation retries these
        for (const { entry, error } of result.retry) this.#settle(entry, sent, error, true)
        return
      }
      pending = result.retry.map((x) => x.entry)
    }
  }

  #unreported (pending: readonly E[], result: BatchResult<E>): void {
    const seen = new Set<E>([...result.cleaned, ...result.failed.map((f) => f.entry), ...result.retry.map((x) => x.entry)])
    for (const e of pending) if (!seen.has(e)) this.#settle(e, result.sent, new Error('the batch sender did not report this entry'), true)
  }

  #settleAll (entries: readonly E[], error: unknown, retryable: boolean): void {
    for (const e of entries) this.#settle(e, false, error, retryable)
  }

  /** `sent`: this entry's latest request went out (any earlier one that did already counts). */
  #settle (e: E, sent: boolean, error?: unknown, retryable = false): void {
    const tally = this.#tallies.get(e)
    if (tally === undefined) return
    this.#tallies.delete(e) // an entry settles once, whatever a sender reports twice
    if (sent) tally.sent = true
    if (error !== undefined && tally.error === undefined) { tally.error = error; tally.retryable = retryable }
    if (--tally.left === 0) this.#done(tally)
  }

  #done (tally: Tally<R>): void {
    const { resource, error, retryable, sent } = tally
    if (error === undefined) {
      this.kind.onCleaned?.(resource)
      this.outcome.cleaned.push(resource)
    } else {
      this.outcome.failed.push(sent ? { resource, error, retryable } : { resource, error, retryable, sent: false })
    }
  }
}

/**
 * Deletes `resources` of one kind in batches: grouped by the kind's `groupKey`,
 * chunked by its `batchSize`, the chunks run with one concurrency bound, each
 * sent by the kind's `sendBatch`; partial results are re-sent with
 * `backoffWithin` until done or the budget ends (then failed, retryable, for the
 * next invocation). `cleaned` holds only confirmed deletes; a resource none of
 * whose requests went out is failed with `sent: false`. Never throws.
 *
 * @example
 * ```ts
 * const outcome = await deleteInBatches(s3Batch, objects, { signal, deadline, countRequests })
 * ```
 */
export const deleteInBatches = async <R extends RemoteResource, E>(
  kind: BatchKind<R, E>, resources: readonly R[], options: BatchOptions,
): Promise<DeleteOutcome<R>> => {
  const run = new BatchRun(kind, options)
  await pool(run.plan(resources), options.concurrency ?? DEFAULT_CONCURRENCY)
  return run.outcome
}

/**
 * The engine's deleter of a batch kind: what `scope.trackRemote` is given (keep
 * one per process, so all resources of a cleanup reach it in one call).
 *
 * @example
 * ```ts
 * export const uploadDeleter = batchDeleter('s3-multipart', uploads)
 * scope.trackRemote(uploadDeleter, resource)
 * ```
 */
export const batchDeleter = <R extends RemoteResource, E>(kind: string, batch: BatchKind<R, E>): RemoteDeleter<R> => ({
  kind,
  delete: (resources: R[], context: DeleteContext) =>
    deleteInBatches(batch, resources, { signal: context.signal, deadline: context.deadline, countRequests: context.countRequests }),
})
