// The proof of an invocation's end (src/end-proof.ts), on its own: what counts as proof
// (Middy 6/7 earlyResponse; a later request id or SIGTERM, in a sequential runtime only)
// and what never does (response, the same id, no ids, any other runtime). Plus the
// facade's surface: CleanupScope has the declaration API and nothing else public.
import { afterEach, describe, expect, it } from '@jest/globals'
import { InvocationEnd, noteInvocationStart, noteSignal, requestIdOf } from '../src/end-proof.js'
import { shutdownFlush } from '../src/process-state.js'
import { CleanupScope, coreOf, invocationScope } from '../src/scope.js'
import { resolveOptions } from '../src/options.js'
import { flushLeftovers } from '../src/sweep.js'

const saved = { ...process.env }
afterEach(() => {
  for (const k of ['AWS_LAMBDA_RUNTIME_API', 'AWS_LAMBDA_MAX_CONCURRENCY']) {
    if (saved[k] === undefined) delete process.env[k]
    else process.env[k] = saved[k]
  }
})
const sequential = (): void => { process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9001'; delete process.env.AWS_LAMBDA_MAX_CONCURRENCY }
const config = resolveOptions({ logger: { warn: () => {}, error: () => {} } })
const declared = (request: object) => {
  const scope = invocationScope(config, request)
  scope.defer(() => {})
  return coreOf(scope)
}

describe('InvocationEnd', () => {
  it('earlyResponse in the request (Middy 6/7, set just before it returns) is proof, even undefined; response is not', () => {
    const request: Record<string, unknown> = { context: { awsRequestId: 'a' }, response: 'done' }
    const end = new InvocationEnd(request)
    expect(end.ended()).toBe(false)
    request.earlyResponse = undefined
    expect(end.ended()).toBe(true)
    expect(end.exitPath()).toBe('early-return')
  })

  it('once its output is held (a streamed body being read), earlyResponse is no proof; a proof taken before stays', () => {
    const held: Record<string, unknown> = { context: { awsRequestId: 'a' } }
    const core = declared(held)
    core.holdOutput()
    held.earlyResponse = undefined // an after that returned a value after cleanup's
    expect(core.isOrphaned()).toBe(false)
    const proven: Record<string, unknown> = { context: { awsRequestId: 'b' }, earlyResponse: undefined }
    const other = declared(proven)
    expect(other.isOrphaned()).toBe(true)
    other.holdOutput()
    expect(other.isOrphaned()).toBe(true)
  })

  it('a later invocation proves the end only with two different request ids', () => {
    const end = new InvocationEnd({ context: { awsRequestId: 'a' } })
    end.noteLaterInvocation('a') // a nested handler of the same invocation
    end.noteLaterInvocation(undefined)
    expect(end.ended()).toBe(false)
    end.noteLaterInvocation('b')
    expect(end.ended()).toBe(true)
    const noId = new InvocationEnd({ context: {} })
    noId.noteLaterInvocation('b')
    expect(noId.ended()).toBe(false)
  })

  it('SIGTERM is reported as the shutdown exit path; a proof, once there, stays the first one', () => {
    const request: Record<string, unknown> = { context: { awsRequestId: 'a' } }
    const end = new InvocationEnd(request)
    end.noteShutdown()
    end.noteLaterInvocation('b')
    request.earlyResponse = 'late' // a later proof does not replace the first
    expect([end.ended(), end.exitPath()]).toEqual([true, 'shutdown'])
  })

  // Found by the mutation run of src/end-proof.ts: an id that is not a non-empty string is no id.
  it.each([
    ['an empty awsRequestId', { awsRequestId: '' }],
    ['a numeric awsRequestId', { awsRequestId: 7 }],
    ['a null context', null],
  ])('%s is no request id: a later invocation proves nothing against it, nor with it', (_what, context) => {
    expect(requestIdOf(context)).toBeUndefined()
    const end = new InvocationEnd({ context })
    end.noteLaterInvocation('b')
    expect(end.ended()).toBe(false)
    const named = new InvocationEnd({ context: { awsRequestId: 'a' } })
    named.noteLaterInvocation(requestIdOf(context))
    expect(named.ended()).toBe(false)
  })
})

describe('registry-wide notes, through detectEnvironment().sequential only', () => {
  it.each([
    ['off Lambda', false, () => { delete process.env.AWS_LAMBDA_RUNTIME_API }],
    ['Managed Instances', false, () => { sequential(); process.env.AWS_LAMBDA_MAX_CONCURRENCY = '4' }],
    ['a sequential runtime', true, sequential],
  ])('%s: a new invocation and SIGTERM prove the other live scopes ended: %s', async (_env, proves, setEnv) => {
    setEnv()
    const a = declared({ context: { awsRequestId: 'a' } })
    const b = declared({ context: { awsRequestId: 'b' } })
    noteInvocationStart('c')
    expect([a.isOrphaned(), b.isOrphaned()]).toEqual([proves, proves])
    const c = declared({ context: { awsRequestId: 'c' } })
    noteSignal('SIGINT')
    expect(c.isOrphaned()).toBe(false)
    noteSignal('SIGTERM')
    expect([c.isOrphaned(), c.orphanExitPath()]).toEqual(proves ? [true, 'shutdown'] : [false, 'early-return'])
    for (const core of [a, b, c]) await core.disposeFor('manual', 1000)
  })
})

describe('the facade', () => {
  it('has the declaration API, run, dispose, state and nothing else public', () => {
    const own = Object.getOwnPropertyNames(CleanupScope.prototype).filter((n) => n !== 'constructor').sort()
    const api = ['defer', 'dispose', 'dynamoItem', 'handle', 'multipartUpload', 'path', 'putItem', 'putObject', 's3Object', 'state', 'tempDir', 'tempFile', 'trackRemote', 'run', 'upload']
    expect(own).toEqual([...api].sort())
    expect(Object.getOwnPropertyNames(CleanupScope).filter((n) => !['length', 'name', 'prototype'].includes(n))).toEqual([])
    expect(Object.keys(new CleanupScope())).toEqual([])
  })

  it('a new scope hands shutdown the flush, so shutdown() needs no import of the sweep', () => {
    void new CleanupScope()
    expect(shutdownFlush()).toBe(flushLeftovers)
  })
})
