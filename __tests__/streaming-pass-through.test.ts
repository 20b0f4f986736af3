// holdUntilStreamed (src/streaming.ts) on its own, over random bodies: chunk sizes, a
// failure at any chunk, a reader that aborts at any chunk, Node or web streams, read by
// Node's pipeline (as Middy does) into a writable that takes each chunk after a random
// number of event-loop turns. Properties: every byte arrives in order (or, on failure, the
// invocation's error is the source's very object); whenStreamed runs exactly once, with
// the end the body had, and — when read to its end — only after the reader took the last
// byte; the body's end waits for it.
import { describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type BodyEnd, holdUntilStreamed, isStreamBody } from '../src/streaming.js'

const turns = (n: number): Promise<void> => new Promise((resolve) => {
  const step = (k: number): void => { if (k <= 0) resolve(); else setImmediate(() => step(k - 1)) }
  step(n)
})

interface Run { received: Buffer, ends: BodyEnd[], receivedAtEnd: number[], settledAfterCleanup: boolean, outcome: unknown }

const run = async (body: unknown, opts: { slowness: number[], abortAt?: number, cleanupTurns: number }): Promise<Run> => {
  const chunks: Buffer[] = []
  const ends: BodyEnd[] = []
  const receivedAtEnd: number[] = []
  let cleanupDone = false
  const request = { response: { statusCode: 200, body } }
  const hold = holdUntilStreamed(request, async (end) => {
    ends.push(end)
    receivedAtEnd.push(Buffer.concat(chunks).length)
    await turns(opts.cleanupTurns)
    cleanupDone = true
    return undefined
  }, 60_000)
  expect(hold.held).toBe(true)
  let i = 0
  const sink = new Writable({
    highWaterMark: 1,
    write (chunk: Buffer, _e, callback) {
      const n = i++
      if (n === opts.abortAt) { callback(new Error('client went away')); return }
      chunks.push(Buffer.from(chunk))
      void turns(opts.slowness[n % opts.slowness.length] ?? 0).then(() => callback())
    },
  })
  let outcome: unknown
  try { await pipeline(request.response.body as any, sink) } catch (e) { outcome = e }
  const settledAfterCleanup = cleanupDone
  // an abort is cleaned in the background (pipeline does not wait for the source): let it finish
  for (let k = 0; k < 100 && ends.length === 0; k++) await turns(1)
  await turns(opts.cleanupTurns + 2)
  if (hold.held) hold.release()
  return { received: Buffer.concat(chunks), ends, receivedAtEnd, settledAfterCleanup, outcome }
}

// up to 96 KiB in chunks of up to 8 KiB: more than the pass-through buffers (16 KiB), so a source can end well before its reader has it all
const chunkList = fc.array(fc.uint8Array({ minLength: 1, maxLength: 8192 }), { minLength: 1, maxLength: 12 })
const slowness = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 5 })

async function * produce (chunks: Uint8Array[], failAt: number | undefined, boom: Error): AsyncGenerator<Buffer> {
  for (let n = 0; n < chunks.length; n++) {
    if (n === failAt) throw boom
    // a source faster than its reader: the whole body can be buffered before the reader has it
    yield Buffer.from(chunks[n]!)
  }
}
// a 64 KiB buffer, as fs streams have: the pass-through copies it
const nodeBody = (chunks: Uint8Array[], failAt: number | undefined, boom: Error): Readable => Readable.from(produce(chunks, failAt, boom), { objectMode: false, highWaterMark: 64 * 1024 })
const webBody = (chunks: Uint8Array[], failAt: number | undefined, boom: Error): ReadableStream => Readable.toWeb(nodeBody(chunks, failAt, boom)) as unknown as ReadableStream

