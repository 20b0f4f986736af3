// The SDK's types only inside this module (they are not part of its declarations): a
// project without the DynamoDB SDK type-checks against this package's .d.ts files.
import type { PutItemCommandInput } from '@aws-sdk/client-dynamodb'
import type { PutCommandInput } from '@aws-sdk/lib-dynamodb'
import {
  DEFAULT_CONCURRENCY, type ResponseMetadata, type SendClient, backoffWithin, chunk, clientId, describeRequestFailure, isAbort, isClient, isRetryable, pool,
  rejectUnknownKeys, sendCounted, shown, typeOf,
} from './aws-retry.js'
import { CleanupDeadlineError, CleanupDeclarationError } from './errors.js'
import type { Logger } from './logger.js'
import type { DeleteContext, DeleteOutcome, RemoteDeleter, RemoteResource } from './tracked.js'

// Optional peers, loaded on first use (importing middy-cleanup must work without them)
// and once per process: a dynamic import() costs ~0.7 ms each time under loader hooks.
let loadDynamoSdkPromise: Promise<typeof import('@aws-sdk/client-dynamodb')> | undefined
const loadDynamoSdk = (): Promise<typeof import('@aws-sdk/client-dynamodb')> => (loadDynamoSdkPromise ??= import('@aws-sdk/client-dynamodb'))
let loadDocSdkPromise: Promise<typeof import('@aws-sdk/lib-dynamodb')> | undefined
const loadDocSdk = (): Promise<typeof import('@aws-sdk/lib-dynamodb')> => (loadDocSdkPromise ??= import('@aws-sdk/lib-dynamodb'))

/**
 * A temp DynamoDB item to delete on cleanup (`scope.dynamoItem(...)`). The key
 * is AttributeValues (`{ pk: { S: 'a' } }`) with a `DynamoDBClient`, plain
 * values (`{ pk: 'a' }`) with a `DynamoDBDocumentClient`.
 *
 * @example
 * ```ts
 * context.cleanup.dynamoItem({ table: 'Scratch', key: { pk: { S: 'job#1' }, sk: { S: 'step' } } })
 * ```
 */
export interface DynamoItemTarget {
  table: string
  key: Record<string, unknown>
  /** Client for this item; default: the `dynamodb` option of `cleanup()`. */
  client?: SendClient
}

/**
 * Options of `scope.putItem(input, options)`.
 *
 * @example
 * ```ts
 * await context.cleanup.putItem(
 *   { TableName: 'Jobs', Item: { pk: { S: `job#${id}` }, sk: { S: 'lock' } } },
 *   { ttl: { attribute: 'expiresAt', seconds: 3600 }, verify: true },
 * )
 * ```
 */
export interface PutItemOptions {
  /** Client for this write; default: the `dynamodb` option of `cleanup()`. */
  client?: SendClient
  /**
   * Backstop for a process killed outright: sets `attribute` to now + `seconds`
   * (epoch seconds), for the table's TTL setting to expire the item. DynamoDB
   * deletes expired items within days — a backstop, not cleanup.
   */
  ttl?: { attribute: string, seconds: number }
  /**
   * Ownership check: writes a random token in {@link MARKER_ATTRIBUTE} and deletes
   * with a `ConditionExpression` on it, so an item someone overwrote since is left
   * alone (reported in `failed`). One DeleteItem per item instead of a batch.
   * @default false
   */
  verify?: boolean
}

/**
 * Attribute `putItem(input, { verify: true })` writes its ownership token in.
 *
 * @example
 * ```ts
 * // an item written with { verify: true } carries the token: leave it out of what you return
 * const { Item } = await ddb.send(new GetCommand({ TableName: 'Jobs', Key: { pk: `job#${id}` } }))
 * const { [MARKER_ATTRIBUTE]: _token, ...job } = Item ?? {}
 * ```
 */
export const MARKER_ATTRIBUTE = 'middyCleanupToken'

