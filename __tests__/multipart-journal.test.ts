// A hard-killed process's multipart uploads (issue 15.2): the journal line a declaration
// writes, read back by the next process with the built-in kinds, revived only under
// allow.s3, and the revived upload really aborted on the server (moto lists uploads;
// fauxqs has none to list, so the abort is checked there by an UploadPart answering NoSuchUpload).
import { describe, expect, it } from '@jest/globals'
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3'
import { Deadline } from '../src/deadline.js'
import { journalLine, parseJournal, reviveJournal } from '../src/journal.js'
import { builtInKinds } from '../src/kinds.js'
import { resolveOptions } from '../src/options.js'
import { multipartKind, multipartResource, type MultipartResource } from '../src/s3-multipart.js'
import { backends, recordingLogger, s3Client, uid, withBackend, type BackendInfo } from './support/backends.js'

const client = { send: async () => ({}) }
const declared = (key = 'tmp/a.bin'): MultipartResource =>
  multipartResource('multipartUpload', { bucket: 'scratch', key, uploadId: 'u-1' }, { s3: client, allowS3: undefined })

describe('multipart journal codec', () => {
  it('writes {"kind":"s3-multipart","bucket","key","uploadId"}', () => {
    expect(journalLine(declared(), multipartKind.journal)).toBe('{"kind":"s3-multipart","bucket":"scratch","key":"tmp/a.bin","uploadId":"u-1"}')
  })

  it.each([
    ['an extra field', '{"kind":"s3-multipart","bucket":"scratch","key":"k","uploadId":"u","etag":"x"}'],
    ['an empty uploadId', '{"kind":"s3-multipart","bucket":"scratch","key":"k","uploadId":""}'],
    ['a numeric key', '{"kind":"s3-multipart","bucket":"scratch","key":5,"uploadId":"u"}'],
  ])('a line with %s is malformed (counted, skipped)', (_name, line) => {
    expect(parseJournal(Buffer.from(`${line}\n`), builtInKinds)).toMatchObject({ entries: [], malformed: 1 })
  })

  it('replayed only under allow.s3, and only inside it', () => {
    const line = journalLine(declared(), multipartKind.journal)!
    const other = journalLine(declared('keep/b.bin'), multipartKind.journal)!
    const { entries } = parseJournal(Buffer.from(`${line}\n${other}\n`), builtInKinds)
    expect(entries).toHaveLength(2)
    const none = reviveJournal(entries, builtInKinds, resolveOptions({ s3: client, logger: recordingLogger() }))
    expect(none.items).toEqual([])
    expect(none.unconfigured).toEqual(['allow.s3'])
    expect(none.refused[0]).toBe('s3://scratch/tmp/a.bin?uploadId=u-1: allow.s3 is not configured')
    const some = reviveJournal(entries, builtInKinds, resolveOptions({ s3: client, logger: recordingLogger(), allow: { s3: ['scratch/tmp/'] } }))
    expect(some.items.map((i) => [i.id, i.deleter])).toEqual([['s3://scratch/tmp/a.bin?uploadId=u-1', multipartKind]])
    expect(some.refused).toEqual([expect.stringMatching(/^s3:\/\/scratch\/keep\/b\.bin\?uploadId=u-1: cleanup: journal\(\) refused s3:\/\/scratch\/keep\/b\.bin: it is outside allow\.s3/)])
  })
})

describe.each(backends())('a revived upload on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  withBackend(b, (env) => { ({ s3, bucket } = env) })

  const uploadExists = async (Key: string, UploadId: string): Promise<boolean> => {
    if (b.name === 'moto') return ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: Key }))).Uploads ?? []).some((u) => u.UploadId === UploadId)
    try {
      await s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 10_000, Body: 'probe' }))
      return true
    } catch (e) { if ((e as Error).name === 'NoSuchUpload') return false; throw e }
  }

  it('is aborted by the next process with its own client (one request)', async () => {
    const key = `tmp/${uid()}.bin`
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))
    const line = journalLine(multipartResource('multipartUpload', { bucket, key, uploadId: UploadId! }, { s3, allowS3: undefined }), multipartKind.journal)!
    const next = s3Client(b)
    try {
      const { entries } = parseJournal(Buffer.from(`${line}\n`), builtInKinds)
      const { items } = reviveJournal(entries, builtInKinds, resolveOptions({ s3: next, logger: recordingLogger(), allow: { s3: [`${bucket}/tmp/`] } }))
      expect(items).toHaveLength(1)
      const deadline = new Deadline(5000)
      let requests = 0
      const outcome = await multipartKind.delete(items.map((i) => i.resource as MultipartResource), {
        signal: deadline.signal, deadline, logger: recordingLogger(), countRequests: (n) => { requests += n },
      })
      deadline.clear()
      expect(outcome.failed).toEqual([])
      expect(outcome.cleaned).toHaveLength(1)
      expect(requests).toBe(1)
      expect(await uploadExists(key, UploadId!)).toBe(false)
    } finally { next.destroy() }
  })
})
