import { dynamoDeleter } from './dynamodb.js'
import type { ResolvedOptions } from './options.js'
import type { JournalCodec, KindsMap, RemoteKind } from './remote-kind.js'
import { s3Deleter } from './s3.js'
import { multipartKind } from './s3-multipart.js'

// The built-in remote kinds, by `kind`: what journal replay looks a line's kind up in.
// Rim module: the core (journal, disposal) is handed this map, never imports it.

type JournaledKind = RemoteKind<any, ResolvedOptions> & { readonly journal: JournalCodec<any, ResolvedOptions> }

/**
 * The built-in journaled kinds: S3 objects (`s3`), DynamoDB items (`dynamodb`) and
 * S3 multipart uploads (`s3-multipart`).
 * A revived item gets the very kind object scopes track with, so it batches with
 * what the running invocation declared.
 *
 * @example
 * ```ts
 * const read = await readJournal(dir, builtInKinds)
 * const { items } = reviveJournal(read.entries, builtInKinds, config)
 * ```
 */
export const builtInKinds: KindsMap<ResolvedOptions> = new Map<string, JournaledKind>([
  ['s3', s3Deleter],
  ['dynamodb', dynamoDeleter],
  ['s3-multipart', multipartKind],
])
