// S3 objects on a CleanupScope, against real S3 servers (embedded fauxqs, and moto_server
// when on PATH). Every assertion on "deleted" is a HeadObject on the server afterwards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { CleanupDeclarationError, CleanupScope, TEMP_TAG } from '../src/index.js'
import { flushLeftovers, leftoverCount } from './support/internals.js'
import { s3Allowed } from '../src/s3-object.js'
import {
  backends, countRequests, createBucket, existingKeys, listKeys, objectExists, putObjectsFast, recordingLogger, s3Client, uid, versionsOf, type BackendInfo,
} from './support/backends.js'
import { slowDown, startFaultProxy } from './support/fault-proxy.js'

const put = (s3: S3Client, Bucket: string, Key: string, Body = 'x') => s3.send(new PutObjectCommand({ Bucket, Key, Body }))
const putMany = async (s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> => {
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => put(s3, bucket, k)))
}
const quiet = () => recordingLogger()

describe('S3 declarations (no server needed)', () => {
  const s3 = { send: async () => ({}) }
  const scope = () => new CleanupScope({ s3, logger: quiet(), allow: { s3: ['scratch', 'data/tmp/'] } })

  it.each([
    ['empty bucket', { bucket: '', key: 'tmp/a' }, /bucket/],
    ['bucket with a slash', { bucket: 'a/b', key: 'k' }, /bucket/],
    ['empty key', { bucket: 'scratch', key: '' }, /key/],
    ['non-string key', { bucket: 'scratch', key: 5 }, /key/],
    ['empty versionId', { bucket: 'scratch', key: 'k', versionId: '' }, /versionId/],
    ['client without send()', { bucket: 'scratch', key: 'k', client: {} }, /client/],
  ])('%s throws CleanupDeclarationError at declaration', (_name, target, message) => {
    expect(() => scope().s3Object(target as any)).toThrow(CleanupDeclarationError)
    expect(() => scope().s3Object(target as any)).toThrow(message)
  })

  it('a non-object throws', () => {
    expect(() => scope().s3Object(null as any)).toThrow(/needs an object/)
  })

  it('no client known: throws and says how to pass one', () => {
    expect(() => new CleanupScope({ logger: quiet() }).s3Object({ bucket: 'b', key: 'k' })).toThrow(/cleanup\(\{ s3: new S3Client/)
  })

  it.each([
    ['scratch', 'any/key', true],
    ['scratch-2', 'any/key', false], // 'scratch' is exactly that bucket, not a prefix of bucket names
    ['scratc', 'any/key', false],
    ['data', 'tmp/x.jpg', true],
    ['data', 'tmp/', true],
    ['data', 'tmpx/x.jpg', false],
    ['data', 'keep/tmp/x.jpg', false],
    ['data-2', 'tmp/x.jpg', false],
  ])('allow.s3 [scratch, data/tmp/]: s3://%s/%s allowed = %s', (bucket, key, allowed) => {
    const declare = () => scope().s3Object({ bucket, key })
    if (allowed) expect(declare).not.toThrow()
    else expect(declare).toThrow(new RegExp(`s3://${bucket}/${key}.*outside allow\\.s3 \\['scratch', 'data/tmp/'\\]`))
  })

  it('allow.s3 is parsed once per list, yet a list changed in place is read as it is now', () => {
    // s3Allowed keeps the last list it parsed; a list that is not frozen is compared to the copy it was parsed from
    const list = ['scratch/tmp/']
    expect(s3Allowed(list, 'scratch', 'tmp/a')).toBe(true)
    expect(s3Allowed(list, 'other', 'tmp/a')).toBe(false)
    list[0] = 'other'
    expect(s3Allowed(list, 'scratch', 'tmp/a')).toBe(false)
    expect(s3Allowed(list, 'other', 'any/key')).toBe(true)
    list.push('scratch/keep/')
    expect(s3Allowed(list, 'scratch', 'keep/a')).toBe(true)
    const frozen = Object.freeze(['a/x/', 'b'])
    expect([s3Allowed(frozen, 'a', 'x/1'), s3Allowed(frozen, 'a', 'y/1'), s3Allowed(frozen, 'b', 'y/1'), s3Allowed(list, 'a', 'x/1')]).toEqual([true, false, true, false])
  })

  it('putObject outside the allow-list rejects before anything is sent', async () => {
    let sent = 0
    const s = new CleanupScope({ s3: { send: async () => { sent++; return {} } }, logger: quiet(), allow: { s3: ['scratch'] } })
    await expect(s.putObject({ Bucket: 'prod', Key: 'x', Body: 'x' })).rejects.toThrow(CleanupDeclarationError)
    expect(sent).toBe(0)
    expect((await s.dispose()).resources).toBe(0)
  })
})

describe.each(backends())('S3 on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  beforeAll(async () => {
    s3 = s3Client(b)
    bucket = await createBucket(s3)
  })
  afterAll(() => { s3.destroy() })

  it('putObject + s3Object: both deleted in one DeleteObjects, checked with HeadObject', async () => {
    const counter = countRequests(s3)
    const scope = new CleanupScope({ s3, logger: quiet() })
    const out = await scope.putObject({ Bucket: bucket, Key: 'tmp/a.jpg', Body: 'jpeg' })
    expect(out.ETag).toBeDefined()
    await put(s3, bucket, 'tmp/b.jpg')
    scope.s3Object({ bucket, key: 'tmp/b.jpg' })
    expect(await objectExists(s3, bucket, 'tmp/a.jpg')).toBe(true)
    counter.reset()
    const report = await scope.dispose()
    counter.detach()
    expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [], requests: 1 })
    expect(counter.sends).toEqual({ DeleteObjectsCommand: 1 })
    expect(await objectExists(s3, bucket, 'tmp/a.jpg')).toBe(false)
    expect(await objectExists(s3, bucket, 'tmp/b.jpg')).toBe(false)
  })

  it.each([[1000, 1], [1001, 2]])('%i objects in one bucket: ceil(N/1000) = %i DeleteObjects request(s), all gone', async (n, requests) => {
    const prefix = `bulk${n}/`
    const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}.bin`)
    await putObjectsFast(b, bucket, keys)
    expect(await listKeys(s3, bucket, prefix)).toHaveLength(n)
    const counter = countRequests(s3)
    const scope = new CleanupScope({ s3, logger: quiet() })
    for (const key of keys) scope.s3Object({ bucket, key })
    const report = await scope.dispose()
    counter.detach()
    expect(report).toMatchObject({ resources: n, cleaned: n, failed: [], requests })
    expect(counter.sends).toEqual({ DeleteObjectsCommand: requests })
    expect(await listKeys(s3, bucket, prefix)).toEqual([])
    expect(await objectExists(s3, bucket, keys[n - 1]!)).toBe(false)
  })

  it('a key declared twice (and by putObject) is sent once', async () => {
    const keys: string[][] = []
    s3.middlewareStack.add((next: any, ctx: any) => async (args: any) => {
      if (ctx.commandName === 'DeleteObjectsCommand') keys.push(args.input.Delete.Objects.map((o: any) => o.Key))
      return next(args)
    }, { step: 'initialize', name: `capture-${uid()}` })
    const scope = new CleanupScope({ s3, logger: quiet() })
    await scope.putObject({ Bucket: bucket, Key: 'dup/a', Body: 'x' })
    scope.s3Object({ bucket, key: 'dup/a' })
    scope.s3Object({ bucket, key: 'dup/a' })
    scope.s3Object({ bucket, key: 'dup/b' })
    const report = await scope.dispose()
    expect(report.failed).toEqual([])
    expect(report.requests).toBe(1)
    expect(keys.at(-1)!.sort()).toEqual(['dup/a', 'dup/b'])
    expect(await objectExists(s3, bucket, 'dup/a')).toBe(false)
  })

  it('keys with unicode, spaces, + and % are deleted (and only they)', async () => {
    const odd = ['tmp/é ü/ß.txt', 'tmp/a b+c%20d.txt', 'tmp/日本語 🎉', 'tmp/100%', 'tmp/a+b', 'tmp/sp ace']
    const neighbours = ['tmp/a b c%20d.txt', 'tmp/a%2Bb', 'tmp/a b']
    await putMany(s3, bucket, [...odd, ...neighbours])
    const scope = new CleanupScope({ s3, logger: quiet() })
    for (const key of odd) scope.s3Object({ bucket, key })
    const report = await scope.dispose()
    expect(report).toMatchObject({ cleaned: odd.length, failed: [] })
    expect(await existingKeys(s3, bucket, odd)).toEqual([])
    expect(await existingKeys(s3, bucket, neighbours)).toEqual(neighbours)
  })

  it('a missing bucket: only its objects are in report.failed (not retried), the rest deleted', async () => {
    await put(s3, bucket, 'mixed/ok')
    const missing = `missing-${uid()}`
    const scope = new CleanupScope({ s3, logger: quiet() })
    scope.s3Object({ bucket, key: 'mixed/ok' })
    scope.s3Object({ bucket: missing, key: 'a' })
    scope.s3Object({ bucket: missing, key: 'b' })
    const report = await scope.dispose()
    expect(report.cleaned).toBe(1)
    expect(report.failed.map((f) => f.id).sort()).toEqual([`s3://${missing}/a`, `s3://${missing}/b`])
    expect(report.failed.every((f) => f.kind === 's3' && f.error.code === 'NoSuchBucket' && f.retrying !== true)).toBe(true)
    expect(await objectExists(s3, bucket, 'mixed/ok')).toBe(false)
  })

  it('503 SlowDown beyond the SDK retries: not re-sent by cleanup; retryable leftovers, deleted next time', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...slowDown(), times: 2, match: (r) => r.op === 's3:POST?delete' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 2 })
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `slow/${i}`)
      await putMany(s3, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 10_000 })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      // the SDK's 2 attempts, both 503; no third send from cleanup (one retry layer)
      expect(proxy.injected.status).toBe(2)
      expect(proxy.seen.filter((r) => r.op === 's3:POST?delete')).toHaveLength(2)
      expect(report).toMatchObject({ cleaned: 0, requests: 2, leftovers: 30 })
      expect(report.failed).toHaveLength(30)
      expect(report.failed.every((f) => f.retrying === true && f.error.code === 'SlowDown')).toBe(true)
      expect(await existingKeys(s3, bucket, keys)).toHaveLength(30)
      const flushed = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(flushed).toMatchObject({ cleaned: 30, failed: [], requests: 1 })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('connection resets are retried, all deleted', async () => {
    const proxy = await startFaultProxy({ target: b.s3Endpoint, reset: { times: 2, match: (r) => r.op === 's3:POST?delete' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const keys = ['reset/a', 'reset/b']
      await putMany(s3, bucket, keys)
      const scope = new CleanupScope({ s3: via, logger: quiet() })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      expect(proxy.injected.reset).toBe(2)
      expect(report).toMatchObject({ cleaned: 2, failed: [], requests: 3 })
      expect(await existingKeys(s3, bucket, keys)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('deadline hit mid-cleanup: dispose returns within the budget, the objects are leftovers, deleted by the next cleanup', async () => {
    let slow = true
    const proxy = await startFaultProxy({ target: b.s3Endpoint, delayMs: (r) => r.op === 's3:POST?delete' && slow ? 3000 : 0 })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      await putMany(s3, bucket, ['late/a', 'late/b'])
      const before = leftoverCount()
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 300 })
      scope.s3Object({ bucket, key: 'late/a' })
      scope.s3Object({ bucket, key: 'late/b' })
      const t0 = Date.now()
      const report = await scope.dispose()
      expect(Date.now() - t0).toBeLessThan(1000)
      expect(report.cleaned).toBe(0)
      expect(report.failed).toHaveLength(2)
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(leftoverCount()).toBe(before + 2)
      slow = false
      // the next scope's cleanup is what an invocation's before/after do with leftovers
      const flushed = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(flushed.failed).toEqual([])
      expect(leftoverCount()).toBe(0)
      expect(await existingKeys(s3, bucket, ['late/a', 'late/b'])).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  })

  it('allow-list: pre-existing objects outside it survive, declarations outside it throw', async () => {
    const other = `${bucket}-2`
    await s3.send(new CreateBucketCommand({ Bucket: other }))
    await putMany(s3, bucket, ['allowed/x', 'keep/x', 'allowedx'])
    await put(s3, other, 'allowed/x')
    const scope = new CleanupScope({ s3, logger: quiet(), allow: { s3: [`${bucket}/allowed/`] } })
    scope.s3Object({ bucket, key: 'allowed/x' })
    expect(() => scope.s3Object({ bucket, key: 'keep/x' })).toThrow(/outside allow\.s3/)
    expect(() => scope.s3Object({ bucket, key: 'allowedx' })).toThrow(/outside allow\.s3/)
    expect(() => scope.s3Object({ bucket: other, key: 'allowed/x' })).toThrow(/outside allow\.s3/)
    await expect(scope.putObject({ Bucket: bucket, Key: 'keep/y', Body: 'x' })).rejects.toThrow(/outside allow\.s3/)
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
    expect(await objectExists(s3, bucket, 'allowed/x')).toBe(false)
    expect(await existingKeys(s3, bucket, ['keep/x', 'allowedx', 'keep/y'])).toEqual(['keep/x', 'allowedx'])
    expect(await objectExists(s3, other, 'allowed/x')).toBe(true)
  })

  const onlyWith = (feature: keyof BackendInfo['features'], reason: string) => b.features[feature] ? it : (name: string, fn: () => Promise<void>) => it.skip(`${name} — skipped on ${b.name}: ${reason}`, fn)

  onlyWith('tagging', 'fauxqs PutObjectTagging overwrites the body; tags are tested on moto')('putObject({ tags: true }) tags the object for a lifecycle rule; it is still deleted', async () => {
    const scope = new CleanupScope({ s3, logger: quiet() })
    await scope.putObject({ Bucket: bucket, Key: 'tagged/a', Body: 'x', Tagging: 'team=img' }, { tags: true })
    await scope.putObject({ Bucket: bucket, Key: 'tagged/b', Body: 'x' }, { tags: { purpose: 'temp file' } })
    const a = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged/a' }))
    expect(Object.fromEntries(a.TagSet!.map((t) => [t.Key, t.Value]))).toEqual({ team: 'img', ...TEMP_TAG })
    const bt = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged/b' }))
    expect(bt.TagSet).toEqual([{ Key: 'purpose', Value: 'temp file' }])
    expect((await scope.dispose()).failed).toEqual([])
    expect(await existingKeys(s3, bucket, ['tagged/a', 'tagged/b'])).toEqual([])
  })

  onlyWith('versioning', 'fauxqs ignores bucket versioning')('versioned bucket: putObject deletes exactly the versions it wrote, no delete marker; s3Object({ versionId }) only that version', async () => {
    const vb = await createBucket(s3, { versioned: true })
    const keep = await put(s3, vb, 'v/other', 'older, not ours')
    const scope = new CleanupScope({ s3, logger: quiet() })
    const v1 = await scope.putObject({ Bucket: vb, Key: 'v/a', Body: '1' })
    const v2 = await scope.putObject({ Bucket: vb, Key: 'v/a', Body: '2' })
    const v3 = await put(s3, vb, 'v/other', 'ours')
    scope.s3Object({ bucket: vb, key: 'v/other', versionId: v3.VersionId! })
    expect(v1.VersionId).toBeDefined()
    expect(v1.VersionId).not.toBe(v2.VersionId)
    const report = await scope.dispose()
    expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [], requests: 1 })
    expect(await versionsOf(s3, vb, 'v/a')).toEqual({ versions: [], deleteMarkers: [] })
    expect(await versionsOf(s3, vb, 'v/other')).toEqual({ versions: [keep.VersionId], deleteMarkers: [] })
  })

  onlyWith('perKeyErrors', 'fauxqs never returns per-key Errors')('per-key error (object under legal hold): only that key in report.failed, the rest deleted', async () => {
    const lb = `lock-${uid()}`
    await s3.send(new CreateBucketCommand({ Bucket: lb, ObjectLockEnabledForBucket: true }))
    const held = await s3.send(new PutObjectCommand({ Bucket: lb, Key: 'held', Body: 'x', ObjectLockLegalHoldStatus: 'ON', ChecksumAlgorithm: 'CRC32' }))
    const free = await s3.send(new PutObjectCommand({ Bucket: lb, Key: 'free', Body: 'x' }))
    const scope = new CleanupScope({ s3, logger: quiet() })
    scope.s3Object({ bucket: lb, key: 'held', versionId: held.VersionId! })
    scope.s3Object({ bucket: lb, key: 'free', versionId: free.VersionId! })
    const report = await scope.dispose()
    expect(report.cleaned).toBe(1)
    expect(report.requests).toBe(1)
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]!.id).toBe(`s3://${lb}/held?versionId=${held.VersionId}`)
    expect(report.failed[0]!.error).toMatchObject({ name: 'S3DeleteError', code: 'AccessDenied' })
    expect(report.failed[0]!.retrying).toBeUndefined()
    expect(await objectExists(s3, lb, 'held', held.VersionId)).toBe(true)
    expect(await objectExists(s3, lb, 'free', free.VersionId)).toBe(false)
  })

  onlyWith('ifMatch', 'fauxqs ignores If-Match on DeleteObject (it would delete the overwritten object)')('verify: an object overwritten since putObject survives (412, in failed); one still ours is deleted', async () => {
    const scope = new CleanupScope({ s3, logger: quiet() })
    await scope.putObject({ Bucket: bucket, Key: 'verify/mine', Body: 'mine' }, { verify: true })
    await scope.putObject({ Bucket: bucket, Key: 'verify/theirs', Body: 'mine' }, { verify: true })
    await scope.putObject({ Bucket: bucket, Key: 'verify/gone', Body: 'mine' }, { verify: true })
    await put(s3, bucket, 'verify/theirs', 'someone else wrote this')
    await s3.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: bucket, Key: 'verify/gone' }))
    const report = await scope.dispose()
    expect(report.cleaned).toBe(2)
    expect(report.failed.map((f) => f.id)).toEqual([`s3://${bucket}/verify/theirs`])
    expect(report.failed[0]!.error).toMatchObject({ name: 'S3DeleteError', code: 'PreconditionFailed', message: expect.stringMatching(/changed since it was written/) })
    expect(await objectExists(s3, bucket, 'verify/mine')).toBe(false)
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'verify/theirs' }))).Body!.transformToString()
    expect(body).toBe('someone else wrote this')
  })
})
