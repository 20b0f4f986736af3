import { setMaxListeners } from 'node:events'
import { constants as osConstants } from 'node:os'
import { detectEnvironment } from './environment.js'
import { CleanupConfigError, describeError } from './errors.js'
import { type ExtensionStatus, currentRegistration, registerInternalExtension } from './extension.js'
import { flushLeftovers } from './leftovers.js'
import { type Logger, resolveLogger } from './logger.js'
import type { CleanupReport } from './report.js'

/**
 * A teardown registered with {@link onShutdown}. Receives an AbortSignal that
 * fires when the shutdown budget is spent; pass it on (`fetch`, SDK
 * `abortSignal`) or ignore it — the process exits at the deadline regardless.
 *
 * @example
 * ```ts
 * const teardown: Teardown = (signal) => agent.destroy()
 * ```
 */
export type Teardown = (signal: AbortSignal) => unknown

/**
 * Options of {@link shutdown}. Validated when `shutdown()` is called; an
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
  /** Hard deadline from the signal to `process.exit(0)`, in ms. Teardowns get this minus a reserve of 10 % (at most 50 ms) for the report. @default 400 */
  timeoutMs?: number
  /** Call `process.exit(0)` once done (or at the deadline). `false` for tests and hosts that exit by themselves. @default true */
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
 * How one teardown ended. `timed-out`: it had not settled by the deadline (it
 * was not waited for further).
 *
 * @example
 * ```ts
 * { name: 'pg', status: 'ok', durationMs: 12.4 }
 * ```
 */
export interface TeardownResult {
  name: string
  status: 'ok' | 'failed' | 'timed-out'
  durationMs: number
  /** what it threw or rejected with (`failed`) */
  error?: unknown
}

/**
 * What one shutdown did; logged once and passed to `onReport`.
 *
 * @example
 * ```ts
 * shutdown({ onReport: (r) => metrics.addMetric('ShutdownMs', 'Milliseconds', r.durationMs) })
 * ```
 */
export interface ShutdownReport {
  /** the signal that started it, or `'manual'` for {@link runShutdown} without one */
  signal: string
  durationMs: number
  teardowns: TeardownResult[]
  /** the core's flush of leftovers and still-open scopes; absent when it did not finish by the deadline */
  cleanup?: CleanupReport
}

/**
 * What {@link shutdown} returns: a Middy middleware (`.use()` it) plus
 * `ready`, which settles once the in-process extension is registered (or
 * skipped / failed; it never rejects).
 *
 * @example
 * ```ts
 * const mw: ShutdownMiddleware = shutdown()
 * await mw.ready
 * ```
 */
export interface ShutdownMiddleware {
  before: (request: unknown) => Promise<void>
  ready: Promise<ExtensionStatus>
}

interface Resolved {
  timeoutMs: number
  exit: boolean
  logger: Logger
  onReport: ((report: ShutdownReport) => unknown) | undefined
  registerExtension: 'auto' | boolean
}

interface ShutdownState {
  teardowns: Map<string, Teardown>
  /** options explicitly given so far, merged (last wins) */
  given: ShutdownOptions
  options: Resolved
  listeners: Map<string, (signal: NodeJS.Signals) => void>
  run: Promise<ShutdownReport> | undefined
  warned: Set<string>
}

export const defaults = {
  timeoutMs: 400,
  exit: true,
  registerExtension: 'auto',
  signals: ['SIGTERM'],
} as const

// Process-wide on globalThis: two copies of this module (two bundles, a re-import) must
// share one teardown registry and install one listener per signal between them.
const KEY = Symbol.for('middy-cleanup.shutdown')
const g = globalThis as { [KEY]?: ShutdownState }
const state: ShutdownState = g[KEY] ??= {
  teardowns: new Map(),
  given: {},
  options: { timeoutMs: defaults.timeoutMs, exit: defaults.exit, logger: console, onReport: undefined, registerExtension: defaults.registerExtension },
  listeners: new Map(),
  run: undefined,
  warned: new Set(),
}

const OWNER = 'shutdown'
const KNOWN = ['timeoutMs', 'exit', 'logger', 'onReport', 'registerExtension', 'signals']
const UNLISTENABLE = new Set(['SIGKILL', 'SIGSTOP'])

