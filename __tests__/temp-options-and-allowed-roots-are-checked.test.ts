// G2 (declarations and options reject bad input at the call, naming the key and the
// fix), file-system part: tempFile()/tempDir() options and allow.paths.
import { describe, expect, it } from '@jest/globals'
import { existsSync, readdirSync, symlinkSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { CleanupConfigError, CleanupDeclarationError, CleanupScope, cleanup } from '../src/index.js'
import { recordingLogger } from './support/middy.js'

describe('tempFile() / tempDir() options', () => {
  const scope = new CleanupScope({ logger: recordingLogger() })

  it.each([
    ['tempFile', 5, /tempFile\(\) takes an options object .*or nothing; got number/],
    ['tempFile', 'x.jpg', /tempFile\(\) takes an options object .*got string/],
    ['tempDir', null, /tempDir\(\) takes an options object .*got null/],
    ['tempDir', ['unzip-'], /tempDir\(\) takes an options object .*got array/],
    ['tempFile', { sufix: '.jpg' }, /tempFile\(\) got an unknown option 'sufix'.*Known: prefix, suffix/],
    ['tempDir', { suffix: '.d' }, /tempDir\(\) got an unknown option 'suffix'.*Known: prefix\b/],
    ['tempFile', { suffix: 7 }, /tempFile\(\{ suffix \}\) must be a string/],
    ['tempFile', { prefix: 'a/b' }, /tempFile\(\{ prefix \}\) must be a string without '\/'/],
  ])('%s(%j) is refused at the call', async (method, options, message) => {
    const call = method === 'tempFile' ? scope.tempFile(options as never) : scope.tempDir(options as never)
    await expect(call).rejects.toThrow(CleanupDeclarationError)
    await expect(call).rejects.toThrow(message)
  })

  it('a 300-character suffix or prefix is refused with the limit and the fix, not a raw ENAMETOOLONG', async () => {
    const long = 'x'.repeat(300)
    await expect(scope.tempFile({ suffix: long })).rejects.toThrow(/tempFile\(\{ suffix \}\) is too long: .*255 bytes.*at most 239.*got 300/)
    await expect(scope.tempFile({ prefix: long })).rejects.toThrow(/tempFile\(\{ prefix \}\) is too long/)
    await expect(scope.tempDir({ prefix: long })).rejects.toThrow(/tempDir\(\{ prefix \}\) is too long/)
    await expect(scope.tempFile({ prefix: 'p'.repeat(200), suffix: 's'.repeat(50) })).rejects.toThrow(/tempFile\(\{ prefix, suffix \}\) is too long.*got 250/)
    // bytes, not characters: 'é' is 2 bytes in UTF-8
    await expect(scope.tempFile({ prefix: 'é'.repeat(120) })).rejects.toThrow(/got 240/)
  })

  it('at the limit the name is accepted and the file is made', async () => {
    const s = new CleanupScope({ logger: recordingLogger() })
    const a = await s.tempFile({ prefix: 'p'.repeat(200), suffix: 's'.repeat(39) })
    expect(Buffer.byteLength(basename(a))).toBe(255)
    expect(existsSync(a)).toBe(true)
    const c = await s.tempFile({ prefix: 'é'.repeat(119), suffix: '.' }) // 238 + 1 bytes
    expect(existsSync(c)).toBe(true)
    const d = await s.tempDir({ prefix: 'd'.repeat(239) })
    expect(existsSync(d)).toBe(true)
    await s.dispose()
    expect(existsSync(a)).toBe(false)
  })
})

describe('allow.paths', () => {
  it.each([
    [['/'], /'allow\.paths' entry '\/' is the root of the file system/],
    [['/tmp/..'], /'allow\.paths' entry '\/tmp\/\.\.' resolves to '\/'/],
    [['tmp/work'], /'allow\.paths' entry 'tmp\/work' is a relative path/],
    [['.'], /'allow\.paths' entry '\.' is a relative path/],
    [[tmpdir(), 'relative'], /'allow\.paths' entry 'relative' is a relative path/],
  ])('%j is refused when cleanup() is called, naming allow.paths and the fix', (paths, message) => {
    expect(() => cleanup({ allow: { paths } })).toThrow(CleanupConfigError)
    expect(() => cleanup({ allow: { paths } })).toThrow(message)
    expect(() => cleanup({ allow: { paths } })).toThrow(/Pass an absolute directory/)
    expect(() => new CleanupScope({ allow: { paths } })).toThrow(message)
  })

  it('a symlink that resolves to / is refused too', async () => {
    const base = await mkdtemp(join(tmpdir(), 'mc-root-link-'))
    try {
      symlinkSync('/', join(base, 'root'))
      expect(() => cleanup({ allow: { paths: [join(base, 'root')] } })).toThrow(/resolves to '\/'/)
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('absolute directories (existing or not yet) are accepted', async () => {
    const base = await mkdtemp(join(tmpdir(), 'mc-roots-'))
    try {
      expect(() => cleanup({ allow: { paths: [base, join(base, 'later', 'made')] } })).not.toThrow()
      const s = new CleanupScope({ allow: { paths: [base] }, logger: recordingLogger() })
      expect(s.path(join(base, 'x'))).toBe(join(base, 'x'))
      await s.dispose()
      expect(readdirSync(base)).toEqual([])
    } finally { await rm(base, { recursive: true, force: true }) }
  })
})
