import { tmpdir } from 'node:os'
import { isAbsolute } from 'node:path'
import { CleanupConfigError } from '../errors.js'
import { isRecord, typeOf, unknownKey, unknownKeyMessage } from '../validation.js'
import type { LeakFinding } from './types.js'

/**
 * `detectLeaks` after validation: every check's settings with its defaults filled in
 * (`undefined` for a check turned off). `ResolvedOptions.detectLeaks` holds it.
 *
 * @example
 * ```ts
 * const c: LeakConfig | undefined = resolveOptions({ detectLeaks: { every: 10 } }).detectLeaks
 * c?.every // 10
 * ```
 */
export interface LeakConfig {
  handles: boolean
  tmp: { dir: string, maxDepth: number, maxEntries: number } | undefined
  memory: { gcs: number, minBytesPerInvocation: number } | undefined
  globals: boolean
  every: number
  confirm: number
  onLeak: ((finding: LeakFinding) => void) | undefined
}

/**
 * The defaults of `detectLeaks`' settings (docs/leaks.md gives the reasons for each).
 *
 * @example
 * ```ts
 * leakDefaults.confirm // 3: a leak is reported after three sampled invocations in a row grew
 * ```
 */
export const leakDefaults = {
  every: 1,
  confirm: 3,
  tmp: { maxDepth: 1, maxEntries: 1000 },
  memory: { gcs: 4, minBytesPerInvocation: 64 * 1024 },
} as const

/**
 * The option's key in `cleanup({ detectLeaks })`, for messages.
 *
 * @example
 * ```ts
 * `cleanup: option '${OPTION}.every' must be a positive integer`
 * ```
 */
export const OPTION = 'detectLeaks'
const KNOWN = ['handles', 'tmp', 'memory', 'globals', 'every', 'confirm', 'onLeak']

const positiveInt = (name: string, v: unknown, fallback: number, example: string): number => {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new CleanupConfigError(`cleanup: option '${OPTION}.${name}' must be a positive integer; got ${typeof v === 'number' ? String(v) : typeOf(v)}. Pass e.g. { ${OPTION}: ${example} }.`)
  }
  return v
}

const flag = (name: string, v: unknown): boolean => {
  if (v === undefined) return true
  if (typeof v !== 'boolean') throw new CleanupConfigError(`cleanup: option '${OPTION}.${name}' must be a boolean; got ${typeOf(v)}. Pass { ${OPTION}: { ${name}: false } } to turn that check off, or leave it out.`)
  return v
}

const subOptions = (name: string, v: unknown, known: string[]): Record<string, unknown> | undefined => {
  if (v === undefined || v === true) return {}
  if (v === false) return undefined
  if (!isRecord(v)) throw new CleanupConfigError(`cleanup: option '${OPTION}.${name}' must be a boolean or an object with ${known.join(', ')}; got ${typeOf(v)}.`)
  const key = unknownKey(v, known)
  if (key !== undefined) throw new CleanupConfigError(unknownKeyMessage('cleanup', key, known, `${OPTION}.${name}.`))
  return v
}

const tmpDir = (v: unknown): string => {
  if (v === undefined) return tmpdir()
  if (typeof v !== 'string' || !isAbsolute(v)) {
    throw new CleanupConfigError(`cleanup: option '${OPTION}.tmp.dir' must be an absolute directory path; got ${typeof v === 'string' ? JSON.stringify(v) : typeOf(v)}. Leave it out to scan os.tmpdir(), or pass e.g. { ${OPTION}: { tmp: { dir: '/mnt/scratch' } } }.`)
  }
  return v
}

/**
 * Validates `cleanup({ detectLeaks })`; `undefined` when detection is off. Called by
 * options.ts's resolveOptions (this module registers nothing: no import has an effect).
 *
 * @example
 * ```ts
 * resolveLeakOptions({ every: 10, memory: false }) // { every: 10, memory: undefined, handles: true, … }
 * ```
 */
export const resolveLeakOptions = (value: unknown): LeakConfig | undefined => {
  if (value === false) return undefined
  if (value !== true && !isRecord(value)) {
    throw new CleanupConfigError(`cleanup: option '${OPTION}' must be true, false or an object like { every: 10, memory: false }; got ${typeOf(value)}. Pass e.g. { ${OPTION}: true }.`)
  }
  const o: Record<string, unknown> = value === true ? {} : value
  const key = unknownKey(o, KNOWN)
  if (key !== undefined) throw new CleanupConfigError(unknownKeyMessage('cleanup', key, KNOWN, `${OPTION}.`))
  if (o.onLeak !== undefined && typeof o.onLeak !== 'function') {
    throw new CleanupConfigError(`cleanup: option '${OPTION}.onLeak' must be a function; got ${typeOf(o.onLeak)}. Pass e.g. { ${OPTION}: { onLeak: (finding) => console.warn(finding) } }.`)
  }
  const tmp = subOptions('tmp', o.tmp, ['dir', 'maxDepth', 'maxEntries'])
  const memory = subOptions('memory', o.memory, ['gcs', 'minBytesPerInvocation'])
  return {
    handles: flag('handles', o.handles),
    globals: flag('globals', o.globals),
    tmp: tmp === undefined
      ? undefined
      : {
          dir: tmpDir(tmp.dir),
          maxDepth: positiveInt('tmp.maxDepth', tmp.maxDepth, leakDefaults.tmp.maxDepth, '{ tmp: { maxDepth: 2 } }'),
          maxEntries: positiveInt('tmp.maxEntries', tmp.maxEntries, leakDefaults.tmp.maxEntries, '{ tmp: { maxEntries: 1000 } }'),
        },
    memory: memory === undefined
      ? undefined
      : {
          gcs: Math.max(2, positiveInt('memory.gcs', memory.gcs, leakDefaults.memory.gcs, '{ memory: { gcs: 3 } }')),
          minBytesPerInvocation: positiveInt('memory.minBytesPerInvocation', memory.minBytesPerInvocation, leakDefaults.memory.minBytesPerInvocation, '{ memory: { minBytesPerInvocation: 65536 } }'),
        },
    every: positiveInt('every', o.every, leakDefaults.every, '{ every: 10 }'),
    confirm: positiveInt('confirm', o.confirm, leakDefaults.confirm, '{ confirm: 3 }'),
    onLeak: o.onLeak as LeakConfig['onLeak'],
  }
}
