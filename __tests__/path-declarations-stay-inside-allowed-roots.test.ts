// G2, file-system part, the edges the mutation run (npm run mutation) found untested:
// path() and tempFile()/tempDir() stay strictly inside allow.paths — a root that does not
// exist yet does not widen to its existing ancestor, the parent of a root is outside it —,
// bad input is refused at the call with a CleanupDeclarationError / CleanupConfigError
// naming the fix, and at removal a directory swapped since declaration is re-checked.
// Real file system, no mocks.
import { describe, expect, it } from '@jest/globals'
import { existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { CleanupConfigError, CleanupDeclarationError, CleanupScope, cleanup } from '../src/index.js'
import { recordingLogger } from './support/middy.js'

const withBase = async (fn: (base: string) => Promise<void> | void): Promise<void> => {
  const base = await mkdtemp(join(tmpdir(), 'mc-roots-edges-'))
  try { await fn(base) } finally { await rm(base, { recursive: true, force: true }) }
}

describe('path() stays strictly inside allow.paths', () => {
  it('a root that does not exist yet is that directory, not its existing ancestor', () => withBase(async (base) => {
    const root = join(base, 'later', 'made')
    const scope = new CleanupScope({ allow: { paths: [root] }, logger: recordingLogger() })
    expect(() => scope.path(join(base, 'sibling'))).toThrow(/outside allow\.paths/)
    expect(() => scope.path(join(base, 'later', 'other'))).toThrow(/outside allow\.paths/)
    expect(scope.path(join(root, 'x'))).toBe(join(root, 'x'))
    await scope.dispose()
  }))

  it('the parent of a root (and the root itself) is outside it', () => withBase(async (base) => {
    const root = join(base, 'allowed')
    mkdirSync(root)
    const scope = new CleanupScope({ allow: { paths: [root] }, logger: recordingLogger() })
    expect(() => scope.path(base)).toThrow(CleanupDeclarationError)
    expect(() => scope.path(dirname(root))).toThrow(/outside allow\.paths/)
    expect(() => scope.path(root)).toThrow(/outside allow\.paths/)
    await scope.dispose()
    expect(existsSync(root)).toBe(true)
  }))

  it('with several roots, a path inside any one of them is declared and removed', () => withBase(async (base) => {
    const [a, b] = [join(base, 'a'), join(base, 'b')]
    mkdirSync(a)
    mkdirSync(b)
    writeFileSync(join(b, 'x'), 'x')
    const scope = new CleanupScope({ allow: { paths: [a, b] }, logger: recordingLogger() })
    scope.path(join(b, 'x'))
    expect(await scope.dispose()).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
    expect(existsSync(join(b, 'x'))).toBe(false)
  }))

  it('a directory is removed with what it holds; a path already gone counts as cleaned', () => withBase(async (base) => {
    mkdirSync(join(base, 'dir', 'sub'), { recursive: true })
    writeFileSync(join(base, 'dir', 'sub', 'f'), 'x')
    const scope = new CleanupScope({ allow: { paths: [base] }, logger: recordingLogger() })
    scope.path(join(base, 'dir'))
    scope.path(join(base, 'never-made'))
    expect(await scope.dispose()).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
    expect(existsSync(join(base, 'dir'))).toBe(false)
  }))
})

describe('bad input is refused at the call, naming the fix', () => {
  const scope = new CleanupScope({ logger: recordingLogger() })

  it.each([
    ['', /path\(\) needs a non-empty string; got an empty string/],
    ['   ', /path\(\) needs a non-empty string; got string/],
    [5, /path\(\) needs a non-empty string; got number/],
    [undefined, /path\(\) needs a non-empty string; got undefined/],
    [join(tmpdir(), 'a\0b'), /path\(\) got a path with a NUL byte/],
  ])('path(%j)', (p, message) => {
    expect(() => scope.path(p as never)).toThrow(CleanupDeclarationError)
    expect(() => scope.path(p as never)).toThrow(message)
  })

  it('path() under a dangling symlink cannot be judged inside or outside: refused', () => withBase((base) => {
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'))
    const s = new CleanupScope({ allow: { paths: [base] }, logger: recordingLogger() })
    for (const p of [join(base, 'dangling', 'x'), join(base, 'dangling', 'sub', 'x')]) {
      expect(() => s.path(p)).toThrow(CleanupDeclarationError)
      expect(() => s.path(p)).toThrow(/cannot be resolved: a directory on the way is a dangling symlink/)
    }
  }))

  it('an allow.paths entry under a dangling symlink is refused with CleanupConfigError', () => withBase((base) => {
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'))
    const paths = [join(base, 'dangling', 'work')]
    expect(() => cleanup({ allow: { paths } })).toThrow(CleanupConfigError)
    expect(() => cleanup({ allow: { paths } })).toThrow(/'allow\.paths' entry '.*' cannot be resolved .*Pass an absolute directory/)
  }))

  it('an allow.paths entry with a NUL byte is refused, not taken for a directory', () => {
    const paths = [join(tmpdir(), 'a\0b')]
    expect(() => cleanup({ allow: { paths } })).toThrow(CleanupConfigError)
    expect(() => cleanup({ allow: { paths } })).toThrow(/'allow\.paths' entry .* has a NUL byte\. Pass an absolute directory/)
  })

  it('tempFile() and tempDir() without options: a 16-character random name, nothing added', async () => {
    const s = new CleanupScope({ logger: recordingLogger() })
    const file = await s.tempFile()
    const dir = await s.tempDir()
    expect(basename(file)).toMatch(/^[0-9a-z]{16}$/)
    expect(basename(dir)).toMatch(/^[0-9a-z]{16}$/)
    expect(existsSync(file)).toBe(true)
    expect(await s.dispose()).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
    expect(existsSync(file)).toBe(false)
    expect(existsSync(dir)).toBe(false)
  })
})

describe('at removal, the path is re-checked', () => {
  it('a directory on the way that became a dangling symlink: refused with the reason, nothing removed', () => withBase(async (base) => {
    mkdirSync(join(base, 'sub'))
    const scope = new CleanupScope({ allow: { paths: [base] }, logger: recordingLogger() })
    scope.path(join(base, 'sub', 'file'))
    renameSync(join(base, 'sub'), join(base, 'moved'))
    writeFileSync(join(base, 'moved', 'file'), 'keep')
    symlinkSync(join(base, 'nowhere'), join(base, 'sub'))
    const report = await scope.dispose()
    expect(report.cleaned).toBe(0)
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]!.error).toMatchObject({ name: 'CleanupDeclarationError', message: expect.stringMatching(/refused to remove .*its directory cannot be resolved any more/) })
    expect(existsSync(join(base, 'moved', 'file'))).toBe(true)
  }))
})
