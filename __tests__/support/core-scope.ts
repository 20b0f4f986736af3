// Builders for the core-scope unit tests: a ScopeCore on a private base dir under
// os.tmpdir(), a logger that records, and an in-memory remote kind whose deleter
// records every resource it is handed (the property is about who is handed what,
// not about a service).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CleanupReport } from '../../src/report.js'
import { ScopeCore } from '../../src/scope-core.js'
import type { PathItem, RemoteDeleter, RemoteItem, RemoteResource } from '../../src/scope-items.js'

export const base = mkdtempSync(join(tmpdir(), 'core-scope-'))

export interface Recorder { warnings: string[], errors: string[], logger: { warn: (m: string) => void, error: (m: string) => void } }
export const recorder = (): Recorder => {
  const warnings: string[] = []
  const errors: string[] = []
  return { warnings, errors, logger: { warn: (m) => { warnings.push(m) }, error: (m) => { errors.push(m) } } }
}

let dirs = 0
export const newDir = (): PathItem => {
  const real = join(base, `inv-${dirs++}`)
  return { type: 'path', kind: 'path', id: `dir:${real}`, real, roots: [base], attempts: 0, covers: 0 }
}

export const newCore = (logger = recorder().logger, onReport?: (r: CleanupReport) => unknown): ScopeCore =>
  new ScopeCore({ config: { logger, onReport }, newDir })

export type Entry = RemoteResource & { key: string }

/** A remote kind that confirms every delete and records what it was handed, in calls. */
export const memoryKind = (kind = 'memory', journal?: { encode: (r: Entry) => Record<string, unknown> | undefined }): RemoteDeleter<Entry> & { calls: Entry[][] } => {
  const calls: Entry[][] = []
  return {
    kind,
    calls,
    delete: async (resources) => { calls.push([...resources]); return { cleaned: resources, failed: [] } },
    ...(journal === undefined ? {} : { journal: { ...journal, parse: () => undefined, allowList: 'allow.memory', revive: () => { throw new Error('no') }, configured: () => false, show: () => kind } }),
  }
}

export const remote = (deleter: RemoteDeleter<Entry>, key: string, client?: object): RemoteItem => {
  const resource: Entry = { kind: deleter.kind, id: `${deleter.kind}://${key}`, key, ...(client === undefined ? {} : { client }) }
  return { type: 'remote', kind: deleter.kind, id: resource.id, deleter, resource, attempts: 0 }
}

/** A report without its timing, for comparing two runs. */
export const untimed = (r: CleanupReport): Omit<CleanupReport, 'durationMs'> => {
  const { durationMs: _, ...rest } = r
  return rest
}
