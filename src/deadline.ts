import { setMaxListeners } from 'node:events'
import { CleanupDeadlineError } from './errors.js'

/**
 * Options of a {@link Deadline}.
 *
 * @example
 * ```ts
 * new Deadline(300, undefined, { hold: false }) // a budget that never keeps the process alive
 * ```
 */
export interface DeadlineOptions {
  /**
   * Keep the event loop alive (a ref'd timer) until the deadline settles — for
   * work an invocation (or shutdown) awaits: the Lambda runtime takes an empty
   * loop for the end of the invocation. Default: true. Background work that may
   * outlive its invocation (the sweep an invocation's `before` starts) passes false,
   * explicitly: an AsyncLocalStorage telling background from awaited work turned on
   * Node's promise hooks for every promise of the process (1.3–2.7 µs per Middy 5
   * invocation on Node 20/22, measured).
   */
  hold?: boolean
}

/**
 * A cleanup budget: an AbortSignal that fires when the budget is spent, a `race`
 * that stops waiting for a promise then (the promise keeps running), and a
 * `sleep` for backoffs that ends with the budget.
 *
 * Its timer is ref'd when `hold` (work that is awaited must not let the process
 * exit mid-invocation, e.g. while a backoff or a `send()` that never settles is
 * pending) and unref'd otherwise; `clear()` drops it, so a settled deadline never
 * keeps a process alive.
 *
 * @example
 * ```ts
 * const deadline = new Deadline(1500)
 * try { await deadline.race(client.send(command, { abortSignal: deadline.signal })) } finally { deadline.clear() }
 * ```
 */
export class Deadline {
  readonly at: number
  readonly budgetMs: number
  /** true when this deadline keeps the event loop alive until it settles */
  readonly hold: boolean
  readonly #parent: AbortSignal | undefined
  #controller: AbortController | undefined
  #timer: NodeJS.Timeout | undefined
  #onParentAbort: (() => void) | undefined
  #cleared = false

  constructor (budgetMs: number, parent?: AbortSignal, options?: DeadlineOptions) {
    const ms = Number.isFinite(budgetMs) ? Math.floor(budgetMs) : budgetMs > 0 ? 2 ** 31 - 1 : 0
    this.budgetMs = Math.max(0, Math.min(ms, 2 ** 31 - 1))
    this.at = Date.now() + this.budgetMs
    this.#parent = parent
    this.hold = options?.hold ?? true
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
    else if (this.#cleared || Date.now() >= this.at) controller.abort(new CleanupDeadlineError(this.budgetMs))
    else {
      this.#timer = setTimeout(() => { this.#timer = undefined; controller.abort(new CleanupDeadlineError(this.budgetMs)) }, this.at - Date.now())
      if (!this.hold) this.#timer.unref()
      if (parent !== undefined) {
        this.#onParentAbort = () => controller.abort(parent.reason)
        parent.addEventListener('abort', this.#onParentAbort, { once: true })
      }
    }
    return controller
  }

  get signal (): AbortSignal { return this.#ensure().signal }
  get expired (): boolean {
    return this.#cleared || this.#controller?.signal.aborted === true || this.#parent?.aborted === true || Date.now() >= this.at
  }

  remainingMs (): number { return this.expired ? 0 : Math.max(0, this.at - Date.now()) }

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

  /**
   * Waits `ms`, or less when the budget is spent (resolves either way, never
   * rejects). Its timer holds the event loop exactly when this deadline does: a
   * backoff inside an awaited cleanup keeps the invocation alive; one in background
   * work does not keep the process alive.
   */
  sleep (ms: number): Promise<void> {
    const signal = this.#ensure().signal
    const wait = Math.min(Number.isFinite(ms) ? Math.max(0, ms) : 0, this.remainingMs())
    if (signal.aborted || wait <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const t = setTimeout(done, wait)
      if (!this.hold) t.unref()
      function done (): void { signal.removeEventListener('abort', done); clearTimeout(t); resolve() }
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /**
   * Settles the deadline: drops its timer and stops whatever still listens to its
   * signal (a deleter that lost the race, a pending sleep), so nothing of this
   * cleanup outlives it or keeps the process alive.
   */
  clear (): void {
    this.#cleared = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#onParentAbort !== undefined) this.#parent?.removeEventListener('abort', this.#onParentAbort)
    this.#onParentAbort = undefined
    const controller = this.#controller
    if (controller !== undefined && !controller.signal.aborted) controller.abort(new CleanupDeadlineError(this.budgetMs))
  }
}

/**
 * Sleeps `ms`, or less when the signal fires (resolves either way, never rejects). Unref'd: prefer `deadline.sleep`.
 *
 * @example
 * ```ts
 * await sleep(50, controller.signal)
 * ```
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal?.aborted) { resolve(); return }
  const t = setTimeout(done, ms)
  t.unref()
  function done (): void { signal?.removeEventListener('abort', done); clearTimeout(t); resolve() }
  signal?.addEventListener('abort', done, { once: true })
})
