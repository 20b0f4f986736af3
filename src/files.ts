import { type Stats, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import { lstat, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { threadId } from 'node:worker_threads'
import { CleanupConfigError, CleanupDeclarationError } from './errors.js'
import type { PathItem } from './scope-items.js'

// Per-invocation directories are named
//   middy-cleanup-<pid>-<threadId>-t<start>-n<pidns>-<random>
// so a later process can tell whose they were. <start> is the process start time
// (/proc/self/stat field 22, clock ticks since boot: the same for every thread of a
// process, different for a later process that got the same pid) and <pidns> the pid
// namespace (a pid only means something inside its namespace); `x` when /proc cannot
// tell. The start-of-process sweep removes a directory only on proof that its owner is
// dead (see ownerIsDead); never one of this very process, whatever the thread: the
// orphans of this process are handled through the in-memory registry, never by name.
const DIR_PREFIX = 'middy-cleanup-'
const DIR_PATTERN = /^middy-cleanup-(\d+)-(\d+)-t(\d+|x)-n(\d+|x)-[0-9a-z]{16}$/
// 0.1.0 names, without a start identity. This version never creates them.
const LEGACY_DIR_PATTERN = /^middy-cleanup-(\d+)-(\d+)-[0-9a-z]{16}$/

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'
// 16 characters of base 36 from the Web Crypto RNG (82 bits): unguessable, and
// no node:crypto load at cold start.
/** @internal 16 random base-36 characters (see above). */
export const uniqueName = (): string => {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  let name = ''
  for (const b of bytes) name += ALPHABET[b % 36]
  return name
}

/** The start time of process `pid` (field 22 of /proc/<pid>/stat), or undefined when /proc cannot tell. */
export const processStart = (pid: number | 'self'): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // field 2 (comm) may hold spaces and parentheses: count from the last ')'
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return start !== undefined && /^\d+$/.test(start) ? start : undefined
  } catch { return undefined }
}

const pidNamespace = (): string | undefined => {
  try { return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] } catch { return undefined }
}

interface Identity { start: string, ns: string }
let self: Identity | undefined
/** This process's start identity, read once: `x` for what /proc cannot tell. */
export const processIdentity = (): Identity => self ??= { start: processStart('self') ?? 'x', ns: pidNamespace() ?? 'x' }

export const invocationDirName = (): string => {
  const { start, ns } = processIdentity()
  return `${DIR_PREFIX}${process.pid}-${threadId}-t${start}-n${ns}-${uniqueName()}`
}

/**
 * @internal A new per-invocation directory's item, named before it exists (so one whose
 * creation is interrupted is still removed). Bookkeeping (covers 0): it holds the temp
 * files and the journal, it is not a declaration.
 *
 * @example
 * ```ts
 * const dir = newInvocationDir() // { real: '/tmp/middy-cleanup-42-0-t123-n456-…', covers: 0, … }
 * ```
 */
export const newInvocationDir = (): PathItem => {
  const real = join(realTmpdir(), invocationDirName())
  return { type: 'path', kind: 'path', id: `dir:${real}`, real, roots: [realTmpdir()], attempts: 0, covers: 0 }
}

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
 * Resolves `..` and symlinks; for a path that does not exist yet, resolves its nearest
 * existing ancestor. Throws (ENOENT) when that ancestor is a dangling symlink: what it
 * will point to is unknown, so nothing under it can be judged inside or outside a root.
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
 * The real path of `p` itself: its parent directory resolved (`..`, symlinks), its
 * last component kept as is. For a symlink that is the link, never its target, so
 * `path(link)` removes the link and the allow-list is checked against where the link is.
 */
export const realPathOf = (p: string): string => {
  const absolute = resolve(p)
  const parent = dirname(absolute)
  if (parent === absolute) return absolute
  return join(realResolve(parent), basename(absolute))
}

/** True when `target` is strictly inside `root` (the root itself is not deletable). */
export const isInside = (root: string, target: string): boolean => {
  const rel = relative(root, target)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
}

let realTmp: string | undefined
/** os.tmpdir() with symlinks resolved (once per process): where per-invocation dirs live. */
export const realTmpdir = (): string => realTmp ??= realResolve(tmpdir())

export const resolveAllowedRoots = (roots: readonly string[]): string[] => roots.map((r) => realResolve(r))

const isFsRoot = (p: string): boolean => dirname(p) === p

/**
 * Validates `allow.paths` and returns the real roots: each entry must be an absolute
 * directory that is not, and does not resolve to, the root of the file system (a
 * relative entry would follow the current directory, which moves; '/' would let
 * path() delete anything). Throws {@link CleanupConfigError} naming the entry and the fix.
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

/** Validates a `path()` declaration; returns the real path (real parent + last component) that will be removed. */
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
 * Removes a declared path. Its parent is resolved again, so a directory on the way
 * swapped for a symlink since declaration is refused when it now leads outside the
 * allow-list; a last component swapped for a symlink is unlinked (fs.rm never follows it).
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

/** False only on proof that no process has `pid` (ESRCH); EPERM means one exists. */
const pidExists = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ESRCH' }
}

/** Margin for clock steps when a directory's mtime is compared with this process's start. */
const CLOCK_MARGIN_MS = 1000

/**
 * True only on proof that the process that named this directory is dead:
 * - another pid namespace (or one /proc cannot tell while the other can): no proof;
 * - this pid: proof only when the dir records another start time (an earlier process
 *   that had this pid); same start or unknown: this very process, any thread — never;
 * - another pid: gone (ESRCH), or alive with another start time (the pid was reused);
 * - a 0.1.0 name (no start identity): another pid that is gone; this pid when the
 *   directory was last modified before this process started (an earlier incarnation).
 */
export const ownerIsDead = (name: string, mtimeMs: number): boolean => {
  const me = processIdentity()
  const m = DIR_PATTERN.exec(name)
  if (m !== null) {
    const pid = Number(m[1])
    const start = m[3]!
    if (m[4] !== me.ns) return false
    if (pid === process.pid) return start !== 'x' && me.start !== 'x' && start !== me.start
    if (!pidExists(pid)) return true
    if (start === 'x') return false
    const now = processStart(pid)
    // read again after /proc: a pid that vanished in between is gone too
    return now === undefined ? !pidExists(pid) : now !== start
  }
  const legacy = LEGACY_DIR_PATTERN.exec(name)
  if (legacy === null) return false
  const pid = Number(legacy[1])
  if (pid === process.pid) return mtimeMs < performance.timeOrigin - CLOCK_MARGIN_MS
  return !pidExists(pid)
}

/**
 * The per-invocation directories in os.tmpdir() whose owner is provably dead (crash,
 * timeout, hard kill: Lambda keeps /tmp); see ownerIsDead. Only real directories
 * (lstat: never a symlink) owned by this uid. What to do with them (their journals)
 * is the sweep's.
 *
 * @example
 * ```ts
 * for (const dir of await deadOwnersDirs()) console.log('stale:', dir)
 * ```
 */
export const deadOwnersDirs = async (): Promise<string[]> => {
  const root = realTmpdir()
  let names: string[]
  try { names = await readdir(root) } catch { return [] }
  const uid = process.getuid?.()
  const dead = await Promise.all(names.map(async (name) => {
    if (!DIR_PATTERN.test(name) && !LEGACY_DIR_PATTERN.test(name)) return undefined
    const dir = join(root, name)
    let st: Stats
    try { st = await lstat(dir) } catch { return undefined }
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return undefined
    return ownerIsDead(name, st.mtimeMs) ? dir : undefined
  }))
  return dead.filter((d): d is string => d !== undefined)
}
