/**
 * What every validator shares: how a wrong value is shown in a message, what counts
 * as an options object, and the one "unknown key, did you mean" message. A misspelt
 * key is always refused (dropped silently, `verison` would delete the current version
 * and `timeoutMS` would leave the default budget), and the message names the key and
 * the closest known one.
 *
 * Core module: imports nothing.
 */

/**
 * The type of a value, short, for a message: `null`, `array`, `Uint8Array`, or `typeof`.
 *
 * @example
 * ```ts
 * throw new CleanupConfigError(`shutdown: option 'exit' must be a boolean; got ${typeOf(o.exit)}.`)
 * ```
 */
export const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Uint8Array ? 'Uint8Array' : typeof v

/**
 * A value as a declaration message shows it: strings quoted, numbers and booleans with
 * their type, the rest by type.
 *
 * @example
 * ```ts
 * shown('a') // '"a"'; shown(1) // 'number 1'; shown([]) // 'array'
 * ```
 */
export const shown = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' ? `${typeOf(v)} ${String(v)}` : typeOf(v)

/**
 * What was passed, for an option's message: the value for primitives (strings quoted
 * and cut at 60 characters), `a <Class>` / `an object` / `an array` / `a function` otherwise.
 *
 * @example
 * ```ts
 * describeValue('2s') // 'string "2s"'; describeValue(new Map()) // 'a Map'
 * ```
 */
export const describeValue = (v: unknown): string => {
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v)
  if (typeof v === 'bigint') return `bigint ${String(v)}`
  if (typeof v === 'symbol') return 'a symbol'
  if (typeof v === 'function') return 'a function'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object'
}

