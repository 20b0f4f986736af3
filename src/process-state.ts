import type { Logger } from './logger.js'

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
const warned = processSlot('warned', () => new Set<string>())

/**
 * Logs `message` the first time `key` is seen in this process, never again.
 *
 * @example
 * ```ts
 * warnOnce(logger, 'tight-budget', 'cleanup: the invocation timed out with 3 ms left for cleanup; …')
 * ```
 */
export const warnOnce = (logger: Pick<Logger, 'warn'>, key: string, message: string): void => {
  if (warned.has(key)) return
  warned.add(key)
  logger.warn(message)
}
