// How DynamoDB items go on the wire: BatchWriteItem (lib-dynamodb's BatchWrite for a
// DocumentClient) of ≤ 25 deletes per client and table, or one conditional DeleteItem
// per item with an ownership marker. The batching, the pool and the re-sends of
// UnprocessedItems are remote-batch.ts's.
import { describeRequestFailure, isAbort, isRetryable } from './aws-failure.js'
import { sendCounted } from './aws-send.js'
import { clientId } from './client-id.js'
import { type DynamoResource, DynamoDeleteError, errorName, loadDocSdk, loadDynamoSdk, normKey } from './dynamodb-item.js'
import { type BatchContext, type BatchKind, type BatchOptions, type BatchResult, allFailed, deleteInBatches, pool } from './remote-batch.js'
import type { DeleteOutcome } from './scope-items.js'

const notFound = (table: string, error: unknown): DynamoDeleteError =>
  new DynamoDeleteError(`table '${table}' does not exist (or is not ACTIVE): ${(error as Error).message}`, 'ResourceNotFoundException', { cause: error })

/** One DeleteItem: conditional on the ownership marker when the item has one. */
const deleteOne = async (r: DynamoResource, ctx: BatchContext): Promise<BatchResult<DynamoResource>> => {
  if (ctx.signal.aborted) return allFailed([r], ctx.deadlineError(), true, false)
  const input: Record<string, unknown> = { TableName: r.table, Key: r.key }
  if (r.marker !== undefined) {
    // Gone already → nothing to do; still ours → delete; overwritten by someone else → leave it.
    input.ConditionExpression = 'attribute_not_exists(#k) OR #m = :t'
    input.ExpressionAttributeNames = { '#k': Object.keys(r.key)[0]!, '#m': r.marker.attribute }
    input.ExpressionAttributeValues = { ':t': r.doc ? r.marker.token : { S: r.marker.token } }
  }
  const Command = r.doc ? (await loadDocSdk()).DeleteCommand : (await loadDynamoSdk()).DeleteItemCommand
  if (ctx.signal.aborted) return allFailed([r], ctx.deadlineError(), true, false)
  const sent = await sendCounted(r.client, new Command(input as never), ctx)
  const wasSent = sent.attempts > 0
  if (sent.ok) return { sent: wasSent, cleaned: [r], retry: [], failed: [] }
  const error = sent.error
  if (errorName(error) === 'ConditionalCheckFailedException') {
    return allFailed([r], new DynamoDeleteError(`${r.id} was not deleted: it was overwritten since putItem wrote it (${r.marker?.attribute} no longer holds this invocation's token); someone else owns it now`, 'ConditionalCheckFailedException', { cause: error }), false, wasSent)
  }
  if (errorName(error) === 'ResourceNotFoundException') return allFailed([r], notFound(r.table, error), false, wasSent)
  const { code, text } = describeRequestFailure(error)
  const reason = isAbort(error, ctx.signal) ? ctx.deadlineError() : new DynamoDeleteError(`${r.id} was not deleted: DeleteItem failed, ${text}`, code, { cause: error })
  return allFailed([r], reason, isRetryable(error), wasSent)
}

/**
 * One malformed key (e.g. wrong attribute names) fails a whole batch with a
 * ValidationException: each key is then sent on its own once, to learn which one
 * is bad. Not a retry: the batch never reached the table.
 */
const isolate = async (part: readonly DynamoResource[], ctx: BatchContext, sent: boolean): Promise<BatchResult<DynamoResource>> => {
  const result: BatchResult<DynamoResource> = { sent, cleaned: [], retry: [], failed: [] }
  await pool(part.map((r) => async () => {
    const one = await deleteOne(r, ctx)
    result.cleaned.push(...one.cleaned)
    result.failed.push(...one.failed)
  }), 4)
  return result
}

