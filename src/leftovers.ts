// Interim: the old home of the process-wide state and the sweep, kept so callers not
// yet switched keep working. New code imports from where each name lives now:
// - registry.ts: state, retryLater, leftoverCount, identityKey, LiveScope (was RegisteredScope)
// - process-state.ts: warnOnce, registerShutdownFlush / shutdownFlush
// - end-proof.ts: noteInvocationStart
// - sweep.ts: hasPendingWork, startBackgroundSweep, flushLeftovers, FlushLeftoversOptions
// - report-notify.ts: logFailures
export { type LiveScope as RegisteredScope, identityKey, leftoverCount, retryLater, state } from './registry.js'
export { warnOnce } from './process-state.js'
export { noteInvocationStart } from './end-proof.js'
export { type FlushLeftoversOptions, flushLeftovers, hasPendingWork, startBackgroundSweep } from './sweep.js'
export { logFailures } from './report-notify.js'
