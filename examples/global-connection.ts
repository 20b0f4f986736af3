// A connection opened once at init — a pg pool, a Redis client — reused by every warm
// invocation, and closed gracefully when Lambda shuts the execution environment down.
//
// `shutdown()` wires SIGTERM once per process and registers the in-process Lambda
// extension that makes Lambda send it (no third-party layer). On SIGTERM every
// `onShutdown` teardown runs concurrently, each with an AbortSignal that fires at the
// deadline (400 ms by default), then the process exits 0. Per-invocation temp files
// still go through `cleanup()`, as always.
//
// Deploy: REDIS_URL points at the server (e.g. ElastiCache in the function's VPC).
// See docs/shutdown.md for the shutdown budget and the external-extension layer.
import middy from '@middy/core'
import { connect, type Socket } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { cleanup, onShutdown, shutdown } from 'middy-cleanup'

/**
 * A tiny Redis client (inline RESP commands over TCP, just INCR and QUIT): it stands in
 * for ioredis, node-redis or a pg Pool, which are closed the same way
 * (`redis.quit()`, `pool.end()`).
 */
export class TinyRedis {
  readonly #socket: Socket
  readonly #pending: Array<{ resolve: (line: string) => void, reject: (e: Error) => void }> = []
  #buffer = ''

  constructor (url: string) {
    const { hostname, port } = new URL(url)
    // connect() returns at once; writes made before the connection is up are queued
    this.#socket = connect(Number(port || 6379), hostname)
    this.#socket.setEncoding('utf8')
    this.#socket.on('data', (chunk: string) => {
      this.#buffer += chunk
      let i
      while ((i = this.#buffer.indexOf('\r\n')) >= 0) {
        const line = this.#buffer.slice(0, i)
        this.#buffer = this.#buffer.slice(i + 2)
        const waiter = this.#pending.shift()
        if (line.startsWith('-')) waiter?.reject(new Error(`redis: ${line.slice(1)}`))
        else waiter?.resolve(line.slice(1))
      }
    })
    this.#socket.on('error', (e) => { for (const w of this.#pending.splice(0)) w.reject(e) })
  }

  #command (...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject })
      this.#socket.write(`${args.join(' ')}\r\n`)
    })
  }

  async incr (key: string): Promise<number> {
    return Number(await this.#command('INCR', key))
  }

  /** Says goodbye and waits for the server to close; gives up (destroys) when `signal` fires. */
  async quit (signal?: AbortSignal): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()))
    const abort = (): void => { this.#socket.destroy() }
    signal?.addEventListener('abort', abort, { once: true })
    try {
      await this.#command('QUIT').catch(() => {})
      this.#socket.end()
      await closed
    } finally {
      signal?.removeEventListener('abort', abort)
    }
  }
}

// Init (module scope): runs once per execution environment, not per invocation.
const redis = new TinyRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
onShutdown('redis', (signal) => redis.quit(signal))
const shutdownMiddleware = shutdown()
// the extension must be registered before the runtime asks for the first invocation:
// top-level await holds init until then (docs/shutdown.md, "Registration must finish during init")
await shutdownMiddleware.ready

export interface PageViewEvent {
  page: string
}

export const handler = middy<PageViewEvent, { page: string, views: number }>()
  .use(shutdownMiddleware)
  .use(cleanup()) // last: its after/onError run first, so no other middleware can skip them
  .handler(async (event, context) => {
    const views = await redis.incr(`views:${event.page}`)
    // per-invocation work still gets cleanup(): this file is gone when the invocation ends
    const audit = await context.cleanup.tempFile({ suffix: '.json' })
    await writeFile(audit, JSON.stringify({ page: event.page, views, requestId: context.awsRequestId }))
    return { page: event.page, views }
  })