/** @internal A DynamoDB item as the deleter tracks it. */
export interface DynamoResource extends RemoteResource {
  readonly kind: 'dynamodb'
  readonly client: SendClient
  /** sent through lib-dynamodb's commands (plain JS key) */
  readonly doc: boolean
  readonly table: string
  readonly key: Record<string, unknown>
  /** canonical key, for dedupe and for matching UnprocessedItems */
  readonly norm: string
  readonly marker: { attribute: string, token: string } | undefined
  done: boolean
}

/**
 * Why a DynamoDB item was not deleted (refused or unprocessed delete, missing
 * table, item overwritten since a `verify` write, a request the SDK gave up on).
 * In the report it is plain JSON: `report.failed[].error` is
 * `{ name: 'DynamoDeleteError', message, code }`, `code` being DynamoDB's error
 * code (`ProvisionedThroughputExceededException`, `UnprocessedItems`, …).
 *
 * @example
 * ```ts
 * cleanup({
 *   onReport: (r) => {
 *     for (const f of r.failed) {
 *       if (f.error.name === 'DynamoDeleteError' && f.error.code === 'ConditionalCheckFailedException') console.info(`${f.id} is someone else's now; left alone`)
 *     }
 *   },
 * })
 * ```
 */
export class DynamoDeleteError extends Error {
  override name = 'DynamoDeleteError'
  readonly code: string | undefined
  constructor (message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** Keys of a `dynamoItem()` target; anything else is refused, never ignored. */
const DYNAMO_TARGET_KEYS = ['table', 'key', 'client'] as const
/** Keys of `putItem(input, options)`'s options. */
const PUT_ITEM_OPTION_KEYS = ['client', 'ttl', 'verify'] as const
const TTL_KEYS = ['attribute', 'seconds'] as const

const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/** `{ S }`, `{ N }` or `{ B }` — the only AttributeValue types a key may have. */
const avPart = (v: unknown): string | undefined => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return undefined
  const o = v as Record<string, unknown>
  const keys = Object.keys(o).filter((k) => o[k] !== undefined)
  if (keys.length !== 1) return undefined
  if (typeof o.S === 'string') return JSON.stringify(o.S)
  if (typeof o.N === 'string' && o.N.trim() !== '' && !Number.isNaN(Number(o.N))) return o.N.trim()
  if (o.B instanceof Uint8Array) return JSON.stringify({ B: base64(o.B) })
  return undefined
}

/** A plain key value (DocumentClient): string, number, bigint, binary or a NumberValue. */
const plainPart = (v: unknown): string | undefined => {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined
  if (typeof v === 'bigint') return String(v)
  if (v instanceof Uint8Array) return JSON.stringify({ B: base64(v) })
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'string' && Object.keys(v).length === 1) {
    return (v as { value: string }).value // @aws-sdk/util-dynamodb NumberValue
  }
  return undefined
}

/** Canonical text of a key: attribute names sorted, numbers unquoted (`{"pk":"a","n":5}`). */
const normKey = (key: Record<string, unknown>, doc: boolean): string | undefined => {
  const parts: string[] = []
  for (const name of Object.keys(key).sort()) {
    const p = doc ? plainPart(key[name]) : avPart(key[name])
    if (p === undefined) return undefined
    parts.push(`${JSON.stringify(name)}:${p}`)
  }
  return `{${parts.join(',')}}`
}

/**
 * True for a `DynamoDBDocumentClient` (`@aws-sdk/lib-dynamodb`). By class name: its
 * config cannot tell — `DynamoDBDocumentClient.from(c)` writes `translateConfig`
 * into `c.config` itself, so the wrapped client has it too.
 */
export const isDocumentClient = (client: object): boolean => {
  for (let p: object | null = Object.getPrototypeOf(client); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name
    if (name === 'DynamoDBDocumentClient' || name === 'DynamoDBDocument') return true
  }
  return false
}

/** A client a DocumentClient was made from (or a minified DocumentClient): plain keys are meant for lib-dynamodb. */
const wasWrapped = (client: SendClient): boolean => {
  const config = (client as { config?: unknown }).config
  return typeof config === 'object' && config !== null && 'translateConfig' in config
}

export const dynamoId = (table: string, norm: string): string => `dynamodb://${table}/${norm}`

interface DynamoConfig { dynamodb?: SendClient | undefined, allowDynamodb?: readonly string[] | undefined }

