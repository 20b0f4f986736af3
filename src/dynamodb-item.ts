// What a DynamoDB item declaration is: the tracked resource, its canonical key, its
// checks, its errors. Shared by the declarations (dynamodb.ts) and the batch sender
// (dynamodb-delete.ts).
import { RemoteDeleteError } from './aws-failure.js'
import { type SdkClientLike, isClient, lazy } from './aws-send.js'
import { CleanupDeclarationError } from './errors.js'
import type { RemoteResource } from './scope-items.js'
import { rejectUnknownKeys, shown, typeOf } from './validation.js'

/**
 * @internal
 * The DynamoDB SDK (an optional peer), loaded on first use, once per process.
 *
 * @example
 * ```ts
 * const { BatchWriteItemCommand } = await loadDynamoSdk()
 * ```
 */
export const loadDynamoSdk = lazy(() => import('@aws-sdk/client-dynamodb'))
/**
 * @internal
 * lib-dynamodb (an optional peer, for DocumentClients), loaded on first use, once per process.
 *
 * @example
 * ```ts
 * const { DeleteCommand } = await loadDocSdk()
 * ```
 */
export const loadDocSdk = lazy(() => import('@aws-sdk/lib-dynamodb'))

/**
 * The `name` of an SDK error, if it has one.
 *
 * @example
 * ```ts
 * if (errorName(error) === 'ConditionalCheckFailedException') resource.done = true
 * ```
 */
export const errorName = (e: unknown): string | undefined => (e as { name?: string } | undefined)?.name

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
  client?: SdkClientLike
}

/**
 * A DynamoDB item as the deleter tracks it.
 *
 * @example
 * ```ts
 * const r: DynamoResource = dynamoResource('dynamoItem', { table: 'Scratch', key: { pk: { S: 'a' } } }, config)
 * ```
 */
export interface DynamoResource extends RemoteResource {
  readonly kind: 'dynamodb'
  readonly client: SdkClientLike
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
export class DynamoDeleteError extends RemoteDeleteError {
  override name = 'DynamoDeleteError'
}

/** Keys of a `dynamoItem()` target; anything else is refused, never ignored. */
const DYNAMO_TARGET_KEYS = ['table', 'key', 'client'] as const

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

/**
 * Canonical text of a key: attribute names sorted, numbers unquoted (`{"pk":"a","n":5}`);
 * undefined when a value is not a key type. What matches UnprocessedItems back to items.
 *
 * @example
 * ```ts
 * normKey({ sk: { N: '5' }, pk: { S: 'a' } }, false) // '{"pk":"a","sk":5}'
 * ```
 */
export const normKey = (key: Record<string, unknown>, doc: boolean): string | undefined => {
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
 *
 * @example
 * ```ts
 * isDocumentClient(DynamoDBDocumentClient.from(new DynamoDBClient({}))) // true
 * ```
 */
export const isDocumentClient = (client: object): boolean => {
  for (let p: object | null = Object.getPrototypeOf(client); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name
    if (name === 'DynamoDBDocumentClient' || name === 'DynamoDBDocument') return true
  }
  return false
}

/** A client a DocumentClient was made from (or a minified DocumentClient): plain keys are meant for lib-dynamodb. */
const wasWrapped = (client: SdkClientLike): boolean => {
  const config = (client as { config?: unknown }).config
  return typeof config === 'object' && config !== null && 'translateConfig' in config
}

/**
 * The id of a DynamoDB item, as reports show it.
 *
 * @example
 * ```ts
 * dynamoId('Scratch', '{"pk":"a"}') // 'dynamodb://Scratch/{"pk":"a"}'
 * ```
 */
export const dynamoId = (table: string, norm: string): string => `dynamodb://${table}/${norm}`

/**
 * What a DynamoDB declaration reads of the resolved options.
 *
 * @example
 * ```ts
 * const config: DynamoConfig = { dynamodb: new DynamoDBClient({}), allowDynamodb: ['Scratch'] }
 * ```
 */
export interface DynamoConfig { dynamodb?: SdkClientLike | undefined, allowDynamodb?: readonly string[] | undefined }

/**
 * The client a declaration deletes with: its own, or the `dynamodb` option's; throws when there is none.
 *
 * @example
 * ```ts
 * const client = resolveClient('putItem', options.client, config, () => `an item of ${table}`)
 * ```
 */
export const resolveClient = (method: string, given: unknown, config: DynamoConfig, what: () => string): SdkClientLike => {
  if (given !== undefined && !isClient(given)) {
    throw new CleanupDeclarationError(`cleanup: ${method}({ client }) must be an AWS SDK v3 DynamoDBClient or DynamoDBDocumentClient (an object with send()); got ${typeOf(given)}.`)
  }
  const client = given ?? config.dynamodb
  if (!isClient(client)) {
    throw new CleanupDeclarationError(`cleanup: ${method}() has no DynamoDB client to delete ${what()} with. Pass one once, cleanup({ dynamodb: new DynamoDBClient({}) }), or per call, ${method}({ ..., client }).`)
  }
  return client
}

/**
 * A declaration's table name, checked (non-empty, inside `allow.dynamodb`); throws otherwise.
 *
 * @example
 * ```ts
 * const table = checkTable('putItem', input.TableName, config)
 * ```
 */
export const checkTable = (method: string, table: unknown, config: DynamoConfig): string => {
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
 *
 * @example
 * ```ts
 * const r = dynamoResource('dynamoItem', { table: 'Scratch', key: { pk: { S: 'a' } } }, config)
 * r.id // 'dynamodb://Scratch/{"pk":"a"}'
 * ```
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
  // the label only when there is no client: built eagerly, a bigint key threw a TypeError here
  const client = resolveClient(method, t.client, config, () => `${table} item ${JSON.stringify(key, (_name, v: unknown) => typeof v === 'bigint' ? `${v}n` : v)}`)
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

