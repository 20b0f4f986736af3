import { CleanupDeclarationError } from './errors.js'

/**
 * Anything `handle()` knows how to close.
 *
 * @example
 * ```ts
 * // a helper that opens something and ties it to the current invocation
 * const closeAtCleanup = <T extends Closeable>(h: T): T => currentScope().handle(h)
 * const socket = closeAtCleanup(net.connect(6379, 'cache.internal'))
 * ```
 */
export type Closeable =
  | { [Symbol.asyncDispose]: () => PromiseLike<void> | void }
  | { [Symbol.dispose]: () => void }
  | { close: (...args: any[]) => unknown }
  | { destroy: (...args: any[]) => unknown }
  | { end: (...args: any[]) => unknown }

// Node 20/22 define Symbol.asyncDispose as Symbol.for('nodejs.asyncDispose'); a vm
// realm (jest) may lack the property while objects from node: modules still carry
// the registered symbol, so look both up.
/**
 * @internal `Symbol.asyncDispose`, or the registered symbol Node uses where the realm lacks it.
 *
 * @example
 * ```ts
 * typeof (fileHandle as any)[asyncDisposeSymbol] === 'function' // true on Node 20+
 * ```
 */
export const asyncDisposeSymbol: symbol = (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for('nodejs.asyncDispose')
/**
 * @internal `Symbol.dispose`, or the registered symbol Node uses where the realm lacks it.
 *
 * @example
 * ```ts
 * const dispose = (h as any)[disposeSymbol]
 * ```
 */
export const disposeSymbol: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose')

const isObjectLike = (v: unknown): v is Record<PropertyKey, unknown> =>
  (typeof v === 'object' && v !== null) || typeof v === 'function'

// Streams and sockets expose both close-ish methods; `destroy()` is the one that
// always releases the fd, whereas `end()` only half-closes a socket and waits for
// the peer. FileHandle has asyncDispose (Node 20+) and close(); pg/mysql clients
// have end(); net.Server has close(cb) which only calls back when idle, so it is
// wrapped to resolve on the callback.
/**
 * @internal How `handle(h)` closes `h` (see the order above); throws {@link CleanupDeclarationError} now for anything it cannot close.
 *
 * @example
 * ```ts
 * const close = closerFor(socket) // () => destroy, resolved on 'close'
 * ```
 */
export const closerFor = (h: unknown): (() => unknown) => {
  if (!isObjectLike(h)) {
    throw new CleanupDeclarationError(`cleanup: handle() needs an object to close; got ${h === null ? 'null' : typeof h}. Pass a FileHandle, stream, socket or client, or use defer(fn) for anything else.`)
  }
  const asyncDispose = h[asyncDisposeSymbol]
  if (typeof asyncDispose === 'function') return () => asyncDispose.call(h)
  const dispose = h[disposeSymbol]
  if (typeof dispose === 'function') return () => dispose.call(h)
  const destroy = h.destroy
  const isStream = typeof destroy === 'function' && ('readable' in h || 'writable' in h)
  if (isStream) return () => closeStream(h, destroy as (...a: unknown[]) => unknown)
  const close = h.close
  if (typeof close === 'function') {
    return () => new Promise<void>((resolve, reject) => {
      let settled = false
      const done = (err?: unknown): void => {
        if (settled) return
        settled = true
        if (err instanceof Error && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err)
        else resolve()
      }
      try {
        const r = close.length >= 1 ? close.call(h, done) : close.call(h)
        if (close.length >= 1) return
        if (isObjectLike(r) && typeof r.then === 'function') (r as unknown as PromiseLike<unknown>).then(() => done(), done)
        else done()
      } catch (e) { done(e) }
    })
  }
  if (typeof destroy === 'function') return () => destroy.call(h)
  const end = h.end
  if (typeof end === 'function') return () => end.call(h)
  throw new CleanupDeclarationError(`cleanup: handle() got an object with no way to close it (none of [Symbol.asyncDispose], [Symbol.dispose], close(), destroy(), end()). Use defer(() => ...) to say how to release it.`)
}

const closeStream = (h: Record<PropertyKey, unknown>, destroy: (...a: unknown[]) => unknown): Promise<void> => new Promise<void>((resolve) => {
  if (h.destroyed === true && h.closed !== false) { resolve(); return }
  const on = h.once
  if (typeof on === 'function' && 'closed' in h) {
    on.call(h, 'close', () => resolve())
    on.call(h, 'error', () => { /* the stream errored while closing: it is closed */ })
    destroy.call(h)
    if (h.closed === true) resolve()
  } else {
    destroy.call(h)
    resolve()
  }
})

/**
 * @internal Validates `defer(fn)`: a function, or {@link CleanupDeclarationError} now.
 *
 * @example
 * ```ts
 * const run = checkDefer(() => metrics.flush())
 * ```
 */
export const checkDefer = (fn: unknown): (() => unknown) => {
  if (typeof fn !== 'function') {
    throw new CleanupDeclarationError(`cleanup: defer() needs a function to call at cleanup; got ${fn === null ? 'null' : typeof fn}. Pass e.g. context.cleanup.defer(() => metrics.flush()).`)
  }
  return fn as () => unknown
}

/**
 * A short label for reports: the constructor's name, e.g. `FileHandle`, `Socket`.
 *
 * @example
 * ```ts
 * describeHandle(await open('/tmp/x', 'r')) // 'FileHandle fd 23'
 * ```
 */
export const describeHandle = (h: object): string => {
  const name = (h as { constructor?: { name?: string } }).constructor?.name ?? 'object'
  const path = (h as { path?: unknown }).path
  const fd = (h as { fd?: unknown }).fd
  return typeof path === 'string' ? `${name} ${path}` : typeof fd === 'number' ? `${name} fd ${fd}` : name
}
