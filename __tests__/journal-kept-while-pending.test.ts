// G3: a per-invocation dir holding a `.journal` is kept while a remote resource
// journaled in it is still pending — also the dir of a process killed outright, whose
// journal this process replays: if the replayed deletes fail (503, retried later), the
// journal must survive until they are confirmed, or a second kill loses them for good.
// Real S3 server behind the fault proxy (no emulator answers 503 SlowDown on demand).
// Its own test file: the start-of-process sweep runs once per process (module state).
import { describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CleanupReport, cleanup } from '../src/index.js'
import { leftoverCount } from './support/internals.js'
import { backends, objectExists, s3Client, type BackendInfo, withBackend } from './support/backends.js'
import { slowDown, startFaultProxy } from './support/fault-proxy.js'
import { lambdaContext, middyVersions } from './support/middy.js'

const quiet = { warn: () => {}, error: () => {} }
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const random16 = (): string => Array.from({ length: 16 }, () => ALPHABET[Math.floor(Math.random() * 36)]).join('')

describe.each(backends().filter((b) => b.name === 'embedded'))('journal of a killed process, on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  withBackend(b, (env) => { ({ s3, bucket } = env) })

  it('its dir is kept while the replayed deletes are pending, and removed once they are confirmed', async () => {
    const key = `tmp/killed-${random16()}`
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
    // a dir as a process killed outright leaves it: a PID that is certainly dead, a journal listing the object
    const dir = join(tmpdir(), `middy-cleanup-${spawnSync('true').pid!}-0-${random16()}`)
    await mkdir(dir, { mode: 0o700 })
    await writeFile(join(dir, '.journal'), `${JSON.stringify({ kind: 's3', bucket, key, versionIds: [] })}\n`, { mode: 0o600 })

    let failing = true
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...slowDown(), match: (s) => failing && s.op === 's3:POST?delete' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 1 })
    try {
      const reports: CleanupReport[] = []
      const handler = middyVersions[2]!.middy()
        .use(cleanup({ s3: via, logger: quiet, allow: { s3: [`${bucket}/tmp/`] }, onReport: (r) => { reports.push(r) } }))
        .handler(async () => 'ok')
      await expect(handler({}, lambdaContext())).resolves.toBe('ok')
      expect(proxy.injected.status).toBeGreaterThan(0) // the replay was attempted, and failed
      expect(await objectExists(s3, bucket, key)).toBe(true)
      expect(existsSync(join(dir, '.journal'))).toBe(true) // kept: a kill now would still leave it to the next process
      expect(await readFile(join(dir, '.journal'), 'utf8')).toContain(key)
      expect(leftoverCount()).toBe(1) // the object; its dir goes with it

      failing = false
      await expect(handler({}, lambdaContext())).resolves.toBe('ok')
      expect(await objectExists(s3, bucket, key)).toBe(false)
      expect(leftoverCount()).toBe(0)
      expect(existsSync(dir)).toBe(false)
      // the object and the dead process's dir, counted where they were finished
      expect(reports.filter((r) => r.exitPath === 'leftovers').at(-1)).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
    } finally { via.destroy(); await proxy.stop() }
  })
})
