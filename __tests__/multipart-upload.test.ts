// Temp multipart uploads (issue 15.2) against real S3 servers (fauxqs embedded, moto_server
// when on PATH): whether an upload is gone is asked of the server (see uploadExists), whether an object is gone too (HeadObject); requests on the wire are
// what a pass-through proxy in front of the server saw.
import { describe, expect, it } from '@jest/globals'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand,
  AbortMultipartUploadCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { CleanupDeclarationError, CleanupScope } from '../src/index.js'
import { flushLeftovers } from './support/internals.js'
import { backends, objectExists, recordingLogger, s3Client, uid, withBackend, type BackendInfo } from './support/backends.js'
import { s3Error, startFaultProxy } from './support/fault-proxy.js'
import { uploadExists } from './support/multipart.js'

const quiet = () => recordingLogger()


/** CreateMultipartUpload + one part: an incomplete upload, billed until aborted. */
const startUpload = async (s3: S3Client, Bucket: string, Key: string): Promise<{ uploadId: string, etag: string }> => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))
  const part = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }))
  return { uploadId: UploadId!, etag: part.ETag! }
}
const complete = (s3: S3Client, Bucket: string, Key: string, up: { uploadId: string, etag: string }) =>
  s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: up.uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: up.etag }] } }))

describe('multipartUpload declarations (no server needed)', () => {
  let sent = 0
  const s3 = { send: async () => { sent++; return {} } }
  const opts = { s3, logger: quiet(), allow: { s3: ['scratch/tmp/'] } }

  it.each([
    ['a non-object', null, /multipartUpload\(\) needs an object like \{ bucket: 'scratch-bucket', key: 'tmp\/x\.bin', uploadId \}/],
    ['a misspelt key', { bucket: 'scratch', key: 'tmp/a', uploadID: 'u' }, /multipartUpload\(\{ uploadID \}\): unknown key 'uploadID' — did you mean uploadId\? Known keys: bucket, key, uploadId, client\./],
    ['no uploadId', { bucket: 'scratch', key: 'tmp/a' }, /multipartUpload\(\{ uploadId \}\) must be a non-empty string \(the UploadId CreateMultipartUpload returned\); got undefined/],
    ['an empty bucket', { bucket: '', key: 'tmp/a', uploadId: 'u' }, /multipartUpload\(\{ bucket \}\) must be a non-empty bucket name/],
    ['a client without send()', { bucket: 'scratch', key: 'tmp/a', uploadId: 'u', client: {} }, /multipartUpload\(\{ client \}\) must be an AWS SDK v3 S3Client/],
    ['a key outside allow.s3', { bucket: 'scratch', key: 'keep/a', uploadId: 'u' }, /multipartUpload\(\) refused s3:\/\/scratch\/keep\/a: it is outside allow\.s3 \['scratch\/tmp\/'\]\. Add 'scratch' or 'scratch\/<prefix>' to allow\.s3/],
  ])('%s throws CleanupDeclarationError at the declaration, naming the argument and the fix', async (_name, target, message) => {
    const s = new CleanupScope(opts)
    expect(() => s.multipartUpload(target as any)).toThrow(CleanupDeclarationError)
    expect(() => s.multipartUpload(target as any)).toThrow(message)
    expect(await s.dispose()).toMatchObject({ resources: 0, requests: 0 })
    expect(sent).toBe(0)
  })
})