const resolveClient = (method: string, given: unknown, config: DynamoConfig, what: string): SendClient => {
  if (given !== undefined && !isClient(given)) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ client }) must be an AWS SDK v3 DynamoDBClient or DynamoDBDocumentClient (an object with send()); got ${typeOf(given)}.`)
  }
  const client = given ?? config.dynamodb
  if (!isClient(client)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() has no DynamoDB client to delete ${what} with. Pass one once, cleanup({ dynamodb: new DynamoDBClient({}) }), or per call, ${method}({ ..., client }).`)
  }
  return client
}

const checkTable = (method: string, table: unknown, config: DynamoConfig): string => {
  if (typeof table !== 'string' || table.trim() === '') {
    throw new CleanupDeclarationError(`cleanup: ${method}({ ${method === 'putItem' ? 'TableName' : 'table'} }) must be a non-empty table name; got ${shown(table)}. Pass e.g. ${method === 'putItem' ? "{ TableName: 'Scratch', Item }" : "{ table: 'Scratch', key: { pk: { S: 'a' } } }"}.`)
  }
  if (config.allowDynamodb !== undefined && !config.allowDynamodb.includes(table)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() refused table '${table}': it is outside allow.dynamodb [${config.allowDynamodb.map((e) => `'${e}'`).join(', ')}]. Add '${table}' to allow.dynamodb.`)
  }
  return table
}

/**
 * Validates a declaration and builds the tracked resource. Throws
 * {@link CleanupDeclarationError} now for malformed input, a missing client or
 * a table outside `allow.dynamodb`.
 */
export const dynamoResource = (method: string, target: unknown, config: DynamoConfig, marker?: DynamoResource['marker']): DynamoResource => {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() needs an object like { table: 'Scratch', key: { pk: { S: 'a' } } }; got ${typeOf(target)}.`)
  }
  const t = target as Record<string, unknown>
  rejectUnknownKeys(t, DYNAMO_TARGET_KEYS, (k) => `${method}({ ${k} })`, (m) => new CleanupDeclarationError(m))
  const table = checkTable(method, t.table, config)
  const key = t.key
  if (typeof key !== 'object' || key === null || Array.isArray(key) || key instanceof Uint8Array || Object.keys(key).length === 0 || Object.keys(key).length > 2) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ key }) must be an object with the table's 1 or 2 key attributes, e.g. { pk: { S: 'a' }, sk: { S: 'b' } } (DynamoDBClient) or { pk: 'a', sk: 'b' } (DynamoDBDocumentClient); got ${typeOf(key)}${typeof key === 'object' && key !== null ? ` with ${Object.keys(key).length} attribute(s)` : ''}.`)
  }
  const k = key as Record<string, unknown>
  const client = resolveClient(method, t.client, config, `${table} item ${JSON.stringify(key)}`)
  let doc = isDocumentClient(client)
  let norm = normKey(k, doc)
  if (norm === undefined && !doc && wasWrapped(client)) {
    // plain values on a client a DocumentClient was made from: lib-dynamodb's commands marshal them
    norm = normKey(k, true)
    doc = norm !== undefined
  }
  if (norm === undefined) {
    const bad = Object.keys(k).find((name) => (doc ? plainPart(k[name]) : avPart(k[name])) === undefined)!
    throw new CleanupDeclarationError(doc
      ? `cleanup: ${method}({ key.${bad} }) must be a string, number, bigint or binary for a DynamoDBDocumentClient; got ${typeOf(k[bad])}.`
      : `cleanup: ${method}({ key.${bad} }) must be an AttributeValue like { S: 'a' }, { N: '1' } or { B: bytes } for a DynamoDBClient; got ${JSON.stringify(k[bad]) ?? typeOf(k[bad])}. For plain values ({ ${bad}: 'a' }) use a DynamoDBDocumentClient.`)
  }
  return { kind: 'dynamodb', id: dynamoId(table, norm), client, doc, table, key: { ...k }, norm, marker, done: false }
}

// Key schema per client and table, fetched once per process (DescribeTable) and cached.
const schemas = new WeakMap<object, Map<string, Promise<string[]>>>()

