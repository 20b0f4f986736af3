// Issue 14's 1000-object target: a remote resource's identity (kind + client + id) is built
// once per declaration, not once by the scope's dedupe and again by the disposal's grouping.
// Counted through the only read identityOf makes of a resource's `client`: a getter.
import { describe, expect, it } from '@jest/globals'
import { CleanupScope, type RemoteDeleter, type RemoteResource } from '../src/index.js'

const quiet = () => ({ debug: () => {}, info: () => {}, warn: () => {}, error: () => {} })

describe('identity of a remote resource', () => {
  it('is built once per declared resource across declaring and disposing 100 of them', async () => {
    let clientReads = 0
    const client = {}
    const deleted: string[] = []
    const deleter: RemoteDeleter = {
      kind: 'counted',
      delete: async (resources) => {
        deleted.push(...resources.map((r) => r.id))
        return { cleaned: resources, failed: [], requests: 1 }
      },
    }
    const scope = new CleanupScope({ logger: quiet() })
    for (let i = 0; i < 100; i++) {
      const r: RemoteResource = Object.defineProperties({ kind: 'counted', id: `counted://${i}` }, {
        client: { get: () => { clientReads++; return client }, enumerable: true },
      }) as RemoteResource
      scope.trackRemote(deleter, r)
    }
    scope.trackRemote(deleter, Object.defineProperties({ kind: 'counted', id: 'counted://0' }, {
      client: { get: () => { clientReads++; return client }, enumerable: true },
    }) as RemoteResource) // the same resource again: deduplicated
    const report = await scope.dispose()
    expect(report.failed).toEqual([])
    expect(deleted).toHaveLength(100)
    expect(new Set(deleted).size).toBe(100)
    expect(clientReads).toBe(101)
  })
})
