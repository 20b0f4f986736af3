import { setMaxListeners } from 'node:events'
import { describeError } from './errors.js'
import { shutdownFlush } from './process-state.js'
import { type CleanupReport, emptyReport } from './report.js'
import { closeExitGate, openExitGate } from './shutdown-exit-gate.js'
import { elapsed, say } from './shutdown-log.js'
import { neighboursSettled, unfollowAll, unfollowedListeners } from './shutdown-neighbours.js'
import type { ResolvedShutdownOptions } from './shutdown-options.js'
import { type ListenerResult, type ShutdownReport, logReport } from './shutdown-report.js'
import { shutdownState } from './shutdown-state.js'
import { ShutdownDeadlineError, runTeardown } from './shutdown-teardowns.js'

// The run: every teardown concurrently, the cleanup flush and the other listeners of the
// signal against one deadline, one report, then the exit — once per process.

interface Run {
  o: ResolvedShutdownOptions
  signal: string
  started: number
  /** names of the signal's listeners shutdown() could not follow: their end is invisible, so the exit waits for the deadline */
  unfollowed: string[]
  pendingTeardowns: Set<string>
  flushing: boolean
  reporting: boolean
  exited: boolean
}

interface Deadlines {
  /** what teardowns, the flush and the listeners get: the deadline minus the report's reserve */
  budget: number
  /** the exit at the deadline itself, whatever is still running */
  forced: ReturnType<typeof setTimeout>
  timer: ReturnType<typeof setTimeout>
  controller: AbortController
  /** resolves when the budget is spent */
  spent: Promise<void>
}

/**
 * Starts the run, once per process: a later call (or a second signal) gets the first
 * run's report promise. Never rejects. `fromSignal`: started by a listener during the
 * signal's emit, so the other listeners of that emit are being called now and are worth
 * waiting for.
 *
 * @example
 * ```ts
 * process.on('SIGTERM', (received) => { void startRun(received, true) })
 * ```
 */
export const startRun = (signal: string, fromSignal: boolean): Promise<ShutdownReport> => {
  const state = shutdownState()
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

const execute = async (signal: string, fromSignal: boolean): Promise<ShutdownReport> => {
  const state = shutdownState()
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
  const d = armDeadlines(run)
  const report = await collect(run, d)
  clearTimeout(d.timer)
  logReport(o, report)
  await deliver(run, report)
  if (o.exit || state.gate.requested !== undefined) {
    // Other listeners get until the deadline, not only the teardown budget.
    await Promise.race([run.unfollowed.length > 0 ? new Promise(() => {}) : neighboursSettled(), sleepUnref(untilDeadline(run))])
    exitNow(run)
    return report
  }
  // exit: false: hand the signals back, so a later one has its default effect.
  clearTimeout(d.forced)
  closeExitGate()
  unfollowAll()
  return report
}

const armDeadlines = (run: Run): Deadlines => {
  const o = run.o
  // Ref'd: a teardown or a neighbour awaiting something that does not hold the event loop
  // must not let the process end before the report and the exit (bounded by the deadline).
  const forced = setTimeout(() => { if (o.exit || shutdownState().gate.requested !== undefined) exitNow(run) }, o.timeoutMs)
  const budget = Math.max(0, o.timeoutMs - Math.min(50, Math.floor(o.timeoutMs / 10)))
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one listener per teardown is expected, not a leak
  const timer = setTimeout(() => controller.abort(new ShutdownDeadlineError(budget)), budget)
  const spent = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }))
  return { budget, forced, timer, controller, spent }
}

const collect = async (run: Run, d: Deadlines): Promise<ShutdownReport> => {
  try {
    const teardowns = [...shutdownState().teardowns].map(([name, fn]) => runTeardown(name, fn, d.controller.signal, d.spent, () => run.pendingTeardowns.delete(name)))
    const flushed = flush(run, d).catch(() => undefined).finally(() => { run.flushing = false })
    const neighbours = (async () => {
      await null // the listeners after ours in this emit are called before this line runs
      await Promise.race([neighboursSettled(), d.spent])
    })()
    const [results, cleanup] = await Promise.all([
      Promise.all(teardowns),
      Promise.race([flushed, d.spent.then(() => undefined)]),
      neighbours,
    ])
    const report: ShutdownReport = { signal: run.signal, durationMs: elapsed(run.started), teardowns: results, listeners: listenerResults(run) }
    if (cleanup !== undefined) report.cleanup = cleanup
    return report
  } catch (error) {
    // Only a bug in this module gets here; exiting on time still matters most.
    say(run.o.logger, 'error', `shutdown: internal error: ${describeError(error)}`)
    return { signal: run.signal, durationMs: elapsed(run.started), teardowns: [], listeners: [] }
  }
}

// The flush `cleanup()` registered in the process slot when it was created: nothing of
// cleanup ran in this process when there is none, so there is nothing to flush.
// receivedSignal: SIGTERM in a sequential Lambda runtime proves every invocation ended,
// so the flush may dispose their scopes (contract item 7); a manual run proves nothing.
const flush = async (run: Run, d: Deadlines): Promise<CleanupReport> => {
  const registered = shutdownFlush()
  if (registered === undefined) return emptyReport('shutdown')
  return registered({ timeoutMs: d.budget, signal: d.controller.signal, logger: run.o.logger, receivedSignal: run.signal })
}

const deliver = async (run: Run, report: ShutdownReport): Promise<void> => {
  const onReport = run.o.onReport
  if (onReport === undefined) return
  run.reporting = true
  try {
    await Promise.race([Promise.resolve(onReport(report)), sleepUnref(untilDeadline(run))])
  } catch (error) {
    say(run.o.logger, 'warn', `shutdown: onReport threw: ${describeError(error)}`)
  }
  run.reporting = false
}

const untilDeadline = (run: Run): number => Math.max(0, run.o.timeoutMs - (performance.now() - run.started) - 1)

const sleepUnref = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms).unref() })

/** The exit: with the code of the first process.exit() of the window, else 0. Once. */
const exitNow = (run: Run): void => {
  if (run.exited) return
  run.exited = true
  const requested = shutdownState().gate.requested
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
  for (const c of shutdownState().neighbours.calls) if (c.status === 'pending') out.push(`${run.signal} listener '${c.name}'`)
  const n = run.unfollowed.length
  if (n > 0) out.push(`${n} ${run.signal} listener${n > 1 ? 's' : ''} it could not follow`)
  return out
}

const listenerResults = (run: Run): ListenerResult[] => {
  const out: ListenerResult[] = shutdownState().neighbours.calls.map((c) => {
    const r: ListenerResult = { name: c.name, status: c.status, durationMs: c.status === 'pending' ? elapsed(c.started) : c.durationMs }
    if (c.error !== undefined) r.error = c.error
    return r
  })
  for (const name of run.unfollowed) out.push({ name, status: 'unknown', durationMs: elapsed(run.started) })
  return out
}
