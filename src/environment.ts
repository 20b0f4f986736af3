import { isMainThread } from 'node:worker_threads'

/**
 * Where this code runs, as far as shutdown handling is concerned. Read from
 * the environment at call time (never cached), so tests and late `process.env`
 * edits are seen.
 *
 * Environment variables relied on:
 * - `AWS_LAMBDA_RUNTIME_API` (`host:port`): set by Lambda for the runtime and
 *   every extension; the Runtime and Extensions APIs live there. Certain: the
 *   Node.js runtime interface client refuses to start without it.
 * - `AWS_LAMBDA_MAX_CONCURRENCY`: set only on Lambda Managed Instances, where
 *   one process serves several invocations at once. Certain: the runtime
 *   interface client switches to its multi-concurrent (worker threads) mode on
 *   its mere presence (`isMultiConcurrentMode()` in `src/utils/env.ts`), and
 *   Powertools TS tests it the same way.
 * - `AWS_LAMBDA_FUNCTION_NAME`: set for every function; only used to say
 *   "on Lambda" when the Runtime API variable is absent (e.g. a test harness).
 *
 * Worker threads are detected with `worker_threads.isMainThread` (signals are
 * never delivered to a worker's `process.on()`).
 *
 * @example
 * ```ts
 * const env = detectEnvironment()
 * if (env.managedInstances) console.warn('SIGTERM is not delivered here')
 * ```
 */
export interface LambdaEnvironment {
  /** `AWS_LAMBDA_RUNTIME_API`, when set */
  runtimeApi: string | undefined
  /** Running on Lambda (Runtime API or function name set). */
  lambda: boolean
  /** Lambda Managed Instances: `AWS_LAMBDA_MAX_CONCURRENCY` is set. */
  managedInstances: boolean
  /** `AWS_LAMBDA_MAX_CONCURRENCY` as a number, when set and numeric. */
  maxConcurrency: number | undefined
  /** This code runs in a worker thread, not the process's main thread. */
  workerThread: boolean
  /**
   * A Lambda runtime that runs one invocation at a time in this thread: Runtime API
   * set, `AWS_LAMBDA_MAX_CONCURRENCY` unset, main thread. There the runtime asks for
   * the next event only once the previous handler settled, so a new invocation (or
   * SIGTERM) proves every earlier one has ended; cleanup relies on nothing weaker.
   */
  sequential: boolean
}

/**
 * Reads {@link LambdaEnvironment} from `env` (default `process.env`).
 *
 * @example
 * ```ts
 * detectEnvironment({ AWS_LAMBDA_MAX_CONCURRENCY: '8' }).managedInstances // true
 * detectEnvironment({ AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' }).sequential // true (main thread)
 * ```
 */
export const detectEnvironment = (env: NodeJS.ProcessEnv = process.env, mainThread: boolean = isMainThread): LambdaEnvironment => {
  const runtimeApi = nonEmpty(env.AWS_LAMBDA_RUNTIME_API)
  const maxConcurrencyRaw = env.AWS_LAMBDA_MAX_CONCURRENCY
  const maxConcurrency = maxConcurrencyRaw !== undefined && /^\d+$/.test(maxConcurrencyRaw.trim()) ? Number(maxConcurrencyRaw) : undefined
  return {
    runtimeApi,
    lambda: runtimeApi !== undefined || nonEmpty(env.AWS_LAMBDA_FUNCTION_NAME) !== undefined,
    // Presence, not value: that is the runtime client's own test.
    managedInstances: maxConcurrencyRaw !== undefined,
    maxConcurrency,
    workerThread: !mainThread,
    sequential: runtimeApi !== undefined && maxConcurrencyRaw === undefined && mainThread,
  }
}

const nonEmpty = (v: string | undefined): string | undefined => v === undefined || v.trim() === '' ? undefined : v.trim()