/** The key attribute names of `table` (hash first), from DescribeTable — once per client and table per process. */
export const keySchema = (client: SendClient, table: string, signal?: AbortSignal): Promise<string[]> => {
  let byTable = schemas.get(client)
  if (byTable === undefined) schemas.set(client, byTable = new Map())
  let p = byTable.get(table)
  if (p === undefined) {
    p = (async () => {
      const { DescribeTableCommand } = await loadDynamoSdk()
      const out = await client.send(new DescribeTableCommand({ TableName: table }), signal === undefined ? undefined : { abortSignal: signal })
      const schema = (out?.Table?.KeySchema ?? []) as Array<{ AttributeName?: string, KeyType?: string }>
      const names = [...schema].sort((a, b) => (a.KeyType === 'HASH' ? 0 : 1) - (b.KeyType === 'HASH' ? 0 : 1)).map((s) => s.AttributeName).filter((n): n is string => typeof n === 'string')
      if (names.length === 0) throw new Error(`DescribeTable ${table} returned no key schema`)
      return names
    })()
    byTable.set(table, p)
    p.catch(() => { if (byTable!.get(table) === p) byTable!.delete(table) })
  }
  return p
}

/**
 * Input of `scope.putItem`: PutItem's (`PutItemCommandInput`, AttributeValues, with
 * a `DynamoDBClient`) or lib-dynamodb Put's (`PutCommandInput`, plain values, with
 * a `DynamoDBDocumentClient`). cleanup reads `TableName` and `Item`; every other
 * field goes to the command unchanged. Written out structurally so this package's
 * declarations import no optional peer: an input typed with either SDK type is
 * accepted as it is.
 *
 * @example
 * ```ts
 * // with cleanup({ dynamodb: DynamoDBDocumentClient.from(new DynamoDBClient({})) }): plain values
 * const input: PutItemInput = { TableName: 'Jobs', Item: { pk: `job#${id}`, sk: 'progress', done: 0 } }
 * await context.cleanup.putItem(input)
 * ```
 */
export interface PutItemInput {
  TableName: string | undefined
  Item: Record<string, any> | undefined
  /** `ConditionExpression`, `ReturnValues`…: any other field of the SDK's PutItem/Put input, sent unchanged. */
  [field: string]: any
}
/**
 * Output of `scope.putItem`: what the client's PutItem (or lib-dynamodb's Put)
 * returned. `Attributes` and `$metadata` are typed here; assign it to the SDK's
 * `PutItemCommandOutput` / `PutCommandOutput` for the other fields.
 *
 * @example
 * ```ts
 * const out: PutItemOutput = await context.cleanup.putItem({ TableName: 'Jobs', Item, ReturnValues: 'ALL_OLD' })
 * if (out.Attributes !== undefined) console.warn('overwrote an earlier item', out.Attributes)
 * ```
 */
export interface PutItemOutput {
  /** The item's old attributes (`ReturnValues: 'ALL_OLD'`): AttributeValues, or plain values from a DocumentClient. */
  Attributes?: Record<string, any> | undefined
  $metadata: ResponseMetadata
}

/**
 * Sends PutItem (or lib-dynamodb's Put) and tracks the item; the key is derived
 * from the table's key schema. Tracked *before* the request is sent, so a write
 * interrupted half-way is still deleted.
 */
