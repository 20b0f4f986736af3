import type { IncomingMessage, request as httpRequest } from 'node:http'
import { describeError } from './errors.js'
import type { Logger } from './logger.js'
import { processSlot } from './process-state.js'

type HttpRequestFn = typeof httpRequest

// node:http costs milliseconds of cold start and is only needed on Lambda: loaded when
// the registration starts. A dynamic import, not createRequire: a top-level
// `import { createRequire }` collides with the banner CDK's NodejsFunction puts in ESM
// bundles, and bundlers reject a dynamic require() of a built-in in ESM output.
let http: Promise<HttpRequestFn> | undefined
const loadHttp = (): Promise<HttpRequestFn> => (http ??= import('node:http').then((m) => m.request))

/**
 * Outcome of registering the in-process (internal) Lambda extension.
 * `registered`: Lambda will send SIGTERM before shutting the environment down.
 * `skipped`: not attempted (not on Lambda, Managed Instances, worker thread,
 * `registerExtension: false`). `failed`: the Extensions API refused or did not
 * answer; SIGTERM arrives only if another extension is registered.
 *
 * @example
 * ```ts
 * const status = await shutdown().ready
 * if (status.state !== 'registered') console.warn(status.reason)
 * ```
 */
export type ExtensionStatus =
  | { state: 'registered', name: string, extensionId: string }
  | { state: 'skipped', reason: string }
  | { state: 'failed', reason: string, error?: unknown }

/**
 * Options of {@link registerInternalExtension}.
 *
 * @example
 * ```ts
 * registerInternalExtension({ runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API!, logger: console })
 * ```
 */
export interface RegisterExtensionOptions {
  /** `host:port` of the Runtime API (`AWS_LAMBDA_RUNTIME_API`). */
  runtimeApi: string
  /** Value of the `Lambda-Extension-Name` header. @default 'middy-cleanup' */
  name?: string
  /** Where the one warning on failure goes. @default console */
  logger?: Logger
  /** Give up on the register call after this long. @default 2000 */
  timeoutMs?: number
}

/**
 * Name the internal extension registers under (internal extensions have no file, any unique name is accepted).
 *
 * @example
 * ```ts
 * const status = await shutdown().ready
 * if (status.state === 'registered') console.log(status.name) // INTERNAL_EXTENSION_NAME, 'middy-cleanup'
 * ```
 */
export const INTERNAL_EXTENSION_NAME = 'middy-cleanup'

const REGISTER_PATH = '/2020-01-01/extension/register'
const NEXT_PATH = '/2020-01-01/extension/event/next'

interface ExtensionState { registration: Promise<ExtensionStatus> | undefined }
// Process-wide: two copies of this module (two bundles) must register once, not twice.
const extensionState = (): ExtensionState => processSlot('extension', () => ({ registration: undefined }))

/**
 * Registers this process with the Lambda Extensions API as an internal
 * extension subscribed to no events (internal extensions may not subscribe to
 * `SHUTDOWN`): the mere registration makes Lambda send SIGTERM to the runtime
 * and grant it up to 500 ms before SIGKILL. Then keeps one
 * `GET /extension/event/next` pending on an unref'd socket, so it never keeps
 * the process alive and never delays an invocation. Same approach as
 * aws-lambda-go's `lambda.EnableSIGTERM`.
 *
 * Must complete during init, before the runtime's first
 * `/runtime/invocation/next`: call it at module scope and `await` it (top-level
 * await; the Node.js runtime client awaits the handler module's evaluation).
 * Idempotent per process: later calls return the first call's promise.
 * Never rejects; a failure is logged once as a warning.
 *
 * @example
 * ```ts
 * // handler.mjs
 * await registerInternalExtension({ runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API! })
 * ```
 */
export const registerInternalExtension = (options: RegisterExtensionOptions): Promise<ExtensionStatus> => {
  const state = extensionState()
  state.registration ??= register(options)
  return state.registration
}

