// A small fault-injecting HTTP proxy in front of a real S3 / DynamoDB server (127.0.0.1).
// No emulator produces 503 SlowDown, throttling or UnprocessedItems, so tests point the
// SDK at this proxy and let it inject them; everything else is forwarded to the real
// server, so what the test checks afterwards (HeadObject / GetItem) is the server's truth.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What the proxy saw of one request. */
export interface SeenRequest {
  method: string
  url: string
  /** DynamoDB operation (from X-Amz-Target) or `s3:<METHOD>[?delete]` */
  op: string
  injected?: 'status' | 'reset' | 'unprocessed'
}

export interface FaultRule {
  /** Which requests the rule applies to (default: all). */
  match?: (req: SeenRequest) => boolean
  /** How many matching requests it applies to before it stops (default Infinity). */
  times?: number
}

export interface FaultProxyOptions {
  /** The real server, e.g. http://127.0.0.1:4566 */
  target: string
  /** Answer matching requests with this status instead of forwarding (e.g. 503 SlowDown). */
  status?: FaultRule & { code: number, body?: string, headers?: Record<string, string> }
  /** Destroy the socket of matching requests without answering (ECONNRESET / socket hang up). */
  reset?: FaultRule
  /**
   * DynamoDB BatchWriteItem: for matching requests, withhold `count(n)` of the n requests per
   * table from the real server and answer them as UnprocessedItems (as DynamoDB does under load).
   */
  unprocessed?: FaultRule & { count: (n: number) => number }
  /** Delay every forwarded request by this many ms (for deadline tests). */
  delayMs?: number | ((req: SeenRequest) => number)
}

export interface FaultProxy {
  endpoint: string
  seen: SeenRequest[]
  /** number of faults injected, per kind */
  injected: { status: number, reset: number, unprocessed: number }
  stop: () => Promise<void>
}

/** S3 `503 SlowDown` as real S3 sends it. */
export const slowDown = (): { code: number, body: string, headers: Record<string, string> } => ({
  code: 503,
  headers: { 'content-type': 'application/xml' },
  body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>',
})

/** DynamoDB throttling as real DynamoDB sends it. */
export const throttled = (): { code: number, body: string, headers: Record<string, string> } => ({
  code: 400,
  headers: { 'content-type': 'application/x-amz-json-1.0' },
  body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'The level of configured provisioned throughput for the table was exceeded.' }),
})

const opOf = (req: IncomingMessage): string => {
  const target = req.headers['x-amz-target']
  if (typeof target === 'string') return target.split('.').pop() ?? target
  return `s3:${req.method ?? 'GET'}${/[?&]delete(=|&|$)/.test(req.url ?? '') ? '?delete' : ''}`
}

const readBody = (req: IncomingMessage): Promise<Buffer> => new Promise((resolve, reject) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => resolve(Buffer.concat(chunks)))
  req.on('error', reject)
})

const take = (rule: FaultRule | undefined, used: Map<FaultRule, number>, seen: SeenRequest): boolean => {
  if (rule === undefined) return false
  if (rule.match !== undefined && !rule.match(seen)) return false
  const n = used.get(rule) ?? 0
  if (n >= (rule.times ?? Infinity)) return false
  used.set(rule, n + 1)
  return true
}

/** Starts the proxy on 127.0.0.1, a free port. */
export const startFaultProxy = async (options: FaultProxyOptions): Promise<FaultProxy> => {
  const target = new URL(options.target)
  const seen: SeenRequest[] = []
  const injected = { status: 0, reset: 0, unprocessed: 0 }
  const used = new Map<FaultRule, number>()
  const sockets = new Set<Socket>()

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number, headers: Record<string, string | string[]>, body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length) }
      delete headers['transfer-encoding']
      const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false }, (res) => {
        readBody(res).then((b) => resolve({ status: res.statusCode ?? 502, headers: res.headers as Record<string, string | string[]>, body: b }), reject)
      })
      out.on('error', reject)
      out.end(body)
    })

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const entry: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', op: opOf(req) }
    seen.push(entry)
    let body = await readBody(req)
    if (take(options.reset, used, entry)) {
      entry.injected = 'reset'
      injected.reset++
      req.socket.destroy()
      return
    }
    if (options.status !== undefined && take(options.status, used, entry)) {
      entry.injected = 'status'
      injected.status++
      const b = Buffer.from(options.status.body ?? '')
      res.writeHead(options.status.code, { ...options.status.headers, 'content-length': String(b.length) })
      res.end(b)
      return
    }
    const delay = typeof options.delayMs === 'function' ? options.delayMs(entry) : options.delayMs ?? 0
    if (delay > 0) await new Promise((resolve) => { setTimeout(resolve, delay).unref() })

    let withheld: Record<string, unknown[]> | undefined
    if (entry.op === 'BatchWriteItem' && options.unprocessed !== undefined && take(options.unprocessed, used, entry)) {
      const input = JSON.parse(body.toString('utf8')) as { RequestItems: Record<string, unknown[]> }
      withheld = {}
      for (const [table, requests] of Object.entries(input.RequestItems)) {
        const n = Math.min(requests.length, Math.max(0, options.unprocessed.count(requests.length)))
        if (n > 0) withheld[table] = requests.splice(requests.length - n, n)
        if (requests.length === 0) delete input.RequestItems[table]
      }
      entry.injected = 'unprocessed'
      injected.unprocessed++
      if (Object.keys(input.RequestItems).length === 0) {
        // everything withheld: answer ourselves, the server never sees it
        const b = Buffer.from(JSON.stringify({ UnprocessedItems: withheld }))
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': String(b.length) })
        res.end(b)
        return
      }
      body = Buffer.from(JSON.stringify(input))
    }

    const upstream = await forward(req, body)
    let outBody = upstream.body
    const headers = { ...upstream.headers }
    if (withheld !== undefined && upstream.status === 200) {
      const parsed = JSON.parse(outBody.toString('utf8')) as { UnprocessedItems?: Record<string, unknown[]> }
      const merged: Record<string, unknown[]> = { ...(parsed.UnprocessedItems ?? {}) }
      for (const [table, reqs] of Object.entries(withheld)) merged[table] = [...(merged[table] ?? []), ...reqs]
      outBody = Buffer.from(JSON.stringify({ ...parsed, UnprocessedItems: merged }))
      delete headers['x-amz-crc32'] // the body changed; the SDK must not see a stale checksum
    }
    delete headers['transfer-encoding']
    headers['content-length'] = String(outBody.length)
    res.writeHead(upstream.status, headers)
    res.end(outBody)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`fault-proxy: ${String(e)}`)
    })
  })
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()) })
  const { port } = server.address() as AddressInfo

  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    injected,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
