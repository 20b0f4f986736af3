// G1, cold-start part: the start-of-process sweep never removes a directory of this
// very process (any thread), whatever the timing or the size of /tmp, and removes a
// directory of another process only on proof that its owner is dead (pid gone, or pid
// reused: a different process start time in the dir name). Real child processes, a
// TMPDIR of 20,000 unrelated entries, the embedded S3 server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { backends, createBucket, objectExists, s3Client } from './support/backends.js'

const fixture = fileURLToPath(new URL('./fixtures/cold-start.ts', import.meta.url))
const PROCESSES = 5
const CONCURRENT = 24
const UNRELATED = 20_000

interface ChildReport { pid: number, invocations: number, resources: number, lost: string[], survived: Record<string, boolean>, lines: string[] }

const runChild = (tmp: string, cfg: Record<string, unknown>): Promise<ChildReport> => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TMPDIR: tmp, MC_COLD_START: JSON.stringify(cfg) },
  })
  let out = ''
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.once('error', reject)
  child.once('exit', (code, signal) => {
    clearTimeout(timer)
    try { resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as ChildReport) } catch { reject(new Error(`cold-start child exited ${code ?? signal}: ${out}`)) }
  })
})

const deadPid = (): number => spawnSync('true').pid!
const r16 = (c: string): string => c.repeat(16)
// This (jest worker) process's identity, read independently of src/files.ts.
const stat = readFileSync('/proc/self/stat', 'latin1')
const START = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!
const NS = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!

const b = backends()[0]!
let s3: S3Client
let bucket: string
const tmps: string[] = []
const figures: string[] = []

beforeAll(async () => {
  s3 = s3Client(b)
  bucket = await createBucket(s3, { prefix: 'cold' })
})
afterAll(async () => {
  if (figures.length > 0) process.stdout.write(`\n[cold-start-sweep] ${figures.join('; ')}\n`)
  for (const t of tmps) await rm(t, { recursive: true, force: true })
  s3?.destroy()
})

/** A stale dir of a dead process, with files and a journal listing an S3 object that exists. */
const plantStale = async (tmp: string, name: string, key: string): Promise<string> => {
  const dir = join(tmp, name)
  mkdirSync(join(dir, 'sub'), { recursive: true, mode: 0o700 })
  writeFileSync(join(dir, 'sub', 'big.bin'), 'x'.repeat(1000))
  writeFileSync(join(dir, '.journal'), `${JSON.stringify({ kind: 's3', bucket, key, versionIds: [] })}\n`, { mode: 0o600 })
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'stale' }))
  return dir
}

