import { type Stats, readFileSync, readlinkSync } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { realTmpdir } from './files.js'
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
/**
 * @internal 16 random base-36 characters (see above).
 *
 * @example
 * ```ts
 * uniqueName() // 'k3v0x9q2m1z8a7b4'
 * ```
 */
export const uniqueName = (): string => {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  let name = ''
  for (const b of bytes) name += ALPHABET[b % 36]
  return name
}

/**
 * @internal The start time of process `pid` (field 22 of /proc/<pid>/stat), or undefined when /proc cannot tell.
 *
 * @example
 * ```ts
 * processStart('self') // '123456' (clock ticks since boot)
 * ```
 */
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
/**
 * @internal This process's start identity, read once: `x` for what /proc cannot tell.
 *
 * @example
 * ```ts
 * processIdentity() // { start: '123456', ns: '4026531836' }
 * ```
 */
export const processIdentity = (): Identity => self ??= { start: processStart('self') ?? 'x', ns: pidNamespace() ?? 'x' }

/**
 * @internal A new per-invocation directory's name (see the top of this file).
 *
 * @example
 * ```ts
 * invocationDirName() // 'middy-cleanup-42-0-t123456-n4026531836-k3v0x9q2m1z8a7b4'
 * ```
 */
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

/** False only on proof that no process has `pid` (ESRCH); EPERM means one exists. */
const pidExists = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ESRCH' }
}

/** Margin for clock steps when a directory's mtime is compared with this process's start. */
const CLOCK_MARGIN_MS = 1000

/**
 * @internal True only on proof that the process that named this directory is dead:
 * - another pid namespace (or one /proc cannot tell while the other can): no proof;
 * - this pid: proof only when the dir records another start time (an earlier process
 *   that had this pid); same start or unknown: this very process, any thread — never;
 * - another pid: gone (ESRCH), or alive with another start time (the pid was reused);
 * - a 0.1.0 name (no start identity): another pid that is gone; this pid when the
 *   directory was last modified before this process started (an earlier incarnation).
 *
 * @example
 * ```ts
 * ownerIsDead('middy-cleanup-42-0-t123-n456-k3v0x9q2m1z8a7b4', st.mtimeMs) // true when pid 42 is gone
 * ```
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
