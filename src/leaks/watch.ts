import { processSlot } from '../process-state.js'

// One watch list per process (globalThis), so two copies of the package share it.
const watched = (): Map<string, () => number> => processSlot('watched', () => new Map<string, () => number>())

/**
 * Puts a module-level value on the leak detector's watch list: with
 * `cleanup({ detectLeaks: true })`, a `size()` that grows in every one of the
 * last invocations (3 by default) is reported as a `globals` leak. Watching
 * the same name again replaces the earlier one.
 *
 * @param name - shown in the finding, e.g. the variable's name
 * @param size - returns a number, e.g. an array's length or a Map's size
 * @returns a function that removes this watch
 * @example
 * ```ts
 * const seenFiles: string[] = []
 * watch('seenFiles', () => seenFiles.length)
 * ```
 */
export const watch = (name: string, size: () => number): (() => void) => {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new TypeError(`middy-cleanup: watch() needs a non-empty name; got ${typeof name === 'string' ? 'an empty string' : typeof name}. Pass e.g. watch('seenFiles', () => seenFiles.length).`)
  }
  if (typeof size !== 'function') {
    throw new TypeError(`middy-cleanup: watch('${name}', size) needs a function returning a number; got ${typeof size}. Pass e.g. watch('${name}', () => ${name}.length).`)
  }
  const list = watched()
  list.set(name, size)
  return () => { if (list.get(name) === size) list.delete(name) }
}

/**
 * Reads every watched value; a watcher that throws or returns a non-number is skipped.
 *
 * @example
 * ```ts
 * const before = readWatched() // Map { 'seenFiles' => 3 }
 * ```
 */
export const readWatched = (): Map<string, number> => {
  const values = new Map<string, number>()
  for (const [name, size] of watched()) {
    try {
      const v = size()
      if (typeof v === 'number' && Number.isFinite(v)) values.set(name, v)
    } catch { /* a watcher's own bug must not break the invocation */ }
  }
  return values
}
