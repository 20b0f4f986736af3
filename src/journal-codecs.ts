import { type DynamoResource, dynamoDeleter, dynamoResource } from './dynamodb.js'
import * as journal from './journal.js'
import type { ResolvedOptions } from './options.js'
import type { JournalCodec, KindsMap, RemoteKind } from './remote-kind.js'
import { type S3Resource, s3Deleter, s3Resource } from './s3.js'
import type { RemoteDeleter, RemoteResource } from './tracked.js'

// The S3 and DynamoDB journal codecs: what today's journal lines of those two kinds
// hold and how a next process revives them. They belong with their kinds (s3.ts,
// dynamodb.ts, kinds.ts: B's), and are here until they move, together with the
// interim adapters below that keep today's callers of journal.ts (scope, files,
// sweep) and its tests working on the generic journal meanwhile.

const hasOnly = (o: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(o).every((k) => keys.includes(k))
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const jsonSafe = (v: unknown): boolean =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ||
  (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).every(jsonSafe))

/** A journaled S3 object, as its line holds it. */
export type S3JournalEntry = { kind: 's3', bucket: string, key: string, versionIds: string[] }
/** A journaled DynamoDB item: its key as declared, and which client kind it was written for. */
export type DynamoJournalEntry = { kind: 'dynamodb', table: string, key: Record<string, unknown>, doc: boolean }

/**
 * The journal codec of S3 objects: line `{"kind":"s3","bucket","key","versionIds"}`;
 * replayed only under `allow.s3`, with the versions journaled.
 *
 * @example
 * ```ts
 * journalLine(resource, s3JournalCodec) // '{"kind":"s3","bucket":"scratch","key":"tmp/1","versionIds":[]}'
 * ```
 */
export const s3JournalCodec: JournalCodec<S3Resource, ResolvedOptions> = {
  encode: (s) => ({ bucket: s.bucket, key: s.key, versionIds: s.versionIds }),
  parse: (v) => {
    if (!hasOnly(v, ['bucket', 'key', 'versionIds']) || !nonEmpty(v.bucket) || !nonEmpty(v.key)) return undefined
    if (!Array.isArray(v.versionIds) || !v.versionIds.every(nonEmpty)) return undefined
    return { bucket: v.bucket, key: v.key, versionIds: [...v.versionIds as string[]] }
  },
  allowList: 'allow.s3',
  configured: (config) => config.allowS3 !== undefined,
  revive: (e: S3JournalEntry, config) => {
    const r = s3Resource('journal', { bucket: e.bucket, key: e.key }, config)
    r.versionIds.push(...e.versionIds)
    return r
  },
  show: (e: S3JournalEntry) => `s3://${e.bucket}/${e.key}`,
}

/**
 * The journal codec of DynamoDB items: line `{"kind":"dynamodb","table","key","doc"}`
 * (a key JSON cannot carry, binary, is not journaled); replayed only under
 * `allow.dynamodb`, and only through a client of the kind the key was written for.
 *
 * @example
 * ```ts
 * journalLine(resource, dynamoJournalCodec) // '{"kind":"dynamodb","table":"Scratch","key":{"pk":{"S":"a"}},"doc":false}'
 * ```
 */
export const dynamoJournalCodec: JournalCodec<DynamoResource, ResolvedOptions> = {
  encode: (d) => jsonSafe(d.key) ? { table: d.table, key: d.key, doc: d.doc } : undefined,
  parse: (v) => {
    if (!hasOnly(v, ['table', 'key', 'doc']) || !nonEmpty(v.table) || !isPlainObject(v.key) || typeof v.doc !== 'boolean') return undefined
    return { table: v.table, key: v.key, doc: v.doc }
  },
  allowList: 'allow.dynamodb',
  configured: (config) => config.allowDynamodb !== undefined,
  revive: (e: DynamoJournalEntry, config) => {
    const r = dynamoResource('journal', { table: e.table, key: e.key }, config)
    if (r.doc !== e.doc) throw new Error(`its key was written for a ${e.doc ? 'DynamoDBDocumentClient' : 'DynamoDBClient'}, and this process's dynamodb client is the other kind`)
    return r
  },
  show: (e: DynamoJournalEntry) => `dynamodb ${e.table} ${JSON.stringify(e.key)}`,
}

