/**
 * middy-cleanup: Middy middleware that deletes an invocation's temp files, handles,
 * S3 objects and DynamoDB items on every exit path, and closes global connections on
 * SIGTERM.
 *
 * The curated entry: what a handler writes, nothing the package uses to run itself.
 * Reports carry errors as plain `{ name, message, code }`, so a `report.failed[]`
 * entry is matched on `error.name` ('S3DeleteError', 'CleanupDeadlineError', …), not
 * on a class.
 *
 * @example
 * ```ts
 * import middy from '@middy/core'
 * import cleanup from 'middy-cleanup'
 *
 * export const handler = middy().use(cleanup()).handler(async (event, context) => {
 *   const file = await context.cleanup.tempFile({ suffix: '.jpg' })
 *   // … gone when the invocation ends, however it ends
 * })
 * ```
 *
 * @packageDocumentation
 */

// ---- the middleware and the scope ----
export { cleanup, cleanup as default } from './middleware.js'
export type { CleanupContext, CleanupMiddleware, CleanupRequest, LambdaContextLike } from './middleware.js'
export { cleanOnEarlyReturn } from './early-return.js'
export type { MiddlewareLike } from './early-return.js'
export { durableCleanup } from './durable.js'
export type { DurableCleanup, DurableDeclaration, ExecutionCleanup } from './durable.js'
export { CleanupScope } from './scope.js'
export type { TempDirOptions, TempFileOptions } from './scope.js'
export type { ScopeState } from './scope-core.js'
export { currentScope, invocationLocal } from './context.js'
export type { InvocationLocal } from './context.js'

// ---- options, reports, errors ----
export type { CleanupOptions, AllowOptions, SdkClientLike } from './options.js'
export type { Logger, LogFunction, LoggerOption } from './logger.js'
export type { CleanupReport, ExitPath, FailedResource, FailureReason, ResourceKind } from './report.js'
export { CleanupConfigError, CleanupDeclarationError, CleanupError } from './errors.js'

// ---- what can be declared ----
export type { Closeable } from './disposers.js'
export type { RemoteDeleter, RemoteResource, DeleteContext, DeleteOutcome } from './scope-items.js'
export type { Deadline } from './deadline.js'
export { TEMP_TAG } from './s3.js'
export { tempKey } from './temp-key.js'
export type { TempKeyOptions } from './temp-key.js'
export type { S3ObjectTarget, PutObjectOptions, PutObjectInput, PutObjectOutput } from './s3.js'
export type { MultipartUploadTarget } from './s3-multipart.js'
export type { UploadLike } from './s3-multipart-upload.js'
export { MARKER_ATTRIBUTE } from './dynamodb.js'
export type { DynamoItemTarget, PutItemOptions, PutItemInput, PutItemOutput } from './dynamodb.js'
export type { ResponseMetadata } from './aws-send.js'

// ---- leak detection ----
export { watch } from './leaks/watch.js'
export type { LeakDetectionOptions, LeakFinding, FindingOf, LeakKind, HandleLeakDetails, TmpLeakDetails, MemoryLeakDetails, GlobalLeakDetails, TmpCheckOptions, MemoryCheckOptions } from './leaks/types.js'

// ---- shutdown ----
export { onShutdown, shutdown } from './shutdown.js'
export type { ShutdownOptions, ShutdownReport, TeardownResult, ListenerResult, Teardown, ShutdownMiddleware } from './shutdown.js'
export type { ExtensionStatus } from './extension.js'
