import { processSlot } from './process-state.js'
import type { FailureReason } from './report.js'
import { type ResolvedShutdownOptions, type ShutdownOptions, defaults } from './shutdown-options.js'
import type { ShutdownReport } from './shutdown-report.js'
import type { Teardown } from './shutdown-teardowns.js'

/**
 * A signal listener as `process.rawListeners()` shows it: a once-wrapper carries the
 * listener it wraps as `.listener` (and so do the wrappers `shutdown()` puts in a
 * foreign listener's place).
 *
 * @example
 * ```ts
 * const raw = process.rawListeners('SIGTERM') as AnyListener[]
 * const original = raw[0]?.listener ?? raw[0]
 * ```
 */
export type AnyListener = ((...args: any[]) => unknown) & { listener?: (...args: any[]) => unknown }

/**
 * One call of a foreign listener of a handled signal, followed so the exit can wait for it.
 *
 * @example
 * ```ts
 * const call: NeighbourCall = { name: 'flushSpans', started: performance.now(), status: 'pending', durationMs: 0, settled: Promise.resolve() }
 * ```
 */
export interface NeighbourCall { name: string, started: number, status: 'ok' | 'failed' | 'pending', durationMs: number, error?: FailureReason, settled: Promise<void> }

/**
 * The other listeners of the handled signals, followed so the exit can wait for them.
 *
 * @example
 * ```ts
 * const pending = shutdownState().neighbours.calls.filter((c) => c.status === 'pending')
 * ```
 */
export interface Neighbours {
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

/**
 * process.exit() during the shutdown window is deferred until the run is done or the deadline.
 *
 * @example
 * ```ts
 * if (shutdownState().gate.requested !== undefined) exitNow(run)
 * ```
 */
export interface ExitGate {
  real: ((code?: number | string | null) => never) | undefined
  patched: ((code?: number | string | null) => never) | undefined
  /** the first process.exit() call of the window, with the code it asked for */
  requested: { code: number | string | null | undefined } | undefined
  open: boolean
}

/**
 * Everything `shutdown()` keeps for the process.
 *
 * @example
 * ```ts
 * if (shutdownState().run !== undefined) return shutdownState().run
 * ```
 */
export interface ShutdownState {
  teardowns: Map<string, Teardown>
  /** options explicitly given so far, merged (last wins) */
  given: ShutdownOptions
  options: ResolvedShutdownOptions
  listeners: Map<string, (signal: NodeJS.Signals) => void>
  run: Promise<ShutdownReport> | undefined
  /** no longer used (warnings go through process-state's warnOnce); kept for copies of an older version sharing this state */
  warned: Set<string>
  neighbours: Neighbours
  gate: ExitGate
}

const newNeighbours = (): Neighbours =>
  ({ wrappers: new WeakMap(), hook: undefined, rebuilding: false, scheduled: new Set(), calls: [], startedSync: false })
const closedGate = (): ExitGate => ({ real: undefined, patched: undefined, requested: undefined, open: false })

const init = (): ShutdownState => ({
  teardowns: new Map(),
  given: {},
  options: { timeoutMs: defaults.timeoutMs, exit: defaults.exit, logger: console, onReport: undefined, registerExtension: defaults.registerExtension },
  listeners: new Map(),
  run: undefined,
  warned: new Set(),
  neighbours: newNeighbours(),
  gate: closedGate(),
})

/**
 * The process-wide shutdown state, `Symbol.for('middy-cleanup.shutdown')` on globalThis:
 * two copies of this package (two bundles, a re-import) share one teardown registry and
 * install one listener per signal between them. Created on first use, not at import.
 *
 * @example
 * ```ts
 * shutdownState().teardowns.set('pg', () => pool.end())
 * ```
 */
export const shutdownState = (): ShutdownState => {
  const state = processSlot('shutdown', init)
  // A state created by an older copy of this package lacks the newer fields.
  state.neighbours ??= newNeighbours()
  state.gate ??= closedGate()
  return state
}
