import { CleanupDeadlineError } from './errors.js'

/**
 * A cleanup budget: an AbortSignal that fires when the budget is spent, and a
 * `race` that stops waiting for a promise then (the promise keeps running).
 * The timer is unref'd so it never keeps a process alive.
 */
export class Deadline {
  readonly at: number
  readonly budgetMs: number
  readonly #controller = new AbortController()
  #timer: NodeJS.Timeout | undefined

  constructor (budgetMs: number, parent?: AbortSignal) {
    this.budgetMs = Math.max(0, Math.floor(budgetMs))
    this.at = Date.now() + this.budgetMs
    this.#timer = setTimeout(() => this.#controller.abort(new CleanupDeadlineError(this.budgetMs)), this.budgetMs)
    this.#timer.unref()
    if (parent !== undefined) {
      if (parent.aborted) this.#controller.abort(parent.reason)
      else parent.addEventListener('abort', () => this.#controller.abort(parent.reason), { once: true })
    }
  }

  get signal (): AbortSignal { return this.#controller.signal }
  get expired (): boolean { return this.#controller.signal.aborted }
  remainingMs (): number { return Math.max(0, this.at - Date.now()) }

  /** Resolves with the promise's outcome, or rejects with the deadline's reason when it fires first. */
  race <T>(promise: Promise<T>): Promise<T> {
    const signal = this.#controller.signal
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
