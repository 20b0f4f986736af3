import { setMaxListeners } from 'node:events'
import { CleanupDeadlineError } from './errors.js'

/**
 * A cleanup budget: an AbortSignal that fires when the budget is spent, and a
 * `race` that stops waiting for a promise then (the promise keeps running).
 * The timer is unref'd so it never keeps a process alive.
 */
export class Deadline {
  readonly at: number
  readonly budgetMs: number
  readonly #parent: AbortSignal | undefined
  #controller: AbortController | undefined
  #timer: NodeJS.Timeout | undefined
  #onParentAbort: (() => void) | undefined

  constructor (budgetMs: number, parent?: AbortSignal) {
    this.budgetMs = Math.max(0, Math.floor(budgetMs))
    this.at = Date.now() + this.budgetMs
    this.#parent = parent
  }

  // The controller and its timer are made on first use: a cleanup whose disposers
  // are all synchronous never needs either.
  #ensure (): AbortController {
    if (this.#controller !== undefined) return this.#controller
    const controller = this.#controller = new AbortController()
    // Every batch request the SDK sends (and every race) listens on this one signal:
    // more than Node's default 10 is expected, not a leak warning for users' logs.
    setMaxListeners(0, controller.signal)
    const parent = this.#parent
    if (parent?.aborted === true) controller.abort(parent.reason)
    else if (Date.now() >= this.at) controller.abort(new CleanupDeadlineError(this.budgetMs))
    else {
      this.#timer = setTimeout(() => controller.abort(new CleanupDeadlineError(this.budgetMs)), this.at - Date.now())
      this.#timer.unref()
      if (parent !== undefined) {
        this.#onParentAbort = () => controller.abort(parent.reason)
        parent.addEventListener('abort', this.#onParentAbort, { once: true })
      }
    }
    return controller
  }

  get signal (): AbortSignal { return this.#ensure().signal }
  get expired (): boolean {
    return this.#controller?.signal.aborted === true || this.#parent?.aborted === true || Date.now() >= this.at
  }

  remainingMs (): number { return Math.max(0, this.at - Date.now()) }

  /** Resolves with the promise's outcome, or rejects with the deadline's reason when it fires first. */
  race <T>(promise: Promise<T>): Promise<T> {
    const signal = this.#ensure().signal
    if (signal.aborted) {
      promise.catch(() => {})
      return Promise.reject(signal.reason)
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      promise.then(
        (v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
        (e) => { signal.removeEventListener('abort', onAbort); reject(e) },
      )
    })
  }

  clear (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#onParentAbort !== undefined) this.#parent?.removeEventListener('abort', this.#onParentAbort)
    this.#onParentAbort = undefined
  }
}

/** Sleeps `ms`, or less when the signal fires (resolves either way, never rejects). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted) { resolve(); return }
  const t = setTimeout(done, ms)
  t.unref()
  function done (): void { signal?.removeEventListener('abort', done); clearTimeout(t); resolve() }
  signal?.addEventListener('abort', done, { once: true })
})
