// G2: `path(p)` removes `p` itself. A symlink is unlinked and its target kept: the
// allow-list check applies to the real parent directory + the last component, so a
// link inside allow.paths may be declared even when it points outside, and removing
// it never reaches what it points to. Real file system, no mocks.
import { describe, expect, it } from '@jest/globals'
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CleanupScope } from '../src/index.js'
import { recordingLogger } from './support/middy.js'

const present = (p: string): boolean => { try { lstatSync(p); return true } catch { return false } }

// allowed/ is the only allow.paths root; outside/ holds what must survive.
const sandbox = async (): Promise<{ base: string, allowed: string, outside: string, scope: CleanupScope }> => {
  const base = await mkdtemp(join(tmpdir(), 'mc-path-'))
  const allowed = join(base, 'allowed')
  const outside = join(base, 'outside')
  mkdirSync(allowed)
  mkdirSync(join(outside, 'dir'), { recursive: true })
  writeFileSync(join(outside, 'precious'), 'keep me')
  writeFileSync(join(outside, 'dir', 'precious'), 'keep me too')
  return { base, allowed, outside, scope: new CleanupScope({ allow: { paths: [allowed] }, logger: recordingLogger() }) }
}

describe('path(p) removes p itself, never what a symlink points to', () => {
  it('a symlink to a file inside allow.paths: the link is removed, the target kept', async () => {
    const { base, allowed, scope } = await sandbox()
    try {
      writeFileSync(join(allowed, 'target'), 'still here')
      symlinkSync(join(allowed, 'target'), join(allowed, 'link'))
      scope.path(join(allowed, 'link'))
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
      expect(present(join(allowed, 'link'))).toBe(false)
      expect(readFileSync(join(allowed, 'target'), 'utf8')).toBe('still here')
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('a link inside allow.paths pointing outside (to a file and to a directory) is accepted and only the link goes', async () => {
    const { base, allowed, outside, scope } = await sandbox()
    try {
      symlinkSync(join(outside, 'precious'), join(allowed, 'to-file'))
      symlinkSync(join(outside, 'dir'), join(allowed, 'to-dir'))
      expect(scope.path(join(allowed, 'to-file'))).toBe(join(allowed, 'to-file'))
      scope.path(join(allowed, 'to-dir'))
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 2, cleaned: 2, failed: [] })
      expect(present(join(allowed, 'to-file'))).toBe(false)
      expect(present(join(allowed, 'to-dir'))).toBe(false)
      expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me')
      expect(readFileSync(join(outside, 'dir', 'precious'), 'utf8')).toBe('keep me too')
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('a dangling link is removed (nothing to follow, nothing else touched)', async () => {
    const { base, allowed, outside, scope } = await sandbox()
    try {
      symlinkSync(join(outside, 'does-not-exist'), join(allowed, 'dangling'))
      scope.path(join(allowed, 'dangling'))
      const report = await scope.dispose()
      expect(report).toMatchObject({ resources: 1, cleaned: 1, failed: [] })
      expect(present(join(allowed, 'dangling'))).toBe(false)
      expect(existsSync(join(outside, 'precious'))).toBe(true)
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('a path through a link to outside is still refused at the call (its real parent is outside)', async () => {
    const { base, allowed, outside, scope } = await sandbox()
    try {
      symlinkSync(outside, join(allowed, 'out'))
      expect(() => scope.path(join(allowed, 'out', 'precious'))).toThrow(/outside allow\.paths/)
      expect(() => scope.path(join(allowed, 'out', 'dir'))).toThrow(/outside allow\.paths/)
      expect(() => scope.path(join(allowed, '..', 'outside'))).toThrow(/outside allow\.paths/)
      expect(() => scope.path(allowed)).toThrow(/outside allow\.paths/) // the root itself is not deletable
      expect(existsSync(join(outside, 'precious'))).toBe(true)
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('a file swapped for a symlink to outside after declaration: only the link is removed', async () => {
    const { base, allowed, outside, scope } = await sandbox()
    try {
      const p = scope.path(join(allowed, 'work'))
      writeFileSync(p, 'x')
      await rm(p)
      symlinkSync(join(outside, 'dir'), p)
      const report = await scope.dispose()
      expect(report.failed).toEqual([])
      expect(present(p)).toBe(false)
      expect(readFileSync(join(outside, 'dir', 'precious'), 'utf8')).toBe('keep me too')
    } finally { await rm(base, { recursive: true, force: true }) }
  })

  it('a parent directory swapped for a symlink to outside after declaration: refused, nothing outside removed', async () => {
    const { base, allowed, outside, scope } = await sandbox()
    try {
      mkdirSync(join(allowed, 'sub'))
      scope.path(join(allowed, 'sub', 'precious'))
      renameSync(join(allowed, 'sub'), join(base, 'moved-away'))
      symlinkSync(outside, join(allowed, 'sub')) // allowed/sub/precious is now outside/precious
      const report = await scope.dispose()
      expect(report.failed).toHaveLength(1)
      expect(report.failed[0]!.error).toMatchObject({ message: expect.stringMatching(/refused to remove .*outside allow\.paths/) })
      expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me')
    } finally { await rm(base, { recursive: true, force: true }) }
  })
})
