import * as journal from './journal.js'
import { builtInKinds } from './kinds.js'
import type { ResolvedOptions } from './options.js'
import type { KindsMap } from './remote-kind.js'
import type { RemoteResource } from './scope-items.js'

// Interim adapters: journal.ts is generic over kinds (the caller passes them), and the
// codecs live on their kinds (s3Deleter.journal, …), listed in kinds.ts. These keep the
// pre-issue-14 signatures, fixed to kinds.ts' built-in kinds, for the callers not
// switched yet (sweep.ts); they go once those call journal.ts with kinds.ts' map.

/**
 * @deprecated interim: kinds.ts' `builtInKinds` (S3 objects, DynamoDB items, multipart uploads).
 *
 * @example
 * ```ts
 * const read = await journal.readJournal(dir, builtInJournalKinds())
 * ```
 */
export const builtInJournalKinds = (): KindsMap<ResolvedOptions> => builtInKinds

/**
 * @deprecated interim: a journal line of the built-in kinds, as journal.ts returns it.
 *
 * @example
 * ```ts
 * const entry: JournalEntry = { kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }
 * ```
 */
export type JournalEntry =
  | { kind: 's3', bucket: string, key: string, versionIds: string[] }
  | { kind: 'dynamodb', table: string, key: Record<string, unknown>, doc: boolean }
/**
 * @deprecated interim: an allow-list replay lacked (named as the option is).
 *
 * @example
 * ```ts
 * const missing: UnconfiguredService = 'allow.s3'
 * ```
 */
export type UnconfiguredService = 'allow.s3' | 'allow.dynamodb' | (string & {})
type Read = journal.JournalRead & { entries: JournalEntry[] }
type Revived = { items: journal.Revived['items'], refused: string[], unconfigured: UnconfiguredService[] }

/**
 * @deprecated interim: `journal.journalLine(r, deleter.journal)`.
 *
 * @example
 * ```ts
 * journalLine(s3Resource('s3Object', { bucket: 'b', key: 'k' }, config)) // '{"kind":"s3","bucket":"b","key":"k","versionIds":[]}'
 * ```
 */
export const journalLine = (r: RemoteResource): string | undefined => journal.journalLine(r, builtInJournalKinds().get(r.kind)?.journal)
/**
 * @deprecated interim: `journal.checkJournalEntry(v, kinds)`.
 *
 * @example
 * ```ts
 * checkJournalEntry({ kind: 's3', bucket: 'b', key: 'k', versionIds: [] }) // a copy
 * ```
 */
export const checkJournalEntry = (v: unknown): JournalEntry | undefined => journal.checkJournalEntry(v, builtInJournalKinds()) as JournalEntry | undefined
/**
 * @deprecated interim: `journal.parseJournal(bytes, kinds)`.
 *
 * @example
 * ```ts
 * parseJournal(Buffer.from('not json\n')).malformed // 1
 * ```
 */
export const parseJournal = (bytes: Uint8Array): Read => journal.parseJournal(bytes, builtInJournalKinds()) as Read
/**
 * @deprecated interim: `journal.readJournal(dir, kinds)`.
 *
 * @example
 * ```ts
 * const { entries } = await readJournal(staleDir)
 * ```
 */
export const readJournal = async (dir: string): Promise<Read> => await journal.readJournal(dir, builtInJournalKinds()) as Read
/**
 * @deprecated interim: `journal.reviveJournal(entries, kinds, config)`.
 *
 * @example
 * ```ts
 * const { items, refused, unconfigured } = reviveJournal(read.entries, config)
 * ```
 */
export const reviveJournal = (entries: readonly JournalEntry[], config: ResolvedOptions): Revived =>
  journal.reviveJournal(entries, builtInJournalKinds(), config) as Revived
