import { appendFileSync, constants, mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { type DynamoResource, dynamoDeleter, dynamoResource } from './dynamodb.js'
import type { ResolvedOptions } from './options.js'
import { type S3Resource, s3Deleter, s3Resource } from './s3.js'
import type { RemoteItem, RemoteResource } from './tracked.js'

// A process killed outright (SIGKILL, OOM, a timeout's reset) loses its in-memory
// leftovers, but Lambda keeps /tmp. So each scope writes what remote resources it
// declared to `.journal` in its per-invocation directory; the next process, when it
// sweeps that directory as stale, deletes them with its own clients before removing
// the directory. /tmp is writable by anything that runs on the box, so a journal is a
// hint, never a command: it is read with bounds (a regular file of ours, at most
// JOURNAL_MAX_BYTES, JOURNAL_MAX_ENTRIES entries, every field type-checked) and an
// entry is replayed only when today's allow-list for its service allows it — a
// service without a configured allow-list gets no replay at all. See docs/journal.md.

export const JOURNAL_FILE = '.journal'
/** Bytes of a journal read at most: a real one is ~100 bytes per declared resource. */
export const JOURNAL_MAX_BYTES = 1024 * 1024
/** Entries of one journal replayed at most; the rest is left to the lifecycle/TTL backstops. */
export const JOURNAL_MAX_ENTRIES = 10_000

/** A journal line, after its field types were checked. */
export type JournalEntry =
  | { kind: 's3', bucket: string, key: string, versionIds: string[] }
  | { kind: 'dynamodb', table: string, key: Record<string, unknown>, doc: boolean }

const jsonSafe = (v: unknown): boolean =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ||
  (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).every(jsonSafe))

/** The journal line of a resource, or undefined for one JSON cannot carry (binary keys). */
export const journalLine = (r: RemoteResource): string | undefined => {
  if (r.kind === 's3') {
    const s = r as S3Resource
    return JSON.stringify({ kind: 's3', bucket: s.bucket, key: s.key, versionIds: s.versionIds } satisfies JournalEntry)
  }
  if (r.kind === 'dynamodb') {
    const d = r as DynamoResource
    return jsonSafe(d.key) ? JSON.stringify({ kind: 'dynamodb', table: d.table, key: d.key, doc: d.doc } satisfies JournalEntry) : undefined
  }
  return undefined
}

/** Appends lines to the journal of `dir` (created if needed). Synchronous: it must be on disk before the request that creates the resource is sent. */
export const appendJournal = (dir: string, lines: readonly string[]): void => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  appendFileSync(join(dir, JOURNAL_FILE), `${lines.join('\n')}\n`, { mode: 0o600 })
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const hasOnly = (o: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(o).every((k) => keys.includes(k))

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''

/** The entry a parsed journal line stands for, or undefined when any field has the wrong type. */
export const checkJournalEntry = (v: unknown): JournalEntry | undefined => {
  if (!isPlainObject(v)) return undefined
  if (v.kind === 's3') {
    if (!hasOnly(v, ['kind', 'bucket', 'key', 'versionIds']) || !nonEmpty(v.bucket) || !nonEmpty(v.key)) return undefined
    if (!Array.isArray(v.versionIds) || !v.versionIds.every(nonEmpty)) return undefined
    return { kind: 's3', bucket: v.bucket, key: v.key, versionIds: [...v.versionIds as string[]] }
  }
  if (v.kind === 'dynamodb') {
    if (!hasOnly(v, ['kind', 'table', 'key', 'doc']) || !nonEmpty(v.table) || !isPlainObject(v.key) || typeof v.doc !== 'boolean') return undefined
    return { kind: 'dynamodb', table: v.table, key: v.key, doc: v.doc }
  }
  return undefined
}

/** What was read from a journal: the well-typed entries, and what was skipped. */
export interface JournalRead {
  entries: JournalEntry[]
  /** lines that were not JSON or had a wrong field type (a line cut short by the kill is one) */
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

/**
 * Journal entries of a stale directory: reads only a regular file owned by this
 * user, at most JOURNAL_MAX_BYTES of it, never follows a symlink, never blocks
 * (FIFO, device). Never throws.
 */
export const readJournal = async (dir: string): Promise<JournalRead> => {
  let fh: Awaited<ReturnType<typeof open>>
  try { fh = await open(join(dir, JOURNAL_FILE), OPEN_FLAGS) } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? nothing() : nothing(code === 'ELOOP' || code === 'EMLINK' ? 'a symlink' : `unreadable (${code ?? 'error'})`)
  }
  try {
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
    const result = parseJournal(buf.subarray(0, filled))
    if (st.size > JOURNAL_MAX_BYTES) result.truncated = true
    return result
  } catch (e) {
    return nothing(`unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  } finally {
    await fh.close().catch(() => {})
  }
}

/** Parses journal bytes line by line; bad lines are counted and skipped, never fatal. */
export const parseJournal = (bytes: Uint8Array): JournalRead => {
  const result = nothing()
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (result.entries.length >= JOURNAL_MAX_ENTRIES) { result.truncated = true; break }
    let parsed: unknown
    try { parsed = JSON.parse(line) } catch { result.malformed++; continue }
    const entry = checkJournalEntry(parsed)
    if (entry === undefined) result.malformed++
    else result.entries.push(entry)
  }
  return result
}

/** A service a journal listed resources of while its allow-list is not configured. */
export type UnconfiguredService = 'allow.s3' | 'allow.dynamodb'

const shown = (e: JournalEntry): string => {
  const s = e.kind === 's3' ? `s3://${e.bucket}/${e.key}` : `dynamodb ${e.table} ${JSON.stringify(e.key)}`
  return s.length > 200 ? `${s.slice(0, 200)}…` : s
}

/**
 * Turns journal entries back into tracked remote resources, with this process's
 * clients and allow-lists (the declaration checks run again). Only an entry the
 * current allow-list of its service allows is revived: with `allow.s3` /
 * `allow.dynamodb` unset there is no replay for that service (listed in
 * `unconfigured`). The others are returned as `refused`, with the reason.
 */
export const reviveJournal = (entries: readonly JournalEntry[], config: ResolvedOptions): { items: RemoteItem[], refused: string[], unconfigured: UnconfiguredService[] } => {
  const items: RemoteItem[] = []
  const refused: string[] = []
  const unconfigured = new Set<UnconfiguredService>()
  for (const e of entries) {
    try {
      if (e.kind === 's3') {
        if (config.allowS3 === undefined) { unconfigured.add('allow.s3'); refused.push(`${shown(e)}: allow.s3 is not configured`); continue }
        const r = s3Resource('journal', { bucket: e.bucket, key: e.key }, config)
        r.versionIds.push(...e.versionIds)
        items.push({ type: 'remote', kind: 's3', id: r.id, deleter: s3Deleter, resource: r, attempts: 0 })
      } else {
        if (config.allowDynamodb === undefined) { unconfigured.add('allow.dynamodb'); refused.push(`${shown(e)}: allow.dynamodb is not configured`); continue }
        const r = dynamoResource('journal', { table: e.table, key: e.key }, config)
        if (r.doc !== e.doc) throw new Error(`its key was written for a ${e.doc ? 'DynamoDBDocumentClient' : 'DynamoDBClient'}, and this process's dynamodb client is the other kind`)
        items.push({ type: 'remote', kind: 'dynamodb', id: r.id, deleter: dynamoDeleter, resource: r, attempts: 0 })
      }
    } catch (error) {
      refused.push(`${shown(e)}: ${(error as Error).message}`)
    }
  }
  return { items, refused, unconfigured: [...unconfigured] }
}
