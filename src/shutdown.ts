import { setMaxListeners } from 'node:events'
import { constants as osConstants } from 'node:os'
import { detectEnvironment } from './environment.js'
import { CleanupConfigError, describeError, toFailureReason } from './errors.js'
import { type ExtensionStatus, currentRegistration, registerInternalExtension } from './extension.js'
import { flushLeftovers } from './leftovers.js'
import { type Logger, resolveLogger } from './logger.js'
import type { CleanupReport, FailureReason } from './report.js'

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
  /** what it threw or rejected with (`failed`), as plain JSON: `JSON.stringify(report)` keeps it */
  error?: FailureReason
}

/**
 * How one call of another SIGTERM (or other handled signal) listener — one
 * not registered through {@link onShutdown}: an OpenTelemetry or Powertools
 * flush, a database driver — ended. `shutdown()` follows these listeners so
 * the exit waits for them (see docs/shutdown.md, "Other signal listeners").
 * `pending`: not settled when the report was made; the exit still waits for it
 * until the deadline. `unknown`: a listener `shutdown()` could not follow
 * (added behind its back); the exit waits until the deadline for it.
 *
 * @example
 * ```ts
 * { name: 'flushSpans', status: 'ok', durationMs: 302.5 }
 * ```
 */
export interface ListenerResult {
  /** the listener function's name, `(anonymous)` when it has none */
  name: string
  status: 'ok' | 'failed' | 'pending' | 'unknown'
  durationMs: number
  /** what it threw or rejected with (`failed`), as plain JSON: `JSON.stringify(report)` keeps it */
  error?: FailureReason
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
  /** the other listeners of the signal that were called, in call order (see {@link ListenerResult}) */
  listeners: ListenerResult[]
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
  neighbours: Neighbours
  gate: ExitGate
}

type AnyListener = ((...args: any[]) => unknown) & { listener?: (...args: any[]) => unknown }

/** The other listeners of the handled signals, followed so the exit can wait for them. */
interface Neighbours {
  /** each wrapper put in a foreign listener's place → the listener it replaced */
  wrappers: WeakMap<AnyListener, AnyListener>
  /** the 'newListener' hook that wraps listeners added after shutdown() */
  hook: ((event: string | symbol) => void) | undefined
  /** while the listener list is being rebuilt: our own re-adds are not news */
  rebuilding: boolean
  scheduled: Set<string>
  calls: NeighbourCall[]
  /** true from the start of a run to the end of the emit that started it */
  startedSync: boolean
}

interface NeighbourCall { name: string, started: number, status: 'ok' | 'failed' | 'pending', durationMs: number, error?: FailureReason, settled: Promise<void> }

/** process.exit() during the shutdown window is deferred until the run is done or the deadline. */
interface ExitGate {
  real: ((code?: number | string | null) => never) | undefined
  patched: ((code?: number | string | null) => never) | undefined
  /** the first process.exit() call of the window, with the code it asked for */
  requested: { code: number | string | null | undefined } | undefined
  open: boolean
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
  neighbours: newNeighbours(),
  gate: { real: undefined, patched: undefined, requested: undefined, open: false },
}
// A state created by an older copy of this module lacks the newer fields.
state.neighbours ??= newNeighbours()
state.gate ??= { real: undefined, patched: undefined, requested: undefined, open: false }

function newNeighbours (): Neighbours {
  return { wrappers: new WeakMap(), hook: undefined, rebuilding: false, scheduled: new Set(), calls: [], startedSync: false }
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
      if (!state.listeners.has(signal)) {
        // A run already started by a followed listener earlier in this same emit is not a second signal.
        const listener = (received: NodeJS.Signals): void => { if (!state.neighbours.startedSync) void startRun(received, true) }
        state.listeners.set(signal, listener)
        process.on(signal, listener)
      }
      followNeighbours(signal)
    }
    installNewListenerHook()
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
 * Instances, tests, a host with its own lifecycle). A `process.exit()` called
 * while it runs is deferred until it is done (see {@link shutdown}).
 *
 * @example
 * ```ts
 * const report = await runShutdown('manual')
 * ```
 */
