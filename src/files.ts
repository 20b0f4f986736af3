import { lstatSync, realpathSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { CleanupConfigError, CleanupDeclarationError } from './errors.js'
import type { PathItem } from './scope-items.js'

// Paths: what a declaration resolves to, what may be deleted (allow.paths), and the
// removal itself. The per-invocation directories' names and owners: invocation-dirs.ts.

/**
 * @internal The item of a declared path (`path`, `tempFile`, `tempDir`): it counts as one resource.
 *
 * @example
 * ```ts
 * pathItem('/tmp/out.jpg', ['/tmp'])
 * ```
 */
export const pathItem = (real: string, roots: readonly string[]): PathItem => ({ type: 'path', kind: 'path', id: real, real, roots, attempts: 0, covers: 1 })

const lexists = (p: string): boolean => { try { lstatSync(p); return true } catch { return false } }

/**
 * @internal Resolves `..` and symlinks; for a path that does not exist yet, resolves its nearest
 * existing ancestor. Throws (ENOENT) when that ancestor is a dangling symlink: what it
 * will point to is unknown, so nothing under it can be judged inside or outside a root.
 *
 * @example
 * ```ts
 * realResolve('/tmp/link/not-yet') // '/data/target/not-yet' when /tmp/link → /data/target
 * ```
 */
export const realResolve = (p: string): string => {
  const absolute = resolve(p)
  let existing = absolute
  const rest: string[] = []
  while (!lexists(existing)) {
    const parent = dirname(existing)
    if (parent === existing) break
    rest.unshift(basename(existing))
    existing = parent
  }
  return join(realpathSync(existing), ...rest)
}

/**
 * @internal The real path of `p` itself: its parent directory resolved (`..`, symlinks), its
 * last component kept as is. For a symlink that is the link, never its target, so
 * `path(link)` removes the link and the allow-list is checked against where the link is.
 *
 * @example
 * ```ts
 * realPathOf('/tmp/link') // '/tmp/link' (the link itself), never its target
 * ```
 */
export const realPathOf = (p: string): string => {
  const absolute = resolve(p)
  const parent = dirname(absolute)
  if (parent === absolute) return absolute
  return join(realResolve(parent), basename(absolute))
}

/**
 * @internal True when `target` is strictly inside `root` (the root itself is not deletable).
 *
 * @example
 * ```ts
 * isInside('/tmp', '/tmp/a') // true
 * isInside('/tmp', '/tmp') // false
 * ```
 */
export const isInside = (root: string, target: string): boolean => {
  const rel = relative(root, target)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
}

let realTmp: string | undefined
/**
 * @internal os.tmpdir() with symlinks resolved (once per process): where per-invocation dirs live.
 *
 * @example
 * ```ts
 * realTmpdir() // '/tmp' (or '/private/var/folders/…' on macOS)
 * ```
 */
export const realTmpdir = (): string => realTmp ??= realResolve(tmpdir())

const isFsRoot = (p: string): boolean => dirname(p) === p

/**
 * @internal Validates `allow.paths` and returns the real roots: each entry must be an absolute
 * directory that is not, and does not resolve to, the root of the file system (a
 * relative entry would follow the current directory, which moves; '/' would let
 * path() delete anything). Throws {@link CleanupConfigError} naming the entry and the fix.
 *
 * @example
 * ```ts
 * checkAllowedRoots(['/tmp/work']) // ['/tmp/work'] (real paths); ['work'] or ['/'] throws
 * ```
 */
export const checkAllowedRoots = (roots: readonly string[], owner = 'cleanup'): string[] => roots.map((root) => {
  const fix = "Pass an absolute directory that holds only what cleanup may delete, e.g. { allow: { paths: ['/tmp/work'] } }"
  if (root.includes('\0')) throw new CleanupConfigError(`${owner}: option 'allow.paths' entry ${JSON.stringify(root)} has a NUL byte. ${fix}.`)
  if (!isAbsolute(root)) {
    throw new CleanupConfigError(`${owner}: option 'allow.paths' entry '${root}' is a relative path; it would be resolved against the current directory (${process.cwd()}), which can change. ${fix}, or path.resolve() it yourself.`)
  }
  if (isFsRoot(root)) throw new CleanupConfigError(`${owner}: option 'allow.paths' entry '${root}' is the root of the file system: path() could then delete anything. ${fix}.`)
  let real: string
  try { real = realResolve(root) } catch (e) {
    throw new CleanupConfigError(`${owner}: option 'allow.paths' entry '${root}' cannot be resolved (${(e as Error).message}). ${fix}.`)
  }
  if (isFsRoot(real)) throw new CleanupConfigError(`${owner}: option 'allow.paths' entry '${root}' resolves to '${real}', the root of the file system: path() could then delete anything. ${fix}.`)
  return real
})

/**
 * @internal Validates a `path()` declaration; returns the real path (real parent + last component) that will be removed.
 *
 * @example
 * ```ts
 * checkPath('/tmp/../tmp/out.jpg', ['/tmp']) // '/tmp/out.jpg'
 * ```
 */
export const checkPath = (p: unknown, roots: readonly string[]): string => {
  if (typeof p !== 'string' || p.trim() === '') {
    throw new CleanupDeclarationError(`cleanup: path() needs a non-empty string; got ${p === '' ? 'an empty string' : typeof p}. Pass the file or directory to remove, e.g. context.cleanup.path('/tmp/out.jpg').`)
  }
  if (p.includes('\0')) throw new CleanupDeclarationError('cleanup: path() got a path with a NUL byte; pass a real file system path.')
  let real: string
  try { real = realPathOf(p) } catch (e) {
    throw new CleanupDeclarationError(`cleanup: path('${p}') cannot be resolved: a directory on the way is a dangling symlink (${(e as Error).message}). Declare the path once its directory exists.`)
  }
  if (!roots.some((root) => isInside(root, real))) {
    throw new CleanupDeclarationError(`cleanup: path('${p}') resolves to '${real}', which is outside allow.paths [${roots.join(', ')}]. Create temp files with context.cleanup.tempFile(), or add the directory to cleanup({ allow: { paths: [...] } }).`)
  }
  return real
}

/**
 * @internal Removes a declared path. Its parent is resolved again, so a directory on the way
 * swapped for a symlink since declaration is refused when it now leads outside the
 * allow-list; a last component swapped for a symlink is unlinked (fs.rm never follows it).
 *
 * @example
 * ```ts
 * await removePath('/tmp/out.jpg', ['/tmp'])
 * ```
 */
export const removePath = async (real: string, roots: readonly string[]): Promise<void> => {
  let again: string
  try { again = realPathOf(real) } catch (e) {
    throw new CleanupDeclarationError(`cleanup: refused to remove '${real}': its directory cannot be resolved any more (${(e as Error).message}), so it cannot be shown to be inside allow.paths`)
  }
  if (!roots.some((root) => isInside(root, again))) {
    throw new CleanupDeclarationError(`cleanup: refused to remove '${real}': it now resolves to '${again}', outside allow.paths`)
  }
  await rm(again, { recursive: true, force: true, maxRetries: 2 })
}
