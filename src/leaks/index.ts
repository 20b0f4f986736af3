export { watch } from './watch.js'
export { LeakDetector, leakDetectorFor } from './detector.js'
export type { LeakBaseline } from './detector.js'
export { resolveLeakOptions, leakDefaults } from './options.js'
export type { LeakConfig } from './options.js'
export type {
  LeakDetectionOptions, LeakFinding, LeakKind, HandleLeakDetails, TmpLeakDetails, MemoryLeakDetails, GlobalLeakDetails,
  TmpCheckOptions, MemoryCheckOptions,
} from './types.js'
