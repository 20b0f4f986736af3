import { lstatSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { getHeapStatistics } from 'node:v8'

// Cheap, synchronous readings of process state: a few µs each, no async hops
// (an fs promise costs a thread-pool round trip, more than the reading itself).

/**
 * Ref'd handles by type (`process.getActiveResourcesInfo()`): what keeps the event loop alive.
 *
 * @example
 * ```ts
 * activeHandles() // Map { 'TCPSocketWrap' => 1, 'Timeout' => 2 }
 * ```
 */
export const activeHandles = (): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1)
  return counts
}

/**
 * JS heap plus external memory (Buffers, ArrayBuffers), in bytes: what a module-level
 * array of strings or of Buffers retains. Read only after a major GC.
 *
 * @example
 * ```ts
 * const heap = retainedMemory() // bytes, right after a major GC
 * ```
 */
export const retainedMemory = (): number => {
  const h = getHeapStatistics()
  return h.used_heap_size + h.external_memory
}

const OWN_DIR_PREFIX = 'middy-cleanup-'

/**
 * Entries under `dir`, `maxDepth` levels deep, at most `maxEntries`, as paths
 * relative to `dir`. The scopes' own per-invocation directories are skipped:
 * they are declared by construction and removed by cleanup.
 *
 * @example
 * ```ts
 * listTmp(tmpdir(), 1, 1000) // Set { 'report.csv', 'cache' }
 * ```
 */
export const listTmp = (dir: string, maxDepth: number, maxEntries: number): Set<string> => {
  const out = new Set<string>()
  const walk = (rel: string, depth: number): void => {
    let entries
    try { entries = readdirSync(rel === '' ? dir : join(dir, rel), { withFileTypes: true }) } catch { return }
    for (const e of entries) {
      if (out.size >= maxEntries) return
      if (depth === 1 && e.name.startsWith(OWN_DIR_PREFIX)) continue
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      out.add(path)
      if (depth < maxDepth && e.isDirectory()) walk(path, depth + 1)
    }
  }
  walk('', 1)
  return out
}

/**
 * Bytes under `path` (a file, or a directory walked up to `budget.left` entries).
 *
 * @example
 * ```ts
 * sizeOf('/tmp/cache', { left: 1000 }) // bytes of the files under it
 * ```
 */
export const sizeOf = (path: string, budget: { left: number }): number => {
  if (budget.left <= 0) return 0
  budget.left--
  let st
  try { st = lstatSync(path) } catch { return 0 }
  if (!st.isDirectory()) return st.size
  let bytes = 0
  let names: string[]
  try { names = readdirSync(path) } catch { return 0 }
  for (const name of names) {
    if (budget.left <= 0) break
    bytes += sizeOf(join(path, name), budget)
  }
  return bytes
}

// A directory's mtime changes when an entry is added or removed, so an unchanged
// mtime means an unchanged top-level listing: one stat (~2 µs) instead of a readdir
// (~12 µs for 20 entries). Kernel timestamps are coarse (a few ms), so a listing is
// trusted only if it was read well after the last change it saw.
const RACY_MS = 20
let cached: { dir: string, maxEntries: number, mtimeMs: number, scannedAt: number, list: Set<string> } | undefined

/**
 * {@link listTmp}, reusing the last top-level listing while the directory's mtime has not changed. Treat the result as read-only.
 *
 * @example
 * ```ts
 * const before = listTmpCached(tmpdir(), 1, 1000)
 * ```
 */
export const listTmpCached = (dir: string, maxDepth: number, maxEntries: number): Set<string> => {
  if (maxDepth !== 1) return listTmp(dir, maxDepth, maxEntries)
  let mtimeMs: number
  try { mtimeMs = statSync(dir).mtimeMs } catch { return new Set() }
  const c = cached
  if (c !== undefined && c.dir === dir && c.maxEntries === maxEntries && c.mtimeMs === mtimeMs && c.scannedAt - mtimeMs > RACY_MS) return c.list
  const scannedAt = Date.now()
  const list = listTmp(dir, maxDepth, maxEntries)
  cached = { dir, maxEntries, mtimeMs, scannedAt, list }
  return list
}
