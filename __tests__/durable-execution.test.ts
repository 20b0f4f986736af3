// Durable executions: Middy 7's executionModeDurableContext over @aws/durable-execution-sdk-js,
// run by the SDK's own LocalDurableTestRunner (a checkpoint server in a worker thread, no AWS):
// each invocation replays the handler, finished steps return their checkpoint, a wait ends the
// invocation (status PENDING) and the runner invokes again. Real S3 and DynamoDB servers
// (embedded always, moto when on PATH). docs/durable.md says what a declaration means here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { type AttributeValue, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { LocalDurableTestRunner, WaitingOperationStatus } from '@aws/durable-execution-sdk-js-testing'
import type { DurableContext } from '@aws/durable-execution-sdk-js'
import middy from '@middy/core'
import { executionModeDurableContext } from '@middy/core/executionModeDurableContext'
import { backends, itemExists, objectExists, uid, withBackend } from './support/backends.js'
import { type CleanupContext, type CleanupOptions, type CleanupReport, CleanupDeclarationError } from '../src/index.js'
import { durableCleanup, durableStep } from '../src/durable.js'

beforeAll(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }))
afterAll(() => LocalDurableTestRunner.teardownTestEnvironment())

type Ctx = DurableContext & CleanupContext
const noRetry = { retryStrategy: () => ({ shouldRetry: false }) }

// Ends the invocation (PENDING) until run() sends the callback, which it does only once the
// invocation has returned. (A context.wait() is skipped by the local runner so fast that the
// SDK sometimes sees it done before suspending, and goes on in the same invocation.)
const suspend = async (context: Ctx): Promise<void> => {
  const [resumed] = await context.createCallback('resume')
  await resumed
}

// A durable handler as users write it. Lambda gives each invocation its own request id;
// the local runner reuses one per runner, so each invocation gets a fresh one here.
// `events` gets, in order, each report and each invocation's answer to the runner.
const run = async (options: CleanupOptions, body: (event: unknown, context: Ctx) => Promise<unknown>, { resume = true, events = [] as string[] } = {}) => {
  const payload = {}
  const reports: CleanupReport[] = []
  const onReport = (r: CleanupReport): void => {
    // Not the once-per-process sweep of dirs other test files' dead children left in the shared /tmp.
    if (r.resources === 0 || r.exitPath === 'leftovers') return
    reports.push(r)
    events.push(`report ${r.exitPath} ${r.resources}`)
  }
  const durable = durableCleanup(executionModeDurableContext, { ...options, onReport })
  // timeoutEarlyInMillis: 0 — Middy arms its early-timeout timer for the invocation's remaining time
  // (the runner says 900 s) and clears it only when the handler settles: a suspended one never
  // does, so the timer would hold this test process for 15 minutes (in Lambda it freezes with it).
  const handler = middy({ executionMode: durable.executionMode, timeoutEarlyInMillis: 0 }).use(durable.cleanup).handler(body as any) as unknown as (e: unknown, c: object) => Promise<any>
  const answers: Array<Promise<unknown>> = []
  const runner = new LocalDurableTestRunner({
    handlerFunction: (e: any, c: any) => {
      const answer = handler(e, { ...c, awsRequestId: randomUUID() }).then((output) => {
        events.push(`returned ${String(output?.Status)}`)
        return output
      })
      answers.push(answer)
      return answer
    },
  })
  const running = runner.run({ payload })
  if (resume) {
    await runner.getOperation('resume').waitForData(WaitingOperationStatus.STARTED)
    await answers[0]
    await runner.getOperation('resume').sendCallbackSuccess('{}')
  }
  const execution = await running
  await Promise.allSettled(answers)
  return { execution, runner, reports }
}