export const runShutdown = (signal: string = 'manual'): Promise<ShutdownReport> => startRun(signal, false)

// fromSignal: started by a listener during the signal's emit, so the other listeners of
// that emit are being called now and are worth waiting for.
const startRun = (signal: string, fromSignal: boolean): Promise<ShutdownReport> => {
  if (state.run !== undefined) {
    say(state.options.logger, 'debug', `shutdown: ${signal} received while a shutdown already started; ignored`)
    return state.run
  }
  const n = state.neighbours
  n.startedSync = true
  queueMicrotask(() => { n.startedSync = false })
  state.run = execute(signal, fromSignal).catch((error: unknown): ShutdownReport => {
    // Only a bug in this module gets here; the deadline timer still exits on time.
    say(state.options.logger, 'error', `shutdown: internal error: ${describeError(error)}`)
    return { signal, durationMs: 0, teardowns: [], listeners: [] }
  })
  return state.run
}

interface Run {
  o: Resolved
  signal: string
  started: number
  /** names of the signal's listeners shutdown() could not follow: their end is invisible, so the exit waits for the deadline */
  unfollowed: string[]
  pendingTeardowns: Set<string>
  flushing: boolean
  reporting: boolean
  exited: boolean
}

const execute = async (signal: string, fromSignal: boolean): Promise<ShutdownReport> => {
  const o = state.options
  const run: Run = {
    o,
    signal,
    started: performance.now(),
    unfollowed: fromSignal && state.listeners.has(signal) ? unfollowedListeners(signal) : [],
    pendingTeardowns: new Set(state.teardowns.keys()),
    flushing: true,
    reporting: false,
    exited: false,
  }
  // Before any teardown or neighbour runs: their process.exit() now waits for the flush.
  openExitGate(o.logger)
  // Ref'd: a teardown or a neighbour awaiting something that does not hold the event loop
  // must not let the process end before the report and the exit (bounded by the deadline).
  const forced = setTimeout(() => { if (o.exit || state.gate.requested !== undefined) exitNow(run) }, o.timeoutMs)
  const budget = Math.max(0, o.timeoutMs - Math.min(50, Math.floor(o.timeoutMs / 10)))
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one listener per teardown is expected, not a leak
  const timer = setTimeout(() => controller.abort(new ShutdownDeadlineError(budget)), budget)
  const deadline = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }))

  let report: ShutdownReport
  try {
    const teardowns = [...state.teardowns].map(([name, fn]) => runTeardown(name, fn, controller.signal, deadline, () => run.pendingTeardowns.delete(name)))
    // receivedSignal: SIGTERM in a sequential Lambda runtime proves every invocation ended,
    // so the flush may dispose their scopes (contract item 7); a manual run proves nothing.
    const flushed = flushLeftovers({ timeoutMs: budget, signal: controller.signal, logger: o.logger, receivedSignal: signal }).catch(() => undefined).finally(() => { run.flushing = false })
    const neighbours = (async () => {
      await null // the listeners after ours in this emit are called before this line runs
      await Promise.race([neighboursSettled(), deadline])
    })()
    const [results, cleanup] = await Promise.all([
      Promise.all(teardowns),
      Promise.race([flushed, deadline.then(() => undefined)]),
      neighbours,
    ])
    report = { signal, durationMs: elapsed(run.started), teardowns: results, listeners: listenerResults(run) }
    if (cleanup !== undefined) report.cleanup = cleanup
  } catch (error) {
    // Only a bug in this module gets here; exiting on time still matters most.
    say(o.logger, 'error', `shutdown: internal error: ${describeError(error)}`)
    report = { signal, durationMs: elapsed(run.started), teardowns: [], listeners: [] }
  }
  clearTimeout(timer)
  logReport(o, report)
  if (o.onReport !== undefined) {
    run.reporting = true
    try {
      await Promise.race([Promise.resolve(o.onReport(report)), sleepUnref(untilDeadline(run))])
    } catch (error) {
      say(o.logger, 'warn', `shutdown: onReport threw: ${describeError(error)}`)
    }
    run.reporting = false
  }
  if (o.exit || state.gate.requested !== undefined) {
    // Other listeners get until the deadline, not only the teardown budget.
    await Promise.race([run.unfollowed.length > 0 ? new Promise(() => {}) : neighboursSettled(), sleepUnref(untilDeadline(run))])
    exitNow(run)
    return report
  }
  // exit: false: hand the signals back, so a later one has its default effect.
  clearTimeout(forced)
  closeExitGate()
  unfollowAll()
  return report
}

