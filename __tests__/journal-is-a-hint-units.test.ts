// G2 at unit level: what readJournal() / parseJournal() / reviveJournal() accept from a
// `.journal` — the same properties journal-is-a-hint.test.ts proves through real cold
// starts (child processes), here in milliseconds so the mutation run (npm run mutation)
// can afford them per mutant. A journal is read only when it is a regular file of ours,
// never through a symlink, never blocking on a FIFO, at most JOURNAL_MAX_BYTES and
// JOURNAL_MAX_ENTRIES; a line with an unknown field or a wrong type is skipped; a
// replayed entry keeps its version ids and its client kind. Real files, FIFOs, clients
// that are never sent anything.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { S3Client } from '@aws-sdk/client-s3'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { spawnSync } from 'node:child_process'
import { chownSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JOURNAL_FILE, JOURNAL_MAX_BYTES, JOURNAL_MAX_ENTRIES, type JournalEntry, checkJournalEntry as checkWith, parseJournal as parseWith, readJournal as readWith, reviveJournal as reviveWith } from '../src/journal.js'
import { builtInKinds } from '../src/kinds.js'
import { resolveOptions } from '../src/options.js'
import { recordingLogger } from './support/middy.js'

// journal.ts is generic over kinds; these tests read with the built-in ones (kinds.ts), as the sweep does.
const readJournal = (dir: string) => readWith(dir, builtInKinds)
const parseJournal = (bytes: Uint8Array) => parseWith(bytes, builtInKinds)
const checkJournalEntry = (v: unknown) => checkWith(v, builtInKinds)
const reviveJournal = (entries: readonly JournalEntry[], config: ReturnType<typeof resolveOptions>) => reviveWith(entries, builtInKinds, config)

const s3Line = (key: string, versionIds: string[] = []): string => JSON.stringify({ kind: 's3', bucket: 'scratch', key, versionIds })
const none = { entries: [], malformed: 0, truncated: false, ignored: undefined }

