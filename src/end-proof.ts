import { detectEnvironment } from './environment.js'
import { processState } from './registry.js'
import type { ExitPath } from './report.js'

// Proof that an invocation ended without its scope disposing itself: the only thing
// that lets anyone but the owner dispose a scope (G1, docs/exit-paths.md). Everything
// here is Middy- and runtime-specific; the core scope only asks `ended()`.

/**
 * The Middy request fields looked at to tell whether an invocation has ended:
 * `earlyResponse` (Middy 6/7 set it right before returning early) and the context's
 * `awsRequestId` (a later invocation of another id in a sequential runtime). Never
 * `response`: a running request has one as soon as its handler returned.
 *
 * @example
 * ```ts
 * const proof = new InvocationEnd({ context: { awsRequestId: 'a1' } })
 * ```
 */
export interface RequestTrace {
  earlyResponse?: unknown
  context?: unknown
}

/**
 * @internal The request id of a Lambda context, or undefined when it has none (a fake context).
 *
 * @example
 * ```ts
 * requestIdOf({ awsRequestId: 'a1' }) // 'a1'
 * ```
 */
export const requestIdOf = (context: unknown): string | undefined => {
  const id = (context as { awsRequestId?: unknown } | null | undefined)?.awsRequestId
  return typeof id === 'string' && id !== '' ? id : undefined
}

type Proof = 'early-response' | 'later-invocation' | 'shutdown'

/**
 * @internal Watches one Middy invocation for proof of its end. Proof is one of: Middy
 * 6/7 `'earlyResponse' in request` (set synchronously right before Middy returns), a
 * later invocation of another request id in a sequential runtime, SIGTERM in a
 * sequential runtime. Never `request.response`: an invocation still in its `after`
 * chain has one. A standalone scope has none of these: only its owner disposes it.
 *
 * @example
 * ```ts
 * const end = new InvocationEnd(request)
 * end.noteLaterInvocation('another-id')
 * end.ended() // true
 * ```
 */
export class InvocationEnd {
  readonly #request: RequestTrace
  readonly #requestId: string | undefined
  #proof: Proof | undefined
  #outputHeld = false

  constructor (request: RequestTrace) {
    this.#request = request
    this.#requestId = requestIdOf(request.context)
  }

  /** True once the invocation's end is proven (kept: a proof never goes away). */
  ended (): boolean {
    // A streamed body cleanup holds is still being read: an `after` that returned a value
    // after cleanup's (so earlyResponse is set) ends the after chain, not the invocation.
    if (this.#proof === undefined && !this.#outputHeld && 'earlyResponse' in this.#request) this.#proof = 'early-response'
    return this.#proof !== undefined
  }

  /**
   * The invocation's output still goes out (cleanup holds its streamed body,
   * src/streaming.ts): from now on `earlyResponse` proves nothing. Never released: the
   * scope's own cleanup runs when the body is over, and a scope no longer active is no orphan.
   */
  holdOutput (): void { this.#outputHeld = true }

  /** The exit path to report when someone else disposes the scope. */
  exitPath (): ExitPath {
    return this.#proof === 'shutdown' ? 'shutdown' : 'early-return'
  }

  /**
   * In a sequential runtime only, from the `before` of a new invocation: the runtime
   * asked for that event after this invocation settled. The same request id is a
   * nested Middy handler (same context) inside this very invocation: no proof; nor without ids.
   */
  noteLaterInvocation (requestId: string | undefined): void {
    if (this.#proof !== undefined) return
    if (requestId === undefined || this.#requestId === undefined || requestId === this.#requestId) return
    this.#proof = 'later-invocation'
  }

  /** In a sequential runtime only, on SIGTERM: Lambda is shutting the environment down. */
  noteShutdown (): void {
    this.#proof ??= 'shutdown'
  }
}

/**
 * @internal Called by every invocation's `before`. In a sequential runtime (one
 * invocation at a time: Lambda without Managed Instances, main thread) the runtime
 * fetched this event only after every earlier handler settled, so every other
 * invocation's scope has ended. Anywhere else this proves nothing.
 *
 * @example
 * ```ts
 * noteInvocationStart(requestIdOf(request.context))
 * ```
 */
export const noteInvocationStart = (requestId: string | undefined): void => {
  const { active } = processState()
  if (active.size === 0 || !detectEnvironment().sequential) return
  for (const scope of active) scope.noteLaterInvocation(requestId)
}

/**
 * @internal On SIGTERM in a sequential runtime every invocation has ended: their scopes
 * become orphans a flush may dispose. Anywhere else (or another signal) nothing changes.
 *
 * @example
 * ```ts
 * noteSignal('SIGTERM')
 * ```
 */
export const noteSignal = (signal: string | undefined): void => {
  if (signal !== 'SIGTERM' || !detectEnvironment().sequential) return
  for (const scope of processState().active) scope.noteShutdown()
}
