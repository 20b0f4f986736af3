// The package's internals that tests drive or inspect, in one place: src/index.ts is the
// curated public entry (at most 16 value exports) and no longer carries them. When an
// internal moves between src modules, only this file changes.
export { leftoverCount } from '../../src/registry.js'
export { flushLeftovers } from '../../src/sweep.js'
export type { FlushLeftoversOptions } from '../../src/sweep.js'
export { INTERNAL_DISPOSE_KEY } from '../../src/middleware.js'
export { runShutdown } from '../../src/shutdown.js'
export { ShutdownDeadlineError } from '../../src/shutdown-teardowns.js'
export { registerInternalExtension, INTERNAL_EXTENSION_NAME } from '../../src/extension.js'
export type { RegisterExtensionOptions } from '../../src/extension.js'
export { detectEnvironment } from '../../src/environment.js'
export type { LambdaEnvironment } from '../../src/environment.js'
export { CleanupDeadlineError } from '../../src/errors.js'
export { S3DeleteError } from '../../src/s3-object.js'
export { DynamoDeleteError } from '../../src/dynamodb-item.js'
