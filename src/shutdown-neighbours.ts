import { describeError, toFailureReason } from './errors.js'
import { elapsed, isThenable, say } from './shutdown-log.js'
import { type AnyListener, type NeighbourCall, shutdownState } from './shutdown-state.js'

// Other listeners of the handled signals.
//
// Node's emit calls each listener and drops what it returns, so the only way to see an
// async listener finish is to stand in its place: each foreign listener is replaced by a
// wrapper that calls it and keeps the promise it returns. The wrapper carries the original
// as `.listener`, as once-wrappers do, so process.removeListener(original) and
// process.listeners() behave as before.

/**
 * Starts the run when a followed listener is the first to hear the signal (the run's
 * module passes it in, so this one does not import it).
 *
 * @example
 * ```ts
 * const start: StartRun = (signal, fromSignal) => startRun(signal, fromSignal)
 * ```
 */
export type StartRun = (signal: string, fromSignal: boolean) => unknown

const ourListeners = (): Set<unknown> => new Set(shutdownState().listeners.values())

const nameOf = (fn: unknown): string => typeof fn === 'function' && fn.name !== '' ? fn.name : '(anonymous)'

/**
 * Names of the listeners of `signal` that are neither ours nor followed (added behind
 * our back): their end is invisible, so the exit waits for the deadline.
 *
 * @example
 * ```ts
 * const unfollowed = unfollowedListeners('SIGTERM') // ['(anonymous)']
 * ```
 */
export const unfollowedListeners = (signal: string): string[] => {
  const ours = ourListeners()
  const wrappers = shutdownState().neighbours.wrappers
  return (process.rawListeners(signal) as AnyListener[]).filter((l) => !ours.has(l) && !wrappers.has(l)).map((l) => nameOf(l.listener ?? l))
}

/**
 * Puts a following wrapper in the place of every foreign listener of `signal` not yet
 * followed, keeping the list's order.
 *
 * @example
 * ```ts
 * followNeighbours('SIGTERM', startRun)
 * ```
 */
export const followNeighbours = (signal: string, start: StartRun): void => {
  const wrappers = shutdownState().neighbours.wrappers
  const ours = ourListeners()
  const current = process.rawListeners(signal) as AnyListener[]
  if (current.every((l) => ours.has(l) || wrappers.has(l))) return
  replaceListeners(signal, current, current.map((l) => ours.has(l) || wrappers.has(l) ? l : wrapNeighbour(signal, l, start)))
}

/**
 * Hands the signals back: our listeners removed, every wrapper replaced by the listener
 * it stood for, the 'newListener' hook removed, so a later signal has its default effect.
 *
 * @example
 * ```ts
 * unfollowAll() // after a run with exit: false
 * ```
 */
export const unfollowAll = (): void => {
  const state = shutdownState()
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
  const n = shutdownState().neighbours
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

/**
 * Follows listeners added after `shutdown()` too. 'newListener' is emitted before the
 * listener is added: it is wrapped on the next microtask, which always runs before any
 * signal can be delivered.
 *
 * @example
 * ```ts
 * installNewListenerHook(startRun)
 * ```
 */
export const installNewListenerHook = (start: StartRun): void => {
  const state = shutdownState()
  const n = state.neighbours
  if (n.hook !== undefined) return
  n.hook = (event: string | symbol): void => {
    if (n.rebuilding || typeof event !== 'string' || !state.listeners.has(event) || n.scheduled.has(event)) return
    n.scheduled.add(event)
    queueMicrotask(() => {
      n.scheduled.delete(event)
      if (state.listeners.has(event)) followNeighbours(event, start)
    })
  }
  process.on('newListener', n.hook)
}

const wrapNeighbour = (signal: string, raw: AnyListener, start: StartRun): AnyListener => {
  const state = shutdownState()
  const original = typeof raw.listener === 'function' ? raw.listener : raw
  // A once-wrapper removes itself by its own identity, which is no longer in the list.
  // Told by its `.listener` (what rawListeners() shows of once()), not by its name: Node 20
  // and 22 name it 'bound onceWrapper', Node 24 'wrapper'.
  const once = original !== raw
  const name = nameOf(original)
  const wrapper: AnyListener = function (this: unknown, ...args: unknown[]): unknown {
    if (once) process.removeListener(signal, wrapper)
    if (!state.listeners.has(signal)) return raw.apply(this, args)
    if (state.run === undefined) void start(signal, true)
    const call: NeighbourCall = { name, started: performance.now(), status: 'pending', durationMs: 0, settled: Promise.resolve() }
    state.neighbours.calls.push(call)
    return callFollowed(signal, call, () => raw.apply(this, args))
  }
  wrapper.listener = original
  state.neighbours.wrappers.set(wrapper, raw)
  return wrapper
}

const callFollowed = (signal: string, call: NeighbourCall, invoke: () => unknown): unknown => {
  const settle = (error?: unknown, failed = false): void => {
    call.durationMs = elapsed(call.started)
    call.status = failed ? 'failed' : 'ok'
    if (failed) {
      call.error = toFailureReason(error)
      say(shutdownState().options.logger, 'error', `shutdown: the ${signal} listener '${call.name}' failed: ${describeError(error)}; the other listeners and the shutdown carry on`)
    }
  }
  let result: unknown
  try {
    result = invoke()
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

/**
 * Settles when no followed listener call is pending any more (a second signal may add
 * calls while it waits).
 *
 * @example
 * ```ts
 * await Promise.race([neighboursSettled(), deadline])
 * ```
 */
export const neighboursSettled = async (): Promise<void> => {
  const calls = shutdownState().neighbours.calls
  for (;;) {
    const pending = calls.filter((c) => c.status === 'pending')
    if (pending.length === 0) return
    await Promise.all(pending.map((c) => c.settled))
  }
}
