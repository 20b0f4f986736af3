// Interim shim: aws-retry.ts was split by concept (aws-send.ts: sending, counting and
// classifying; backoff.ts; remote-batch.ts: pool, chunk and the batch skeleton;
// client-id.ts; validation.ts). Kept only until the last importers switch; then removed.
export { RETRYABLE_KEY_CODES, attemptsOf, describeRequestFailure, isAbort, isRetryable, isRetryableCode } from './aws-failure.js'
export { type ResponseMetadata, type SendClient, type SendContext, type Sent, isClient, sendCounted } from './aws-send.js'
export { type BackoffDeadline, backoffMs, backoffWithin } from './backoff.js'
export { clientId } from './client-id.js'
export { DEFAULT_CONCURRENCY, chunk, pool } from './remote-batch.js'
export { closestKey, rejectUnknownKeys, shown, typeOf } from './validation.js'