describe('who owns a per-invocation dir: proof of a dead owner, or it stays', () => {
  it('dirs of this very process and of live processes stay; dead, reused-pid and earlier-incarnation dirs go', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'mc-owner-'))
    tmps.push(tmp)
    const dead = deadPid()
    const outsideDir = join(tmp, 'outside')
    mkdirSync(outsideDir)
    writeFileSync(join(outsideDir, 'precious'), 'keep')
    const at = (n: string): string => join(tmp, n)
    const gone = {
      deadLegacy: await plantStale(tmp, `middy-cleanup-${dead}-0-${r16('a')}`, 'stale/dead-legacy'),
      deadNew: await plantStale(tmp, `middy-cleanup-${dead}-0-t${START}-n${NS}-${r16('b')}`, 'stale/dead-new'),
      // this jest worker is alive, but that pid with another start time was an earlier process
      pidReused: await plantStale(tmp, `middy-cleanup-${process.pid}-0-t${Number(START) - 1}-n${NS}-${r16('c')}`, 'stale/pid-reused'),
    }
    const kept = {
      liveProcess: at(`middy-cleanup-${process.pid}-0-t${START}-n${NS}-${r16('d')}`),
      liveProcessOtherThread: at(`middy-cleanup-${process.pid}-3-t${START}-n${NS}-${r16('e')}`),
      liveLegacy: at(`middy-cleanup-${process.pid}-0-${r16('f')}`), // no start identity: a live pid is alive
      otherPidNamespace: at(`middy-cleanup-${dead}-0-t${START}-n1-${r16('g')}`), // its pid means nothing here
      unknownIdentity: at(`middy-cleanup-${process.pid}-0-tx-nx-${r16('h')}`),
    }
    for (const dir of Object.values(kept)) { mkdirSync(dir); writeFileSync(join(dir, 'f'), 'x') }
    // named like a dead process's dir, but not a real directory: never followed, never removed
    const link = at(`middy-cleanup-${dead}-0-${r16('i')}`)
    symlinkSync(outsideDir, link)
    const file = at(`middy-cleanup-${dead}-0-${r16('j')}`)
    writeFileSync(file, 'a file')
    let otherUser: string | undefined
    if (process.getuid?.() === 0) {
      otherUser = at(`middy-cleanup-${dead}-0-${r16('k')}`)
      mkdirSync(otherUser)
      chownSync(otherUser, 65534, 65534)
    }

    const report = await runChild(tmp, { s3Endpoint: b.s3Endpoint, bucket, concurrent: 3, plant: true })
    expect(report.lost).toEqual([])
    // planted by the child for its own pid before its first invocation
    expect(report.survived).toEqual({ earlierIncarnation: false, legacyOld: false, legacyFresh: true, otherThread: true })
    for (const [what, dir] of Object.entries(gone)) expect([what, existsSync(dir)]).toEqual([what, false])
    for (const [what, dir] of Object.entries(kept)) expect([what, existsSync(join(dir, 'f'))]).toEqual([what, true])
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(outsideDir, 'precious'), 'utf8')).toBe('keep')
    expect(readFileSync(file, 'utf8')).toBe('a file')
    if (otherUser !== undefined) expect(existsSync(otherUser)).toBe(true)
    // the journals of the dead ones were replayed (allow.s3 covers stale/)
    for (const key of ['stale/dead-legacy', 'stale/dead-new', 'stale/pid-reused']) expect([key, await objectExists(s3, bucket, key)]).toEqual([key, false])
  })
})

describe(`cold start: ${PROCESSES} fresh processes × ${CONCURRENT} concurrent first invocations, ${UNRELATED} entries in TMPDIR`, () => {
  let tmp: string
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mc-cold-'))
    tmps.push(tmp)
    // Unrelated entries (1 in 50 a directory), some named almost like ours; built once for
    // the file, by a plain node loop: synchronous fs calls outside jest's VM take < 1 s.
    const build = `const fs = require('fs'), path = require('path'), dir = process.argv[1]
      for (let i = 0; i < ${UNRELATED}; i++) {
        const n = i % 10 === 0 ? 'middy-cleanup-nosdk-' + i : i % 10 === 1 ? 'middy-cleanup-' + i + '-x-${r16('z')}' : 'unrelated-' + i + '.tmp'
        if (i % 50 === 0) fs.mkdirSync(path.join(dir, n)); else fs.writeFileSync(path.join(dir, n), '')
      }`
    expect(spawnSync(process.execPath, ['-e', build, tmp], { stdio: 'inherit' }).status).toBe(0)
    expect(readdirSync(tmp)).toHaveLength(UNRELATED)
  }, 120_000)

  it('no process loses any of its own resources; the stale dirs of dead PIDs (with journals) are gone after', async () => {
    const stale: string[] = []
    for (let i = 0; i < 8; i++) {
      const dead = deadPid()
      const name = i % 2 === 0 ? `middy-cleanup-${dead}-0-${r16(String.fromCharCode(97 + i))}` : `middy-cleanup-${dead}-0-t${START}-n${NS}-${r16(String.fromCharCode(97 + i))}`
      stale.push(await plantStale(tmp, name, `stale/${i}`))
    }
    const reports = await Promise.all(Array.from({ length: PROCESSES }, () => runChild(tmp, { s3Endpoint: b.s3Endpoint, bucket, concurrent: CONCURRENT })))
    const lost = reports.flatMap((r) => r.lost)
    const resources = reports.reduce((n, r) => n + r.resources, 0)
    figures.push(`${reports.length} processes × ${CONCURRENT} concurrent first invocations (${resources} resources): lost ${lost.length}`)
    expect(reports.map((r) => r.invocations)).toEqual(Array(PROCESSES).fill(CONCURRENT))
    expect(lost).toEqual([])
    for (const dir of stale) expect([dir, existsSync(dir)]).toEqual([dir, false])
    for (let i = 0; i < stale.length; i++) expect([i, await objectExists(s3, bucket, `stale/${i}`)]).toEqual([i, false])
  }, 120_000)
})
