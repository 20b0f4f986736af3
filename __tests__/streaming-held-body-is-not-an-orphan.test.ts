// A streamed body cleanup() holds is still in use, whatever the request object says: on
// Middy 6/7 an `after` that runs after cleanup's (registered before it) and returns a
// value sets `request.earlyResponse`, which is the proof of end an early return leaves.
// Taken as proof while the body streams, a concurrent invocation's `before` sweep (Managed
// Instances, a local server) would dispose the scope and delete the temp file mid-body.
// Middy 5 leaves no earlyResponse, so it is not concerned. The `awslambda` global is faked
// as the Node runtime provides it; the response stream is a slow reader that checks, at
// every chunk, that the temp file is still there.
import { afterAll, describe, expect, it } from '@jest/globals'
import { createReadStream, existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse'
import { cleanup, type CleanupReport } from '../src/index.js'
import { installFakeAwslambda } from './support/fake-awslambda.js'
import { lambdaContext, middyVersions, recordingLogger } from './support/middy.js'

afterAll(installFakeAwslambda())

const BODY = 'x'.repeat(16 * 1024 * 12)

describe.each(middyVersions.filter((v) => v.major >= 6))('Middy $major', ({ major, middy }) => {
  it('an after returning a value once the body is held (earlyResponse set) is no proof of end: a concurrent invocation\'s sweep leaves the streaming scope alone', async () => {
    const reports: CleanupReport[] = []
    let file = ''
    const seen: boolean[] = []
    let other: Promise<unknown> | undefined
    const otherHandler = middy().use(cleanup({ logger: recordingLogger() })).handler(async () => 'other')
    const streaming = (major === 7 ? middy({ executionMode: executionModeStreamifyResponse }) : middy({ streamifyResponse: true }))
      .use({ after: (request: { response: unknown }) => request.response }) // runs after cleanup's after
      .use(cleanup({ logger: recordingLogger(), onReport: (r) => { if (r.exitPath !== 'leftovers') reports.push(r) } }))
      .handler(async (_e: unknown, context: any) => {
        file = await context.cleanup.tempFile({ suffix: '.txt' })
        await writeFile(file, BODY)
        return { statusCode: 200, body: createReadStream(file, { highWaterMark: 16 * 1024 }) }
      })
    let chunks = 0
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write (_chunk, _enc, callback) {
        if ((sink as { inPrelude?: boolean }).inPrelude !== true) {
          // after the second chunk, another invocation starts while this body streams
          if (++chunks === 2) other = otherHandler({}, lambdaContext())
          seen.push(existsSync(file))
        }
        setTimeout(callback, 10)
      },
    }) as Writable & { inPrelude?: boolean }
    await streaming({}, sink, lambdaContext())
    await other
    expect(chunks).toBeGreaterThanOrEqual(8)
    expect(seen.filter((exists) => !exists)).toEqual([]) // the file was there for every chunk
    expect(existsSync(file)).toBe(false) // and is gone once the body was over
    expect(reports.map((r) => r.exitPath)).toEqual(['success'])
  })
})
