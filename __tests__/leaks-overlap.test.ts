// Readings are process-wide: a sampled invocation that overlapped another one cannot be
// attributed and is dropped (Lambda Managed Instances run several at once); once
// invocations run one at a time again, they are sampled and a leak is found.
import { describe, expect, it } from '@jest/globals'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { cleanup } from '../src/index.js'
import { leakStats } from '../src/leaks/detector.js'
import { recorder } from './fixtures/leaks-support.js'
import { gate, lambdaContext, middyVersions } from './support/middy.js'

const dataFile = join(process.cwd(), 'package.json')

describe.each(middyVersions)('overlapping invocations (Middy $major)', ({ middy }) => {
  it('samples that overlapped another invocation are dropped: no finding, none compared; alone again, the leak is found on the third', async () => {
    const r = recorder()
    const leaked: FileHandle[] = []
    let wait: Promise<void> | undefined
    const handler = middy().use(cleanup({ detectLeaks: { tmp: false, memory: false, globals: false, onLeak: r.onLeak }, logger: r.logger, onReport: r.onReport }))
      .handler(async () => {
        leaked.push(await open(dataFile, 'r')) // the bug: never closed
        if (wait !== undefined) await wait
      })
    try {
      const before = leakStats().samples
      for (let i = 0; i < 4; i++) {
        const g = gate()
        wait = g.promise
        // the first is sampled (alone when it starts); the second starts while it runs
        const both = [handler({}, lambdaContext()), handler({}, lambdaContext())]
        await new Promise((resolve) => setImmediate(resolve))
        g.open()
        await Promise.all(both)
      }
      expect(leakStats().samples - before).toBe(0)
      expect(r.leaks).toEqual([])
      wait = undefined
      for (let i = 0; i < 3; i++) await handler({}, lambdaContext())
      expect(leakStats().samples - before).toBe(3)
      expect(r.reports.slice(-3).map((rep) => (rep.leaks ?? []).length)).toEqual([0, 0, 1])
      expect(r.leaks[0]).toMatchObject({ kind: 'handles', details: { targets: [dataFile] } })
    } finally {
      for (const fh of leaked) await fh.close()
    }
  })
})
