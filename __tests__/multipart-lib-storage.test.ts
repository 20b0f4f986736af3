// @aws-sdk/lib-storage's Upload as a temp upload (issue 15.2), against real S3 servers: the
// upload id is tracked as soon as CreateMultipartUpload answers, a completed upload's object
// and a single-part upload's object are deleted, an upload cut short is aborted. Whether an
// upload or object is gone is asked of the server; requests on the wire are what a
// pass-through proxy in front of the server saw while cleanup ran.
import { describe, expect, it } from '@jest/globals'
import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { CleanupDeclarationError, CleanupScope, cleanup } from '../src/index.js'
import { backends, objectExists, recordingLogger, s3Client, uid, withBackend, type BackendInfo } from './support/backends.js'
import { startFaultProxy } from './support/fault-proxy.js'
import { uploadExists } from './support/multipart.js'
import { lambdaContext, middyVersions } from './support/middy.js'

const MiB = 1024 * 1024
const quiet = () => recordingLogger()


/** A body that gives one full part, then stalls until `fail()` makes it error (a handler cut short mid-upload). */
const stallingBody = (): { body: Readable, fail: () => void } => {
  let sentFirst = false
  const body = new Readable({
    read () {
      // lib-storage cuts a part once it holds more than partSize
      if (!sentFirst) { sentFirst = true; this.push(Buffer.alloc(5 * MiB + 1, 1)) }
    },
  })
  return { body, fail: () => body.destroy(new Error('handler cut short')) }
}

const firstPartUploaded = (u: Upload): Promise<void> => new Promise((resolve) => {
  u.on('httpUploadProgress', (p) => { if (p.part === 1) resolve() })
})

describe('upload() declarations (no server needed)', () => {
  it('an Upload outside allow.s3 is refused at the declaration, before anything is sent', async () => {
    let sent = 0
    const client = { send: async () => { sent++; return {} }, config: {} }
    const opts = { s3: client, logger: quiet(), allow: { s3: ['scratch/tmp/'] } }
    const scope = new CleanupScope(opts)
    const u = new Upload({ client: client as any, params: { Bucket: 'scratch', Key: 'keep/big.bin', Body: 'x' } })
    expect(() => scope.upload(u)).toThrow(CleanupDeclarationError)
    expect(() => scope.upload(u)).toThrow(/upload\(\) refused s3:\/\/scratch\/keep\/big\.bin: it is outside allow\.s3 \['scratch\/tmp\/'\]/)
    expect(() => scope.upload({} as any)).toThrow(/upload\(\) needs an @aws-sdk\/lib-storage Upload/)
    expect(await scope.dispose()).toMatchObject({ resources: 0, requests: 0 })
    expect(sent).toBe(0)
  })
})

describe.each(backends())('lib-storage Upload on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  withBackend(b, (env) => { ({ s3, bucket } = env) })
  const options = (client: S3Client) => ({ s3: client, logger: quiet(), allow: { s3: [`${bucket}/tmp/`] } })

  /** A client through a pass-through proxy; `during(fn)` gives the requests the proxy saw while fn ran. */
  const proxied = async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint })
    const client = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    return {
      client,
      during: async <T>(fn: () => Promise<T>): Promise<{ result: T, seen: string[] }> => {
        const from = proxy.seen.length
        const result = await fn()
        return { result, seen: proxy.seen.slice(from).map((r) => `${r.method}${r.url.includes('uploadId=') ? ' uploadId' : ''}${r.op.endsWith('?delete') ? ' ?delete' : ''}`) }
      },
      stop: async () => { client.destroy(); await proxy.stop() },
    }
  }

  it('a multipart Upload completed: its object is deleted with one DeleteObject (no abort)', async () => {
    const p = await proxied()
    try {
      const key = `tmp/${uid()}.bin`
      const scope = new CleanupScope(options(p.client))
      const u = scope.upload(new Upload({ client: p.client, params: { Bucket: bucket, Key: key, Body: Buffer.alloc(5 * MiB + 1, 2) } }))
      await u.done()
      expect(await objectExists(s3, bucket, key)).toBe(true)
      const { result: report, seen } = await p.during(() => scope.dispose())
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(seen).toEqual(['DELETE'])
      expect(await objectExists(s3, bucket, key)).toBe(false)
    } finally { await p.stop() }
  })

  it('a small Upload (one PutObject): its object is tracked and deleted in one DeleteObjects', async () => {
    const p = await proxied()
    try {
      const key = `tmp/${uid()}.txt`
      const scope = new CleanupScope(options(p.client))
      await scope.upload(new Upload({ client: p.client, params: { Bucket: bucket, Key: key, Body: 'small' } })).done()
      expect(await objectExists(s3, bucket, key)).toBe(true)
      const { result: report, seen } = await p.during(() => scope.dispose())
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(seen).toEqual(['POST ?delete'])
      expect(await objectExists(s3, bucket, key)).toBe(false)
    } finally { await p.stop() }
  })

  it('an Upload cut short half-way (first part sent, body stalled): the cleanup aborts it, its parts are gone', async () => {
    const p = await proxied()
    try {
      const key = `tmp/${uid()}.bin`
      const scope = new CleanupScope(options(p.client))
      const { body, fail } = stallingBody()
      const u = scope.upload(new Upload({ client: p.client, params: { Bucket: bucket, Key: key, Body: body } }))
      const done = u.done().catch((e: unknown) => e)
      await firstPartUploaded(u)
      const uploadId = u.uploadId!
      expect(await uploadExists(b, s3, bucket, key, uploadId)).toBe(true)
      const { result: report, seen } = await p.during(() => scope.dispose())
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(seen).toEqual(['DELETE uploadId'])
      expect(await uploadExists(b, s3, bucket, key, uploadId)).toBe(false)
      fail()
      await done
      expect(await objectExists(s3, bucket, key)).toBe(false)
    } finally { await p.stop() }
  })

  it.each([
    ['lib-storage aborts it itself (seen by the client): no request at cleanup', false, 0],
    ['leavePartsOnError: the cleanup aborts it', true, 1],
  ])('an Upload that fails: %s', async (_name, leavePartsOnError, requests) => {
    const key = `tmp/${uid()}.bin`
    const client = s3Client(b)
    try {
      const scope = new CleanupScope(options(client))
      const { body, fail } = stallingBody()
      const u = scope.upload(new Upload({ client, leavePartsOnError, params: { Bucket: bucket, Key: key, Body: body } }))
      const done = u.done()
      await firstPartUploaded(u)
      fail()
      await expect(done).rejects.toThrow('handler cut short')
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests })
      expect(await uploadExists(b, s3, bucket, key, u.uploadId!)).toBe(false)
    } finally { client.destroy() }
  })

  describe.each(middyVersions)('Middy $major', ({ middy }) => {
    it('the handler throws after a multipart Upload completed: the error stands, the object is gone', async () => {
      const key = `tmp/${uid()}.bin`
      const error = new Error('resize failed')
      const handler = middy().use(cleanup(options(s3))).handler(async (_e: unknown, context: any) => {
        await context.cleanup.upload(new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: Buffer.alloc(5 * MiB + 1, 3) } })).done()
        expect(await objectExists(s3, bucket, key)).toBe(true)
        throw error
      })
      await expect(handler({}, lambdaContext())).rejects.toBe(error)
      expect(await objectExists(s3, bucket, key)).toBe(false)
    })
  })
})
