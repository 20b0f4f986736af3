import type { Logger } from './logger.js'
import type { CleanupReport } from './report.js'

/**
 * The one way to hold process-wide state. The slot lives on globalThis under
 * `Symbol.for('middy-cleanup.<name>')`, so two copies of this package in one
 * process (two bundles, a re-import under another path) share one registry of
 * live scopes, one leftovers list, one set of shutdown teardowns — a second copy
 * with its own would sweep or tear down behind the first one's back.
 *
 * @example
 * ```ts
 * const teardowns = processSlot('teardowns', () => new Map<string, Teardown>())
 * ```
 */
export const processSlot = <T>(name: string, init: () => T): T => {
  const key = Symbol.for(`middy-cleanup.${name}`)
  const g = globalThis as Record<symbol, unknown>
  if (!(key in g)) g[key] = init()
  return g[key] as T
}

// One set for the whole process: a warning about the environment (a tight budget, an
// unwritable /tmp) is said once, however many middlewares or modules notice it.
/**
 * @internal The keys {@link warnOnce} has seen in this process (tests forget some).
 *
 * @example
 * ```ts
 * warnedKeys().delete('tight-budget')
 * ```
 */
export const warnedKeys = (): Set<string> => (warnedSlot ??= processSlot('warned', () => new Set<string>()))
let warnedSlot: Set<string> | undefined

/**
 * Logs `message` the first time `key` is seen in this process, never again.
 *
 * @example
 * ```ts
 * warnOnce(logger, 'tight-budget', 'cleanup: the invocation timed out with 3 ms left for cleanup; …')
 * ```
 */
export const warnOnce = (logger: Pick<Logger, 'warn'>, key: string, message: string): void => {
  const seen = warnedKeys()
  if (seen.has(key)) return
  seen.add(key)
  logger.warn(message)
}

/**
 * The flush shutdown runs on SIGTERM: leftovers and proven-ended scopes (it is
 * `flushLeftovers`). Shutdown finds it here, so it never imports the sweep.
 *
 * @example
 * ```ts
 * const report = await shutdownFlush()?.({ timeoutMs: 300, receivedSignal: 'SIGTERM' })
 * ```
 */
export type ShutdownFlush = (options: { timeoutMs: number, signal?: AbortSignal, logger?: unknown, receivedSignal?: string }) => Promise<CleanupReport>

// every new scope writes it: the slot is looked up once
const flushSlot = (): { flush: ShutdownFlush | undefined } => (flushHolder ??= processSlot('flush', () => ({ flush: undefined as ShutdownFlush | undefined })))
let flushHolder: { flush: ShutdownFlush | undefined } | undefined

/**
 * Hands shutdown the flush to run on SIGTERM. `cleanup()` (and a new `CleanupScope`)
 * call it when they are created, never at module load; the last one wins (they are the
 * same function of one copy of this package).
 *
 * @example
 * ```ts
 * registerShutdownFlush(flushLeftovers)
 * ```
 */
export const registerShutdownFlush = (flush: ShutdownFlush): void => { flushSlot().flush = flush }

/**
 * The flush registered by {@link registerShutdownFlush}, or undefined when nothing of
 * cleanup ran in this process (then there is nothing to flush).
 *
 * @example
 * ```ts
 * const flush = shutdownFlush()
 * if (flush !== undefined) await flush({ timeoutMs: 300, receivedSignal: 'SIGTERM' })
 * ```
 */
export const shutdownFlush = (): ShutdownFlush | undefined => flushSlot().flush