describe('readJournal: only a regular file of ours, bounded, never blocking', () => {
  let base: string
  let n = 0
  const dir = (): string => { const d = join(base, `d${++n}`); mkdirSync(d); return d }
  beforeAll(async () => { base = await mkdtemp(join(tmpdir(), 'mc-journal-units-')) })
  afterAll(async () => { await rm(base, { recursive: true, force: true }) })

  it('no journal: nothing, and nothing to say', async () => {
    expect(await readJournal(dir())).toEqual(none)
  })

  it('a regular file: its entries, in order', async () => {
    const d = dir()
    writeFileSync(join(d, JOURNAL_FILE), `${s3Line('tmp/1')}\n${s3Line('tmp/2', ['v1'])}\n`)
    expect(await readJournal(d)).toEqual({
      ...none,
      entries: [{ kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }, { kind: 's3', bucket: 'scratch', key: 'tmp/2', versionIds: ['v1'] }],
    })
  })

  it('a symlink (to /dev/zero, or to a valid journal) is not followed', async () => {
    const d = dir()
    symlinkSync('/dev/zero', join(d, JOURNAL_FILE))
    expect(await readJournal(d)).toEqual({ ...none, ignored: 'a symlink' })
    const e = dir()
    writeFileSync(join(base, 'elsewhere'), `${s3Line('tmp/x')}\n`)
    symlinkSync(join(base, 'elsewhere'), join(e, JOURNAL_FILE))
    expect(await readJournal(e)).toEqual({ ...none, ignored: 'a symlink' })
  })

  it('a FIFO is not waited on, a directory is not read: not a regular file', async () => {
    const d = dir()
    expect(spawnSync('mkfifo', [join(d, JOURNAL_FILE)]).status).toBe(0)
    expect(await readJournal(d)).toEqual({ ...none, ignored: 'not a regular file' })
    const e = dir()
    mkdirSync(join(e, JOURNAL_FILE))
    expect(await readJournal(e)).toEqual({ ...none, ignored: 'not a regular file' })
  })

  it('a journal owned by another user is not obeyed (root only: chown)', async () => {
    if (process.getuid?.() !== 0) return // only root can make a file another user owns; journal-is-a-hint.test.ts says the same
    const d = dir()
    writeFileSync(join(d, JOURNAL_FILE), `${s3Line('tmp/1')}\n`)
    chownSync(join(d, JOURNAL_FILE), 65534, 65534)
    expect(await readJournal(d)).toEqual({ ...none, ignored: "owned by uid 65534, not by this process's uid 0" })
  })

  it(`reads at most ${JOURNAL_MAX_BYTES} bytes: the complete lines in them, the cut one counted malformed, truncated`, async () => {
    const d = dir()
    const line = s3Line('tmp/'.padEnd(90, 'k'))
    const per = Buffer.byteLength(line) + 1
    const whole = Math.floor(JOURNAL_MAX_BYTES / per)
    expect(JOURNAL_MAX_BYTES % per).not.toBe(0) // so one line is cut at the cap
    writeFileSync(join(d, JOURNAL_FILE), `${line}\n`.repeat(whole + 50))
    const read = await readJournal(d)
    expect(read.entries).toHaveLength(whole)
    expect(read.malformed).toBe(1)
    expect(read.truncated).toBe(true)
    expect(read.ignored).toBeUndefined()
  })

  it('every built-in kind is read, multipart uploads included (the sweep replays what scopes journal)', async () => {
    const d = dir()
    writeFileSync(join(d, JOURNAL_FILE), `${s3Line('tmp/1')}\n{"kind":"s3-multipart","bucket":"scratch","key":"tmp/a.bin","uploadId":"u-1"}\n`)
    expect(await readJournal(d)).toEqual({
      ...none,
      entries: [{ kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }, { kind: 's3-multipart', bucket: 'scratch', key: 'tmp/a.bin', uploadId: 'u-1' }],
    })
  })

  it('every journal opened is closed again, whatever it turned out to be', async () => {
    const regular = dir()
    writeFileSync(join(regular, JOURNAL_FILE), `${s3Line('tmp/1')}\n`)
    const fifo = dir()
    expect(spawnSync('mkfifo', [join(fifo, JOURNAL_FILE)]).status).toBe(0)
    const directory = dir()
    mkdirSync(join(directory, JOURNAL_FILE))
    const open = (): number => readdirSync('/proc/self/fd').length
    const before = open()
    for (let i = 0; i < 30; i++) for (const d of [regular, fifo, directory]) await readJournal(d)
    expect(open() - before).toBeLessThan(10) // 90 reads: a leak would show as 90 more descriptors
  })

  it('a file of exactly the cap is read whole and not truncated', async () => {
    const d = dir()
    const line = s3Line('tmp/'.padEnd(90, 'k'))
    const lines = Math.floor(JOURNAL_MAX_BYTES / (Buffer.byteLength(line) + 1))
    expect(lines).toBeLessThan(JOURNAL_MAX_ENTRIES)
    writeFileSync(join(d, JOURNAL_FILE), `${line}\n`.repeat(lines).padEnd(JOURNAL_MAX_BYTES, '\n'))
    const read = await readJournal(d)
    expect(read.entries).toHaveLength(lines)
    expect(read).toMatchObject({ malformed: 0, truncated: false, ignored: undefined })
  })
})

describe('parseJournal: bad lines are counted and skipped, the entries capped', () => {
  it('blank lines are nothing; junk, cut and wrong-typed lines are malformed; good lines kept', () => {
    const text = ['', s3Line('tmp/1'), '   ', 'not json', '{"kind":"s3","bucket":"b', JSON.stringify({ kind: 's3', bucket: 5, key: 'k', versionIds: [] }), s3Line('tmp/2'), ''].join('\n')
    const read = parseJournal(Buffer.from(text))
    expect(read).toEqual({ ...none, malformed: 3, entries: [{ kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }, { kind: 's3', bucket: 'scratch', key: 'tmp/2', versionIds: [] }] })
  })

  it('a view into a larger buffer is parsed as the view only', () => {
    const all = Buffer.from(`junk\n${s3Line('tmp/1')}\njunk`)
    const start = all.indexOf('{')
    const view = all.subarray(start, start + Buffer.byteLength(s3Line('tmp/1')))
    expect(parseJournal(view)).toEqual({ ...none, entries: [{ kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: [] }] })
  })

  it(`at most ${JOURNAL_MAX_ENTRIES} entries: the rest is not read, and the journal is marked truncated`, () => {
    const lines = Array.from({ length: JOURNAL_MAX_ENTRIES + 5 }, (_, i) => s3Line(`tmp/${i}`))
    const read = parseJournal(Buffer.from(lines.join('\n')))
    expect(read.entries).toHaveLength(JOURNAL_MAX_ENTRIES)
    expect(read.entries.at(-1)).toEqual({ kind: 's3', bucket: 'scratch', key: `tmp/${JOURNAL_MAX_ENTRIES - 1}`, versionIds: [] })
    expect(read.truncated).toBe(true)
    expect(read.malformed).toBe(0)
    const exactly = parseJournal(Buffer.from(lines.slice(0, JOURNAL_MAX_ENTRIES).join('\n')))
    expect(exactly.entries).toHaveLength(JOURNAL_MAX_ENTRIES)
    expect(exactly.truncated).toBe(false)
  })
})

