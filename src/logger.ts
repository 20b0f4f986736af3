import { CleanupConfigError } from './errors.js'

/**
 * The structural logger every part of the package writes to. `console` fits, and so
 * does a Powertools `Logger` (its `warn`/`error`/`debug` take a message then extra
 * objects). Declared with methods, not function-typed properties: method parameters
 * are checked bivariantly, so a logger whose extra arguments are narrower than
 * `unknown[]` (Powertools' `LogItemExtraInput`) still type-checks under `--strict`.
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger'
 * middy().use(cleanup({ logger: new Logger() }))
 * ```
 */
export interface Logger {
  warn (message: string, ...extra: unknown[]): void
  error (message: string, ...extra: unknown[]): void
  debug? (message: string, ...extra: unknown[]): void
  info? (message: string, ...extra: unknown[]): void
}

/**
 * A Middy-style function logger (`logger: console.error`, or any
 * `(message, ...extra) => void`): it receives warnings, errors and info lines,
 * not debug lines.
 *
 * @example
 * ```ts
 * middy().use(cleanup({ logger: (message, ...extra) => process.stderr.write(`${message}\n`) }))
 * ```
 */
export type LogFunction = (message: string, ...extra: unknown[]) => void

/**
 * What the `logger` option of `cleanup()`, `new CleanupScope()` and `shutdown()`
 * accepts: an object logger ({@link Logger}: `console`, a Powertools Logger, pino…),
 * a function ({@link LogFunction}), or `false` to silence the package.
 *
 * @example
 * ```ts
 * cleanup({ logger: false }) // nothing is logged; onReport still gets every report
 * ```
 */
export type LoggerOption = Logger | LogFunction | false

const SAFE = Symbol.for('middy-cleanup.safe-logger')
const LEVELS = ['warn', 'error', 'debug', 'info'] as const
type Level = typeof LEVELS[number]

/**
 * A logger whose methods never throw and never leave a rejected promise behind: what
 * {@link resolveLogger} returns, so the package can log from anywhere on the way out.
 *
 * @example
 * ```ts
 * const logger: SafeLogger = resolveLogger(options.logger, 'cleanup')
 * logger.warn('cleanup: …') // never throws, whatever the configured logger does
 * ```
 */
export interface SafeLogger extends Logger {
  warn (message: string, ...extra: unknown[]): void
  error (message: string, ...extra: unknown[]): void
  debug (message: string, ...extra: unknown[]): void
  info (message: string, ...extra: unknown[]): void
  readonly [SAFE]: true
}

/**
 * True for an object with `warn()` and `error()` methods (console, a Powertools Logger).
 *
 * @example
 * ```ts
 * isLogger(console) // true; isLogger({ warn () {} }) // false
 * ```
 */
export const isLogger = (value: unknown): value is Logger =>
  typeof value === 'object' && value !== null &&
  typeof (value as Logger).warn === 'function' && typeof (value as Logger).error === 'function'

// A logger that throws (a closed transport, a full disk) must never change an
// invocation's outcome: its failure is swallowed, and said once on console.error
// (itself guarded) so it is not invisible.
let reportedBrokenLogger = false
const reportBroken = (level: Level, error: unknown): void => {
  if (reportedBrokenLogger) return
  reportedBrokenLogger = true
  try {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    console.error(`middy-cleanup: the configured logger's ${level}() threw (${why}); its messages are dropped. This never changes the handler's outcome.`)
  } catch { /* nothing left to tell */ }
}

const guard = (level: Level, write: (message: string, extra: unknown[]) => unknown) =>
  (message: string, ...extra: unknown[]): void => {
    try {
      const result = write(message, extra)
      // An async logger's rejection would be an unhandled rejection (a crash on Node ≥ 15).
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(undefined, (e: unknown) => reportBroken(level, e))
      }
    } catch (e) {
      reportBroken(level, e)
    }
  }

const safe = (write: (level: Level) => (message: string, extra: unknown[]) => unknown): SafeLogger => {
  const logger = { [SAFE]: true } as { [SAFE]: true } & Record<Level, (message: string, ...extra: unknown[]) => void>
  for (const level of LEVELS) logger[level] = guard(level, write(level))
  return logger as unknown as SafeLogger
}

const silent: SafeLogger = safe(() => () => undefined)

/**
 * Validates the `logger` option and returns a {@link SafeLogger}: `undefined` is
 * `console`, `false` is silent, a function gets warn/error/info lines. Every part
 * of the package (shutdown included) gets its logger through here, so none can
 * throw into an invocation. `owner` names the caller in the error message.
 *
 * @example
 * ```ts
 * const logger = resolveLogger(options.logger, 'shutdown') // throws CleanupConfigError for { logger: {} }
 * ```
 */
export const resolveLogger = (value: unknown, owner: string): SafeLogger => {
  if (value === undefined) value = console
  if (value === false) return silent
  if (typeof value === 'object' && value !== null && (value as { [SAFE]?: unknown })[SAFE] === true) return value as SafeLogger
  if (typeof value === 'function') {
    const fn = value as LogFunction
    return safe((level) => level === 'debug' ? () => undefined : (message, extra) => fn(message, ...extra))
  }
  if (!isLogger(value)) {
    const got = value === null ? 'null' : typeof value === 'object' ? `an object without ${typeof (value as Logger).warn !== 'function' ? 'warn()' : 'error()'}` : `${typeof value} ${String(value)}`
    throw new CleanupConfigError(`${owner}: option 'logger' must have warn() and error() methods (console or a Powertools Logger fit), or be a function (message, ...extra) => void, or false to silence it; got ${got}. Pass e.g. { logger: console }.`)
  }
  const target = value
  // Called as methods (target[level](…)): class loggers (Powertools) need their `this`.
  return safe((level) => (message, extra) => {
    const method = (target as unknown as Record<Level, unknown>)[level]
    if (typeof method !== 'function') return undefined
    return (method as (...args: unknown[]) => unknown).call(target, message, ...extra)
  })
}
