import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { CleanupDeclarationError } from './errors.js'
import { pathItem } from './files.js'
import { uniqueName } from './invocation-dirs.js'
import type { ScopeCore } from './scope-core.js'
import { typeOf, unknownKey, unknownKeyMessage } from './validation.js'

/**
 * Options of `CleanupScope.tempFile`.
 *
 * @example
 * ```ts
 * const thumb = await context.cleanup.tempFile({ prefix: 'thumb-', suffix: '.jpg' })
 * ```
 */
export interface TempFileOptions {
  /** Start of the file name, e.g. `'thumb-'`. */
  prefix?: string
  /** End of the file name, e.g. `'.jpg'`. */
  suffix?: string
}

/**
 * Options of `CleanupScope.tempDir`.
 *
 * @example
 * ```ts
 * const work = await context.cleanup.tempDir({ prefix: 'unzip-' })
 * ```
 */
export interface TempDirOptions {
  /** Start of the directory name. */
  prefix?: string
}

/** Longest name a file system takes for one path component (NAME_MAX on Linux, macOS). */
const NAME_MAX_BYTES = 255
const RANDOM_CHARS = 16

/**
 * @internal Validates the options of `tempFile()` / `tempDir()` at the call: an object or
 * nothing, known keys only, a prefix/suffix without separators, and a name that fits
 * NAME_MAX with the 16 random characters. Throws {@link CleanupDeclarationError}
 * naming the argument and the fix.
 *
 * @example
 * ```ts
 * checkTempOptions('tempFile', { suffix: '.jpg' }) // { prefix: '', suffix: '.jpg' }
 * ```
 */
export const checkTempOptions = (method: 'tempFile' | 'tempDir', options: unknown): { prefix: string, suffix: string } => {
  const known = method === 'tempFile' ? ['prefix', 'suffix'] : ['prefix']
  const example = method === 'tempFile' ? "{ prefix: 'thumb-', suffix: '.jpg' }" : "{ prefix: 'unzip-' }"
  if (options === undefined) return { prefix: '', suffix: '' }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() takes an options object like ${example} or nothing; got ${typeOf(options)}. Call ${method}() or ${method}(${example}).`)
  }
  const o = options as Record<string, unknown>
  const unknown = unknownKey(o, known)
  if (unknown !== undefined) throw new CleanupDeclarationError(unknownKeyMessage('cleanup', unknown, known, '', { style: 'listed', where: `${method}() got an unknown option` }))
  const affix = (name: 'prefix' | 'suffix'): string => {
    const v = o[name]
    if (v === undefined) return ''
    if (typeof v !== 'string' || v.includes('/') || v.includes('\\') || v.includes('\0')) {
      throw new CleanupDeclarationError(`cleanup: ${method}({ ${name} }) must be a string without '/', '\\' or NUL; got ${JSON.stringify(v) ?? typeOf(v)}. Pass e.g. ${method}({ ${name}: '${name === 'suffix' ? '.jpg' : 'thumb-'}' }).`)
    }
    return v
  }
  const prefix = affix('prefix')
  const suffix = affix('suffix')
  const bytes = Buffer.byteLength(prefix) + Buffer.byteLength(suffix)
  if (bytes > NAME_MAX_BYTES - RANDOM_CHARS) {
    const named = [prefix !== '' ? 'prefix' : '', suffix !== '' ? 'suffix' : ''].filter((n) => n !== '').join(', ')
    throw new CleanupDeclarationError(`cleanup: ${method}({ ${named} }) is too long: a file name is at most ${NAME_MAX_BYTES} bytes and the random part takes ${RANDOM_CHARS}, so ${method === 'tempFile' ? 'prefix + suffix' : 'prefix'} may have at most ${NAME_MAX_BYTES - RANDOM_CHARS} bytes (UTF-8); got ${bytes}. Shorten it, e.g. ${method}(${example}).`)
  }
  return { prefix, suffix }
}

/**
 * @internal Creates an empty file (mode 0600) with an unguessable name in `dir`.
 *
 * @example
 * ```ts
 * const file = await createTempFile(dir, 'thumb-', '.jpg')
 * ```
 */
export const createTempFile = async (dir: string, prefix = '', suffix = ''): Promise<string> => {
  const file = join(dir, `${prefix}${uniqueName()}${suffix}`)
  const fh = await open(file, 'wx', 0o600)
  await fh.close()
  return file
}

/**
 * @internal Creates an empty directory (mode 0700) with an unguessable name in `dir`.
 *
 * @example
 * ```ts
 * const sub = await createTempDir(dir, 'unzip-')
 * ```
 */
export const createTempDir = async (dir: string, prefix = ''): Promise<string> => {
  const sub = join(dir, `${prefix}${uniqueName()}`)
  await mkdir(sub, { mode: 0o700 })
  return sub
}


/**
 * @internal `scope.tempFile()`: a new empty file in the scope's per-invocation dir,
 * held by the scope as its own LIFO entry (a stream declared after it is closed
 * first); only the dir, which holds the journal, goes last.
 *
 * @example
 * ```ts
 * const file = await tempFileIn(core, { suffix: '.jpg' })
 * ```
 */
export const tempFileIn = async (core: ScopeCore, options?: TempFileOptions): Promise<string> => {
  const { prefix, suffix } = checkTempOptions('tempFile', options)
  const dir = await core.madeDir()
  const file = await createTempFile(dir.real, prefix, suffix)
  core.hold(pathItem(file, dir.roots))
  return file
}

/**
 * @internal `scope.tempDir()`: a new empty directory in the scope's per-invocation dir, held by the scope.
 *
 * @example
 * ```ts
 * const work = await tempDirIn(core, { prefix: 'unzip-' })
 * ```
 */
export const tempDirIn = async (core: ScopeCore, options?: TempDirOptions): Promise<string> => {
  const { prefix } = checkTempOptions('tempDir', options)
  const dir = await core.madeDir()
  const sub = await createTempDir(dir.real, prefix)
  core.hold(pathItem(sub, dir.roots))
  return sub
}