describe('checkJournalEntry: known fields of the right type only', () => {
  const s3 = { kind: 's3', bucket: 'b', key: 'k', versionIds: ['v1'] }
  const ddb = { kind: 'dynamodb', table: 'T', key: { pk: { S: 'a' } }, doc: false }

  it('well-typed entries come back as copies', () => {
    const e = checkJournalEntry(s3)
    expect(e).toEqual(s3)
    expect(e).not.toBe(s3)
    expect((e as unknown as { versionIds: string[] }).versionIds).not.toBe(s3.versionIds)
    expect(checkJournalEntry({ ...s3, versionIds: [] })).toEqual({ ...s3, versionIds: [] })
    expect(checkJournalEntry(ddb)).toEqual(ddb)
    expect(checkJournalEntry({ ...ddb, doc: true })).toEqual({ ...ddb, doc: true })
  })

  it.each([
    ['not an object', 'x'], ['null', null], ['an array', [s3]], ['no kind', { bucket: 'b', key: 'k', versionIds: [] }], ['another kind', { ...s3, kind: 'redis' }], ['another kind, shaped like dynamodb', { ...ddb, kind: 'redis' }],
    ['s3 with an extra field', { ...s3, versionId: 'v' }], ['s3 bucket empty', { ...s3, bucket: '' }], ['s3 bucket a number', { ...s3, bucket: 1 }],
    ['s3 key empty', { ...s3, key: '' }], ['s3 key missing', { kind: 's3', bucket: 'b', versionIds: [] }], ['s3 versionIds missing', { kind: 's3', bucket: 'b', key: 'k' }],
    ['s3 versionIds a string', { ...s3, versionIds: 'v1' }], ['s3 versionIds with an empty one', { ...s3, versionIds: ['v1', ''] }], ['s3 versionIds with a number', { ...s3, versionIds: [1] }],
    ['dynamodb with an extra field', { ...ddb, ttl: 1 }], ['dynamodb table empty', { ...ddb, table: '' }], ['dynamodb table missing', { kind: 'dynamodb', key: ddb.key, doc: false }],
    ['dynamodb key a string', { ...ddb, key: 'pk' }], ['dynamodb key null', { ...ddb, key: null }], ['dynamodb key an array', { ...ddb, key: [] }],
    ['dynamodb doc a string', { ...ddb, doc: 'false' }], ['dynamodb doc missing', { kind: 'dynamodb', table: 'T', key: ddb.key }],
  ])('%s: skipped', (_what, v) => {
    expect(checkJournalEntry(v)).toBeUndefined()
  })
})

