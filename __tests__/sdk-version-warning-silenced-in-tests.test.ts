// The AWS SDK prints a NodeVersionSupportWarning once per module instance on Node < 22:
// under jest that is once per test file and per child process, a dozen blocks of noise
// around the real failures. jest.config.js turns it off for the test run only (the
// SDK's own AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED); users still get it.
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'

const constructClient = (env: NodeJS.ProcessEnv): string => {
  const { NODE_OPTIONS: _ignored, ...rest } = env
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    "import { S3Client } from '@aws-sdk/client-s3'; new S3Client({ region: 'us-east-1' }); console.log('constructed')"],
  { env: rest, encoding: 'utf8' })
  expect(r.stdout.trim()).toBe('constructed')
  return r.stderr
}

const major = Number(process.versions.node.split('.')[0])

describe("the SDK's Node version warning", () => {
  it('is disabled for the test run, in the workers and the child processes they start', () => {
    expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe('true')
    expect(constructClient(process.env)).not.toMatch(/NodeVersionSupportWarning/)
  })

  it(`is still what a user sees on Node ${major} without the variable (so the first test checks something)`, () => {
    const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _off, ...env } = process.env
    const stderr = constructClient(env)
    // the SDK warns below Node 22 (emitWarningIfUnsupportedVersion in @aws-sdk/core)
    if (major < 22) expect(stderr).toMatch(/NodeVersionSupportWarning/)
    else expect(stderr).not.toMatch(/NodeVersionSupportWarning/)
  })
})
