import { type FdClass, type FdInfo, fdTarget } from './fds.js'
import type { HandleLeakDetails } from './types.js'

// Growth is judged per type and target, never on totals: a total is the sum of
// unrelated things, so a pooled keep-alive socket closed by its server in the same
// invocation as a FileHandle is leaked gives "+0" (issue 12 obs 14), and a socket
// pool replacing its connection gives "+1" every time. Each key below is judged on
// its own:
// - descriptors (Linux): one key per file (`dev:ino`, whatever path opened it), one
//   for all files (a leak of a new file each invocation), and one per other class —
//   sockets, pipes, anon inodes — whose members are anonymous and interchangeable;
// - ref'd handles (`getActiveResourcesInfo()`): one key per type.
// A descriptor key grows in an invocation when descriptors opened during it are still
// open after cleanup AND the ones it kept from the earlier invocations of its streak
// are still open too (more of them than before): a pool that closes yesterday's
// socket and opens today's does not grow; closing descriptors that were open before
// the streak (an old pool drained) neither hides nor adds anything. Handle types
// carry no identity, so a type grows when its count rose during the invocation and
// ended above where the streak's previous invocation ended.

/** A descriptor by number and what it pointed to when seen. */
interface Member { fd: number, id: string }
interface FdStreak {
  n: number
  /** the descriptors this streak's invocations opened and left open */
  members: Member[]
  /** `dev:ino` of members that closed later: a file reopened each time (a log rotating), not to be named as leaked */
  closed: Set<string>
  fdsBefore: number | undefined
}
interface TypeStreak { n: number, total: number, level: number }

const FD_TYPE: Record<FdClass, string> = { file: 'fd:file', socket: 'fd:socket', pipe: 'fd:pipe', anon: 'fd:anon', other: 'fd:other' }
const ALL_FILES = FD_TYPE.file
const fileKey = (id: string): string => `file:${id}`
const keysOf = (info: FdInfo): string[] => info.cls === 'file' ? [fileKey(info.id), ALL_FILES] : [FD_TYPE[info.cls]]
const typeOfKey = (key: string): string => key.startsWith('file:') ? ALL_FILES : key
/** The members to count and name: those whose object never closed during the streak. */
const leaked = (s: FdStreak): Member[] => s.closed.size === 0 ? s.members : s.members.filter((m) => !s.closed.has(m.id))

const MAX_TARGETS = 5

/**
 * What a confirmed handle leak reports; the caller adds message and fix.
 *
 * @example
 * ```ts
 * const v: HandleVerdict = { growth: 1, details: { invocations: 3, byType: { 'fd:file': 3 }, targets: ['/var/task/data.csv'] } }
 * ```
 */
export interface HandleVerdict {
  /** per invocation, over the confirmed keys */
  growth: number
  details: HandleLeakDetails
}

const round = (n: number): number => Math.round(n * 100) / 100

/**
 * @internal The per-key streaks of one detector.
 *
 * @example
 * ```ts
 * const judge = new HandleJudge(3)
 * const verdict = judge.judge(handlesBefore, activeHandles(), fdsBefore, openFds(fdsBefore))
 * ```
 */
export class HandleJudge {
  readonly #confirm: number
  readonly #fds = new Map<string, FdStreak>()
  readonly #types = new Map<string, TypeStreak>()

  constructor (confirm: number) {
    this.#confirm = confirm
  }

