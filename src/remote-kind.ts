import type { RemoteDeleter, RemoteResource } from './scope-items.js'

// The one interface between the core (scope, disposal, journal) and a kind of remote
// resource (S3 objects, DynamoDB items, multipart uploads, a user's own deleter): the
// core never names a service, it asks the kind. The public deleter types live in
// scope-items.ts (users implement them) and are re-exported here so a kind imports one module.
export type { DeleteContext, DeleteOutcome, RemoteDeleter, RemoteResource } from './scope-items.js'

/**
 * How a kind's resources are written to and read back from the journal (JSON
 * lines, see docs/journal.md). The line of a resource is `{ kind, ...encode(r) }`;
 * the next process, sweeping a killed one's directory, hands a line's other
 * fields to `parse`, and — only when `configured(config)` — the entry to `revive`.
 * `Config` is the resolved options (`ResolvedOptions`): a parameter, not an
 * import, so the core's journal never depends on the options module.
 *
 * @example
 * ```ts
 * const cacheCodec: JournalCodec<CacheEntry, ResolvedOptions> = {
 *   encode: (r) => ({ key: r.key }),
 *   parse: (f) => typeof f.key === 'string' && Object.keys(f).length === 1 ? { key: f.key } : undefined,
 *   allowList: 'allow.redis',
 *   configured: (config) => allowedKeys(config) !== undefined,
 *   revive: (entry: { key: string }, config) => cacheEntry(entry.key, config), // throws when refused
 *   show: (entry: { key: string }) => `redis ${entry.key}`,
 * }
 * ```
 */
export interface JournalCodec<R extends RemoteResource = RemoteResource, Config = unknown> {
  /** JSON-safe fields of `r`; the journal line is `{ kind, ...fields }`. undefined: JSON cannot carry it (not journaled). */
  encode: (r: R) => Record<string, unknown> | undefined
  /**
   * Optional fast path: the whole line, exactly `JSON.stringify({ kind: r.kind, ...encode(r) })`
   * (undefined where `encode` is), built by hand — a scope of 1000 objects writes 1000 lines.
   */
  line?: (r: R) => string | undefined
  /** Type-checks a parsed line's fields (`kind` removed) and returns a copy; undefined when malformed (counted, skipped). */
  parse: (fields: Record<string, unknown>) => Record<string, unknown> | undefined
  /** The allow-list replay needs, named as the option is ('allow.s3'); replay is refused without it. */
  allowList: string
  /** Rebuilds a resource for today's config; throws an Error whose message says why it is refused. Called only when `configured(config)`. */
  revive: (entry: any, config: Config) => R
  /** true when today's config has this kind's allow-list */
  configured: (config: Config) => boolean
  /** short display of an entry for log lines (the journal cuts it at 200 chars) */
  show: (entry: any) => string
}

/**
 * A remote kind: the batched deleter the disposal run calls, plus its journal
 * codec (optional: a custom `trackRemote` deleter has none, and is not journaled).
 *
 * @example
 * ```ts
 * const redisKind: RemoteKind<CacheEntry> = {
 *   kind: 'redis',
 *   delete: async (resources, { signal }) => {
 *     await redis.del(resources.map((r) => r.key), { signal })
 *     return { cleaned: resources, failed: [], requests: 1 }
 *   },
 *   journal: cacheCodec,
 * }
 * ```
 */
export interface RemoteKind<R extends RemoteResource = RemoteResource, Config = unknown> extends RemoteDeleter<R> {
  readonly journal?: JournalCodec<R, Config>
}

/**
 * The kinds a journal can name, by `kind`: what replay looks a line's kind up in
 * (built-in ones come from `kinds.ts`; the caller passes them in).
 *
 * @example
 * ```ts
 * const kinds: KindsMap<ResolvedOptions> = new Map([['s3', s3Deleter], ['dynamodb', dynamoDeleter]])
 * ```
 */
export type KindsMap<Config = unknown> = ReadonlyMap<string, RemoteKind<any, Config> & { readonly journal: JournalCodec<any, Config> }>
