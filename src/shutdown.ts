import { detectEnvironment } from './environment.js'
import { CleanupConfigError } from './errors.js'
import { type ExtensionStatus, currentRegistration, registerInternalExtension } from './extension.js'
import type { Logger } from './logger.js'
import { warnOnce } from './process-state.js'
import { say } from './shutdown-log.js'
import { followNeighbours, installNewListenerHook } from './shutdown-neighbours.js'
import { type ResolvedShutdownOptions, type ShutdownOptions, defaults, resolveShutdownOptions, validateShutdownOptions } from './shutdown-options.js'
import type { ShutdownReport } from './shutdown-report.js'
import { startRun } from './shutdown-run.js'
import { shutdownState } from './shutdown-state.js'
import type { Teardown } from './shutdown-teardowns.js'
import { typeOf } from './validation.js'

export { defaults, type ShutdownOptions } from './shutdown-options.js'
export type { ListenerResult, ShutdownReport, TeardownResult } from './shutdown-report.js'
export { ShutdownDeadlineError, type Teardown } from './shutdown-teardowns.js'

/**
 * What {@link shutdown} returns: a Middy middleware (`.use()` it), `ready`, which
 * settles once the in-process extension is registered (or skipped / failed; it never
 * rejects), and `run()` for hosts where no signal arrives.
 *
 * @example
 * ```ts
 * const mw: ShutdownMiddleware = shutdown()
 * await mw.ready
 * // Managed Instances, a local server, tests: no SIGTERM reaches process.on()
 * host.onStop(() => mw.run())
 * ```
 */
export interface ShutdownMiddleware {
  before: (request: unknown) => Promise<void>
  ready: Promise<ExtensionStatus>
  /**
   * Runs the shutdown now, as a signal would (every teardown concurrently, the leftovers
   * flush, one report, then `process.exit(0)` when `exit` is on). Once per process: a later
   * call or a signal gets the first run's report promise. Never rejects.
   */
  run: () => Promise<ShutdownReport>
}

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
  const teardowns = shutdownState().teardowns
  if (teardowns.has(name)) {
    throw new CleanupConfigError(`onShutdown: a teardown named '${name}' is already registered. Call the function the first onShutdown('${name}', …) returned to unregister it, or pick another name.`)
  }
  teardowns.set(name, fn)
  return () => { if (teardowns.get(name) === fn) teardowns.delete(name) }
}

/**
 * Wires graceful shutdown for this process, at call time: one listener per
 * signal (however often it is called), the in-process Lambda extension that
 * makes Lambda send SIGTERM, and on the signal: every {@link onShutdown}
 * teardown concurrently plus the cleanup leftovers flush, one report, and
 * `process.exit(0)` by `timeoutMs` even when a teardown hangs or throws.
 *
 * A good neighbour: the other listeners of the signal (a telemetry flush, a
 * database driver), registered before or after this call, are followed — each
 * is replaced by a wrapper that keeps the promise it returns — and the exit
 * waits for them until the deadline. A `process.exit(code)` called during the
 * shutdown (by a teardown or such a listener) returns at once and is carried out,
 * with its code, once the teardowns, the flush and the listeners are done or at
 * the deadline. See docs/shutdown.md, "Other signal listeners and process.exit()".
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
  const given = validateShutdownOptions(options)
  const env = detectEnvironment()
  const state = shutdownState()
  const { signals, ...rest } = given
  state.given = { ...state.given, ...rest }
  state.options = resolveShutdownOptions(state.given)
  const logger = state.options.logger
  const middleware = (ready: Promise<ExtensionStatus>): ShutdownMiddleware => ({ before: shutdownMiddlewareBefore, ready, run: () => runShutdown('manual') })

  if (env.managedInstances || env.workerThread) {
    const where = env.managedInstances
      ? 'on Lambda Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY is set), where the runtime does not deliver SIGTERM to process.on() listeners and handlers run in worker threads'
      : 'in a worker thread, where process.on() never receives signals'
    warnSafely(logger, 'unsupported', `shutdown: running ${where}; no signal listener and no extension were installed, onShutdown() teardowns will not run on shutdown. Close shared connections in your own lifecycle hooks (in a worker thread: when the main thread tells it to stop).`)
    return middleware(Promise.resolve({ state: 'skipped', reason: env.managedInstances ? 'Lambda Managed Instances' : 'worker thread' }))
  }

  if (state.run === undefined) {
    for (const signal of signals ?? defaults.signals) {
      if (!state.listeners.has(signal)) {
        // A run already started by a followed listener earlier in this same emit is not a second signal.
        const listener = (received: NodeJS.Signals): void => { if (!state.neighbours.startedSync) void startRun(received, true) }
        state.listeners.set(signal, listener)
        process.on(signal, listener)
      }
      followNeighbours(signal, startRun)
    }
    installNewListenerHook(startRun)
  }

  return middleware(startExtension(state.options, env.runtimeApi))
}

// Once per process across every module of this package; the logger's own failure never
// reaches the caller (G4).
const warnSafely = (logger: Logger, key: string, message: string): void =>
  warnOnce({ warn: (m: string) => say(logger, 'warn', m) }, `shutdown:${key}`, message)

const startExtension = (o: ResolvedShutdownOptions, runtimeApi: string | undefined): Promise<ExtensionStatus> => {
  if (o.registerExtension === false) return currentRegistration() ?? Promise.resolve({ state: 'skipped', reason: "registerExtension: false" })
  if (runtimeApi === undefined) {
    if (o.registerExtension === true) warnSafely(o.logger, 'no-runtime-api', "shutdown: option 'registerExtension' is true but AWS_LAMBDA_RUNTIME_API is not set (not on Lambda?); no extension was registered. Use registerExtension: 'auto' to register only on Lambda.")
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
 * @internal Runs the shutdown now, as a signal would: every teardown concurrently, the
 * leftovers flush, one report, then `process.exit(0)` when `exit` is on. Runs
 * once per process: a later call (or a second signal) returns the first run's
 * report promise. Never rejects. Useful where no signal arrives (Managed
 * Instances, tests, a host with its own lifecycle). A `process.exit()` called
 * while it runs is deferred until it is done (see {@link shutdown}).
 *
 * @example
 * ```ts
 * const report = await runShutdown('manual')
 * ```
 */
export const runShutdown = (signal: string = 'manual'): Promise<ShutdownReport> => startRun(signal, false)