/**
 * Registers a teardown to run when the process receives a shutdown signal
 * (wired by {@link shutdown}). Call at init, next to the connection it closes.
 * All teardowns run concurrently. Returns a function that unregisters it.
 * A name already registered throws {@link CleanupConfigError}: unregister the
 * first one, or pick another name.
 *
 * @example
 * ```ts
 * const pool = new pg.Pool()
 * onShutdown('pg', () => pool.end())
 * ```
 */
export const onShutdown = (name: string, fn: Teardown): (() => void) => {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new CleanupConfigError(`onShutdown: the name must be a non-empty string; got ${typeOf(name)}. Pass e.g. onShutdown('pg', () => pool.end()).`)
  }
  if (typeof fn !== 'function') {
    throw new CleanupConfigError(`onShutdown: the teardown for '${name}' must be a function (signal) => unknown; got ${typeOf(fn)}. Pass e.g. onShutdown('${name}', () => client.close()).`)
  }
  if (state.teardowns.has(name)) {
    throw new CleanupConfigError(`onShutdown: a teardown named '${name}' is already registered. Call the function the first onShutdown('${name}', …) returned to unregister it, or pick another name.`)
  }
  state.teardowns.set(name, fn)
  return () => { if (state.teardowns.get(name) === fn) state.teardowns.delete(name) }
}

/**
 * Wires graceful shutdown for this process, at call time: one listener per
 * signal (however often it is called), the in-process Lambda extension that
 * makes Lambda send SIGTERM, and on the signal: every {@link onShutdown}
 * teardown concurrently plus the cleanup leftovers flush, one report, and
 * `process.exit(0)` by `timeoutMs` even when a teardown hangs or throws.
 * Returns a Middy middleware; `await shutdown().ready` at module scope makes
 * the extension registration certain to happen during init.
 * On Lambda Managed Instances and in worker threads it wires nothing and warns once.
 *
 * @example
 * ```ts
 * const mw = shutdown({ timeoutMs: 400 })
 * await mw.ready // top-level await: registered before the first invocation
 * export const handler = middy().use(mw).use(cleanup()).handler(async () => {})
 * ```
 */
export const shutdown = (options?: ShutdownOptions): ShutdownMiddleware => {
  const given = validate(options)
  const env = detectEnvironment()
  const { signals, ...rest } = given
  state.given = { ...state.given, ...rest }
  state.options = resolve(state.given)
  const logger = state.options.logger

  const middleware = (ready: Promise<ExtensionStatus>): ShutdownMiddleware => ({ before: shutdownMiddlewareBefore, ready })

  if (env.managedInstances || env.workerThread) {
    const where = env.managedInstances
      ? 'on Lambda Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY is set), where the runtime does not deliver SIGTERM to process.on() listeners and handlers run in worker threads'
      : 'in a worker thread, where process.on() never receives signals'
    warnOnce(logger, 'unsupported', `shutdown: running ${where}; no signal listener and no extension were installed, onShutdown() teardowns will not run on shutdown. Close shared connections in your own lifecycle hooks, or call runShutdown() yourself.`)
    return middleware(Promise.resolve({ state: 'skipped', reason: env.managedInstances ? 'Lambda Managed Instances' : 'worker thread' }))
  }

  if (state.run === undefined) {
    for (const signal of signals ?? defaults.signals) {
      if (state.listeners.has(signal)) continue
      const listener = (received: NodeJS.Signals): void => { void runShutdown(received) }
      state.listeners.set(signal, listener)
      process.on(signal, listener)
    }
  }

  return middleware(startExtension(state.options, env.runtimeApi))
}

const startExtension = (o: Resolved, runtimeApi: string | undefined): Promise<ExtensionStatus> => {
  if (o.registerExtension === false) return currentRegistration() ?? Promise.resolve({ state: 'skipped', reason: "registerExtension: false" })
  if (runtimeApi === undefined) {
    if (o.registerExtension === true) warnOnce(o.logger, 'no-runtime-api', "shutdown: option 'registerExtension' is true but AWS_LAMBDA_RUNTIME_API is not set (not on Lambda?); no extension was registered. Use registerExtension: 'auto' to register only on Lambda.")
    return Promise.resolve({ state: 'skipped', reason: 'AWS_LAMBDA_RUNTIME_API is not set' })
  }
  return registerInternalExtension({ runtimeApi, logger: o.logger })
}

// Runs on the first invocation: lets a registration started without top-level await
// finish (and warn) before the handler runs. Never throws, never returns a value.
const shutdownMiddlewareBefore = async (): Promise<void> => {
  const pending = currentRegistration()
  if (pending !== undefined) await pending
}

