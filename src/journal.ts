import { appendFileSync, constants, mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { JournalCodec, KindsMap } from './remote-kind.js'
import type { RemoteItem, RemoteResource } from './scope-items.js'

// A process killed outright (SIGKILL, OOM, a timeout's reset) loses its in-memory
// leftovers, but Lambda keeps /tmp. So each scope writes what remote resources it
// declared to `.journal` in its per-invocation directory; the next process, when it
// sweeps that directory as stale, deletes them with its own clients before removing
// the directory. /tmp is writable by anything that runs on the box, so a journal is a
// hint, never a command: it is read with bounds (a regular file of ours, at most
// JOURNAL_MAX_BYTES, JOURNAL_MAX_ENTRIES entries, every field type-checked by its
// kind's codec) and an entry is replayed only when today's allow-list for its kind
// allows it — a kind without a configured allow-list gets no replay at all. This
// module knows no kind: the caller passes the kinds (see remote-kind.ts, kinds.ts).
// See docs/journal.md.

/**
 * The journal's file name inside a per-invocation directory.
 *
 * @example
 * ```ts
 * readFileSync(join(dir, JOURNAL_FILE), 'utf8') // '{"kind":"s3","bucket":"b","key":"tmp/1","versionIds":[]}\n'
 * ```
 */
export const JOURNAL_FILE = '.journal'
/**
 * Bytes of a journal read at most: a real one is ~100 bytes per declared resource.
 *
 * @example
 * ```ts
 * if (size > JOURNAL_MAX_BYTES) console.log('only the first MiB is replayed')
 * ```
 */
export const JOURNAL_MAX_BYTES = 1024 * 1024
/**
 * Entries of one journal replayed at most; the rest is left to the lifecycle/TTL backstops.
 *
 * @example
 * ```ts
 * if (read.truncated) console.log(`more than ${JOURNAL_MAX_ENTRIES} entries, or more than a MiB`)
 * ```
 */
export const JOURNAL_MAX_ENTRIES = 10_000

/**
 * A journal line after its kind's codec checked it: `kind` plus the fields its
 * `parse` returned (`{ kind: 's3', bucket, key, versionIds }`).
 *
 * @example
 * ```ts
 * const entry: JournalEntry = { kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }
 * ```
 */
export type JournalEntry = { readonly kind: string } & Readonly<Record<string, unknown>>

/**
 * The journal line of a resource (`{ kind, ...codec.encode(r) }`), or undefined
 * when its kind has no codec or JSON cannot carry it (binary keys).
 *
 * @example
 * ```ts
 * journalLine(resource, deleter.journal) // '{"kind":"s3","bucket":"b","key":"tmp/1","versionIds":[]}'
 * ```
 */
export const journalLine = <R extends RemoteResource>(r: R, codec: JournalCodec<R, any> | undefined): string | undefined => {
  if (codec?.line !== undefined) return codec.line(r)
  const fields = codec?.encode(r)
  if (fields === undefined) return undefined
  const line: Record<string, unknown> = { kind: r.kind, ...fields }
  line.kind = r.kind // first, as every line starts, and never a field's
  return JSON.stringify(line)
}

/**
 * Appends lines to the journal of `dir` (created if needed). Synchronous: it must
 * be on disk before the request that creates the resource is sent.
 *
 * @example
 * ```ts
 * appendJournal(invocationDir, [journalLine(resource, s3Deleter.journal)!])
 * ```
 */
export const appendJournal = (dir: string, lines: readonly string[]): void => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  appendFileSync(join(dir, JOURNAL_FILE), `${lines.join('\n')}\n`, { mode: 0o600 })
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The entry a parsed journal line stands for, or undefined when it is not an
 * object, names a kind not in `kinds`, or its kind's codec rejects a field.
 *
 * @example
 * ```ts
 * checkJournalEntry({ kind: 's3', bucket: 'b', key: 'k', versionIds: [] }, kinds) // the entry, copied
 * checkJournalEntry({ kind: 'redis', key: 'k' }, kinds) // undefined
 * ```
 */
export const checkJournalEntry = (v: unknown, kinds: KindsMap<any>): JournalEntry | undefined => {
  if (!isPlainObject(v) || typeof v.kind !== 'string') return undefined
  const codec = kinds.get(v.kind)?.journal
  if (codec === undefined) return undefined
  const { kind, ...fields } = v
  let parsed: unknown
  try { parsed = codec.parse(fields) } catch { return undefined }
  return isPlainObject(parsed) ? { ...parsed, kind } : undefined
}

/**
 * What was read from a journal: the well-typed entries, and what was skipped.
 *
 * @example
 * ```ts
 * const { entries, malformed, truncated, ignored } = await readJournal(dir, kinds)
 * ```
 */
export interface JournalRead {
  entries: JournalEntry[]
  /** lines that were not JSON, named no known kind or had a wrong field type (a line cut short by the kill is one) */
  malformed: number
  /** the file was larger than JOURNAL_MAX_BYTES or listed more than JOURNAL_MAX_ENTRIES entries */
  truncated: boolean
  /** why the file was not read at all (not a regular file, not ours, unreadable); undefined when read or absent */
  ignored: string | undefined
}

const nothing = (ignored?: string): JournalRead => ({ entries: [], malformed: 0, truncated: false, ignored })

// O_NOFOLLOW: a symlink named .journal (to /dev/zero, to a file of someone else) is not
// opened at all. O_NONBLOCK: opening a FIFO does not wait for a writer. fstat on the
// opened descriptor then decides, so nothing can be swapped between check and read.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)

type Handle = Awaited<ReturnType<typeof open>>

const readBounded = async (fh: Handle, kinds: KindsMap<any>): Promise<JournalRead> => {
  const st = await fh.stat()
  if (!st.isFile()) return nothing('not a regular file')
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) return nothing(`owned by uid ${st.uid}, not by this process's uid ${uid}`)
  const buf = Buffer.allocUnsafe(Math.min(st.size, JOURNAL_MAX_BYTES))
  let filled = 0
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  const result = parseJournal(buf.subarray(0, filled), kinds)
  if (st.size > JOURNAL_MAX_BYTES) result.truncated = true
  return result
}