// Until s3Deleter / dynamoDeleter carry `journal` themselves (B), the map's values are
// stand-ins; a revived item is handed the real deleter again, so it batches and
// dedupes with what scopes declared (the disposal run groups by deleter object).
const withCodec = <R extends RemoteResource>(deleter: RemoteDeleter<R>, codec: JournalCodec<R, ResolvedOptions>): RemoteKind<R, ResolvedOptions> & { journal: JournalCodec<R, ResolvedOptions> } => {
  const own = (deleter as RemoteKind<R, ResolvedOptions>).journal
  return own !== undefined ? deleter as RemoteKind<R, ResolvedOptions> & { journal: JournalCodec<R, ResolvedOptions> } : { kind: deleter.kind, delete: deleter.delete, journal: codec }
}
const realDeleters = (): ReadonlyMap<string, RemoteDeleter<any>> => new Map<string, RemoteDeleter<any>>([['s3', s3Deleter], ['dynamodb', dynamoDeleter]])

/**
 * The built-in journaled kinds (S3, DynamoDB) with their codecs.
 *
 * @example
 * ```ts
 * const read = await journal.readJournal(dir, builtInJournalKinds())
 * ```
 */
export const builtInJournalKinds = (): KindsMap<ResolvedOptions> =>
  new Map<string, RemoteKind<any, ResolvedOptions> & { journal: JournalCodec<any, ResolvedOptions> }>([['s3', withCodec(s3Deleter, s3JournalCodec)], ['dynamodb', withCodec(dynamoDeleter, dynamoJournalCodec)]])

/** @deprecated interim: a journal line of the built-in kinds. Use `journal.journalLine(r, deleter.journal)`. */
export type JournalEntry = S3JournalEntry | DynamoJournalEntry
/** @deprecated interim: an allow-list replay lacked. */
export type UnconfiguredService = 'allow.s3' | 'allow.dynamodb'
/** @deprecated interim: `journal.journalLine(r, deleter.journal)`. */
export const journalLine = (r: RemoteResource): string | undefined =>
  journal.journalLine(r, builtInJournalKinds().get(r.kind)?.journal)
/** @deprecated interim: `journal.checkJournalEntry(v, kinds)`. */
export const checkJournalEntry = (v: unknown): JournalEntry | undefined =>
  journal.checkJournalEntry(v, builtInJournalKinds()) as JournalEntry | undefined
/** @deprecated interim: `journal.parseJournal(bytes, kinds)`. */
export const parseJournal = (bytes: Uint8Array): journal.JournalRead & { entries: JournalEntry[] } =>
  journal.parseJournal(bytes, builtInJournalKinds()) as journal.JournalRead & { entries: JournalEntry[] }
/** @deprecated interim: `journal.readJournal(dir, kinds)`. */
export const readJournal = async (dir: string): Promise<journal.JournalRead & { entries: JournalEntry[] }> =>
  await journal.readJournal(dir, builtInJournalKinds()) as journal.JournalRead & { entries: JournalEntry[] }
/** @deprecated interim: `journal.reviveJournal(entries, kinds, config)`. */
export const reviveJournal = (entries: readonly JournalEntry[], config: ResolvedOptions): { items: journal.Revived['items'], refused: string[], unconfigured: UnconfiguredService[] } => {
  const revived = journal.reviveJournal(entries, builtInJournalKinds(), config)
  const real = realDeleters()
  for (const item of revived.items) item.deleter = real.get(item.kind) ?? item.deleter
  return revived as { items: journal.Revived['items'], refused: string[], unconfigured: UnconfiguredService[] }
}
