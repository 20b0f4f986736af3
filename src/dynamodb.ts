// The DynamoDB item kind: declarations by putItem, and the kind object the scope tracks
// them with (its batched deleter, dynamodb-delete.ts, and its journal codec). The SDK's
// types only inside this module: a project without the DynamoDB SDK type-checks
// against this package's .d.ts files.
import type { PutItemCommandInput } from '@aws-sdk/client-dynamodb'
import type { PutCommandInput } from '@aws-sdk/lib-dynamodb'
import type { ResponseMetadata, SdkClientLike } from './aws-send.js'
import { dynamoBatch } from './dynamodb-delete.js'
import {
  type DynamoConfig, type DynamoResource, checkTable, dynamoResource, errorName, loadDocSdk, loadDynamoSdk, resolveClient,
} from './dynamodb-item.js'
import { CleanupDeclarationError } from './errors.js'
import { batchDeleter } from './remote-batch.js'
import type { JournalCodec, RemoteKind } from './remote-kind.js'
import { rejectUnknownKeys, shown, typeOf } from './validation.js'

export {
  type DynamoConfig, type DynamoItemTarget, type DynamoResource, DynamoDeleteError, dynamoId, dynamoResource, isDocumentClient,
} from './dynamodb-item.js'
export { deleteDynamoItems } from './dynamodb-delete.js'

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
  client?: SdkClientLike
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

/** Keys of `putItem(input, options)`'s options. */
const PUT_ITEM_OPTION_KEYS = ['client', 'ttl', 'verify'] as const
const TTL_KEYS = ['attribute', 'seconds'] as const

// Key schema per client and table, fetched once per process (DescribeTable) and cached.
const schemas = new WeakMap<object, Map<string, Promise<string[]>>>()

/**
 * The key attribute names of `table` (hash first), from DescribeTable — once per client and table per process.
 *
 * @example
 * ```ts
 * await keySchema(client, 'Jobs') // ['pk', 'sk']
 * ```
 */
export const keySchema = (client: SdkClientLike, table: string, signal?: AbortSignal): Promise<string[]> => {
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
 *
 * @example
 * ```ts
 * const out = await putDynamoItem((r) => scope.trackRemote(dynamoDeleter, r), scope.config, { TableName: 'Jobs', Item }, { verify: true })
 * ```
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
  const client = resolveClient('putItem', options.client, config, () => `an item of ${table}`)
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

/** A journal line's fields of a DynamoDB item (`{"kind":"dynamodb","table","key","doc"}`). */
type DynamoJournalEntry = { table: string, key: Record<string, unknown>, doc: boolean }

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const jsonSafe = (v: unknown): boolean =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ||
  (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && Object.values(v).every(jsonSafe))

/**
 * How DynamoDB items are journaled: table, key as declared and the client kind it
 * was written for (a key JSON cannot carry, binary, is not journaled); replayed only
 * under a configured `allow.dynamodb`, through a client of the same kind.
 *
 * @example
 * ```ts
 * dynamoJournal.encode(r) // { table: 'Scratch', key: { pk: { S: 'a' } }, doc: false }
 * ```
 */
export const dynamoJournal: JournalCodec<DynamoResource, DynamoConfig> = {
  encode: (d) => jsonSafe(d.key) ? { table: d.table, key: d.key, doc: d.doc } : undefined,
  line: (d) => jsonSafe(d.key) ? `{"kind":${JSON.stringify(d.kind)},"table":${JSON.stringify(d.table)},"key":${JSON.stringify(d.key)},"doc":${JSON.stringify(d.doc)}}` : undefined,
  parse: (f): DynamoJournalEntry | undefined => {
    if (!Object.keys(f).every((k) => k === 'table' || k === 'key' || k === 'doc')) return undefined
    if (typeof f.table !== 'string' || f.table === '' || !isPlainObject(f.key) || typeof f.doc !== 'boolean') return undefined
    return { table: f.table, key: f.key, doc: f.doc }
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

/**
 * The DynamoDB item kind the scope tracks items with: one per process, so every
 * item of a cleanup reaches its deleter in one call and is batched.
 *
 * @example
 * ```ts
 * scope.trackRemote(dynamoDeleter, dynamoResource('dynamoItem', { table: 'Scratch', key: { pk: { S: 'a' } } }, config))
 * ```
 */
export const dynamoDeleter: RemoteKind<DynamoResource, DynamoConfig> & { readonly journal: JournalCodec<DynamoResource, DynamoConfig> } = { ...batchDeleter('dynamodb', dynamoBatch), journal: dynamoJournal }