/**
 * Journal entries of a stale directory: reads only a regular file owned by this
 * user, at most JOURNAL_MAX_BYTES of it, never follows a symlink, never blocks
 * (FIFO, device). Never throws.
 *
 * @example
 * ```ts
 * const read = await readJournal(staleDir, kinds)
 * if (read.ignored !== undefined) logger.warn(`journal of ${staleDir} not read: ${read.ignored}`)
 * ```
 */
export const readJournal = async (dir: string, kinds: KindsMap<any>): Promise<JournalRead> => {
  let fh: Handle
  try { fh = await open(join(dir, JOURNAL_FILE), OPEN_FLAGS) } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? nothing() : nothing(code === 'ELOOP' || code === 'EMLINK' ? 'a symlink' : `unreadable (${code ?? 'error'})`)
  }
  try {
    return await readBounded(fh, kinds)
  } catch (e) {
    return nothing(`unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  } finally {
    await fh.close().catch(() => {})
  }
}

/**
 * Parses journal bytes line by line; bad lines (unknown kinds included) are
 * counted and skipped, never fatal.
 *
 * @example
 * ```ts
 * parseJournal(Buffer.from('{"kind":"s3","bucket":"b","key":"k","versionIds":[]}\nnot json\n'), kinds) // 1 entry, 1 malformed
 * ```
 */
export const parseJournal = (bytes: Uint8Array, kinds: KindsMap<any>): JournalRead => {
  const result = nothing()
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (result.entries.length >= JOURNAL_MAX_ENTRIES) { result.truncated = true; break }
    let parsed: unknown
    try { parsed = JSON.parse(line) } catch { result.malformed++; continue }
    const entry = checkJournalEntry(parsed, kinds)
    if (entry === undefined) result.malformed++
    else result.entries.push(entry)
  }
  return result
}

/**
 * What replay may delete: `items` revived with today's clients; `refused`, one
 * reason per entry not revived; `unconfigured`, the allow-lists (`'allow.s3'`)
 * that were missing for some entry.
 *
 * @example
 * ```ts
 * const { items, refused, unconfigured }: Revived = reviveJournal(read.entries, kinds, config)
 * ```
 */
export interface Revived { items: RemoteItem[], refused: string[], unconfigured: string[] }

const shown = (codec: JournalCodec<any, any>, e: JournalEntry): string => {
  let s: string
  try { s = String(codec.show(e)) } catch { s = e.kind }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s
}

/**
 * Turns journal entries back into tracked remote resources, with this process's
 * clients and allow-lists (each kind's `revive` runs its declaration checks
 * again). An entry is revived only when its kind's allow-list is configured
 * (`codec.configured(config)`): otherwise it is refused and the allow-list named
 * in `unconfigured`. The map's value is the revived item's deleter.
 *
 * @example
 * ```ts
 * const { items, refused } = reviveJournal(read.entries, kinds, config)
 * // refused: ['s3://scratch/tmp/1: allow.s3 is not configured']
 * ```
 */
export const reviveJournal = <Config>(entries: readonly JournalEntry[], kinds: KindsMap<Config>, config: Config): Revived => {
  const items: RemoteItem[] = []
  const refused: string[] = []
  const unconfigured = new Set<string>()
  for (const e of entries) {
    const kind = kinds.get(e.kind)
    if (kind === undefined) { refused.push(`${e.kind}: no such kind in this process`); continue }
    const codec = kind.journal
    try {
      if (!codec.configured(config)) {
        unconfigured.add(codec.allowList)
        refused.push(`${shown(codec, e)}: ${codec.allowList} is not configured`)
        continue
      }
      const r = codec.revive(e, config)
      items.push({ type: 'remote', kind: r.kind, id: r.id, deleter: kind, resource: r, attempts: 0 })
    } catch (error) {
      refused.push(`${shown(codec, e)}: ${(error as Error | undefined)?.message ?? String(error)}`)
    }
  }
  return { items, refused, unconfigured: [...unconfigured] }
}
