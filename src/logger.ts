import { CleanupConfigError } from './errors.js'

/**
 * The structural logger every part of the package writes to. `console` fits, and so
 * does a Powertools `Logger` (its `warn`/`error`/`debug` take a message then extra
 * objects).
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger'
 * middy().use(cleanup({ logger: new Logger() }))
 * ```
 */
export interface Logger {
  warn: (message: string, ...extra: unknown[]) => void
  error: (message: string, ...extra: unknown[]) => void
  debug?: (message: string, ...extra: unknown[]) => void
  info?: (message: string, ...extra: unknown[]) => void
}

export const isLogger = (value: unknown): value is Logger =>
  typeof value === 'object' && value !== null &&
  typeof (value as Logger).warn === 'function' && typeof (value as Logger).error === 'function'

export const resolveLogger = (value: unknown, owner: string): Logger => {
  if (value === undefined) return console
  if (!isLogger(value)) {
    throw new CleanupConfigError(`${owner}: option 'logger' must have warn() and error() methods (console or a Powertools Logger fit); got ${typeof value}. Pass e.g. { logger: console }.`)
  }
  return value
}
