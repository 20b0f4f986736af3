import { fstatSync, readdirSync, readlinkSync, statSync } from 'node:fs'

// Open file descriptors (Linux /proc/self/fd) and what each points to.
//
// What a reading costs (Node 20, this repo's 2-core VM): readdir of /proc/self/fd
// ≈ 17 µs (most of it opening the procfs directory), one fstat ≈ 1.1–1.3 µs per
// descriptor, stat of the directory ≈ 2.7 µs. Since Linux 6.2 that stat's st_size is
// the number of open descriptors; when the descriptors known from an earlier reading,
// each fstat'ed again, are as many as that, no new number exists and the readdir is
// skipped. The fstat of each known number stays: only it tells a closed socket's
// number taken by a new file (the very case of unrelated churn) from no change.

const FD_DIR = '/proc/self/fd'
let fdsReadable = process.platform === 'linux'
/** undefined: not tried yet; false: st_size of /proc/self/fd is not the count here (Linux < 6.2) */
let countable: boolean | undefined

/**
 * What a descriptor is: `file` (regular file, directory, device), `socket`, `pipe`
 * (FIFOs too), `anon` (eventfd, epoll, timerfd…: anon_inode) or `other`.
 *
 * @example
 * ```ts
 * const cls: FdClass = 'socket'
 * ```
 */
export type FdClass = 'file' | 'socket' | 'pipe' | 'anon' | 'other'

/**
 * One open descriptor: its class and the identity of what it points to.
 *
 * @example
 * ```ts
 * const info: FdInfo = { cls: 'file', id: '2049:131' }
 * ```
 */
export interface FdInfo {
  readonly cls: FdClass
  /** `dev:ino` of the open object: a socket's or pipe's inode is unique while it is open; a file's is the file (whatever path opened it) */
  readonly id: string
}

/**
 * @internal How often this module listed /proc/self/fd and fstat'ed a descriptor since
 * the process started: for tests that prove how much work a sampled invocation does.
 *
 * @example
 * ```ts
 * const before = fdReads.listings
 * ```
 */
export const fdReads = { listings: 0, fstats: 0 }

const S_IFMT = 0o170000
const classOf = (mode: number): FdClass => {
  switch (mode & S_IFMT) {
    case 0o140000: return 'socket'
    case 0o010000: return 'pipe'
    case 0o100000: case 0o040000: case 0o020000: case 0o060000: return 'file'
    case 0: return 'anon' // anon_inode objects have no file type bits
    default: return 'other'
  }
}

/**
 * Descriptors read per sample, at most: a process with more is judged on the first ones listed.
 *
 * @example
 * ```ts
 * if (fds.size >= MAX_FDS) console.warn('judged on the first 4096 descriptors only')
 * ```
 */
export const MAX_FDS = 4096

/** An FdInfo as read here: with the numbers its id is made of, to compare without building the string. */
interface Read extends FdInfo { readonly dev: number, readonly ino: number, readonly mode: number }

/** What `fd` points to now, or undefined when it is closed; `was` is returned when unchanged (no new object). */
const identify = (fd: number, was: FdInfo | undefined): FdInfo | undefined => {
  let st
  fdReads.fstats++
  try { st = fstatSync(fd) } catch { return undefined } // closed meanwhile
  const w = was as Partial<Read> | undefined
  if (w?.ino === st.ino && w.dev === st.dev && w.mode === st.mode) return was
  const read: Read = { cls: classOf(st.mode), id: `${st.dev}:${st.ino}`, dev: st.dev, ino: st.ino, mode: st.mode }
  return read
}

/**
 * The number of open descriptors, from one stat of /proc/self/fd (Linux ≥ 6.2 reports
 * it as st_size), or undefined where it does not.
 *
 * @example
 * ```ts
 * if (openFdCount() === last.size) console.log('as many descriptors open as at the last reading')
 * ```
 */
export const openFdCount = (): number | undefined => {
  if (!fdsReadable || countable === false) return undefined
  let size = 0
  try { size = statSync(FD_DIR).size } catch { /* not there */ }
  // 0 is what kernels before 6.2 report; a process always has a descriptor open (this one's stdio at least)
  if (size > 0) { countable = true; return size }
  countable = false
  return undefined
}

/**
 * True when no descriptor can have been opened without closing another since `known` was
 * read: as many are open now (the count, Linux ≥ 6.2), or, on older kernels, the same
 * numbers are (one listing, no fstat). Which objects they point to is not checked.
 *
 * @example
 * ```ts
 * const start = last !== undefined && countUnchangedSince(last) ? last : openFds(last)
 * ```
 */
export const countUnchangedSince = (known: ReadonlyMap<number, FdInfo>): boolean => {
  const count = openFdCount()
  if (count !== undefined) return count === known.size
  if (!fdsReadable) return false
  let names: string[]
  fdReads.listings++
  try { names = readdirSync(FD_DIR) } catch { return false }
  // the listing shows its own descriptor too (closed by now): one more than those open
  return names.length === known.size + 1 && names.filter((n) => known.has(Number(n))).length === known.size
}

/**
 * @internal Tests: behave as on Linux < 6.2, where st_size of /proc/self/fd is 0 (this
 * kernel cannot be made to say so).
 *
 * @example
 * ```ts
 * pretendNoFdCount()
 * ```
 */
export const pretendNoFdCount = (): void => { countable = false }

/**
 * Open file descriptors (Linux) with what each points to, or undefined where /proc is
 * not there. `known`: the last reading; its numbers are fstat'ed again and the
 * directory is listed only when more descriptors are open than those (see the module
 * comment). The descriptor `readdir` itself used is closed by the time it is stat'ed
 * (EBADF), so it is not counted.
 *
 * @example
 * ```ts
 * const before = openFds()
 * const after = openFds(before)
 * ```
 */
export const openFds = (known?: ReadonlyMap<number, FdInfo>): Map<number, FdInfo> | undefined => {
  if (!fdsReadable) return undefined
  const fds = new Map<number, FdInfo>()
  if (known !== undefined && known.size > 0 && known.size < MAX_FDS) {
    const count = openFdCount()
    if (count !== undefined) {
      for (const [fd, was] of known) {
        const info = identify(fd, was)
        if (info !== undefined) fds.set(fd, info)
      }
      if (fds.size === count) return fds
    }
  }
  let names: string[]
  fdReads.listings++
  try {
    names = readdirSync(FD_DIR)
  } catch {
    fdsReadable = false
    return undefined
  }
  for (const name of names) {
    if (fds.size >= MAX_FDS) break
    const fd = Number(name)
    if (fds.has(fd)) continue
    const info = identify(fd, known?.get(fd))
    if (info !== undefined) fds.set(fd, info)
  }
  return fds
}

/**
 * Target of descriptor `fd` (a path, `socket:[…]`, `pipe:[…]`, `anon_inode:[…]`), or
 * undefined when it closed meanwhile. One readlink (≈ 4 µs): read only for findings.
 *
 * @example
 * ```ts
 * fdTarget(1) // '/dev/pts/0'
 * ```
 */
export const fdTarget = (fd: number): string | undefined => {
  try { return readlinkSync(`${FD_DIR}/${fd}`) } catch { return undefined }
}