describe.each(backends())('multipart uploads on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  withBackend(b, (env) => { ({ s3, bucket } = env) })
  const options = (client: S3Client, extra: Record<string, unknown> = {}) => ({ s3: client, logger: quiet(), allow: { s3: [`${bucket}/tmp/`] }, ...extra })

  it('an incomplete upload is aborted on dispose: one AbortMultipartUpload on the wire, the upload gone', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const key = `tmp/${uid()}.bin`
      const up = await startUpload(s3, bucket, key)
      const scope = new CleanupScope(options(via))
      scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(proxy.seen.map((r) => `${r.method} ${r.url.includes('uploadId=') ? 'uploadId' : ''}`)).toEqual(['DELETE uploadId'])
      expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('completed through the declaring client: its object is deleted (one DeleteObject, no abort)', async () => {
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const client = s3Client(b)
    try {
      const scope = new CleanupScope(options(client))
      scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
      await complete(client, bucket, key, up)
      expect(await objectExists(s3, bucket, key)).toBe(true)
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(await objectExists(s3, bucket, key)).toBe(false)
    } finally { client.destroy() }
  })

  it('completed, then the key overwritten by someone else: their object is kept (PreconditionFailed, not retried)', async () => {
    if (!b.features.ifMatch) return // fauxqs ignores If-Match on DeleteObject: nothing to prove there (moto does)
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const scope = new CleanupScope(options(s3))
    scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
    await complete(s3, bucket, key, up)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'someone else' }))
    const report = await scope.dispose()
    expect(report.cleaned).toBe(0)
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]).toMatchObject({ kind: 's3-multipart', error: { name: 'S3DeleteError', code: 'PreconditionFailed' } })
    expect(report.failed[0]!.retrying).toBeUndefined()
    expect(await objectExists(s3, bucket, key)).toBe(true)
  })

  it('completed out of the declaring client\'s sight: NoSuchUpload is gone-enough, the object (no ETag known) is left alone', async () => {
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const other = s3Client(b)
    try {
      const scope = new CleanupScope(options(other))
      scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
      await complete(s3, bucket, key, up)
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 1 })
      expect(await objectExists(s3, bucket, key)).toBe(true)
    } finally { other.destroy() }
  })

  it('aborted by the handler itself through the declaring client: no request at cleanup', async () => {
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const client = s3Client(b)
    try {
      const scope = new CleanupScope(options(client))
      scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: up.uploadId }))
      expect(await scope.dispose()).toMatchObject({ resources: 1, cleaned: 1, failed: [], requests: 0 })
    } finally { client.destroy() }
  })

  it('abort answered 503 beyond the SDK retries: a retryable leftover, aborted by the next flush', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...s3Error(503, 'ServiceUnavailable'), times: 2, match: (r) => r.method === 'DELETE' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 2 })
    try {
      const key = `tmp/${uid()}.bin`
      const up = await startUpload(s3, bucket, key)
      const scope = new CleanupScope(options(via))
      scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
      const report = await scope.dispose()
      expect(report).toMatchObject({ cleaned: 0, requests: 2, leftovers: 1 })
      expect(report.failed).toEqual([expect.objectContaining({ kind: 's3-multipart', retrying: true, error: expect.objectContaining({ code: 'ServiceUnavailable' }) })])
      expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(true)
      expect(await flushLeftovers({ timeoutMs: 5000, logger: quiet() })).toMatchObject({ cleaned: 1, failed: [], requests: 1 })
      expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(false)
    } finally { via.destroy(); await proxy.stop() }
  })

  it('declared twice: aborted once', async () => {
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const scope = new CleanupScope(options(s3))
    scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
    scope.multipartUpload({ bucket, key, uploadId: up.uploadId })
    expect(await scope.dispose()).toMatchObject({ cleaned: 1, failed: [], requests: 1 })
    expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(false)
  })

  it('declared by two live scopes: kept while the other holds it, aborted once by the last', async () => {
    const key = `tmp/${uid()}.bin`
    const up = await startUpload(s3, bucket, key)
    const first = new CleanupScope(options(s3))
    const second = new CleanupScope(options(s3))
    first.multipartUpload({ bucket, key, uploadId: up.uploadId })
    second.multipartUpload({ bucket, key, uploadId: up.uploadId })
    expect(await first.dispose()).toMatchObject({ cleaned: 0, failed: [], requests: 0 })
    expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(true)
    expect(await second.dispose()).toMatchObject({ cleaned: 1, failed: [], requests: 1 })
    expect(await uploadExists(b, s3, bucket, key, up.uploadId)).toBe(false)
    // the first scope handed its declaration to the leftovers: settled by the shared state, nothing sent again
    expect(await flushLeftovers({ timeoutMs: 5000, logger: quiet() })).toMatchObject({ cleaned: 1, failed: [], requests: 0 })
  })
})
