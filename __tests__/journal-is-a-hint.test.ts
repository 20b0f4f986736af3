// G2: a journal in /tmp is a hint, never a command. A fresh process (real child, cold
// start) finds a stale dir of a dead PID whose `.journal` is hostile: a FIFO, a symlink
// to /dev/zero, 50 MB of garbage, entries nobody declared. Its first invocation must
// settle promptly, read at most the cap, and delete only what today's allow-lists allow
// (nothing at all for a service without one). Real S3/DynamoDB servers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, symlinkSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { backends, createBucket, createTable, itemExists, objectExists, type BackendInfo, withBackend } from './support/backends.js'

const fixture = fileURLToPath(new URL('./fixtures/journal-replay.ts', import.meta.url))
const KILL_AFTER_MS = 20_000

interface ChildOutput { result: string, settleMs: number, readBytes: number, lines: string[] }
interface ChildRun { timedOut: boolean, code: number | null, out: ChildOutput | undefined, stdout: string }

const runChild = (tmp: string, cfg: Record<string, unknown>): Promise<ChildRun> => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TMPDIR: tmp, MC_JOURNAL_CHILD: JSON.stringify(cfg) },
  })
  let stdout = ''
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, KILL_AFTER_MS)
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.once('error', reject)
  child.once('exit', (code) => {
    clearTimeout(timer)
    const last = stdout.trim().split('\n').pop() ?? ''
    let out: ChildOutput | undefined
    try { out = JSON.parse(last) as ChildOutput } catch { out = undefined }
    resolve({ timedOut, code, out, stdout })
  })
})

// A PID that is certainly dead: a child that already exited.
const deadPid = (): number => spawnSync('true').pid!

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const random16 = (): string => Array.from({ length: 16 }, () => ALPHABET[Math.floor(Math.random() * 36)]).join('')

/** A fresh TMPDIR holding one stale per-invocation dir of a dead PID; returns both. */
const staleDir = async (label: string): Promise<{ tmp: string, dir: string }> => {
  const tmp = await mkdtemp(join(tmpdir(), `mc-hint-${label}-`))
  const dir = join(tmp, `middy-cleanup-${deadPid()}-0-${random16()}`)
  await mkdir(dir, { mode: 0o700 })
  await writeFile(join(dir, 'leftover.bin'), 'x')
  return { tmp, dir }
}

const settled: Array<[string, string]> = []
const tmps: string[] = []
afterAll(async () => {
  process.stdout.write(`\n[journal-is-a-hint] time to settle the first invocation: ${settled.map(([k, v]) => `${k}=${v}`).join(', ')}\n`)
  for (const t of tmps) await rm(t, { recursive: true, force: true })
})

const record = (label: string, run: ChildRun): ChildOutput => {
  settled.push([label, run.timedOut ? `hung (killed after ${KILL_AFTER_MS} ms)` : run.out === undefined ? `exit ${run.code}` : `${run.out.settleMs} ms (read ${Math.round(run.out.readBytes / 1024)} KiB)`])
  expect(run.timedOut).toBe(false)
  expect(run.code).toBe(0)
  expect(run.out).toBeDefined()
  expect(run.out!.result).toBe('ok')
  return run.out!
}

// the cap is 1 MiB; the rest of the first invocation reads a few KiB
const READ_BOUND = 4 * 1024 * 1024

describe('hostile journal files', () => {
  const b = backends()[0]!
  const endpoints = { s3Endpoint: b.s3Endpoint, dynamodbEndpoint: b.dynamodbEndpoint }

  it('a FIFO named .journal is never waited on: the first invocation settles, the dead dir is removed', async () => {
    const { tmp, dir } = await staleDir('fifo')
    tmps.push(tmp)
    expect(spawnSync('mkfifo', [join(dir, '.journal')]).status).toBe(0)
    const out = record('FIFO', await runChild(tmp, { ...endpoints, allowS3: ['nothing-here'], allowDynamodb: ['Nothing'] }))
    expect(out.settleMs).toBeLessThan(5000) // instead of hanging forever
    expect(existsSync(dir)).toBe(false)
  })

  it('a .journal symlink to /dev/zero is not followed: the first invocation reads no more than the cap', async () => {
    const { tmp, dir } = await staleDir('devzero')
    tmps.push(tmp)
    symlinkSync('/dev/zero', join(dir, '.journal'))
    const out = record('/dev/zero symlink', await runChild(tmp, { ...endpoints, allowS3: ['nothing-here'], allowDynamodb: ['Nothing'] }))
    if (process.platform === 'linux') expect(out.readBytes).toBeLessThan(READ_BOUND)
    expect(existsSync(dir)).toBe(false)
    expect(existsSync('/dev/zero')).toBe(true)
  })

  it('50 MB of garbage: at most 1 MiB is read, every line is skipped, the dir is removed', async () => {
    const { tmp, dir } = await staleDir('garbage')
    tmps.push(tmp)
    const fh = await open(join(dir, '.journal'), 'w', 0o600)
    const chunk = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < 50; i++) {
      for (let j = 0; j < chunk.length; j++) chunk[j] = (j * 31 + i * 7) % 251 === 0 ? 10 : 33 + ((j * 7 + i) % 90)
      await fh.write(chunk)
    }
    await fh.close()
    const out = record('50 MB garbage', await runChild(tmp, { ...endpoints, allowS3: ['nothing-here'], allowDynamodb: ['Nothing'] }))
    if (process.platform === 'linux') expect(out.readBytes).toBeLessThan(READ_BOUND)
    expect(existsSync(dir)).toBe(false)
    expect(out.lines.some((l) => /malformed/.test(l) && /truncated|1 MiB|cap/.test(l))).toBe(true)
  })

  ;(process.getuid?.() === 0 ? it : it.skip)('a journal owned by another user is not read (needs root to chown; skipped when not root)', async () => {
    const { tmp, dir } = await staleDir('other-uid')
    tmps.push(tmp)
    await writeFile(join(dir, '.journal'), `${JSON.stringify({ kind: 's3', bucket: 'any-bucket', key: 'tmp/x', versionIds: [] })}\n`)
    chownSync(join(dir, '.journal'), 65534, 65534)
    const out = record('journal of another uid', await runChild(tmp, { ...endpoints, allowS3: ['any-bucket'], allowDynamodb: ['Nothing'] }))
    expect(out.lines.some((l) => l.includes('owned by uid 65534'))).toBe(true)
    expect(out.lines.some((l) => l.includes('deleting'))).toBe(false)
  })
})