/**
 * Runs the shutdown now, as a signal would: every teardown concurrently, the
 * leftovers flush, one report, then `process.exit(0)` when `exit` is on. Runs
 * once per process: a later call (or a second signal) returns the first run's
 * report promise. Never rejects. Useful where no signal arrives (Managed
 * Instances, tests, a host with its own lifecycle).
 *
 * @example
 * ```ts
 * const report = await runShutdown('manual')
 * ```
 */
export const runShutdown = (signal: string = 'manual'): Promise<ShutdownReport> => {
  if (state.run !== undefined) {
    state.options.logger.debug?.(`shutdown: ${signal} received while a shutdown already started; ignored`)
    return state.run
  }
  state.run = execute(signal)
  return state.run
}

const execute = async (signal: string): Promise<ShutdownReport> => {
  const o = state.options
  const started = performance.now()
  if (o.exit) setTimeout(() => process.exit(0), o.timeoutMs).unref()
  const budget = Math.max(0, o.timeoutMs - Math.min(50, Math.floor(o.timeoutMs / 10)))
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one listener per teardown is expected, not a leak
  const timer = setTimeout(() => controller.abort(new ShutdownDeadlineError(budget)), budget)
  timer.unref()
  const deadline = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }))

  let report: ShutdownReport
  try {
    const teardowns = [...state.teardowns].map(([name, fn]) => runTeardown(name, fn, controller.signal, deadline))
    const flushed = flushLeftovers({ timeoutMs: budget, signal: controller.signal, logger: o.logger }).catch(() => undefined)
    const [results, cleanup] = await Promise.all([
      Promise.all(teardowns),
      Promise.race([flushed, deadline.then(() => undefined)]),
    ])
    report = { signal, durationMs: elapsed(started), teardowns: results }
    if (cleanup !== undefined) report.cleanup = cleanup
  } catch (error) {
    // Only a bug in this module gets here; exiting on time still matters most.
    o.logger.error(`shutdown: internal error: ${describeError(error)}`)
    report = { signal, durationMs: elapsed(started), teardowns: [] }
  }
  clearTimeout(timer)
  logReport(o, report)
  if (o.onReport !== undefined) {
    const left = Math.max(0, o.timeoutMs - (performance.now() - started) - 1)
    try {
      await Promise.race([Promise.resolve(o.onReport(report)), sleepUnref(left)])
    } catch (error) {
      o.logger.warn(`shutdown: onReport threw: ${describeError(error)}`)
    }
  }
  if (o.exit) process.exit(0)
  // exit: false: hand the signals back, so a later one has its default effect.
  for (const [sig, listener] of state.listeners) process.removeListener(sig, listener)
  state.listeners.clear()
  return report
}

type Outcome = { kind: 'ok' } | { kind: 'failed', error: unknown } | { kind: 'timed-out' }

const runTeardown = async (name: string, fn: Teardown, signal: AbortSignal, deadline: Promise<void>): Promise<TeardownResult> => {
  const started = performance.now()
  let settled: Promise<unknown>
  try {
    settled = Promise.resolve(fn(signal))
  } catch (error) {
    settled = Promise.reject(error)
  }
  const outcome: Outcome = await Promise.race([
    settled.then((): Outcome => ({ kind: 'ok' }), (error: unknown): Outcome => ({ kind: 'failed', error })),
    deadline.then((): Outcome => ({ kind: 'timed-out' })),
  ])
  const result: TeardownResult = { name, status: outcome.kind, durationMs: elapsed(started) }
  if (outcome.kind === 'failed') result.error = outcome.error
  return result
}

const logReport = (o: Resolved, report: ShutdownReport): void => {
  const parts = report.teardowns.map((t) => `${t.name} ${t.status} ${t.durationMs} ms${t.error !== undefined ? ` (${describeError(t.error)})` : ''}`)
  const c = report.cleanup
  const cleanupText = c === undefined ? 'cleanup flush did not finish by the deadline' : `cleanup: ${c.cleaned}/${c.resources} resource(s) cleaned${c.failed.length > 0 ? `, ${c.failed.length} failed` : ''}`
  const troubled = report.teardowns.some((t) => t.status !== 'ok') || c === undefined || c.failed.length > 0
  const message = `shutdown: ${report.signal} handled in ${report.durationMs} ms (deadline ${o.timeoutMs} ms): ${report.teardowns.length} teardown(s)${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}; ${cleanupText}`
  const log = troubled ? o.logger.warn : (o.logger.info ?? o.logger.warn)
  log.call(o.logger, message, { shutdownReport: report })
}

