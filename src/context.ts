import { type CleanupScope, coreOf } from './scope.js'
import { scopeStorage } from './scope-als.js'

/**
 * @internal Makes `scope` current for the rest of this invocation's async call tree.
 *
 * @example
 * ```ts
 * enterScope(request.context.cleanup)
 * ```
 */
export const enterScope = (scope: CleanupScope): void => { scopeStorage().enterWith(scope) }

/**
 * The current invocation's {@link CleanupScope}, from anywhere in its async call
 * tree (AsyncLocalStorage) — no need to pass `context` down. Throws outside an
 * invocation: before the first one, and once an invocation's cleanup has
 * finished (`enterWith` leaves the store behind; a disposed scope counts as none).
 *
 * @example
 * ```ts
 * async function download (key: string) {
 *   const file = await currentScope().tempFile({ suffix: '.bin' })
 *   ...
 * }
 * ```
 */
export const currentScope = (): CleanupScope => {
  const scope = scopeStorage().getStore() as CleanupScope | undefined
  if (scope === undefined || scope.state === 'disposed') {
    throw new Error('middy-cleanup: currentScope() was called outside an invocation (no cleanup() middleware is running here, or this invocation has already been cleaned up). Call it from handler code of a middy().use(cleanup()) handler, or inside scope.run(fn) for a standalone CleanupScope.')
  }
  return scope
}

/**
 * Per-invocation state made by {@link invocationLocal}.
 *
 * @example
 * ```ts
 * const seenIds: InvocationLocal<Set<string>> = invocationLocal(() => new Set<string>())
 * // in handler code: a fresh Set for each invocation
 * if (!seenIds.get().has(record.id)) seenIds.get().add(record.id)
 * ```
 */
export interface InvocationLocal<T> {
  /** This invocation's value, made by the factory on first use. Throws outside an invocation. */
  get: () => T
}

/**
 * Per-invocation state with module-level convenience: the fix for a
 * module-level array or Map that grows across warm invocations. `get()` returns
 * a value made fresh for the current invocation; concurrent invocations (Lambda
 * Managed Instances) each see their own; outside an invocation it throws.
 *
 * @example
 * ```ts
 * // before: const seenFiles: string[] = []   // grows on every warm invocation
 * const seenFiles = invocationLocal(() => [] as string[])
 * export const handler = middy().use(cleanup()).handler(async (event) => {
 *   seenFiles.get().push(event.file)
 * })
 * ```
 */
export const invocationLocal = <T>(factory: () => T): InvocationLocal<T> => {
  if (typeof factory !== 'function') {
    throw new TypeError(`middy-cleanup: invocationLocal() needs a factory function; got ${typeof factory}. Pass e.g. invocationLocal(() => new Map()).`)
  }
  const key = {}
  return { get: () => coreOf(currentScope()).local(key, factory) }
}