describe.each(backends())('a journal listing what nobody declared, on $name', (b: BackendInfo) => {
  let s3: S3Client
  let ddb: DynamoDBClient
  let bucket: string
  let table: string
  let prodBucket: string
  let usersTable: string
  withBackend(b, (env) => { ({ s3, ddb, bucket, table } = env) })
  beforeAll(async () => {
    prodBucket = await createBucket(s3, { prefix: 'prod-data' })
    usersTable = await createTable(ddb, { prefix: 'Users' })
  })

  const user = { pk: { S: 'user#1' }, sk: { S: 'profile' } }
  const scratchItem = { pk: { S: 'journaled' }, sk: { S: '1' } }

  // Undeclared production data, scratch entries a killed process may honestly have
  // journaled, and lines with wrong field types for keys an allow-list would allow.
  const seed = async (): Promise<{ tmp: string, dir: string }> => {
    for (const [Bucket, Key] of [[prodBucket, 'invoices/2024.csv'], [bucket, 'tmp/journaled'], [bucket, 'tmp/typed'], [bucket, 'tmp/not-journaled']] as const) {
      await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'data' }))
    }
    await ddb.send(new PutItemCommand({ TableName: usersTable, Item: user }))
    await ddb.send(new PutItemCommand({ TableName: table, Item: scratchItem }))
    const { tmp, dir } = await staleDir('undeclared')
    tmps.push(tmp)
    const lines = [
      { kind: 's3', bucket: prodBucket, key: 'invoices/2024.csv', versionIds: [] },
      { kind: 'dynamodb', table: usersTable, key: user, doc: false },
      { kind: 's3', bucket, key: 'tmp/journaled', versionIds: [] },
      { kind: 'dynamodb', table, key: scratchItem, doc: false },
      { kind: 's3', bucket, key: 'tmp/typed', versionIds: 'all' },
      { kind: 's3', bucket, key: ['tmp/typed'], versionIds: [] },
      { kind: 'dynamodb', table, key: 'pk=journaled', doc: false },
    ].map((l) => JSON.stringify(l))
    await writeFile(join(dir, '.journal'), `${lines.join('\n')}\nnot json at all\n{"kind":"s3","bucket":"${bucket}","key":"tmp/not-jou`, { mode: 0o600 })
    return { tmp, dir }
  }

  it('with no allow-list configured nothing is replayed, and one warning says how to enable it', async () => {
    const { tmp, dir } = await seed()
    const out = record(`no allow-list (${b.name})`, await runChild(tmp, { s3Endpoint: b.s3Endpoint, dynamodbEndpoint: b.dynamodbEndpoint }))
    expect(await objectExists(s3, prodBucket, 'invoices/2024.csv')).toBe(true)
    expect(await itemExists(ddb, usersTable, user)).toBe(true)
    expect(await objectExists(s3, bucket, 'tmp/journaled')).toBe(true)
    expect(await itemExists(ddb, table, scratchItem)).toBe(true)
    const howTo = out.lines.filter((l) => l.includes('allow.s3') && l.includes('allow.dynamodb') && l.includes('cleanup({ s3, dynamodb, allow:'))
    expect(howTo).toHaveLength(1)
    expect(existsSync(dir)).toBe(false)
  })

  it('with allow-lists that exclude them, undeclared objects and items stay; only journaled entries they allow are deleted', async () => {
    const { tmp, dir } = await seed()
    const out = record(`allow-lists excluding them (${b.name})`, await runChild(tmp, {
      s3Endpoint: b.s3Endpoint, dynamodbEndpoint: b.dynamodbEndpoint, allowS3: [`${bucket}/tmp/`], allowDynamodb: [table],
    }))
    expect(await objectExists(s3, prodBucket, 'invoices/2024.csv')).toBe(true)
    expect(await itemExists(ddb, usersTable, user)).toBe(true)
    expect(await objectExists(s3, bucket, 'tmp/typed')).toBe(true) // allowed key, but its line had a wrong field type
    expect(await objectExists(s3, bucket, 'tmp/not-journaled')).toBe(true) // allowed, never journaled (its line was cut)
    expect(await objectExists(s3, bucket, 'tmp/journaled')).toBe(false)
    expect(await itemExists(ddb, table, scratchItem)).toBe(false)
    expect(out.lines.some((l) => /deleting the 2 S3 object\(s\) \/ DynamoDB item\(s\)/.test(l) && /not deleting 2/.test(l) && /5 malformed/.test(l))).toBe(true)
    expect(existsSync(dir)).toBe(false)
  })
})
