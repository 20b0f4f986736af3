// A job handler that holds a temp DynamoDB lock item while it works, and writes temp
// progress items; both are deleted on every exit path, so the job can be retried at
// once after a failure instead of waiting for the lock to expire.
//
// Deploy: JOBS_TABLE names a table with key (pk: S, sk: S) and TTL enabled on
// `expiresAt` (the backstop for a process killed outright); the function needs
// dynamodb:PutItem, dynamodb:DescribeTable and dynamodb:BatchWriteItem on it
// (docs/recipes.md).
import middy from '@middy/core'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb'
import { cleanup } from 'middy-cleanup'

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}))
const TABLE = process.env.JOBS_TABLE ?? 'Jobs'
const LOCK_SECONDS = 15 * 60

export interface JobEvent {
  jobId: string
  steps: string[]
  /** a step that fails, to show that the lock goes on the error path too */
  failAt?: string
}

export interface JobResult {
  jobId: string
  done: string[]
}

/** Thrown when another invocation holds the job's lock. */
export class JobLockedError extends Error {
  override name = 'JobLockedError'
}

/** Stands in for the real work of a step. */
const runStep = async (step: string, event: JobEvent): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, 5))
  if (step === event.failAt) throw new Error(`step ${step} failed`)
}

export const handler = middy<JobEvent, JobResult>({ timeoutEarlyInMillis: 500 })
  .use(cleanup({ dynamodb: ddb, allow: { dynamodb: [TABLE] } }))
  .handler(async (event, context) => {
    const lock = { pk: `job#${event.jobId}`, sk: 'lock' }
    // A conditional write is sent first and declared only once it succeeded: a lock
    // that another invocation holds must never be deleted by this one. (putItem()
    // declares *before* sending, which is what you want for plain temp items below.)
    try {
      await ddb.send(new PutCommand({
        TableName: TABLE,
        Item: { ...lock, owner: context.awsRequestId, expiresAt: Math.floor(Date.now() / 1000) + LOCK_SECONDS },
        ConditionExpression: 'attribute_not_exists(pk)',
      }))
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') {
        throw new JobLockedError(`job ${event.jobId} is locked by another invocation; retry later`, { cause: error })
      }
      throw error
    }
    context.cleanup.dynamoItem({ table: TABLE, key: lock })

    const done: string[] = []
    for (const step of event.steps) {
      // progress items, temp too: written and declared in one call, deleted in one batch
      await context.cleanup.putItem(
        { TableName: TABLE, Item: { pk: `job#${event.jobId}`, sk: `step#${step}`, at: Date.now() } },
        { ttl: { attribute: 'expiresAt', seconds: LOCK_SECONDS } },
      )
      await runStep(step, event)
      done.push(step)
    }
    return { jobId: event.jobId, done }
  })