describe.each(backends())('$name', (b) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })

  const stage = (counter: { runs: number }) => async (_step: unknown, execution: Parameters<Parameters<typeof durableStep>[2]>[1]) => {
    counter.runs++
    const key = `tmp/${uid()}`
    const item: Record<string, AttributeValue> = { pk: { S: `job#${uid()}` }, sk: { S: 'staged' } }
    // declared before the writes: a write interrupted half-way is still deleted
    execution.s3Object({ bucket, key })
    execution.dynamoItem({ table, key: item })
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
    await ddb.send(new PutItemCommand({ TableName: table, Item: item }))
    return { key, item }
  }

  it('an S3 object and a DynamoDB item a durable step declares outlive the invocation that wrote them, and are deleted when the execution succeeds', async () => {
    const staging = { runs: 0 }
    const { execution, runner, reports } = await run({ s3, dynamodb: ddb }, async (_event, context) => {
      const { key, item } = await durableStep(context, 'stage', stage(staging))
      await suspend(context) // ends this invocation: PENDING
      const seen = await context.step('use', async () => ({ object: await objectExists(s3, bucket, key), item: await itemExists(ddb, table, item) }))
      return { key, item, seen }
    })
    expect(execution.getStatus()).toBe('SUCCEEDED')
    expect(execution.getInvocations().length).toBeGreaterThanOrEqual(2)
    // the step ran once: the completing invocation knew its declarations from the checkpoint alone
    expect(staging.runs).toBe(1)
    const { key, item, seen } = execution.getResult() as { key: string, item: Record<string, AttributeValue>, seen: unknown }
    expect(seen).toEqual({ object: true, item: true })
    expect(await objectExists(s3, bucket, key)).toBe(false)
    expect(await itemExists(ddb, table, item)).toBe(false)
    expect(reports.map((r) => [r.exitPath, r.resources, r.cleaned, r.failed.length])).toEqual([['success', 2, 2, 0]])
    // the checkpoint's format (docs/durable.md): the value, and the declarations next to it
    expect(runner.getOperation('stage').getStepDetails()?.result).toEqual({
      value: { key, item },
      middyCleanup: [{ kind: 's3', bucket, key }, { kind: 'dynamodb', table, key: item }],
    })
  })

  it('a failing execution deletes them too, and its error is the handler\'s', async () => {
    const staging = { runs: 0 }
    let key = ''
    const { execution, reports } = await run({ s3, dynamodb: ddb }, async (_event, context) => {
      ({ key } = await durableStep(context, 'stage', stage(staging)))
      await suspend(context)
      await context.step('fail', async () => { throw new Error('boom after the wait') }, noRetry)
    })
    expect(execution.getStatus()).toBe('FAILED')
    expect(execution.getError().errorMessage).toBe('boom after the wait')
    expect(staging.runs).toBe(1)
    expect(await objectExists(s3, bucket, key)).toBe(false)
    expect(reports.map((r) => [r.exitPath, r.resources, r.cleaned])).toEqual([['error', 2, 2]])
  })

  it('context.cleanup stays per invocation: a temp file and an S3 object declared on it in a step are released when that invocation suspends, before it returns', async () => {
    const events: string[] = []
    const { execution, reports } = await run({ s3 }, async (_event, context) => {
      const made = await context.step('make', async () => {
        const file = await context.cleanup.tempFile({ suffix: '.csv' })
        await writeFile(file, 'x')
        const key = `tmp/${uid()}`
        await context.cleanup.putObject({ Bucket: bucket, Key: key, Body: 'x' })
        return { file, key, there: existsSync(file) && await objectExists(s3, bucket, key) }
      })
      await suspend(context) // Middy's after/onError never run for this invocation
      return made
    }, { events })
    expect(execution.getStatus()).toBe('SUCCEEDED')
    const made = execution.getResult() as { file: string, key: string, there: boolean }
    expect(made.there).toBe(true)
    expect(existsSync(made.file)).toBe(false)
    expect(await objectExists(s3, bucket, made.key)).toBe(false)
    // released by the suspending invocation itself (the file and the object), not by a later sweep
    expect(reports.map((r) => [r.exitPath, r.resources, r.cleaned])).toEqual([['success', 2, 2]])
    // (the local runner may start the next invocation before this one has returned: only this order is certain)
    expect(events.indexOf('report success 2')).toBeGreaterThanOrEqual(0)
    expect(events.indexOf('report success 2')).toBeLessThan(events.indexOf('returned PENDING'))
  })

  it('a step attempt that throws has its declarations deleted at once; the retry\'s stay until the execution completes', async () => {
    const attempts: Array<{ key: string, earlierGone?: boolean }> = []
    const { execution, reports } = await run({ s3 }, async (_event, context) => {
      const key = await durableStep(context, 'flaky', async (_step, execution) => {
        const key = `tmp/${uid()}`
        const earlier = attempts[attempts.length - 1]
        attempts.push({ key, earlierGone: earlier === undefined ? undefined : !(await objectExists(s3, bucket, earlier.key)) })
        execution.s3Object({ bucket, key })
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
        if (attempts.length === 1) throw new Error('first attempt fails')
        return key
      }, { retryStrategy: (_e: unknown, attempt: number) => ({ shouldRetry: attempt < 2, delay: { seconds: 1 } }) })
      await suspend(context)
      return context.step('use', async () => objectExists(s3, bucket, key))
    })
    expect(execution.getStatus()).toBe('SUCCEEDED')
    expect(execution.getResult()).toBe(true)
    expect(attempts.length).toBe(2)
    expect(attempts[1]!.earlierGone).toBe(true)
    expect(await objectExists(s3, bucket, attempts[1]!.key)).toBe(false)
    expect(reports.map((r) => [r.exitPath, r.resources, r.cleaned])).toEqual([['error', 1, 1], ['success', 1, 1]])
  })

  it('a declaration that cannot be checkpointed, or is outside allow.s3, throws at once', async () => {
    const { execution } = await run({ s3, dynamodb: ddb, allow: { s3: [`${bucket}/tmp/`], dynamodb: [table] } }, async (_event, context) => {
      return durableStep(context, 'refused', async (_step, execution) => {
        const tries: Array<() => void> = [
          () => execution.s3Object({ bucket, key: 'tmp/a', client: s3 } as never),
          () => execution.s3Object({ bucket, key: 'elsewhere/a' }),
          () => execution.dynamoItem({ table, key: { pk: { B: new Uint8Array([1]) } } }),
        ]
        return tries.map((t) => { try { t(); return 'accepted' } catch (e) { return `${(e as Error).name}: ${(e as Error).message}` } })
      })
    }, { resume: false })
    const [client, outside, binary] = execution.getResult() as string[]
    expect(client).toMatch(/^CleanupDeclarationError: .*execution\.s3Object\(\{ client \}\) is not supported/)
    expect(outside).toMatch(/^CleanupDeclarationError: .*outside allow\.s3/)
    expect(binary).toMatch(/^CleanupDeclarationError: .*must be plain JSON/)
  })

  it('durableStep refuses a child context: a completed child is replayed from its result, so its steps\' declarations would never be deleted', async () => {
    const { execution } = await run({ s3 }, async (_event, context) =>
      context.runInChildContext('child', async (child) => {
        try { await durableStep(child as Ctx, 'inner', async () => 'ran'); return 'accepted' } catch (e) { return (e as Error).message }
      }), { resume: false })
    expect(execution.getResult()).toMatch(/needs the handler's own context, not a child context/)
  })
})

it('durableStep outside a handler wrapped by durableCleanup() throws, before any step runs', async () => {
  let ran = false
  const context = { step: async () => { ran = true } }
  await expect(durableStep(context, 'x', async () => 1)).rejects.toThrow(CleanupDeclarationError)
  expect(ran).toBe(false)
})
