import { CleanupDeclarationError } from './errors.js'
import { isRecord, rejectUnknownKeys, shown, typeOf } from './validation.js'

// S3 scales request rates per key prefix: each partitioned prefix takes about 3,500
// PUT/COPY/POST/DELETE per second (DeleteObjects counts each of its keys), and S3 splits
// a busy prefix into partitions at character boundaries of the key. Temp keys that all
// start with `tmp/` share one partition until S3 splits it, so a burst of cleanups (20,000
// keys of one invocation, or many invocations at once) is throttled with 503 SlowDown.
// Two hex characters of a hash right after the scratch prefix give 256 prefixes for S3 to
// split into (up to ~896,000 DELETE/s once split), and keep every key under the scratch
// prefix, so one lifecycle rule on it still expires whatever a killed process left.

/**
 * Hashed prefixes `tempKey()` spreads keys over: two hex characters, `00`–`ff`.
 *
 * @example
 * ```ts
 * TEMP_KEY_SHARDS // 256
 * ```
 */
export const TEMP_KEY_SHARDS = 256

/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024
const OPTION_KEYS = ['prefix'] as const

/**
 * Options of {@link tempKey}.
 *
 * @example
 * ```ts
 * tempKey('thumb.jpg', { prefix: 'scratch/' }) // 'scratch/a7/2f0c…/thumb.jpg'
 * ```
 */
export interface TempKeyOptions {
  /**
   * The scratch prefix every key goes under (match it in a lifecycle rule and in
   * `allow.s3`): empty, or ending with `/`, not starting with `/`.
   * @default 'tmp/'
   */
  prefix?: string
}

/**
 * @internal The hashed prefix of the part of a key after the scratch prefix: 32-bit FNV-1a
 * over the UTF-16 code units, xor-folded to 8 bits. Only the spread matters (the rest starts
 * with a random id), not resistance to collisions, so no `node:crypto`: importing it cost
 * 1–2 ms of every cold start.
 *
 * @example
 * ```ts
 * shardOf('0c8e5a1e-…/thumb.jpg') // two hex characters, the same for the same input
 * ```
 */
export const shardOf = (rest: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < rest.length; i++) h = Math.imul(h ^ rest.charCodeAt(i), 0x01000193)
  return (((h >>> 8) ^ h ^ (h >>> 16) ^ (h >>> 24)) & 0xff).toString(16).padStart(2, '0')
}

const checkPrefix = (prefix: unknown): string => {
  if (prefix === undefined) return 'tmp/'
  if (typeof prefix !== 'string' || prefix.startsWith('/') || (prefix !== '' && !prefix.endsWith('/'))) {
    throw new CleanupDeclarationError(`cleanup: tempKey(name, { prefix }) must be '' or a key prefix ending with '/' and not starting with '/', like 'tmp/'; got ${shown(prefix)}.`)
  }
  return prefix
}

const checkName = (name: unknown): string | undefined => {
  if (name === undefined) return undefined
  if (typeof name !== 'string' || name === '' || name.startsWith('/')) {
    throw new CleanupDeclarationError(`cleanup: tempKey(name) must be a non-empty string not starting with '/', like 'thumb.jpg' (or nothing); got ${shown(name)}.`)
  }
  return name
}

/**
 * A fresh temp S3 key: `<prefix><2 hex>/<random id>[/<name>]`, e.g.
 * `tmp/3f/0c8e…/thumb.jpg`. The random id makes it unique per call; the two hex
 * characters (a hash of the rest of the key) spread keys over
 * 256 (`TEMP_KEY_SHARDS`) prefixes, so deleting many at once is not throttled at
 * S3's ~3,500 DELETE/s of a single prefix; every key stays under `prefix`, so one
 * lifecycle rule and one `allow.s3` entry (`'bucket/tmp/'`) cover them all.
 * Throws `CleanupDeclarationError` for a bad name or prefix.
 *
 * @example
 * ```ts
 * const key = tempKey('thumb.jpg') // 'tmp/3f/0c8e5a1e-…/thumb.jpg'
 * await context.cleanup.putObject({ Bucket: 'scratch-bucket', Key: key, Body })
 * ```
 */
export const tempKey = (name?: string, options?: TempKeyOptions): string => {
  const base = checkName(name)
  if (options !== undefined && !isRecord(options)) {
    throw new CleanupDeclarationError(`cleanup: tempKey(name, options) options must be an object like { prefix: 'tmp/' }; got ${typeOf(options)}.`)
  }
  if (options !== undefined) rejectUnknownKeys(options, OPTION_KEYS, (k) => `tempKey(name, { ${k} })`, (m) => new CleanupDeclarationError(m))
  const prefix = checkPrefix(options?.prefix)
  const id = globalThis.crypto.randomUUID()
  const rest = base === undefined ? id : `${id}/${base}`
  const key = `${prefix}${shardOf(rest)}/${rest}`
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new CleanupDeclarationError(`cleanup: tempKey(name) makes a key of ${Buffer.byteLength(key)} bytes; S3 keys are at most ${MAX_KEY_BYTES} (the prefix, 3 characters of hash and a 36-character id come before the name). Use a shorter name.`)
  }
  return key
}
