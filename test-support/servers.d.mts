/** What a backend faithfully implements. */
export interface BackendFeatures {
  /** bucket versioning (fauxqs silently ignores it) */
  versioning: boolean
  /** object tags (fauxqs' PutObjectTagging overwrites the body) */
  tagging: boolean
  /** `If-Match` on DeleteObject answered with 412 */
  ifMatch: boolean
  /** per-key `Errors` in DeleteObjects (e.g. object under legal hold) */
  perKeyErrors: boolean
}

/** A running S3 + DynamoDB server pair, as the workers see it (serializable). */
export interface BackendInfo {
  name: 'embedded' | 'moto'
  s3Endpoint: string
  dynamodbEndpoint: string
  features: BackendFeatures
}

export interface Backend extends BackendInfo {
  /** PID of the moto_server child (moto only) */
  pid?: number
  stop(): Promise<void>
}

export declare const FEATURES: Record<'embedded' | 'moto', BackendFeatures>
/** Starts fauxqs (S3) and dynalite (DynamoDB) in this process, on 127.0.0.1. */
export declare function startEmbedded(): Promise<Backend>
/** True when `moto_server` is on PATH. */
export declare function motoAvailable(): boolean
/** A free TCP port on 127.0.0.1. */
export declare function freePort(): Promise<number>
/** Spawns `moto_server -H 127.0.0.1 -p <free port>`, waits until it answers; stop() kills it by PID. */
export declare function startMoto(options?: { timeoutMs?: number }): Promise<Backend>
/** Embedded always, moto when on PATH (`'required'`: throw when it is missing; `false`: never). */
export declare function startAll(options?: { moto?: boolean | 'required' }): Promise<Backend[]>
export declare const BACKENDS_ENV: 'MIDDY_CLEANUP_TEST_BACKENDS'
export declare function describeBackends(backends: readonly BackendInfo[]): string
