// The journal a scope writes is private to this user (directory 0700, file 0600: it names
// what a later process will delete) and holds one line per resource, appended; and replay
// given an entry of a kind this process does not have refuses that entry with the reason,
// never throwing and never dropping the others. Found untested by the mutation run of
// src/journal.ts (the tests that write journals are end to end, outside its test set).
import { afterAll, describe, expect, it } from '@jest/globals'
import { S3Client } from '@aws-sdk/client-s3'
import { readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JOURNAL_FILE, appendJournal, readJournal, reviveJournal } from '../src/journal.js'
import { builtInKinds } from '../src/kinds.js'
import { resolveOptions } from '../src/options.js'
import { recordingLogger } from './support/middy.js'

const s3Line = (key: string): string => JSON.stringify({ kind: 's3', bucket: 'scratch', key, versionIds: [] })

describe('appendJournal', () => {
  let root: string | undefined
  afterAll(async () => { if (root !== undefined) await rm(root, { recursive: true, force: true }) })

  it('creates the directory (parents too) 0700 and the file 0600; each append adds its lines, one per line', async () => {
    root = await mkdtemp(join(tmpdir(), 'journal-append-'))
    const dir = join(root, 'not', 'yet')
    appendJournal(dir, [s3Line('tmp/1'), s3Line('tmp/2')])
    appendJournal(dir, [s3Line('tmp/3')])
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, JOURNAL_FILE)).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(dir, JOURNAL_FILE), 'utf8')).toBe(`${s3Line('tmp/1')}\n${s3Line('tmp/2')}\n${s3Line('tmp/3')}\n`)
    const read = await readJournal(dir, builtInKinds)
    expect({ keys: read.entries.map((e) => e.key), malformed: read.malformed }).toEqual({ keys: ['tmp/1', 'tmp/2', 'tmp/3'], malformed: 0 })
  })
})

describe('reviveJournal', () => {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })
  afterAll(() => { s3.destroy() })

  it('an entry of a kind this process does not have is refused with the reason; the others still revive', () => {
    const config = resolveOptions({ s3, allow: { s3: ['scratch/tmp/'] }, logger: recordingLogger() })
    const { items, refused } = reviveJournal([
      { kind: 'redis', key: 'session:1' },
      { kind: 's3', bucket: 'scratch', key: 'tmp/ok', versionIds: [] },
    ], builtInKinds, config)
    expect(items.map((i) => i.id)).toEqual(['s3://scratch/tmp/ok'])
    expect(refused).toEqual(['redis: no such kind in this process'])
  })
})