const untilDeadline = (run: Run): number => Math.max(0, run.o.timeoutMs - (performance.now() - run.started) - 1)

/** The exit: with the code of the first process.exit() of the window, else 0. Once. */
const exitNow = (run: Run): void => {
  if (run.exited) return
  run.exited = true
  const requested = state.gate.requested
  const code = requested === undefined ? 0 : (requested.code ?? 0)
  const still = stillRunning(run)
  say(run.o.logger, still.length === 0 ? 'debug' : 'warn', `shutdown: exit ${String(code)} after ${elapsed(run.started)} ms (${still.length === 0 ? 'everything settled' : `deadline of ${run.o.timeoutMs} ms; still running: ${still.join(', ')}`})`)
  const real = closeExitGate()
  real.call(process, code)
}

const stillRunning = (run: Run): string[] => {
  const out: string[] = []
  for (const name of run.pendingTeardowns) out.push(`teardown '${name}'`)
  if (run.flushing) out.push('the cleanup flush')
  if (run.reporting) out.push('onReport')
  for (const c of state.neighbours.calls) if (c.status === 'pending') out.push(`${run.signal} listener '${c.name}'`)
  const n = run.unfollowed.length
  if (n > 0) out.push(`${n} ${run.signal} listener${n > 1 ? 's' : ''} it could not follow`)
  return out
}

const listenerResults = (run: Run): ListenerResult[] => {
  const out: ListenerResult[] = state.neighbours.calls.map((c) => {
    const r: ListenerResult = { name: c.name, status: c.status, durationMs: c.status === 'pending' ? elapsed(c.started) : c.durationMs }
    if (c.error !== undefined) r.error = c.error
    return r
  })
  for (const name of run.unfollowed) out.push({ name, status: 'unknown', durationMs: elapsed(run.started) })
  return out
}

// ---- other listeners of the handled signals ----
//
// Node's emit calls each listener and drops what it returns, so the only way to see an
// async listener finish is to stand in its place: each foreign listener is replaced by a
// wrapper that calls it and keeps the promise it returns. The wrapper carries the original
// as `.listener`, as once-wrappers do, so process.removeListener(original) and
// process.listeners() behave as before.

const ourListeners = (): Set<unknown> => new Set(state.listeners.values())

const unfollowedListeners = (signal: string): string[] => {
  const ours = ourListeners()
  return (process.rawListeners(signal) as AnyListener[]).filter((l) => !ours.has(l) && !state.neighbours.wrappers.has(l)).map((l) => nameOf(l.listener ?? l))
}

const followNeighbours = (signal: string): void => {
  const n = state.neighbours
  const ours = ourListeners()
  const current = process.rawListeners(signal) as AnyListener[]
  if (current.every((l) => ours.has(l) || n.wrappers.has(l))) return
  replaceListeners(signal, current, current.map((l) => ours.has(l) || n.wrappers.has(l) ? l : wrapNeighbour(signal, l)))
}

const unfollowAll = (): void => {
  const n = state.neighbours
  const ours = ourListeners()
  for (const signal of state.listeners.keys()) {
    const current = process.rawListeners(signal) as AnyListener[]
    replaceListeners(signal, current, current.filter((l) => !ours.has(l)).map((l) => n.wrappers.get(l) ?? l))
  }
  state.listeners.clear()
  if (n.hook !== undefined) process.removeListener('newListener', n.hook)
  n.hook = undefined
}