export const putDynamoItem = async (
  track: (resource: DynamoResource) => void, config: DynamoConfig, input: PutItemInput, options: PutItemOptions = {},
): Promise<PutItemOutput> => {
  if (typeof input !== 'object' || input === null) {
    throw new CleanupDeclarationError(`cleanup: putItem() needs a PutItem input like { TableName: 'Scratch', Item: { pk: { S: 'a' } } }; got ${typeOf(input)}.`)
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CleanupDeclarationError(`cleanup: putItem(input, options) options must be an object like { ttl: { attribute: 'expiresAt', seconds: 3600 } }; got ${typeOf(options)}.`)
  }
  rejectUnknownKeys(options, PUT_ITEM_OPTION_KEYS, (k) => `putItem(input, { ${k} })`, (m) => new CleanupDeclarationError(m))
  if (options.verify !== undefined && typeof options.verify !== 'boolean') {
    throw new CleanupDeclarationError(`cleanup: putItem(input, { verify }) must be a boolean (true: delete only if the item still holds this invocation's token); got ${shown(options.verify)}.`)
  }
  if (typeof options.ttl === 'object' && options.ttl !== null && !Array.isArray(options.ttl)) {
    rejectUnknownKeys(options.ttl, TTL_KEYS, (k) => `putItem(input, { ttl: { ${k} } })`, (m) => new CleanupDeclarationError(m))
  }
  const table = checkTable('putItem', input.TableName, config)
  const item = input.Item as Record<string, unknown> | undefined
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new CleanupDeclarationError(`cleanup: putItem({ Item }) must be an object; got ${typeOf(item)}.`)
  }
  const { ttl } = options
  if (ttl !== undefined && (typeof ttl !== 'object' || ttl === null || typeof ttl.attribute !== 'string' || ttl.attribute === '' ||
    typeof ttl.seconds !== 'number' || !Number.isFinite(ttl.seconds) || ttl.seconds <= 0)) {
    throw new CleanupDeclarationError(`cleanup: putItem(input, { ttl }) must be { attribute: string, seconds: positive number }, e.g. { ttl: { attribute: 'expiresAt', seconds: 86400 } }; got ${JSON.stringify(ttl) ?? typeOf(ttl)}.`)
  }
  const client = resolveClient('putItem', options.client, config, `an item of ${table}`)
  const names = await keySchema(client, table)
  const key: Record<string, unknown> = {}
  for (const name of names) {
    if (item[name] === undefined) {
      throw new CleanupDeclarationError(`cleanup: putItem({ Item }) lacks key attribute '${name}' of table '${table}' (key schema: ${names.join(', ')}).`)
    }
    key[name] = item[name]
  }
  const marker = options.verify === true ? { attribute: MARKER_ATTRIBUTE, token: globalThis.crypto.randomUUID() } : undefined
  const resource = dynamoResource('putItem', { table, key, client }, config, marker)
  const extra: Record<string, unknown> = {}
  if (ttl !== undefined) {
    const at = Math.floor(Date.now() / 1000) + Math.ceil(ttl.seconds)
    extra[ttl.attribute] = resource.doc ? at : { N: String(at) }
  }
  if (marker !== undefined) extra[marker.attribute] = resource.doc ? marker.token : { S: marker.token }
  const sendInput = { ...input, Item: { ...item, ...extra } }
  const command = resource.doc
    ? new (await loadDocSdk()).PutCommand(sendInput as PutCommandInput)
    : new (await loadDynamoSdk()).PutItemCommand(sendInput as PutItemCommandInput)
  track(resource)
  try {
    return await client.send(command) as PutItemOutput
  } catch (error) {
    // A conditional write that failed wrote nothing: the item there (another
    // invocation's lock, say) is not ours to delete.
    if (errorName(error) === 'ConditionalCheckFailedException') resource.done = true
    throw error
  }
}

/** Options of {@link deleteDynamoItems}. */
export interface DeleteDynamoOptions {
  /** the cleanup budget's signal, passed to every `send()` */
  signal: AbortSignal
  /** the cleanup budget: `sleep` paces the re-sends of `UnprocessedItems` and ends with it */
  deadline: { remainingMs: () => number, sleep: (ms: number) => Promise<void> }
  /** called with 1 as each HTTP attempt goes out (the SDK's retries included) */
  countRequests: (n: number) => void
  logger?: Logger
  /** requests in flight at once, across tables @default 8 */
  concurrency?: number
  /** jitter of the `UnprocessedItems` backoff, in [0, 1) @default Math.random */
  random?: () => number
}

const errorName = (e: unknown): string | undefined => (e as { name?: string } | undefined)?.name

