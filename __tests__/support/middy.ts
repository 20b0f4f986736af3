// Real Middy, every supported major: 7 is `@middy/core`, 5 and 6 are npm aliases
// (devDependencies `middy5`, `middy6`), so one jest run proves every exit path on each.
import middy7 from '@middy/core'
import middy6 from 'middy6'
import middy5 from 'middy5'
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { threadId } from 'node:worker_threads'

export type AnyMiddy = (handler?: any, plugin?: any) => any

export const middyVersions: Array<{ major: number, middy: AnyMiddy }> = [
  { major: 5, middy: middy5 as unknown as AnyMiddy },
  { major: 6, middy: middy6 as unknown as AnyMiddy },
  { major: 7, middy: middy7 as unknown as AnyMiddy },
]

let n = 0
/** A Lambda-like context; `remainingMs` drives Middy's timeoutEarly and cleanup's budget. */
export const lambdaContext = (remainingMs = 30_000): any => {
  const deadline = Date.now() + remainingMs
  return {
    awsRequestId: `req-${++n}`,
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test',
    memoryLimitInMB: '128',
    logGroupName: '/aws/lambda/test',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
}

/** Per-invocation dirs of this process still on disk (there should be none after an invocation). */
export const ourInvocationDirs = async (): Promise<string[]> =>
  (await readdir(tmpdir())).filter((name) => name.startsWith(`middy-cleanup-${process.pid}-${threadId}-`))

/** A promise with its resolve, for gate-based concurrency tests (Node 20 has no Promise.withResolvers). */
export const gate = (): { promise: Promise<void>, open: () => void } => {
  let open!: () => void
  const promise = new Promise<void>((resolve) => { open = resolve })
  return { promise, open }
}

/** A logger that records what it is told. */
export const recordingLogger = () => {
  const lines: Array<{ level: string, message: string }> = []
  return {
    lines,
    warn: (message: string) => { lines.push({ level: 'warn', message }) },
    error: (message: string) => { lines.push({ level: 'error', message }) },
    debug: (message: string) => { lines.push({ level: 'debug', message }) },
  }
}
