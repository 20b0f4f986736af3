import { appendFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type DynamoResource, dynamoDeleter, dynamoResource } from './dynamodb.js'
import type { ResolvedOptions } from './options.js'
import { type S3Resource, s3Deleter, s3Resource } from './s3.js'
import type { RemoteItem, RemoteResource } from './tracked.js'

// A process killed outright (SIGKILL, OOM, a timeout's reset) loses its in-memory
// leftovers, but Lambda keeps /tmp. So each scope writes what remote resources it
// declared to `.journal` in its per-invocation directory; the next process, when it
// sweeps that directory as stale, deletes them with its own clients (and allow-lists)
// before removing the directory.

export const JOURNAL_FILE = '.journal'

type Entry =
  | { kind: 's3', bucket: string, key: string, versionIds: string[] }
  | { kind: 'dynamodb', table: string, key: Record<string, unknown>, doc: boolean }

const jsonSafe = (v: unknown): boolean =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ||
  (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).every(jsonSafe))

/** The journal line of a resource, or undefined for one JSON cannot carry (binary keys). */
export const journalLine = (r: RemoteResource): string | undefined => {
  if (r.kind === 's3') {
    const s = r as S3Resource
    return JSON.stringify({ kind: 's3', bucket: s.bucket, key: s.key, versionIds: s.versionIds } satisfies Entry)
  }
  if (r.kind === 'dynamodb') {
    const d = r as DynamoResource
    return jsonSafe(d.key) ? JSON.stringify({ kind: 'dynamodb', table: d.table, key: d.key, doc: d.doc } satisfies Entry) : undefined
  }
  return undefined
}

/** Appends lines to the journal of `dir` (created if needed). Synchronous: it must be on disk before the request that creates the resource is sent. */
export const appendJournal = (dir: string, lines: readonly string[]): void => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  appendFileSync(join(dir, JOURNAL_FILE), `${lines.join('\n')}\n`, { mode: 0o600 })
}

/** Journal entries of a stale directory (none when it has no journal). */
export const readJournal = (dir: string): unknown[] => {
  let text: string
  try { text = readFileSync(join(dir, JOURNAL_FILE), 'utf8') } catch { return [] }
  const entries: unknown[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try { entries.push(JSON.parse(line)) } catch { /* a line cut short by the kill */ }
  }
  return entries
}

/**
 * Turns journal entries back into tracked remote resources, with this process's
 * clients and allow-lists (the declaration checks run again). Entries that cannot
 * be revived (no client configured, outside the allow-list) are returned as `refused`.
 */
export const reviveJournal = (entries: readonly unknown[], config: ResolvedOptions): { items: RemoteItem[], refused: string[] } => {
  const items: RemoteItem[] = []
  const refused: string[] = []
  for (const raw of entries) {
    const e = raw as Entry
    try {
      if (e.kind === 's3') {
        const r = s3Resource('journal', { bucket: e.bucket, key: e.key }, config)
        r.versionIds.push(...(Array.isArray(e.versionIds) ? e.versionIds.filter((v) => typeof v === 'string') : []))
        items.push({ type: 'remote', kind: 's3', id: r.id, deleter: s3Deleter, resource: r, attempts: 0 })
      } else if (e.kind === 'dynamodb') {
        const r = dynamoResource('journal', { table: e.table, key: e.key }, config)
        if (r.doc !== e.doc) throw new Error(`its key was written for a ${e.doc ? 'DynamoDBDocumentClient' : 'DynamoDBClient'}, and this process's dynamodb client is the other kind`)
        items.push({ type: 'remote', kind: 'dynamodb', id: r.id, deleter: dynamoDeleter, resource: r, attempts: 0 })
      } else {
        refused.push(`unknown journal entry ${JSON.stringify(raw)}`)
      }
    } catch (error) {
      refused.push(`${JSON.stringify(raw)}: ${(error as Error).message}`)
    }
  }
  return { items, refused }
}