  /**
   * Updates the streaks with one sampled invocation (readings at its start and after
   * cleanup) and returns the verdict when a key has grown in `confirm` of them in a row.
   */
  judge (
    handlesBefore: Map<string, number>, handlesAfter: Map<string, number>,
    fdsBefore: Map<number, FdInfo> | undefined, fdsAfter: Map<number, FdInfo> | undefined,
  ): HandleVerdict | undefined {
    const confirmedFds = fdsBefore !== undefined && fdsAfter !== undefined ? this.#judgeFds(fdsBefore, fdsAfter) : []
    const confirmedTypes = this.#judgeTypes(handlesBefore, handlesAfter)
    if (confirmedFds.length === 0 && confirmedTypes.length === 0) return undefined

    // A file confirmed on its own says which file; the all-files key then adds nothing
    // but the files that merely rotate beside it.
    const perFile = confirmedFds.filter(([key]) => key !== ALL_FILES)
    const fdKeys = perFile.some(([key]) => key.startsWith('file:')) ? perFile : confirmedFds
    const byType: Record<string, number> = {}
    let fdRate = 0
    let typeRate = 0
    let invocations = 0
    let longest: FdStreak | undefined
    const targets: string[] = []
    for (const [key, s] of fdKeys) {
      const members = leaked(s)
      const type = typeOfKey(key)
      byType[type] = (byType[type] ?? 0) + members.length
      fdRate += members.length / s.n
      invocations = Math.max(invocations, s.n)
      if (longest === undefined || s.n > longest.n) longest = s
      for (const m of members) {
        if (targets.length >= MAX_TARGETS) break
        const target = fdTarget(m.fd)
        if (target !== undefined && !targets.includes(target)) targets.push(target)
      }
    }
    for (const [type, s] of confirmedTypes) {
      byType[type] = s.total
      typeRate += s.total / s.n
      invocations = Math.max(invocations, s.n)
    }
    return {
      // a leaked socket is both a TCPSocketWrap and an fd:socket: the larger side, not the sum
      growth: round(Math.max(fdRate, typeRate)),
      details: {
        invocations,
        byType,
        targets,
        ...(longest?.fdsBefore !== undefined && fdsAfter !== undefined ? { fds: { before: longest.fdsBefore, after: fdsAfter.size } } : {}),
      },
    }
  }

  #judgeFds (before: Map<number, FdInfo>, after: Map<number, FdInfo>): Array<[string, FdStreak]> {
    // opened during the invocation and still open: a number not open at the start, or
    // open then on something else (closed and reused meanwhile)
    const added = new Map<string, Member[]>()
    for (const [fd, info] of after) {
      if (before.get(fd)?.id === info.id) continue
      const member = { fd, id: info.id }
      for (const key of keysOf(info)) {
        const list = added.get(key)
        if (list === undefined) added.set(key, [member])
        else list.push(member)
      }
    }
    for (const key of this.#fds.keys()) if (!added.has(key)) this.#fds.delete(key)
    const confirmed: Array<[string, FdStreak]> = []
    const isOpen = (m: Member): boolean => after.get(m.fd)?.id === m.id
    for (const [key, fresh] of added) {
      const s = this.#fds.get(key)
      const kept = s === undefined ? [] : s.members.filter(isOpen)
      if (s === undefined || kept.length + fresh.length <= s.members.length) {
        // the first invocation of a streak, or one that closed as much as it left open
        this.#fds.set(key, { n: 1, members: fresh, closed: new Set(), fdsBefore: before.size })
        if (this.#confirm <= 1) confirmed.push([key, this.#fds.get(key)!])
        continue
      }
      for (const m of s.members) if (!isOpen(m)) s.closed.add(m.id)
      s.n++
      s.members = [...kept, ...fresh]
      if (s.n >= this.#confirm) confirmed.push([key, s])
    }
    return confirmed
  }

  #judgeTypes (before: Map<string, number>, after: Map<string, number>): Array<[string, TypeStreak]> {
    const confirmed: Array<[string, TypeStreak]> = []
    for (const type of this.#types.keys()) if (!after.has(type)) this.#types.delete(type)
    for (const [type, level] of after) {
      const grew = level - (before.get(type) ?? 0)
      const s = this.#types.get(type)
      if (grew <= 0) { this.#types.delete(type); continue }
      if (s === undefined || level <= s.level) {
        this.#types.set(type, { n: 1, total: grew, level })
        if (this.#confirm <= 1) confirmed.push([type, this.#types.get(type)!])
        continue
      }
      s.n++
      s.total += grew
      s.level = level
      if (s.n >= this.#confirm) confirmed.push([type, s])
    }
    return confirmed
  }
}