// Rebuilds the listener list in order. Two placeholder listeners keep it meanwhile: the
// count never reaches zero (at zero Node uninstalls the OS signal handler, and a signal
// arriving in that gap would kill the process with the default action), and the list
// stays the same array (at one entry Node collapses it, losing its "already warned about
// too many listeners" mark, so the next add would warn again). Removing from the end
// always removes that very entry (removeListener searches from the end).
const replaceListeners = (signal: string, current: AnyListener[], next: AnyListener[]): void => {
  const n = state.neighbours
  const max = process.getMaxListeners()
  n.rebuilding = true
  try {
    // The placeholders are listeners the user does not have: not a leak, no warning.
    if (max !== 0 && current.length + 2 > max) process.setMaxListeners(current.length + 2)
    const first = (): void => {}
    const second = (): void => {}
    process.on(signal, first)
    process.on(signal, second)
    for (let i = current.length - 1; i >= 0; i--) process.removeListener(signal, current[i]!)
    for (const l of next) process.on(signal, l)
    process.removeListener(signal, second)
    process.removeListener(signal, first)
  } finally {
    process.setMaxListeners(max)
    n.rebuilding = false
  }
}

// 'newListener' is emitted before the listener is added: wrap on the next microtask,
// which always runs before any signal can be delivered.
const installNewListenerHook = (): void => {
  const n = state.neighbours
  if (n.hook !== undefined) return
  n.hook = (event: string | symbol): void => {
    if (n.rebuilding || typeof event !== 'string' || !state.listeners.has(event) || n.scheduled.has(event)) return
    n.scheduled.add(event)
    queueMicrotask(() => {
      n.scheduled.delete(event)
      if (state.listeners.has(event)) followNeighbours(event)
    })
  }
  process.on('newListener', n.hook)
}

const wrapNeighbour = (signal: string, raw: AnyListener): AnyListener => {
  const n = state.neighbours
  const original = typeof raw.listener === 'function' ? raw.listener : raw
  // A once-wrapper removes itself by its own identity, which is no longer in the list.
  // Told by its `.listener` (what rawListeners() shows of once()), not by its name: Node 20
  // and 22 name it 'bound onceWrapper', Node 24 'wrapper'.
  const once = original !== raw
  const name = nameOf(original)
  const wrapper: AnyListener = function (this: unknown, ...args: unknown[]): unknown {
    if (once) process.removeListener(signal, wrapper)
    if (!state.listeners.has(signal)) return raw.apply(this, args)
    if (state.run === undefined) void startRun(signal, true)
    const call: NeighbourCall = { name, started: performance.now(), status: 'pending', durationMs: 0, settled: Promise.resolve() }
    const settle = (error?: unknown, failed = false): void => {
      call.durationMs = elapsed(call.started)
      call.status = failed ? 'failed' : 'ok'
      if (failed) {
        call.error = toFailureReason(error)
        say(state.options.logger, 'error', `shutdown: the ${signal} listener '${name}' failed: ${describeError(error)}; the other listeners and the shutdown carry on`)
      }
    }
    n.calls.push(call)
    let result: unknown
    try {
      result = raw.apply(this, args)
    } catch (error) {
      // Thrown out of emit, it would skip every later listener and crash the process
      // before the flush: reported instead.
      settle(error, true)
      return undefined
    }
    if (isThenable(result)) call.settled = Promise.resolve(result).then(() => settle(), (error: unknown) => settle(error, true))
    else settle()
    return result
  }
  wrapper.listener = original
  n.wrappers.set(wrapper, raw)
  return wrapper
}