/**
 * An options object: a non-null object that is not an array, Map, Set, Promise, Date
 * or RegExp (each of which `typeof` calls an object, none of which carries options).
 *
 * @example
 * ```ts
 * if (!isRecord(options)) throw new CleanupConfigError(`cleanup: options must be an object; got ${describeValue(options)}.`)
 * ```
 */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) &&
  !(v instanceof Map) && !(v instanceof Set) && !(v instanceof Promise) && !(v instanceof Date) && !(v instanceof RegExp)

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`. */
const editDistance = (a: string, b: string): number => {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The known key a misspelt one most likely meant: the same ignoring case, one that
 * starts or ends the other (`tableName` → `table`, `path` → `paths`), or a few typing
 * slips away, from the whole key or from its start (`verison` → `versionId`).
 * `undefined` when nothing is close.
 *
 * @example
 * ```ts
 * closestKey('recievedSignal', ['timeoutMs', 'receivedSignal']) // 'receivedSignal'
 * ```
 */
export const closestKey = (name: string, known: readonly string[]): string | undefined => {
  // Long random keys: the distance table would be large and nothing is close anyway.
  if (name.length > 100) return undefined
  const n = name.toLowerCase()
  let best: string | undefined
  let bestScore = Infinity
  for (const k of known) {
    const kl = k.toLowerCase()
    if (kl === n) return k
    let score = editDistance(n, kl)
    if (n.length >= 3 && (n.startsWith(kl) || kl.startsWith(n))) score = Math.min(score, 1)
    if (n.length >= 4) score = Math.min(score, editDistance(n, kl.slice(0, n.length)) + 1)
    if (score < bestScore) { best = k; bestScore = score }
  }
  return bestScore <= Math.min(2, Math.max(1, Math.floor(n.length / 3))) ? best : undefined
}

/**
 * How an unknown-key message reads. Each is asserted by tests and read by users, so
 * each keeps its wording:
 * - `'option'` (cleanup's options, flushLeftovers, detectLeaks):
 *   `cleanup: unknown option 'allow.path'. Did you mean 'allow.paths'? Check the spelling; known options: allow.paths, allow.s3, allow.dynamodb.`
 * - `'key'` (declarations; `where` says which): `cleanup: s3Object({ verison }): unknown key 'verison' — did you mean versionId? Known keys: bucket, key, versionId, ….`
 * - `'listed'` (shutdown's options, temp-file options; `where` replaces "unknown option"):
 *   `shutdown: unknown option 'timeOutMs'. Known options: timeoutMs, …. Check the spelling. Did you mean 'timeoutMs'?`
 *
 * @example
 * ```ts
 * unknownKeyMessage('shutdown', key, KNOWN, '', { style: 'listed' })
 * ```
 */
export type UnknownKeyStyle = 'option' | 'key' | 'listed'

/**
 * How {@link unknownKeyMessage} words its message, and where the key was.
 *
 * @example
 * ```ts
 * unknownKeyMessage('cleanup', 'verison', ['bucket', 'key', 'versionId'], '', { style: 'key', where: 's3Object({ verison })' })
 * ```
 */
export interface UnknownKeyHow {
  /** @default 'option' */
  style?: UnknownKeyStyle
  /** `'key'`: the declaration, e.g. `s3Object({ verison })`; `'listed'`: the start, e.g. `tempFile() got an unknown option` */
  where?: string
}

/**
 * The message for an unknown key: names it (after `prefix`, the path of the enclosing
 * option such as `'allow.'`), suggests the closest known key when one is close, and
 * lists the known ones. `owner` is who validates: 'cleanup', 'shutdown', 'flushLeftovers'.
 *
 * @example
 * ```ts
 * throw new CleanupConfigError(unknownKeyMessage('cleanup', 'timeoutMS', ['timeoutMs', 'logger']))
 * // cleanup: unknown option 'timeoutMS'. Did you mean 'timeoutMs'? Check the spelling; known options: timeoutMs, logger.
 * ```
 */
export const unknownKeyMessage = (
  owner: string, key: string, known: readonly string[], prefix = '', { style = 'option', where }: UnknownKeyHow = {},
): string => {
  const meant = closestKey(key, known)
  if (style === 'key') {
    return `${owner}: ${where ?? 'options'}: unknown key '${key}'${meant === undefined ? '' : ` — did you mean ${meant}?`} Known keys: ${known.join(', ')}.`
  }
  const name = `${prefix}${key.length > 60 ? `${key.slice(0, 60)}…` : key}`
  const hint = meant === undefined ? '' : ` Did you mean '${prefix}${meant}'?`
  const list = known.map((k) => `${prefix}${k}`).join(', ')
  if (style === 'listed') {
    return `${owner}: ${where ?? 'unknown option'} '${name}'. Known${where === undefined ? ' options' : ''}: ${list}. Check the spelling.${hint}`
  }
  return `${owner}: unknown option '${name}'.${hint} Check the spelling; known options: ${list}.`
}

/**
 * The first own key of `obj` outside `known`, or `undefined`.
 *
 * @example
 * ```ts
 * const key = unknownKey(options, ['timeoutMs', 'logger'])
 * if (key !== undefined) logger.warn(unknownKeyMessage('flushLeftovers', key, ['timeoutMs', 'logger']))
 * ```
 */
export const unknownKey = (obj: object, known: readonly string[]): string | undefined =>
  Object.keys(obj).find((key) => !known.includes(key))

/**
 * Throws when `obj` has a key outside `known` (the `'key'` style, owner `cleanup`): a
 * misspelt key would otherwise be dropped silently (`verison` instead of `versionId`
 * deletes the current version). `label(key)` shows where the key was, e.g. `s3Object({ verison })`.
 *
 * @example
 * ```ts
 * rejectUnknownKeys(target, ['bucket', 'key', 'versionId'], (k) => `s3Object({ ${k} })`, (m) => new CleanupDeclarationError(m))
 * ```
 */
export const rejectUnknownKeys = (
  obj: object, known: readonly string[], label: (key: string) => string,
  makeError: (message: string) => Error,
): void => {
  const key = unknownKey(obj, known)
  if (key !== undefined) throw makeError(unknownKeyMessage('cleanup', key, known, '', { style: 'key', where: label(key) }))
}
