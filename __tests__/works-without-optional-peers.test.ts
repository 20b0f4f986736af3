// The AWS SDK packages are optional peers: a file-only user without them installed must be
// able to import the package and use it. A child process whose module resolution refuses
// every `@aws-sdk/*` import proves it (the SDK is only ever loaded lazily, on first use).
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')

describe('without @aws-sdk/* installed', () => {
  it('the package imports, file cleanup works, and S3/DynamoDB declarations fail softly at cleanup', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'middy-cleanup-nosdk-'))
    try {
      await writeFile(join(dir, 'hooks.mjs'), `
export async function resolve (specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) {
    const e = new Error("Cannot find package '" + specifier + "' (hidden by the test)")
    e.code = 'ERR_MODULE_NOT_FOUND'
    throw e
  }
  return next(specifier, context)
}
`)
      await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})\n`)
      await writeFile(join(dir, 'main.mts'), `
import { existsSync } from 'node:fs'
const m = await import(${JSON.stringify(pathToFileURL(join(root, 'src/index.ts')).href)})
let sdk = 'hidden'
try { await import('@aws-sdk/client-s3'); sdk = 'visible' } catch {}
const scope = new m.CleanupScope({ logger: { warn () {}, error () {} }, s3: { send: async () => ({}) } })
const file = await scope.tempFile()
scope.s3Object({ bucket: 'b', key: 'k' })
const report = await scope.dispose()
console.log(JSON.stringify({ sdk, exports: Object.keys(m).length, fileGone: !existsSync(file), cleaned: report.cleaned, failed: report.failed.map((f) => f.kind + ' ' + f.id) }))
`)
      const { stdout } = await run(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, join(dir, 'main.mts')], {
        cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000,
      })
      const out = JSON.parse(stdout.trim().split('\n').pop()!)
      expect(out.sdk).toBe('hidden')
      expect(out.exports).toBeGreaterThan(5)
      expect(out.fileGone).toBe(true)
      expect(out.cleaned).toBe(1)
      expect(out.failed).toEqual(['s3 s3://b/k'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 40_000)
})