type MakeBody = (chunks: Uint8Array[], failAt: number | undefined, boom: Error) => unknown
const kinds: Array<[string, MakeBody]> = [['Node Readable', nodeBody], ['web ReadableStream', webBody]]
describe.each(kinds)('%s', (_name, make) => {
  test.prop([chunkList, slowness, fc.integer({ min: 0, max: 3 })], { numRuns: 60 })('read to its end: every byte in order, cleanup once after the last byte, the body ends after cleanup', async (chunks, slow, cleanupTurns) => {
    const r = await run(make(chunks, undefined, new Error('unused')), { slowness: slow, cleanupTurns })
    const all = Buffer.concat(chunks.map((c) => Buffer.from(c)))
    expect(r.outcome).toBeUndefined()
    expect(r.received.equals(all)).toBe(true)
    expect(r.ends).toEqual(['ended'])
    expect(r.receivedAtEnd).toEqual([all.length])
    expect(r.settledAfterCleanup).toBe(true)
  })

  test.prop([chunkList, slowness, fc.nat()], { numRuns: 60 })('fails at any chunk: the same error object, cleanup once (failed) before the body errors', async (chunks, slow, at) => {
    const boom = new Error('source failed')
    const failAt = at % chunks.length
    const r = await run(make(chunks, failAt, boom), { slowness: slow, cleanupTurns: 1 })
    expect(r.outcome).toBe(boom)
    expect(r.ends).toEqual(['failed'])
    expect(r.settledAfterCleanup).toBe(true)
    expect(r.received.length).toBeLessThanOrEqual(Buffer.concat(chunks.slice(0, failAt).map((c) => Buffer.from(c))).length)
  })

  test.prop([chunkList, slowness, fc.nat()], { numRuns: 60 })('its reader aborts at any chunk: cleanup once (aborted, or ended when it had taken every byte)', async (chunks, slow, at) => {
    const abortAt = at % chunks.length
    const r = await run(make(chunks, undefined, new Error('unused')), { slowness: slow, abortAt, cleanupTurns: 1 })
    expect((r.outcome as Error).message).toBe('client went away')
    // failing at the last chunk, the reader may have taken every byte first: then it is 'ended'
    expect(r.ends).toEqual([abortAt === chunks.length - 1 ? expect.stringMatching(/^(aborted|ended)$/) : 'aborted'])
  })
})

describe('what is not held', () => {
  it('not a stream, an ended or destroyed Node stream, a locked web stream', async () => {
    const never = async (): Promise<undefined> => { throw new Error('whenStreamed must not run') }
    expect(holdUntilStreamed({ response: { statusCode: 200, body: 'text' } }, never, 10)).toEqual({ held: false })
    expect(holdUntilStreamed({ response: undefined }, never, 10)).toEqual({ held: false })
    const ended = Readable.from(['a'])
    ended.resume()
    await new Promise((resolve) => ended.once('end', resolve))
    expect(holdUntilStreamed({ response: { body: ended } }, never, 10)).toMatchObject({ held: false, reason: expect.any(String) })
    const destroyed = Readable.from(['a'])
    destroyed.destroy()
    expect(holdUntilStreamed({ response: destroyed }, never, 10)).toMatchObject({ held: false, reason: expect.any(String) })
    const locked = new ReadableStream()
    locked.getReader()
    expect(holdUntilStreamed({ response: { body: locked } }, never, 10)).toMatchObject({ held: false, reason: expect.any(String) })
    expect(isStreamBody({ pipe: () => {} })).toBe(false) // not Middy's test (_readableState)
  })

  it('a body nobody reads: whenStreamed runs once, at the cap, with unread; read later, it is not run again', async () => {
    const ends: BodyEnd[] = []
    const body = Readable.from(['a', 'b'])
    const request = { response: { statusCode: 200, body } }
    const hold = holdUntilStreamed(request, async (end) => { ends.push(end); return undefined }, 30)
    expect(hold.held).toBe(true)
    expect(request.response.body).not.toBe(body)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(ends).toEqual(['unread'])
    // read after all: the end waits for the same cleanup, which is not run again
    const got: string[] = []
    for await (const c of request.response.body as Readable) got.push(String(c))
    expect(got.join('')).toBe('ab')
    expect(ends).toEqual(['unread'])
  })

  it('keeps the source\'s encoding: a reader sees the same strings', async () => {
    const source = Readable.from([Buffer.from('héllo '), Buffer.from('wörld')], { objectMode: false })
    source.setEncoding('utf8')
    const request = { response: source as unknown }
    holdUntilStreamed(request, async () => undefined, 60_000)
    const got: unknown[] = []
    for await (const c of request.response as Readable) got.push(c)
    expect(got.every((c) => typeof c === 'string')).toBe(true)
    expect(got.join('')).toBe('héllo wörld')
  })
})
