// A Lambda-like Runtime API + Extensions API on 127.0.0.1, for tests that run a real
// runtime client (aws-lambda-ric) or a bundle that registers the in-process extension.
// It behaves as Lambda does where the code under test can tell:
// - GET /runtime/invocation/next is held while no invocation is queued (Lambda freezes
//   the process there; here the request just waits), answered when invoke() is called;
// - GET /extension/event/next is held; with SHUTDOWN subscribed it is answered by
//   shutdown(), otherwise never;
// - extension registration is refused (403) once the runtime has asked for its first
//   invocation: init is over.
// Every request is recorded in `log` in arrival order ('POST /2020-01-01/extension/register' …).
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

const RUNTIME = '/2018-06-01/runtime'
const EXTENSION = '/2020-01-01/extension'

export interface Invocation {
  requestId: string
  /** parsed JSON response body (buffered), or the raw text when it is not JSON */
  response?: unknown
  /** raw body as received (for streaming: every chunk, the HTTP response framing removed) */
  raw?: string
  /** request headers the runtime sent with the response (streaming mode, content type…) */
  responseHeaders?: IncomingMessage['headers']
  /** body of /error, with the Lambda-Runtime-Function-Error-Type header */
  error?: { type: string | undefined, body: unknown }
}

export interface Registration { name: string, events: string[], id: string, at: number }

export interface FakeLambdaApi {
  /** `127.0.0.1:PORT`, the value of AWS_LAMBDA_RUNTIME_API */
  address: string
  log: string[]
  registrations: Registration[]
  initErrors: unknown[]
  /** Queues one invocation; resolves when the runtime posted its response or error. */
  invoke: (event: unknown, options?: { deadlineMs?: number, requestId?: string }) => Promise<Invocation>
  /** Resolves once a request matching `line` ('GET /2018-06-01/runtime/invocation/next') has arrived `count` times. */
  waitFor: (line: string, count?: number) => Promise<void>
  /** Answers every held extension `next` of a SHUTDOWN subscriber with a SHUTDOWN event. */
  shutdown: (reason?: string) => void
  /** Number of open client connections (a held `next` keeps one open). */
  connections: () => number
  /** Destroys every connection (as Lambda's sandbox going away would) and closes the server. */
  close: () => Promise<void>
}

const readBody = (req: IncomingMessage): Promise<string> => new Promise((resolve, reject) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => { body += c })
  req.on('end', () => resolve(body))
  req.on('error', reject)
})

const parse = (text: string): unknown => { try { return JSON.parse(text) } catch { return text } }

export const startFakeLambdaApi = async (): Promise<FakeLambdaApi> => {
  const log: string[] = []
  const registrations: Registration[] = []
  const initErrors: unknown[] = []
  const sockets = new Set<Socket>()
  const queue: Array<{ event: unknown, requestId: string, deadlineMs: number }> = []
  const heldRuntimeNext: ServerResponse[] = []
  const heldExtensionNext: Array<{ res: ServerResponse, id: string }> = []
  const pending = new Map<string, { resolve: (i: Invocation) => void }>()
  const waiters: Array<{ line: string, count: number, resolve: () => void }> = []
  let runtimeAskedNext = false

  const count = (line: string): number => log.filter((l) => l === line).length
  const record = (line: string): void => {
    log.push(line)
    for (const w of [...waiters]) if (count(w.line) >= w.count) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
  }

  const answerNext = (res: ServerResponse, inv: { event: unknown, requestId: string, deadlineMs: number }): void => {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': inv.requestId,
      'Lambda-Runtime-Deadline-Ms': String(inv.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:123456789012:function:fake',
      'Lambda-Runtime-Trace-Id': 'Root=1-00000000-000000000000000000000000;Sampled=0',
    })
    res.end(JSON.stringify(inv.event))
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = req.url ?? ''
      const path = url.replace(/\?.*$/, '')
      // the response/error paths carry the request id: log them by shape
      const line = `${req.method} ${path.replace(/\/invocation\/[^/]+\/(response|error)$/, '/invocation/{id}/$1')}`
      if (req.method === 'POST' && path === `${EXTENSION}/register`) {
        const body = parse(await readBody(req)) as { events?: string[] }
        record(line)
        if (runtimeAskedNext) {
          res.writeHead(403, { 'Content-Type': 'application/json' })
          res.end(JSON.stringify({ errorType: 'Extension.Forbidden', errorMessage: 'registration after init' }))
          return
        }
        const id = randomUUID()
        registrations.push({ name: String(req.headers['lambda-extension-name']), events: body.events ?? [], id, at: log.length - 1 })
        res.writeHead(200, { 'Content-Type': 'application/json', 'Lambda-Extension-Identifier': id })
        res.end(JSON.stringify({ functionName: 'fake', functionVersion: '$LATEST', handler: 'index.handler' }))
        return
      }
      if (req.method === 'GET' && path === `${EXTENSION}/event/next`) {
        record(line)
        heldExtensionNext.push({ res, id: String(req.headers['lambda-extension-identifier']) })
        return
      }
      if (req.method === 'GET' && path === `${RUNTIME}/invocation/next`) {
        record(line)
        runtimeAskedNext = true
        const next = queue.shift()
        if (next !== undefined) answerNext(res, next)
        else heldRuntimeNext.push(res)
        return
      }
      const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path)
      if (req.method === 'POST' && m !== null) {
        const raw = await readBody(req)
        record(line)
        const [, requestId, kind] = m
        const inv: Invocation = { requestId: requestId!, responseHeaders: req.headers, raw }
        if (kind === 'response') inv.response = parse(raw)
        else inv.error = { type: req.headers['lambda-runtime-function-error-type'] as string | undefined, body: parse(raw) }
        res.writeHead(202, { 'Content-Type': 'application/json' })
        res.end('{"status":"OK"}')
        pending.get(requestId!)?.resolve(inv)
        pending.delete(requestId!)
        return
      }
      if (req.method === 'POST' && path === `${RUNTIME}/init/error`) {
        initErrors.push(parse(await readBody(req)))
        record(line)
        res.writeHead(202)
        res.end()
        return
      }
      record(line)
      res.writeHead(404)
      res.end()
    })().catch((error: unknown) => { res.destroy(error as Error) })
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()) })
  const { port } = server.address() as { port: number }

  return {
    address: `127.0.0.1:${port}`,
    log,
    registrations,
    initErrors,
    invoke: (event, options = {}) => new Promise<Invocation>((resolve) => {
      const inv = { event, requestId: options.requestId ?? randomUUID(), deadlineMs: Date.now() + (options.deadlineMs ?? 30000) }
      pending.set(inv.requestId, { resolve })
      const held = heldRuntimeNext.shift()
      if (held !== undefined) answerNext(held, inv)
      else queue.push(inv)
    }),
    waitFor: (line, n = 1) => new Promise<void>((resolve) => {
      if (count(line) >= n) resolve()
      else waiters.push({ line, count: n, resolve })
    }),
    shutdown: (reason = 'spindown') => {
      for (const { res, id } of heldExtensionNext.splice(0)) {
        const subscribed = registrations.find((r) => r.id === id)?.events.includes('SHUTDOWN') === true
        if (!subscribed) { heldExtensionNext.push({ res, id }); continue }
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ eventType: 'SHUTDOWN', shutdownReason: reason, deadlineMs: Date.now() + 2000 }))
      }
    },
    connections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