describe('reviveJournal: today\'s clients and allow-lists', () => {
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
  const s3 = new S3Client({ region: 'us-east-1', credentials })
  const dynamodb = new DynamoDBClient({ region: 'us-east-1', credentials })
  afterAll(() => { s3.destroy(); dynamodb.destroy() })

  it('a replayed S3 entry keeps its version ids: the versions journaled are the ones deleted', () => {
    const config = resolveOptions({ s3, allow: { s3: ['scratch/tmp/'] }, logger: recordingLogger() })
    const { items, refused } = reviveJournal([{ kind: 's3', bucket: 'scratch', key: 'tmp/1', versionIds: ['v1', 'v2'] }], config)
    expect(refused).toEqual([])
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ type: 'remote', kind: 's3', attempts: 0, resource: { bucket: 'scratch', key: 'tmp/1', versionIds: ['v1', 'v2'] } })
  })

  it('a DynamoDB key written for the other client kind is refused, with the reason', () => {
    const config = resolveOptions({ dynamodb, allow: { dynamodb: ['Scratch'] }, logger: recordingLogger() })
    const ok = reviveJournal([{ kind: 'dynamodb', table: 'Scratch', key: { pk: { S: 'a' } }, doc: false }], config)
    expect(ok.items).toHaveLength(1)
    expect(ok.items[0]).toMatchObject({ type: 'remote', kind: 'dynamodb', attempts: 0, resource: { table: 'Scratch', doc: false } })
    const docConfig = resolveOptions({ dynamodb: DynamoDBDocumentClient.from(dynamodb), allow: { dynamodb: ['Scratch'] }, logger: recordingLogger() })
    const other = reviveJournal([{ kind: 'dynamodb', table: 'Scratch', key: { pk: 'a' }, doc: false }], docConfig)
    expect(other.items).toEqual([])
    expect(other.refused).toEqual(['dynamodb Scratch {"pk":"a"}: its key was written for a DynamoDBClient, and this process\'s dynamodb client is the other kind'])
    const converse = reviveJournal([{ kind: 'dynamodb', table: 'Scratch', key: { pk: { S: 'a' } }, doc: true }], config)
    expect(converse.items).toEqual([])
    expect(converse.refused).toEqual(['dynamodb Scratch {"pk":{"S":"a"}}: its key was written for a DynamoDBDocumentClient, and this process\'s dynamodb client is the other kind'])
  })

  it('a service without an allow-list: no replay, named once, each entry refused with why', () => {
    const config = resolveOptions({ s3, dynamodb, logger: recordingLogger() })
    const entries = [
      { kind: 's3' as const, bucket: 'scratch', key: 'tmp/1', versionIds: [] },
      { kind: 's3' as const, bucket: 'scratch', key: 'tmp/2', versionIds: [] },
      { kind: 'dynamodb' as const, table: 'T', key: { pk: { S: 'a' } }, doc: false },
    ]
    const { items, refused, unconfigured } = reviveJournal(entries, config)
    expect(items).toEqual([])
    expect(unconfigured.sort()).toEqual(['allow.dynamodb', 'allow.s3'])
    expect(refused).toEqual(['s3://scratch/tmp/1: allow.s3 is not configured', 's3://scratch/tmp/2: allow.s3 is not configured', 'dynamodb T {"pk":{"S":"a"}}: allow.dynamodb is not configured'])
  })

  it('an entry the allow-list refuses is refused with the declaration check\'s own reason; the others still revive', () => {
    const config = resolveOptions({ s3, allow: { s3: ['scratch/tmp/'] }, logger: recordingLogger() })
    const { items, refused, unconfigured } = reviveJournal([
      { kind: 's3', bucket: 'prod-data', key: 'invoices/2024.csv', versionIds: [] },
      { kind: 's3', bucket: 'scratch', key: 'tmp/ok', versionIds: [] },
    ], config)
    expect(unconfigured).toEqual([])
    expect(items.map((i) => i.id)).toEqual(['s3://scratch/tmp/ok'])
    expect(refused).toHaveLength(1)
    expect(refused[0]).toMatch(/^s3:\/\/prod-data\/invoices\/2024\.csv: cleanup: journal\(\) refused s3:\/\/prod-data\/invoices\/2024\.csv: it is outside allow\.s3/)
    const tables = reviveJournal([{ kind: 'dynamodb', table: 'Users', key: { pk: { S: 'u' } }, doc: false }], resolveOptions({ dynamodb, allow: { dynamodb: ['Scratch'] }, logger: recordingLogger() }))
    expect(tables.items).toEqual([])
    expect(tables.refused).toEqual([expect.stringMatching(/^dynamodb Users \{"pk":\{"S":"u"\}\}: cleanup: journal\(\) refused table 'Users': it is outside allow\.dynamodb/)])
  })
})
