// Throttling at scale (issue 15.3): S3 answers 503 SlowDown when one prefix gets more than
// ~3,500 DELETE/s. No emulator throttles, so a fault proxy in front of the real server
// (fauxqs, moto) answers SlowDown to a large share of the DeleteObjects calls; every other
// request reaches the server, whose listing is the truth at the end. What must hold: an
// invocation keeps its budget (throttled keys become retrying leftovers, never a failed or
// late invocation, and the SDK's retries are the only retries), and later invocations
// delete the leftovers — nothing is left on the server.
import { describe, expect, it } from '@jest/globals'
import type { S3Client } from '@aws-sdk/client-s3'
import { CleanupScope } from '../src/index.js'
import { tempKey } from '../src/temp-key.js'
import { flushLeftovers, leftoverCount } from './support/internals.js'
import { backends, listKeys, putObjectsFast, recordingLogger, s3Client, uid, withBackend, type BackendInfo } from './support/backends.js'
import { slowDown, startFaultProxy } from './support/fault-proxy.js'

const quiet = () => recordingLogger()

describe.each(backends())('SlowDown at scale on $name', (b: BackendInfo) => {
  let s3: S3Client
  let bucket: string
  withBackend(b, (env) => { ({ s3, bucket } = env) })

  /** n objects under a fresh scratch prefix, spread by tempKey(). */
  const spreadObjects = async (n: number): Promise<{ prefix: string, keys: string[] }> => {
    const prefix = `tmp-${uid()}/`
    const keys = Array.from({ length: n }, () => tempKey('part.bin', { prefix }))
    await putObjectsFast(b, bucket, keys)
    expect(new Set(keys.map((k) => k.slice(prefix.length, prefix.length + 2))).size).toBeGreaterThan(200)
    return { prefix, keys }
  }
  const deletesSeen = (proxy: { seen: Array<{ op: string }> }, from = 0): number =>
    proxy.seen.slice(from).filter((r) => r.op === 's3:POST?delete').length

  it('a large share of DeleteObjects throttled: throttled keys are retrying leftovers, the rest deleted, the next invocation deletes them all', async () => {
    const n = 3000 // 3 DeleteObjects of 1000
    // 5 SlowDown answers: the 3 first attempts and 2 of the SDK's 3 retries (maxAttempts 2),
    // so at least 2 batches fail both attempts whatever the order of their retries
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...slowDown(), times: 5, match: (r) => r.op === 's3:POST?delete' } })
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint }, { maxAttempts: 2 })
    try {
      const { prefix, keys } = await spreadObjects(n)
      expect(leftoverCount()).toBe(0)
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: 10_000, allow: { s3: [`${bucket}/${prefix}`] } })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      expect(proxy.injected.status).toBe(5)
      // one retry layer: the SDK's 2 attempts per batch at most, and the report counts what the wire saw
      expect(report.requests).toBe(deletesSeen(proxy))
      expect(report.requests).toBeLessThanOrEqual(6)
      expect(report.cleaned + report.failed.length).toBe(n)
      expect(report.failed.length % 1000).toBe(0)
      expect(report.failed.length).toBeGreaterThanOrEqual(2000)
      expect(report.failed.every((f) => f.retrying === true && f.error.code === 'SlowDown')).toBe(true)
      expect(report.leftovers).toBe(report.failed.length)
      expect(leftoverCount()).toBe(report.failed.length)
      const left = report.failed.length
      const before = proxy.seen.length
      const next = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(next).toMatchObject({ cleaned: left, failed: [], requests: left / 1000 })
      expect(deletesSeen(proxy, before)).toBe(left / 1000)
      expect(leftoverCount()).toBe(0)
      expect(await listKeys(s3, bucket, prefix)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  }, 60_000)

  it('every DeleteObjects throttled and a short budget: cleanup stops with the budget (no SDK retry goes out after it), all keys retrying leftovers; later invocations delete them once S3 recovers', async () => {
    const n = 2000
    let throttling = true
    const proxy = await startFaultProxy({ target: b.s3Endpoint, status: { ...slowDown(), match: (r) => r.op === 's3:POST?delete' && throttling } })
    // the SDK's default of 3 attempts, with its throttling backoff (500 ms base): more than the budget
    const via = s3Client({ ...b, s3Endpoint: proxy.endpoint })
    try {
      const { prefix, keys } = await spreadObjects(n)
      expect(leftoverCount()).toBe(0)
      const budgetMs = 300
      const scope = new CleanupScope({ s3: via, logger: quiet(), timeoutMs: budgetMs, allow: { s3: [`${bucket}/${prefix}`] } })
      for (const key of keys) scope.s3Object({ bucket, key })
      const report = await scope.dispose()
      const sentBy = deletesSeen(proxy)
      expect(report.cleaned).toBe(0)
      expect(report.failed).toHaveLength(n)
      expect(report.failed.every((f) => f.retrying === true)).toBe(true)
      expect(report.requests).toBe(sentBy)
      expect(report.requests).toBeGreaterThanOrEqual(2) // each batch was sent: the keys used a real attempt
      expect(report.requests).toBeLessThanOrEqual(6)
      expect(leftoverCount()).toBe(n)
      // The budget, not the SDK's backoff (500 ms base for throttling, up to 2 s before the
      // 3rd attempt), ended the invocation's cleanup: none of its retries goes out later.
      await new Promise((resolve) => setTimeout(resolve, 2500))
      expect(deletesSeen(proxy)).toBe(sentBy)
      // S3 still throttles at the next invocation: still leftovers, nothing given up
      const still = await flushLeftovers({ timeoutMs: budgetMs, logger: quiet() })
      expect(still.cleaned).toBe(0)
      expect(still.failed.every((f) => f.retrying === true)).toBe(true)
      expect(leftoverCount()).toBe(n)
      throttling = false
      const after = await flushLeftovers({ timeoutMs: 5000, logger: quiet() })
      expect(after).toMatchObject({ cleaned: n, failed: [], requests: 2 })
      expect(leftoverCount()).toBe(0)
      expect(await listKeys(s3, bucket, prefix)).toEqual([])
    } finally { via.destroy(); await proxy.stop() }
  }, 60_000)
})