/**
 * Why a teardown's AbortSignal fired: the shutdown budget is spent. It is the
 * signal's `reason`.
 *
 * @example
 * ```ts
 * onShutdown('events', async (signal) => {
 *   try {
 *     await producer.flush({ abortSignal: signal })
 *   } catch (e) {
 *     if (signal.reason instanceof ShutdownDeadlineError) console.warn('event flush cut short at the shutdown deadline')
 *     else throw e
 *   }
 * })
 * ```
 */
export class ShutdownDeadlineError extends Error {
  override name = 'ShutdownDeadlineError'
  constructor (budgetMs: number) {
    super(`shutdown: teardown budget of ${budgetMs} ms spent; the process exits now`)
  }
}

const validate = (options: unknown): ShutdownOptions => {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupConfigError(`${OWNER}: options must be an object; got ${typeOf(options)}. Call shutdown() or shutdown({ timeoutMs: 400 }).`)
  }
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) throw new CleanupConfigError(`${OWNER}: unknown option '${key}'. Known options: ${KNOWN.join(', ')}. Check the spelling.`)
  }
  const out: ShutdownOptions = {}
  if (o.timeoutMs !== undefined) {
    const v = o.timeoutMs
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new CleanupConfigError(`${OWNER}: option 'timeoutMs' must be a positive integer number of milliseconds; got ${typeof v === 'number' ? String(v) : typeOf(v)}. Pass e.g. { timeoutMs: 400 }.`)
    }
    out.timeoutMs = v
  }
  if (o.exit !== undefined) {
    if (typeof o.exit !== 'boolean') throw new CleanupConfigError(`${OWNER}: option 'exit' must be a boolean; got ${typeOf(o.exit)}. Pass { exit: false } to keep the process alive after shutdown, or leave it out.`)
    out.exit = o.exit
  }
  if (o.logger !== undefined) out.logger = resolveLogger(o.logger, OWNER)
  if (o.onReport !== undefined) {
    if (typeof o.onReport !== 'function') throw new CleanupConfigError(`${OWNER}: option 'onReport' must be a function; got ${typeOf(o.onReport)}. Pass e.g. { onReport: (report) => console.log(report) }.`)
    out.onReport = o.onReport as ShutdownOptions['onReport']
  }
  if (o.registerExtension !== undefined) {
    const v = o.registerExtension
    if (v !== 'auto' && v !== true && v !== false) {
      throw new CleanupConfigError(`${OWNER}: option 'registerExtension' must be 'auto', true or false; got ${typeof v === 'string' ? `'${v}'` : typeOf(v)}. Pass e.g. { registerExtension: 'auto' }.`)
    }
    out.registerExtension = v
  }
  if (o.signals !== undefined) {
    const v = o.signals
    const bad = Array.isArray(v) ? v.find((s) => typeof s !== 'string' || !(s in osConstants.signals) || UNLISTENABLE.has(s)) : undefined
    if (!Array.isArray(v) || v.length === 0 || bad !== undefined) {
      const got = !Array.isArray(v) ? typeOf(v) : v.length === 0 ? 'an empty array' : `${typeof bad === 'string' ? `'${bad}'` : typeOf(bad)} in the array`
      throw new CleanupConfigError(`${OWNER}: option 'signals' must be a non-empty array of catchable signal names (not SIGKILL or SIGSTOP); got ${got}. Pass e.g. { signals: ['SIGTERM', 'SIGINT'] }.`)
    }
    out.signals = [...new Set(v as NodeJS.Signals[])]
  }
  return out
}

const resolve = (given: ShutdownOptions): Resolved => ({
  timeoutMs: given.timeoutMs ?? defaults.timeoutMs,
  exit: given.exit ?? defaults.exit,
  logger: given.logger ?? console,
  onReport: given.onReport,
  registerExtension: given.registerExtension ?? defaults.registerExtension,
})

const warnOnce = (logger: Logger, key: string, message: string): void => {
  if (state.warned.has(key)) return
  state.warned.add(key)
  logger.warn(message)
}

const elapsed = (since: number): number => Math.round((performance.now() - since) * 10) / 10

const sleepUnref = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms).unref() })

const typeOf = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
