import { AsyncLocalStorage } from 'node:async_hooks'
import { dynamoResource } from './dynamodb.js'
import { CleanupConfigError, CleanupDeclarationError, describeError } from './errors.js'
import { type CleanupMiddleware, cleanup } from './middleware.js'
import { budgetFor, waitAtMost } from './middleware-budget.js'
import { type CleanupOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { processSlot } from './process-state.js'
import type { ExitPath } from './report.js'
import { s3Resource } from './s3.js'
import { CleanupScope, coreOf } from './scope.js'
import { isRecord, typeOf } from './validation.js'

// A durable execution replays its handler in every invocation (docs/durable.md): context.cleanup
// stays the invocation's, released also when it suspends (PENDING: Middy's after/onError never
// run); what a later invocation needs is declared in a durableStep, checkpointed with the step's
// result, and deleted by the invocation that completes the execution (SUCCEEDED or FAILED).

/**
 * An execution-wide declaration, as a durable step checkpoints it (plain JSON: it is
 * re-read by later invocations, possibly in another execution environment).
 *
 * @example
 * ```ts
 * const d: DurableDeclaration = { kind: 's3', bucket: 'scratch-bucket', key: 'tmp/job-1.csv' }
 * ```
 */
export type DurableDeclaration =
  | { kind: 's3', bucket: string, key: string, versionId?: string, etag?: string }
  | { kind: 'dynamodb', table: string, key: Record<string, unknown> }

/**
 * What a `durable.step()` hands its function to declare resources that must live
 * until the durable execution completes. Each call is validated at once, as
 * `context.cleanup`'s are, and uses the clients of {@link durableCleanup}'s options
 * (a per-call client cannot be checkpointed). Declare before you write: a step that
 * throws has its declarations deleted at once.
 *
 * @example
 * ```ts
 * await durable.step(context, 'stage', async (_step, execution) => {
 *   execution.s3Object({ bucket: 'scratch-bucket', key: 'tmp/job-1.csv' })
 *   await s3.send(new PutObjectCommand({ Bucket: 'scratch-bucket', Key: 'tmp/job-1.csv', Body }))
 * })
 * ```
 */
export interface ExecutionCleanup {
  /** Deletes this S3 object when the execution completes (`versionId`/`etag` as for `context.cleanup.s3Object`). */
  s3Object: (target: { bucket: string, key: string, versionId?: string, etag?: string }) => void
  /** Deletes this DynamoDB item when the execution completes (its key must be plain JSON: no binary attributes). */
  dynamoItem: (target: { table: string, key: Record<string, unknown> }) => void
}

/**
 * What {@link durableCleanup} returns: Middy's durable execution mode, wrapped, and
 * `cleanup()` built from the same options.
 *
 * @example
 * ```ts
 * const durable: DurableCleanup<typeof executionModeDurableContext> = durableCleanup(executionModeDurableContext, { s3 })
 * ```
 */
export interface DurableCleanup<M> {
  /** Pass it as `middy({ executionMode })`. */
  readonly executionMode: M
  /** `cleanup()` with the same options: `.use()` it as usual. */
  readonly cleanup: CleanupMiddleware
  /** `durable.step()`: `durable.step(context, name, (step, execution) => …)`. */
  readonly step: typeof durableStep
}

interface Invocation {
  readonly config: ResolvedOptions
  /** Middy requests of this invocation: their context.cleanup is the invocation's scope */
  readonly requests: Array<{ context?: unknown }>
  /** execution declarations this invocation's durableSteps made or replayed */
  readonly declared: DurableDeclaration[]
}

interface MiddyModeContext { middyRequest: (event: unknown, context: unknown) => { context?: unknown }, [k: string]: unknown }
type Wrapped = ((event: unknown, context: unknown) => Promise<unknown>) & { handler: (h: unknown) => unknown }

// Field of a durableStep checkpoint that carries its declarations next to the value.
const FIELD = 'middyCleanup'

const invocations = (): AsyncLocalStorage<Invocation> => processSlot('durable', () => new AsyncLocalStorage<Invocation>())

/**
 * Wraps Middy's durable execution mode so that cleanup follows the execution:
 * `context.cleanup` is released at the end of every invocation (also one that
 * suspends on a wait, where Middy's after/onError never run), and what
 * `durable.step()`s declared on the execution is deleted by the invocation that
 * completes it (status SUCCEEDED or FAILED). The handler's outcome is unchanged.
 *
 * @param executionMode - `executionModeDurableContext` from `@middy/core/executionModeDurableContext`
 * @param options - `cleanup()`'s options; the returned `cleanup` middleware uses them too
 * @example
 * ```ts
 * import middy from '@middy/core'
 * import { executionModeDurableContext } from '@middy/core/executionModeDurableContext'
 *
 * const durable = durableCleanup(executionModeDurableContext, { s3, allow: { s3: ['scratch-bucket/tmp/'] } })
 * export const handler = middy({ executionMode: durable.executionMode })
 *   .use(durable.cleanup)
 *   .handler(async (event, context) => {
 *     const key = await durable.step(context, 'stage', async (_step, execution) => {
 *       execution.s3Object({ bucket: 'scratch-bucket', key: `tmp/${event.id}` })
 *       await s3.send(new PutObjectCommand({ Bucket: 'scratch-bucket', Key: `tmp/${event.id}`, Body: 'x' }))
 *       return `tmp/${event.id}`
 *     })
 *     await context.wait({ hours: 1 })                   // ends this invocation; the object stays
 *     return context.step('use', () => process(key))    // a later invocation reads it; deleted after
 *   })
 * ```
 */
export const durableCleanup = <M extends (...args: any[]) => any>(executionMode: M, options?: CleanupOptions): DurableCleanup<M> => {
  if (typeof executionMode !== 'function') {
    throw new CleanupConfigError(`durableCleanup(executionMode, options) needs Middy's durable execution mode, e.g. durableCleanup(executionModeDurableContext, { s3 }) with import { executionModeDurableContext } from '@middy/core/executionModeDurableContext'; got ${typeOf(executionMode)}.`)
  }
  const config = resolveOptions(options)
  const wrapped = (ctx: MiddyModeContext, ...rest: unknown[]): Wrapped => wrapHandler(executionMode(withRequests(ctx), ...rest) as Wrapped, config)
  return Object.freeze({ executionMode: wrapped as unknown as M, cleanup: cleanup(config as unknown as CleanupOptions), step: durableStep })
}

// Middy builds each invocation's request with ctx.middyRequest: noting it here is how the
// end of the invocation finds that invocation's context.cleanup.
const withRequests = (ctx: MiddyModeContext): MiddyModeContext => ({
  ...ctx,
  middyRequest: (event, context) => {
    const request = ctx.middyRequest(event, context)
    invocations().getStore()?.requests.push(request)
    return request
  },
})

const wrapHandler = (inner: Wrapped, config: ResolvedOptions): Wrapped => {
  const outer = (async (event: unknown, lambdaContext: unknown) => {
    const invocation: Invocation = { config, requests: [], declared: [] }
    let output: unknown
    try {
      output = await invocations().run(invocation, () => inner(event, lambdaContext))
    } catch (e) {
      // The SDK threw (an unrecoverable invocation error): Lambda retries this invocation, the execution goes on.
      await ended(invocation, undefined, lambdaContext)
      throw e
    }
    await ended(invocation, isRecord(output) ? output.Status : undefined, lambdaContext)
    return output
  }) as Wrapped
  outer.handler = (h: unknown) => { inner.handler(h); return outer }
  return outer
}

// Never throws, and settles within the budget (plus half the safety margin): past that,
// disposal goes on in the background and the SDK's answer is returned.
const ended = async (invocation: Invocation, status: unknown, lambdaContext: unknown): Promise<void> => {
  const { config } = invocation
  const budget = budgetFor(config, lambdaContext)
  const completed = status === 'SUCCEEDED' || status === 'FAILED'
  const exitPath: ExitPath = status === 'SUCCEEDED' || status === 'PENDING' ? 'success' : 'error'
  const started = performance.now()
  const work = (async () => {
    // after/onError already released it unless the invocation suspended (or the SDK threw).
    await Promise.all(invocation.requests.map(async (r) => { await releaseScopeOf(r, exitPath, budget) }))
    if (completed) await deleteDeclared(invocation.declared, exitPath, Math.max(0, budget - (performance.now() - started)), config)
  })().catch((e: unknown) => config.logger.error(`cleanup: ending a durable execution's invocation (status ${String(status)}) failed: ${describeError(e)}; the handler's outcome is unchanged.`))
  await waitAtMost(work, budget + Math.floor(config.safetyMarginMs / 2))
}

const releaseScopeOf = async (request: { context?: unknown }, exitPath: ExitPath, budget: number): Promise<void> => {
  const scope = (request.context as { cleanup?: unknown } | null | undefined)?.cleanup
  if (!(scope instanceof CleanupScope) || scope.state !== 'active') return
  await coreOf(scope).disposeFor(exitPath, budget)
}

// Declared again through the public scope API (validated against today's options, so a
// checkpoint of an older deployment cannot reach outside today's allow-lists), deleted in
// batches, reported through onReport like any scope.
const deleteDeclared = async (declared: readonly DurableDeclaration[], exitPath: ExitPath, budget: number, config: ResolvedOptions): Promise<void> => {
  if (declared.length === 0) return
  const scope = new CleanupScope(config as unknown as CleanupOptions)
  for (const d of declared) {
    try {
      if (d.kind === 's3') scope.s3Object({ bucket: d.bucket, key: d.key, versionId: d.versionId, etag: d.etag })
      else scope.dynamoItem({ table: d.table, key: d.key })
    } catch (e) {
      config.logger.warn(`cleanup: not deleting ${showDeclaration(d)} at the end of the durable execution: ${describeError(e)}`)
    }
  }
  await coreOf(scope).disposeFor(exitPath, budget)
}

const showDeclaration = (d: DurableDeclaration): string =>
  (d.kind === 's3' ? `s3://${d.bucket}/${d.key}` : `dynamodb://${d.table}/${JSON.stringify(d.key)}`).slice(0, 200)

/**
 * Runs `fn` as the durable step `name` (`context.step`), handing it an
 * {@link ExecutionCleanup} to declare what later steps, in later invocations, still
 * need. The declarations are checkpointed with the step's result (as
 * `{ value, middyCleanup: [...] }`; a custom `serdes` in `config` receives that), so a
 * replay that skips the step still knows them, and the invocation that completes the
 * execution deletes them. A step attempt that throws has its declarations deleted at
 * once: no later step can have its result. Needs a handler wrapped by {@link durableCleanup},
 * and the handler's own `context` (not a child context: see docs/durable.md).
 *
 * @returns what `fn` returned (from the checkpoint on replay)
 * @example
 * ```ts
 * const key = await durable.step(context, 'render', async (_step, execution) => {
 *   const key = `tmp/${event.id}.pdf`
 *   execution.s3Object({ bucket: 'scratch-bucket', key })
 *   await s3.send(new PutObjectCommand({ Bucket: 'scratch-bucket', Key: key, Body: await render(event) }))
 *   return key
 * })
 * ```
 */
export const durableStep = async <T, S = any>(
  context: { step: (name: string | undefined, fn: (step: S) => Promise<unknown>, config?: any) => PromiseLike<unknown> },
  name: string | undefined,
  fn: (step: S, execution: ExecutionCleanup) => T | Promise<T>,
  config?: object,
): Promise<T> => {
  const invocation = invocations().getStore()
  if (invocation === undefined) {
    throw new CleanupDeclarationError('cleanup: durableStep() runs only in a handler wrapped by durableCleanup(): middy({ executionMode: durableCleanup(executionModeDurableContext, options).executionMode }).')
  }
  if (!invocation.requests.some((r) => r.context === context)) {
    // A completed child context (runInChildContext, map, parallel) is replayed from its own
    // result, and the backend prunes its children's checkpoints: declarations made in it
    // could never reach the invocation that completes the execution.
    throw new CleanupDeclarationError('cleanup: durableStep(context, …) needs the handler\'s own context, not a child context of runInChildContext/map/parallel: a completed child is replayed from its result alone, so what its steps declared would never be deleted. Stage such resources in a durableStep of the handler, or declare them on context.cleanup (released at the end of the invocation).')
  }
  const checkpoint = await context.step(name, async (step: S) => {
    const declared: DurableDeclaration[] = []
    try {
      const value = await fn(step, declarer(invocation.config, declared))
      return { value, [FIELD]: declared }
    } catch (e) {
      await deleteDeclared(declared, 'error', invocation.config.timeoutMs, invocation.config)
      throw e
    }
  }, config)
  if (!isRecord(checkpoint) || !Array.isArray(checkpoint[FIELD])) return checkpoint as T
  invocation.declared.push(...(checkpoint[FIELD] as unknown[]).filter(isDeclaration))
  return checkpoint.value as T
}

const declarer = (config: ResolvedOptions, into: DurableDeclaration[]): ExecutionCleanup => ({
  s3Object: (target) => {
    noClient('s3Object', target)
    s3Resource('execution.s3Object', target, config)
    const { bucket, key, versionId, etag } = target
    into.push({ kind: 's3', bucket, key, ...(versionId === undefined ? {} : { versionId }), ...(etag === undefined ? {} : { etag }) })
  },
  dynamoItem: (target) => {
    noClient('dynamoItem', target)
    dynamoResource('execution.dynamoItem', target, config)
    if (!isJson(target.key)) {
      throw new CleanupDeclarationError(`cleanup: execution.dynamoItem({ key }) must be plain JSON (strings, numbers, booleans, null, arrays, objects) to be checkpointed; a binary attribute cannot be. Declare that item on context.cleanup (deleted at the end of this invocation) instead.`)
    }
    into.push({ kind: 'dynamodb', table: target.table, key: target.key })
  },
})

const noClient = (method: string, target: unknown): void => {
  if (isRecord(target) && target.client !== undefined) {
    throw new CleanupDeclarationError(`cleanup: execution.${method}({ client }) is not supported: the declaration is checkpointed as JSON and deleted by a later invocation with durableCleanup()'s client. Pass the client in its options: durableCleanup(executionModeDurableContext, { ${method === 's3Object' ? 's3' : 'dynamodb'} }).`)
  }
}

const isJson = (v: unknown, depth = 0): boolean => {
  if (depth > 32) return false
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true
  if (typeof v === 'number') return Number.isFinite(v)
  if (Array.isArray(v)) return v.every((x) => isJson(x, depth + 1))
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return false
  return Object.values(v as object).every((x) => isJson(x, depth + 1))
}

// A checkpoint is the function's own, but it is re-read after a deployment may have
// changed: only well-formed entries are taken (the scope validates them again).
const isDeclaration = (v: unknown): v is DurableDeclaration => {
  if (!isRecord(v)) return false
  if (v.kind === 's3') return typeof v.bucket === 'string' && typeof v.key === 'string'
  return v.kind === 'dynamodb' && typeof v.table === 'string' && isRecord(v.key)
}