/**
 * Deletes DynamoDB items in batches: grouped by client and table, one
 * BatchWriteItem per ≤ 25 deletes. `UnprocessedItems` (a partial success no SDK
 * strategy retries) are re-sent with exponential backoff and full jitter within
 * the budget; what is left then is `failed` (retryable, for the leftovers list).
 * A request that fails as a whole was already retried by the SDK (the client's
 * `maxAttempts`): its items are `failed`, retryable when the error is. Items with
 * an ownership marker go one by one as conditional DeleteItem. `cleaned` holds
 * only confirmed deletes. Never throws.
 */
export const deleteDynamoItems = async (targets: readonly DynamoResource[], options: DeleteDynamoOptions): Promise<DeleteOutcome<DynamoResource>> => {
  const outcome: DeleteOutcome<DynamoResource> = { cleaned: [], failed: [] }
  const { signal, random = Math.random } = options
  const ctx = { signal, countRequests: options.countRequests }
  const budget = { signal, remainingMs: () => options.deadline.remainingMs(), sleep: (ms: number) => options.deadline.sleep(ms) }
  const distinct = new Map<string, DynamoResource[]>()
  for (const r of targets) {
    if (r.done) { outcome.cleaned.push(r); continue }
    const k = `${clientId(r.client)}\0${r.doc ? 'd' : 'l'}\0${r.table}\0${r.norm}\0${r.marker?.token ?? ''}`
    const same = distinct.get(k)
    if (same === undefined) distinct.set(k, [r])
    else same.push(r)
  }
  const ok = (group: DynamoResource[]): void => { for (const r of group) { r.done = true; outcome.cleaned.push(r) } }
  const fail = (group: DynamoResource[], error: unknown, retryable: boolean, sent: boolean): void => {
    for (const r of group) outcome.failed.push(sent ? { resource: r, error, retryable } : { resource: r, error, retryable, sent: false })
  }
  const deadlineError = (): unknown => signal.reason ?? new CleanupDeadlineError(Math.max(0, options.deadline.remainingMs()))

  const batches = new Map<string, DynamoResource[][]>()
  const tasks: Array<() => Promise<void>> = []
  for (const group of distinct.values()) {
    const r = group[0]!
    // Two deletes of one key in one BatchWriteItem are a ValidationException: distinct keys only.
    if (r.marker !== undefined) { tasks.push(() => deleteOne(group, false)); continue }
    // Batches never mix clients: two clients may be two regions or two accounts.
    const k = `${clientId(r.client)}\0${r.doc ? 'd' : 'l'}\0${r.table}`
    const list = batches.get(k)
    if (list === undefined) batches.set(k, [group])
    else list.push(group)
  }
  for (const groups of batches.values()) {
    for (const part of chunk(groups, 25)) tasks.push(() => deleteBatch(part))
  }

  async function deleteBatch (groups: DynamoResource[][]): Promise<void> {
    if (signal.aborted) { for (const g of groups) fail(g, deadlineError(), true, false); return }
    const first = groups[0]![0]!
    const { client, table, doc } = first
    const Command = doc
      ? (await loadDocSdk()).BatchWriteCommand
      : (await loadDynamoSdk()).BatchWriteItemCommand
    const sentOnce = new Set<DynamoResource[]>()
    const failAll = (list: DynamoResource[][], error: unknown, retryable: boolean): void => {
      for (const g of list) fail(g, error, retryable, sentOnce.has(g))
    }
    let pending = groups
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) { failAll(pending, deadlineError(), true); return }
      const sent = await sendCounted<{ UnprocessedItems?: Record<string, unknown[]> }>(client, new Command({
        RequestItems: { [table]: pending.map((g) => ({ DeleteRequest: { Key: g[0]!.key } })) },
      } as never), ctx)
      if (sent.attempts > 0) for (const g of pending) sentOnce.add(g)
      if (!sent.ok) {
        const error = sent.error
        if (errorName(error) === 'ValidationException' && pending.length > 1) {
          // One malformed key (e.g. wrong attribute names) fails the whole batch: isolate it.
          // Not a retry: each key is sent on its own once, to learn which one is bad.
          await pool(pending.map((g) => () => deleteOne(g, sentOnce.has(g))), 4)
          return
        }
        if (isAbort(error, signal)) { failAll(pending, deadlineError(), true); return }
        // The SDK has already retried it as your client is configured: not re-sent here.
        const { code, text } = describeRequestFailure(error)
        const reason = errorName(error) === 'ResourceNotFoundException'
          ? new DynamoDeleteError(`table '${table}' does not exist (or is not ACTIVE): ${(error as Error).message}`, 'ResourceNotFoundException', { cause: error })
          : new DynamoDeleteError(`BatchWriteItem of ${pending.length} delete(s) on ${table} failed, ${text}`, code, { cause: error })
        failAll(pending, reason, isRetryable(error))
        return
      }
      const unprocessed = new Set<string>()
      for (const req of (sent.output?.UnprocessedItems?.[table] ?? []) as Array<{ DeleteRequest?: { Key?: Record<string, unknown> } }>) {
        const key = req.DeleteRequest?.Key
        const n = key === undefined ? undefined : normKey(key, doc)
        if (n !== undefined) unprocessed.add(n)
      }
      const retry: DynamoResource[][] = []
      for (const g of pending) {
        if (unprocessed.has(g[0]!.norm)) retry.push(g)
        else ok(g)
      }
      if (retry.length === 0) return
      pending = retry
      if (!await backoffWithin(attempt, budget, random)) {
        // no room for another attempt: the next invocation retries these items
        failAll(pending, new DynamoDeleteError(`BatchWriteItem left ${pending.length} delete(s) on ${table} unprocessed (throttled) until the cleanup budget ran out`, 'UnprocessedItems'), true)
        return
      }
    }
  }

  async function deleteOne (group: DynamoResource[], sentBefore: boolean): Promise<void> {
    const r = group[0]!
    if (signal.aborted) { fail(group, deadlineError(), true, sentBefore); return }
    const input: Record<string, unknown> = { TableName: r.table, Key: r.key }
    if (r.marker !== undefined) {
      // Gone already → nothing to do; still ours → delete; overwritten by someone else → leave it.
      input.ConditionExpression = 'attribute_not_exists(#k) OR #m = :t'
      input.ExpressionAttributeNames = { '#k': Object.keys(r.key)[0]!, '#m': r.marker.attribute }
      input.ExpressionAttributeValues = { ':t': r.doc ? r.marker.token : { S: r.marker.token } }
    }
    const Command = r.doc
      ? (await loadDocSdk()).DeleteCommand
      : (await loadDynamoSdk()).DeleteItemCommand
    if (signal.aborted) { fail(group, deadlineError(), true, sentBefore); return }
    const sent = await sendCounted(r.client, new Command(input as never), ctx)
    if (sent.ok) { ok(group); return }
    const error = sent.error
    const wasSent = sentBefore || sent.attempts > 0
    if (errorName(error) === 'ConditionalCheckFailedException') {
      fail(group, new DynamoDeleteError(`${r.id} was not deleted: it was overwritten since putItem wrote it (${r.marker?.attribute} no longer holds this invocation's token); someone else owns it now`, 'ConditionalCheckFailedException', { cause: error }), false, wasSent)
      return
    }
    if (errorName(error) === 'ResourceNotFoundException') {
      fail(group, new DynamoDeleteError(`table '${r.table}' does not exist (or is not ACTIVE): ${(error as Error).message}`, 'ResourceNotFoundException', { cause: error }), false, wasSent)
      return
    }
    const { code, text } = describeRequestFailure(error)
    fail(group, isAbort(error, signal) ? deadlineError() : new DynamoDeleteError(`${r.id} was not deleted: DeleteItem failed, ${text}`, code, { cause: error }), isRetryable(error), wasSent)
  }

  await pool(tasks, options.concurrency ?? DEFAULT_CONCURRENCY)
  return outcome
}

/**
 * The DynamoDB deleter plugged into the scope's remote-resource extension point:
 * one per process, so every item of a cleanup reaches it in one call and is batched.
 */
export const dynamoDeleter: RemoteDeleter<DynamoResource> = {
  kind: 'dynamodb',
  delete: (resources: DynamoResource[], context: DeleteContext) =>
    deleteDynamoItems(resources, { signal: context.signal, deadline: context.deadline, countRequests: context.countRequests, logger: context.logger }),
}