/**
 * The registration already started in this process, if any (for the middleware's `before`).
 *
 * @example
 * ```ts
 * const pending = currentRegistration()
 * if (pending !== undefined) await pending
 * ```
 */
export const currentRegistration = (): Promise<ExtensionStatus> | undefined => extensionState().registration

const register = async (options: RegisterExtensionOptions): Promise<ExtensionStatus> => {
  const logger = options.logger ?? console
  const name = options.name ?? INTERNAL_EXTENSION_NAME
  let base: URL
  try {
    base = new URL(`http://${options.runtimeApi}`)
  } catch (error) {
    return fail(logger, `AWS_LAMBDA_RUNTIME_API is not host:port (got '${options.runtimeApi}')`, error)
  }
  let res: { status: number, headers: IncomingMessage['headers'], body: string }
  let request: HttpRequestFn
  try {
    request = await loadHttp()
    res = await send(request, base, {
      method: 'POST',
      path: REGISTER_PATH,
      headers: { 'Lambda-Extension-Name': name, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: [] }),
      timeoutMs: options.timeoutMs ?? 2000,
    })
  } catch (error) {
    return fail(logger, `POST ${REGISTER_PATH} failed: ${describeError(error)}`, error)
  }
  const id = res.headers['lambda-extension-identifier']
  if (res.status !== 200 || typeof id !== 'string' || id === '') {
    // Lambda answers 4xx once the runtime has called /runtime/invocation/next: registered too late.
    return fail(logger, `POST ${REGISTER_PATH} answered HTTP ${res.status}${typeof id === 'string' && id !== '' ? '' : ' without a Lambda-Extension-Identifier'}: ${res.body.slice(0, 300)}`)
  }
  waitForeverOnNext(request, base, id, logger)
  logger.debug?.(`shutdown: registered internal extension '${name}' (${id}); Lambda will send SIGTERM before shutdown`)
  return { state: 'registered', name, extensionId: id }
}

const fail = (logger: Logger, reason: string, error?: unknown): ExtensionStatus => {
  logger.warn(`shutdown: could not register the internal Lambda extension (${reason}). Lambda sends SIGTERM only when an extension is registered: register during init (top-level \`await shutdown().ready\`), or add the middy-cleanup-shutdown layer (see docs/shutdown.md).`)
  return error === undefined ? { state: 'failed', reason } : { state: 'failed', reason, error }
}

// The Extensions API expects every registered extension to call event/next; with no
// events subscribed it never answers. Nothing should keep the process alive for it.
const waitForeverOnNext = (request: HttpRequestFn, base: URL, id: string, logger: Logger): void => {
  let reported = false
  const report = (what: string): void => {
    if (reported) return
    reported = true
    logger.warn(`shutdown: the internal extension's pending ${NEXT_PATH} ended (${what}); SIGTERM delivery is not affected once registered, but this is unexpected.`)
  }
  const req = request({
    host: base.hostname.replace(/^\[|\]$/g, ''),
    port: base.port === '' ? 80 : Number(base.port),
    method: 'GET',
    path: NEXT_PATH,
    headers: { 'Lambda-Extension-Identifier': id },
    agent: false,
  }, (res) => {
    res.resume()
    report(`HTTP ${res.statusCode ?? '?'}`)
  })
  req.on('socket', (socket) => socket.unref())
  req.on('error', (error) => report(describeError(error)))
  req.end()
}

interface SendOptions { method: string, path: string, headers: Record<string, string>, body: string, timeoutMs: number }

const send = (request: HttpRequestFn, base: URL, o: SendOptions): Promise<{ status: number, headers: IncomingMessage['headers'], body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({
      host: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port === '' ? 80 : Number(base.port),
      method: o.method,
      path: o.path,
      headers: { ...o.headers, 'Content-Length': String(Buffer.byteLength(o.body)) },
      agent: false,
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { if (body.length < 4096) body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)))
    req.on('error', reject)
    req.end(o.body)
  })
