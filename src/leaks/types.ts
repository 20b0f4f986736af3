/**
 * What leak detection looks at; the `kind` of a {@link LeakFinding}.
 *
 * @example
 * ```ts
 * const kinds: LeakKind[] = []
 * cleanup({ detectLeaks: { onLeak: (f) => { kinds.push(f.kind) } } })
 * ```
 */
export type LeakKind = 'handles' | 'tmp' | 'memory' | 'globals'

/**
 * The fields every {@link LeakFinding} has; `K` is its kind, `D` its details.
 *
 * @example
 * ```ts
 * const f: FindingOf<'tmp', TmpLeakDetails> = finding as FindingOf<'tmp', TmpLeakDetails>
 * ```
 */
export interface FindingOf<K extends LeakKind, D> {
  kind: K
  /** What grew and by how much, in one sentence. */
  message: string
  /** Growth per invocation: handles left open, tmp entries, heap bytes, or units of the watched value. */
  growth: number
  details: D
  /** What to change in the handler. */
  fix: string
}

/**
 * Open handles and file descriptors an invocation left behind: the `details`
 * of a `handles` finding.
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { onLeak: (f) => { if (f.kind === 'handles') console.warn(f.details.byType, f.details.targets) } } })
 * ```
 */
export interface HandleLeakDetails {
  /**
   * Sampled invocations in a row that each left more of the same type and target open
   * (the longest streak among the types named in `byType`).
   */
  invocations: number
  /**
   * What those invocations left open, by type — only the types and targets that grew
   * on their own, never what merely opened and closed beside them: `fd:file`,
   * `fd:socket`, `fd:pipe`, `fd:anon`, `fd:other` (Linux `/proc/self/fd`) and the
   * types of `process.getActiveResourcesInfo()` (`TCPSocketWrap`, `Timeout`, …).
   */
  byType: Record<string, number>
  /** A few targets of the descriptors left open, e.g. `/var/task/data.csv`, `socket:[81723]`. */
  targets: string[]
  /** All open descriptors at the start of the first and the end of the last of those invocations (Linux). */
  fds?: { before: number, after: number }
}

/**
 * Files and directories that appeared under os.tmpdir() and were not declared:
 * the `details` of a `tmp` finding.
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { onLeak: (f) => { if (f.kind === 'tmp') console.warn(`${f.details.entries} new in ${f.details.dir}:`, f.details.paths) } } })
 * ```
 */
export interface TmpLeakDetails {
  invocations: number
  /** The directory scanned (os.tmpdir()). */
  dir: string
  /** New top-level entries over those invocations. */
  entries: number
  /** Their size (directories summed, bounded by `maxEntries`). */
  bytes: number
  /** A few of them. */
  paths: string[]
}

/**
 * The memory left after each major GC (what survived it) rising GC after GC:
 * the `details` of a `memory` finding.
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { onLeak: (f) => { if (f.kind === 'memory') console.warn(`+${f.details.bytesPerInvocation} bytes per invocation`, f.details.afterGc) } } })
 * ```
 */
export interface MemoryLeakDetails {
  /** JS heap used + external memory (Buffers) right after each of the last major GCs, in bytes, oldest first. */
  afterGc: number[]
  /** Sampled invocations between the first and the last of those GCs. */
  invocations: number
  bytesPerInvocation: number
}

/**
 * A watched value (see `watch()`) that grew in every one of the last
 * invocations: the `details` of a `globals` finding.
 *
 * @example
 * ```ts
 * watch('seenFiles', () => seenFiles.length)
 * cleanup({ detectLeaks: { onLeak: (f) => { if (f.kind === 'globals') console.warn(`${f.details.name}: ${f.details.values.join(' → ')}`) } } })
 * ```
 */
export interface GlobalLeakDetails {
  name: string
  invocations: number
  /** The value at the start of the first and at the end of each following invocation. */
  values: number[]
}

/**
 * One leak found by `cleanup({ detectLeaks })`: on `report.leaks`, passed to
 * `onLeak`, and logged (once per kind per process) with `logger.warn`.
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { onLeak: (f) => metrics.addMetric(`Leak_${f.kind}`, 'Count', f.growth) } })
 * ```
 */
export type LeakFinding =
  | FindingOf<'handles', HandleLeakDetails>
  | FindingOf<'tmp', TmpLeakDetails>
  | FindingOf<'memory', MemoryLeakDetails>
  | FindingOf<'globals', GlobalLeakDetails>

/**
 * Options of the tmp check (`detectLeaks.tmp`).
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { tmp: { maxDepth: 2, maxEntries: 500 } } })
 * ```
 */
export interface TmpCheckOptions {
  /** Directory scanned. @default os.tmpdir() */
  dir?: string
  /** Levels below os.tmpdir() listed on each sample: 1 = its entries; 2 = also the entries of its sub-directories (costs one readdir per sub-directory). @default 1 */
  maxDepth?: number
  /** Entries listed (and, for new directories, walked to size them) per sample, at most. @default 1000 */
  maxEntries?: number
}

/**
 * Options of the memory check (`detectLeaks.memory`).
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { memory: { gcs: 3, minBytesPerInvocation: 1024 * 1024 } } })
 * ```
 */
export interface MemoryCheckOptions {
  /** Major GCs in a row (at least 2) after which the heap must each time be bigger, with invocations in between. @default 4 */
  gcs?: number
  /** Smallest growth per invocation reported, in bytes: each step between two of the last `gcs` major GCs must show at least this much per invocation. @default 65536 */
  minBytesPerInvocation?: number
}

/**
 * `cleanup({ detectLeaks })`: `true` turns every check on with its defaults;
 * in the object form a check left out is on, `false` turns it off.
 *
 * @example
 * ```ts
 * cleanup({ detectLeaks: { every: 20, memory: false, onLeak: (f) => logger.error(f.message, { leak: f }) } })
 * ```
 */
export interface LeakDetectionOptions {
  /** Open handles and (Linux) file descriptors, by type. @default true */
  handles?: boolean
  /** New undeclared entries under os.tmpdir(). @default true */
  tmp?: boolean | TmpCheckOptions
  /** Memory left after major GCs (JS heap + Buffers) rising GC after GC, invocations in between. @default true */
  memory?: boolean | MemoryCheckOptions
  /** Values registered with `watch(name, () => size)`. @default true */
  globals?: boolean
  /** Sample one invocation in `every`. @default 1 */
  every?: number
  /** Sampled invocations in a row that must each grow before handles, tmp or a watched value count as a leak (lazy init, caches and keep-alive pools grow once). @default 3 */
  confirm?: number
  /** Called with every finding (errors it throws are logged, never rethrown). */
  onLeak?: (finding: LeakFinding) => void
}
