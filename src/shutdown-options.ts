import { constants as osConstants } from 'node:os'
import { CleanupConfigError } from './errors.js'
import { type Logger, resolveLogger } from './logger.js'
import type { ShutdownReport } from './shutdown-report.js'
import { typeOf, unknownKeyMessage } from './validation.js'

/**
 * Options of `shutdown()`. Validated when `shutdown()` is called; an
 * unknown key or a wrong type throws {@link CleanupConfigError}.
 * When `shutdown()` is called several times in one process, each option keeps
 * the last value explicitly given (an option left out keeps the earlier
 * value), and `signals` accumulate.
 *
 * @example
 * ```ts
 * shutdown({ timeoutMs: 300, signals: ['SIGTERM', 'SIGINT'], onReport: (r) => console.log(r) })
 * ```
 */
export interface ShutdownOptions {
  /** Hard deadline from the signal to the exit, in ms. Teardowns and the other listeners of the signal get this minus a reserve of 10 % (at most 50 ms) for the report; the exit waits for those other listeners until the deadline itself. @default 400 */
  timeoutMs?: number
  /** Call `process.exit(0)` once done (or at the deadline). `false` for tests and hosts that exit by themselves (a `process.exit()` called during the run is still deferred until it is done, then carried out). @default true */
  exit?: boolean
  /** Where the report and warnings go. @default console */
  logger?: Logger
  /** Called with the report before exiting (bounded by the deadline; errors are logged). */
  onReport?: (report: ShutdownReport) => unknown
  /** Register the in-process Lambda extension that makes Lambda send SIGTERM. `'auto'`: when `AWS_LAMBDA_RUNTIME_API` is set, except on Managed Instances and in worker threads. @default 'auto' */
  registerExtension?: 'auto' | boolean
  /** Signals that start the shutdown. `SIGINT` is handy locally. @default ['SIGTERM'] */
  signals?: NodeJS.Signals[]
}

/**
 * The options a run uses: every field filled in (`signals` are kept apart, they accumulate).
 *
 * @example
 * ```ts
 * const o: ResolvedShutdownOptions = resolveShutdownOptions({ timeoutMs: 300 })
 * ```
 */
export interface ResolvedShutdownOptions {
  timeoutMs: number
  exit: boolean
  logger: Logger
  onReport: ((report: ShutdownReport) => unknown) | undefined
  registerExtension: 'auto' | boolean
}

/**
 * The defaults of {@link ShutdownOptions}.
 *
 * @example
 * ```ts
 * const deadline = options.timeoutMs ?? defaults.timeoutMs
 * ```
 */
export const defaults = {
  timeoutMs: 400,
  exit: true,
  registerExtension: 'auto',
  signals: ['SIGTERM'],
} as const

const OWNER = 'shutdown'
const KNOWN = ['timeoutMs', 'exit', 'logger', 'onReport', 'registerExtension', 'signals']
const UNLISTENABLE = new Set(['SIGKILL', 'SIGSTOP'])

const positiveInt = (v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new CleanupConfigError(`${OWNER}: option 'timeoutMs' must be a positive integer number of milliseconds; got ${typeof v === 'number' ? String(v) : typeOf(v)}. Pass e.g. { timeoutMs: 400 }.`)
  }
  return v
}

const registerExtension = (v: unknown): 'auto' | boolean => {
  if (v !== 'auto' && v !== true && v !== false) {
    throw new CleanupConfigError(`${OWNER}: option 'registerExtension' must be 'auto', true or false; got ${typeof v === 'string' ? `'${v}'` : typeOf(v)}. Pass e.g. { registerExtension: 'auto' }.`)
  }
  return v
}

const signals = (v: unknown): NodeJS.Signals[] => {
  const bad = Array.isArray(v) ? v.find((s) => typeof s !== 'string' || !(s in osConstants.signals) || UNLISTENABLE.has(s)) : undefined
  if (!Array.isArray(v) || v.length === 0 || bad !== undefined) {
    const got = !Array.isArray(v) ? typeOf(v) : v.length === 0 ? 'an empty array' : `${typeof bad === 'string' ? `'${bad}'` : typeOf(bad)} in the array`
    throw new CleanupConfigError(`${OWNER}: option 'signals' must be a non-empty array of catchable signal names (not SIGKILL or SIGSTOP); got ${got}. Pass e.g. { signals: ['SIGTERM', 'SIGINT'] }.`)
  }
  return [...new Set(v as NodeJS.Signals[])]
}

/**
 * Checks what `shutdown(options)` was given; returns only the options explicitly given.
 * Throws {@link CleanupConfigError} naming the option, what it got and an example.
 *
 * @example
 * ```ts
 * const given = validateShutdownOptions({ timeoutMs: 300 }) // { timeoutMs: 300 }
 * ```
 */
export const validateShutdownOptions = (options: unknown): ShutdownOptions => {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupConfigError(`${OWNER}: options must be an object; got ${typeOf(options)}. Call shutdown() or shutdown({ timeoutMs: 400 }).`)
  }
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) throw new CleanupConfigError(unknownKeyMessage(OWNER, key, KNOWN, '', { style: 'listed' }))
  }
  const out: ShutdownOptions = {}
  if (o.timeoutMs !== undefined) out.timeoutMs = positiveInt(o.timeoutMs)
  if (o.exit !== undefined) {
    if (typeof o.exit !== 'boolean') throw new CleanupConfigError(`${OWNER}: option 'exit' must be a boolean; got ${typeOf(o.exit)}. Pass { exit: false } to keep the process alive after shutdown, or leave it out.`)
    out.exit = o.exit
  }
  if (o.logger !== undefined) out.logger = resolveLogger(o.logger, OWNER)
  if (o.onReport !== undefined) {
    if (typeof o.onReport !== 'function') throw new CleanupConfigError(`${OWNER}: option 'onReport' must be a function; got ${typeOf(o.onReport)}. Pass e.g. { onReport: (report) => console.log(report) }.`)
    out.onReport = o.onReport as ShutdownOptions['onReport']
  }
  if (o.registerExtension !== undefined) out.registerExtension = registerExtension(o.registerExtension)
  if (o.signals !== undefined) out.signals = signals(o.signals)
  return out
}

/**
 * Fills in the defaults of what was given so far.
 *
 * @example
 * ```ts
 * resolveShutdownOptions({}).timeoutMs // 400
 * ```
 */
export const resolveShutdownOptions = (given: ShutdownOptions): ResolvedShutdownOptions => ({
  timeoutMs: given.timeoutMs ?? defaults.timeoutMs,
  exit: given.exit ?? defaults.exit,
  logger: given.logger ?? console,
  onReport: given.onReport,
  registerExtension: given.registerExtension ?? defaults.registerExtension,
})