const batchWrite = async (part: DynamoResource[], ctx: BatchContext): Promise<BatchResult<DynamoResource>> => {
  const { client, table, doc } = part[0]!
  const Command = doc ? (await loadDocSdk()).BatchWriteCommand : (await loadDynamoSdk()).BatchWriteItemCommand
  const sent = await sendCounted<{ UnprocessedItems?: Record<string, unknown[]> }>(client, new Command({
    RequestItems: { [table]: part.map((r) => ({ DeleteRequest: { Key: r.key } })) },
  } as never), ctx)
  const wasSent = sent.attempts > 0
  if (!sent.ok) {
    const error = sent.error
    if (errorName(error) === 'ValidationException' && part.length > 1) return isolate(part, ctx, wasSent)
    if (isAbort(error, ctx.signal)) return allFailed(part, ctx.deadlineError(), true, wasSent)
    // The SDK has already retried it as your client is configured: not re-sent here.
    const { code, text } = describeRequestFailure(error)
    const reason = errorName(error) === 'ResourceNotFoundException'
      ? notFound(table, error)
      : new DynamoDeleteError(`BatchWriteItem of ${part.length} delete(s) on ${table} failed, ${text}`, code, { cause: error })
    return allFailed(part, reason, isRetryable(error), wasSent)
  }
  const unprocessed = new Set<string>()
  for (const req of (sent.output?.UnprocessedItems?.[table] ?? []) as Array<{ DeleteRequest?: { Key?: Record<string, unknown> } }>) {
    const key = req.DeleteRequest?.Key
    const n = key === undefined ? undefined : normKey(key, doc)
    if (n !== undefined) unprocessed.add(n)
  }
  const result: BatchResult<DynamoResource> = { sent: wasSent, cleaned: [], retry: [], failed: [] }
  if (unprocessed.size === 0) { result.cleaned = part; return result }
  const left = part.filter((r) => unprocessed.has(r.norm))
  // the reason they fail with if the budget has no room for another attempt
  const error = new DynamoDeleteError(`BatchWriteItem left ${left.length} delete(s) on ${table} unprocessed (throttled) until the cleanup budget ran out`, 'UnprocessedItems')
  for (const r of part) {
    if (unprocessed.has(r.norm)) result.retry.push({ entry: r, error })
    else result.cleaned.push(r)
  }
  return result
}

/**
 * DynamoDB items as remote-batch.ts sends them: grouped by client, client kind and
 * table (batches never mix clients: two clients may be two regions or two
 * accounts), one BatchWriteItem per ≤ 25 deletes; an item with an ownership marker
 * goes alone as a conditional DeleteItem. `UnprocessedItems` are the partial result
 * re-sent within the budget. Two deletes of one key in one batch would be a
 * ValidationException: the disposal run hands over one resource per identity
 * (client + table + key), so a batch never has two.
 *
 * @example
 * ```ts
 * const outcome = await deleteInBatches(dynamoBatch, items, { signal, deadline, countRequests })
 * ```
 */
export const dynamoBatch: BatchKind<DynamoResource, DynamoResource> = {
  settleEarly: (r) => r.done ? 'cleaned' : undefined,
  entries: (r) => [r],
  groupKey: (r) => `${clientId(r.client)}\0${r.doc ? 'd' : 'l'}\0${r.table}${r.marker === undefined ? '' : '\0marker'}`,
  batchSize: (r) => r.marker === undefined ? 25 : 1,
  sendBatch: (part, ctx) => part[0]!.marker === undefined ? batchWrite(part, ctx) : deleteOne(part[0]!, ctx),
  onCleaned: (r) => { r.done = true },
}

/**
 * Deletes DynamoDB items (see {@link dynamoBatch}). A request that fails as a
 * whole was already retried by the SDK (the client's `maxAttempts`): its items
 * are `failed`, retryable when the error is. `cleaned` holds only confirmed
 * deletes. Never throws.
 *
 * @example
 * ```ts
 * const outcome = await deleteDynamoItems([dynamoResource('dynamoItem', { table, key }, config)], { signal, deadline, countRequests })
 * ```
 */
export const deleteDynamoItems = (targets: readonly DynamoResource[], options: BatchOptions): Promise<DeleteOutcome<DynamoResource>> =>
  deleteInBatches(dynamoBatch, targets, options)
