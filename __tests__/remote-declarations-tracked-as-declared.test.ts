// What a declaration tracks is exactly what was declared: the version named is the version
// deleted (a versioned bucket's other versions are left alone, and no delete marker hides
// them), the ETag given is the one the delete is conditional on. Found untested by the
// mutation run of src/s3-object.ts (the versioned-bucket end-to-end tests need moto).
import { describe, expect, it } from '@jest/globals'
import { CleanupScope } from '../src/index.js'
import { s3Resource } from '../src/s3-object.js'
import { recordingLogger } from './support/backends.js'

const client = { send: async () => ({}) }

describe('s3Object(): the tracked resource is the object declared', () => {
  it('with versionId and etag: that version, that ETag, and an id naming the version', () => {
    const r = s3Resource('s3Object', { bucket: 'b', key: 'tmp/a', versionId: 'v1', etag: '"e1"' }, { s3: client })
    expect({ id: r.id, bucket: r.bucket, key: r.key, versionIds: r.versionIds, etag: r.etag }).toEqual({
      id: 's3://b/tmp/a?versionId=v1', bucket: 'b', key: 'tmp/a', versionIds: ['v1'], etag: '"e1"',
    })
    expect(r.client).toBe(client)
  })

  it('without them: the key, no version, no ETag, an id without a version', () => {
    const r = s3Resource('s3Object', { bucket: 'b', key: 'tmp/a' }, { s3: client })
    expect({ id: r.id, versionIds: r.versionIds, etag: r.etag }).toEqual({ id: 's3://b/tmp/a', versionIds: [], etag: undefined })
  })

  it('two versions of one key are two resources, neither the bare key', () => {
    const ids = ['v1', 'v2'].map((versionId) => s3Resource('s3Object', { bucket: 'b', key: 'k', versionId }, { s3: client }).id)
    expect(ids).toEqual(['s3://b/k?versionId=v1', 's3://b/k?versionId=v2'])
  })

  it('a valid versionId and etag are accepted through the scope, and tracked', async () => {
    const scope = new CleanupScope({ s3: client, logger: recordingLogger() })
    scope.s3Object({ bucket: 'b', key: 'tmp/a', versionId: 'v1' })
    scope.s3Object({ bucket: 'b', key: 'tmp/b', etag: '"e"' })
    expect((await scope.dispose()).resources).toBe(2)
  })
})
