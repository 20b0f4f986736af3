import type { Logger } from './logger.js'
import { say } from './shutdown-log.js'
import { shutdownState } from './shutdown-state.js'

// process.exit() during the shutdown window: a teardown or another listener of the
// signal that calls it would end the process before the flush. While the gate is open
// the call returns at once; the run carries it out, with its code, when it is done or
// at the deadline.

/**
 * Opens the gate: from now until {@link closeExitGate}, `process.exit(code)` records the
 * first code asked for (as Node's own exit does, into `process.exitCode`) and returns.
 *
 * @example
 * ```ts
 * openExitGate(logger) // before any teardown or neighbour runs
 * ```
 */
export const openExitGate = (logger: Logger): void => {
  const state = shutdownState()
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

/**
 * Closes the gate and returns the real process.exit (put back unless someone replaced
 * ours meanwhile).
 *
 * @example
 * ```ts
 * const real = closeExitGate()
 * real.call(process, 0)
 * ```
 */
export const closeExitGate = (): ((code?: number | string | null) => never) => {
  const gate = shutdownState().gate
  const real = gate.real ?? process.exit
  gate.open = false
  if (gate.patched !== undefined && process.exit === gate.patched) process.exit = real
  gate.patched = undefined
  gate.real = undefined
  return real
}
