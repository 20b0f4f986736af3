// The `awslambda` global as aws-lambda-ric 4.x puts it on globalThis (index.mjs):
// streamifyResponse(fn) marks fn; HttpResponseStream.from(stream, metadata) writes the JSON
// prelude and 8 NUL bytes to it. For response-streaming tests outside the real client.
import type { Writable } from 'node:stream'

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming')

/** Installs the fake global; returns what puts the previous one back. */
export const installFakeAwslambda = (): (() => void) => {
  const g = globalThis as { awslambda?: unknown }
  const saved = g.awslambda
  g.awslambda = {
    streamifyResponse: (fn: (...args: any[]) => unknown) => Object.assign(fn, { [STREAMING]: 'response' }),
    HttpResponseStream: {
      from: (stream: Writable & { inPrelude?: boolean }, prelude: unknown) => {
        stream.inPrelude = true
        stream.write(JSON.stringify(prelude))
        stream.write(new Uint8Array(8))
        stream.inPrelude = false
        return stream
      },
    },
  }
  return () => { g.awslambda = saved }
}