const neighboursSettled = async (): Promise<void> => {
  // A second signal may add calls while waiting.
  for (;;) {
    const pending = state.neighbours.calls.filter((c) => c.status === 'pending')
    if (pending.length === 0) return
    await Promise.all(pending.map((c) => c.settled))
  }
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'

const nameOf = (fn: unknown): string => typeof fn === 'function' && fn.name !== '' ? fn.name : '(anonymous)'

// ---- process.exit() during the shutdown window ----

const openExitGate = (logger: Logger): void => {
  const gate = state.gate
  if (gate.open) return
  const original = process.exit
  const deferred = function exit (...args: [code?: number | string | null]): never {
    if (!gate.open) return (original as (...a: unknown[]) => never).apply(process, args)
    if (gate.requested !== undefined) {
      say(logger, 'debug', `shutdown: process.exit(${args.map(String).join('')}) called again during the shutdown; the first call's code ${String(gate.requested.code ?? 0)} stands`)
      return undefined as never
    }
    // As Node's own exit does first (and with its validation: a bad code throws here).
    if (args.length !== 0) process.exitCode = args[0] as number | string | undefined
    gate.requested = { code: process.exitCode }
    say(logger, 'debug', `shutdown: process.exit(${args.map(String).join('')}) deferred until the teardowns, the cleanup flush and the other listeners are done (deadline ${state.options.timeoutMs} ms)`)
    return undefined as never
  }
  gate.real = original
  gate.patched = deferred
  gate.open = true
  process.exit = deferred
}

/** Closes the gate and returns the real process.exit. */
const closeExitGate = (): ((code?: number | string | null) => never) => {
  const gate = state.gate
  const real = gate.real ?? process.exit
  gate.open = false
  if (gate.patched !== undefined && process.exit === gate.patched) process.exit = real
  gate.patched = undefined
  gate.real = undefined
  return real
}

// ---- logging that cannot stop the shutdown (G4) ----

const say = (logger: Logger, level: 'warn' | 'error' | 'info' | 'debug', message: string, ...extra: unknown[]): void => {
  try {
    const fn = level === 'info' ? (logger.info ?? logger.warn) : logger[level]
    const result: unknown = fn?.call(logger, message, ...extra)
    if (isThenable(result)) void Promise.resolve(result).catch(() => {})
  } catch {
    // a logger that throws (a closed transport) is not allowed to prevent the exit
  }
}

type Outcome = { kind: 'ok' } | { kind: 'failed', error: unknown } | { kind: 'timed-out' }

const runTeardown = async (name: string, fn: Teardown, signal: AbortSignal, deadline: Promise<void>, done: () => void): Promise<TeardownResult> => {
  const started = performance.now()
  let settled: Promise<unknown>
  try {
    settled = Promise.resolve(fn(signal))
  } catch (error) {
    settled = Promise.reject(error)
  }
  // When it really settles, which may be after the deadline it lost to.
  settled.then(done, done)
  const outcome: Outcome = await Promise.race([
    settled.then((): Outcome => ({ kind: 'ok' }), (error: unknown): Outcome => ({ kind: 'failed', error })),
    deadline.then((): Outcome => ({ kind: 'timed-out' })),
  ])
  const result: TeardownResult = { name, status: outcome.kind, durationMs: elapsed(started) }
  if (outcome.kind === 'failed') result.error = toFailureReason(outcome.error)
  return result
}

const logReport = (o: Resolved, report: ShutdownReport): void => {
  const parts = report.teardowns.map((t) => `${t.name} ${t.status} ${t.durationMs} ms${t.error !== undefined ? ` (${describeError(t.error)})` : ''}`)
  const others = report.listeners.map((l) => `${l.name} ${l.status}${l.status === 'unknown' ? '' : ` ${l.durationMs} ms`}${l.error !== undefined ? ` (${describeError(l.error)})` : ''}`)
  const c = report.cleanup
  const cleanupText = c === undefined ? 'cleanup flush did not finish by the deadline' : `cleanup: ${c.cleaned}/${c.resources} resource(s) cleaned${c.failed.length > 0 ? `, ${c.failed.length} failed` : ''}`
  const troubled = report.teardowns.some((t) => t.status !== 'ok') || report.listeners.some((l) => l.status !== 'ok') || c === undefined || c.failed.length > 0
  const message = `shutdown: ${report.signal} handled in ${report.durationMs} ms (deadline ${o.timeoutMs} ms): ${report.teardowns.length} teardown(s)${parts.length > 0 ? ` — ${parts.join(', ')}` : ''}; ${others.length > 0 ? `${others.length} other listener call(s) — ${others.join(', ')}; ` : ''}${cleanupText}`
  say(o.logger, troubled ? 'warn' : 'info', message, { shutdownReport: report })
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
  say(logger, 'warn', message)
}

const elapsed = (since: number): number => Math.round((performance.now() - since) * 10) / 10

const sleepUnref = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms).unref() })

const typeOf = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
