// A small fault-injecting HTTP proxy in front of a real S3 / DynamoDB server (127.0.0.1).
// No emulator produces 503 SlowDown, throttling or UnprocessedItems, so tests point the
// SDK at this proxy and let it inject them; everything else is forwarded to the real
// server, so what the test checks afterwards (HeadObject / GetItem) is the server's truth.
import { createHash } from 'node:crypto'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { crc32 } from 'node:zlib'

/** What the proxy saw of one request. */
export interface SeenRequest {
  method: string
  url: string
  /** DynamoDB operation (from X-Amz-Target) or `s3:<METHOD>[?delete]` */
  op: string
  injected?: 'status' | 'reset' | 'unprocessed' | 'keyErrors'
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
  /**
   * S3 DeleteObjects: for matching requests, withhold `count(n)` of the n keys from the real
   * server and answer them as per-key `<Error>`s with `code` (as S3 does for a key it could not
   * delete); the other keys are forwarded and really deleted. No emulator returns a transient
   * per-key code (moto's legal hold gives a final `AccessDenied`), so this is the only way to get one.
   */
  keyErrors?: FaultRule & { count: (n: number) => number, code: string, message?: string }
  /** Delay every forwarded request by this many ms (for deadline tests). */
  delayMs?: number | ((req: SeenRequest) => number)
}

export interface FaultProxy {
  endpoint: string
  seen: SeenRequest[]
  /** number of faults injected, per kind */
  injected: { status: number, reset: number, unprocessed: number, keyErrors: number }
  /** keys answered with a per-key error, one entry per time (raw XML text of the key) */
  withheldKeys: string[]
  /**
   * Resolves once no request has arrived for `quietMs` (at most `maxMs`). A request the
   * client finished writing just before its abort can reach this server's parser a moment
   * after the client's dispose() returned: compare counts with the wire only after this.
   */
  settled: (quietMs?: number, maxMs?: number) => Promise<void>
  stop: () => Promise<void>
}

/** S3 `503 SlowDown` as real S3 sends it. */
export const slowDown = (): { code: number, body: string, headers: Record<string, string> } => ({
  code: 503,
  headers: { 'content-type': 'application/xml' },
  body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>',
})

/** Any S3 error answer (e.g. `s3Error(503, 'ServiceUnavailable')`, `s3Error(500, 'InternalError')`). */
export const s3Error = (code: number, name: string, message = 'injected by the fault proxy'): { code: number, body: string, headers: Record<string, string> } => ({
  code,
  headers: { 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${name}</Code><Message>${message}</Message><RequestId>FAULT</RequestId></Error>`,
})

/** Any DynamoDB error answer (e.g. `dynamoError(500, 'InternalServerError')`). */
export const dynamoError = (code: number, type: string, message = 'injected by the fault proxy'): { code: number, body: string, headers: Record<string, string> } => ({
  code,
  headers: { 'content-type': 'application/x-amz-json-1.0' },
  body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message }),
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

// A rewritten request body must carry checksums that match it, or the server rejects it.
const rechecksum = (headers: Record<string, string | string[] | undefined>, body: Buffer): void => {
  if (headers['content-md5'] !== undefined) headers['content-md5'] = createHash('md5').update(body).digest('base64')
  if (headers['x-amz-checksum-crc32'] !== undefined) {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(crc32(body) >>> 0)
    headers['x-amz-checksum-crc32'] = b.toString('base64')
  }
  const sha = headers['x-amz-content-sha256']
  if (typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha)) headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex')
}

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
  const injected = { status: 0, reset: 0, unprocessed: 0, keyErrors: 0 }
  const withheldKeys: string[] = []
  const used = new Map<FaultRule, number>()
  const sockets = new Set<Socket>()

  const forward = (req: IncomingMessage, body: Buffer, rewritten = false): Promise<{ status: number, headers: Record<string, string | string[]>, body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length) }
      delete headers['transfer-encoding']
      if (rewritten) rechecksum(headers, body)
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

    let keyErrorsXml: string | undefined
    if (entry.op === 's3:POST?delete' && options.keyErrors !== undefined && take(options.keyErrors, used, entry)) {
      const xml = body.toString('utf8')
      const objects = [...xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)]
      const n = Math.min(objects.length, Math.max(0, options.keyErrors.count(objects.length)))
      const withheld = objects.slice(objects.length - n)
      entry.injected = 'keyErrors'
      injected.keyErrors++
      keyErrorsXml = withheld.map((m) => {
        const inner = m[1]!
        withheldKeys.push(/<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1] ?? '')
        return `<Error>${inner}<Code>${options.keyErrors!.code}</Code><Message>${options.keyErrors!.message ?? 'injected by the fault proxy'}</Message></Error>`
      }).join('')
      if (n === objects.length) {
        // every key withheld: answer ourselves, the server never sees the request
        const b = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${keyErrorsXml}</DeleteResult>`)
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(b.length) })
        res.end(b)
        return
      }
      let kept = xml
      for (const m of withheld) kept = kept.replace(m[0], '')
      body = Buffer.from(kept)
    }

    const upstream = await forward(req, body, keyErrorsXml !== undefined || withheld !== undefined)
    let outBody = upstream.body
    const headers = { ...upstream.headers }
    if (keyErrorsXml !== undefined && upstream.status === 200) {
      const text = outBody.toString('utf8')
      outBody = Buffer.from(text.includes('</DeleteResult>')
        ? text.replace('</DeleteResult>', `${keyErrorsXml}</DeleteResult>`)
        : text.replace(/<DeleteResult([^>]*)\/>/, `<DeleteResult$1>${keyErrorsXml}</DeleteResult>`))
    }
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
    withheldKeys,
    settled: async (quietMs = 150, maxMs = 3000) => {
      const until = performance.now() + maxMs
      let count = -1
      while (count !== seen.length && performance.now() < until) {
        count = seen.length
        await new Promise((resolve) => setTimeout(resolve, quietMs))
      }
    },
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
