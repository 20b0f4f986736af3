// G1, start-of-process sweep, at unit level: ownerIsDead() is true only on proof that the
// process that named a per-invocation dir is dead, and sweepStaleInvocationDirs() removes
// only real directories of ours whose owner is dead, leaving a dir with a replayable
// journal to its caller. cold-start-sweep.test.ts proves the same with real cold starts;
// these run in milliseconds, so the mutation run (npm run mutation) can afford them per
// mutant. Real /proc, real processes, a real (private) TMPDIR: no mocks.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { threadId } from 'node:worker_threads'
import { invocationDirName, ownerIsDead, processIdentity, processStart } from '../src/invocation-dirs.js'
import { sweepStaleInvocationDirs } from '../src/sweep.js'

// The kernel's view, read here independently of src/files.ts.
const startOf = (pid: number | 'self'): string => { const s = readFileSync(`/proc/${pid}/stat`, 'latin1'); return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]! }
const START = startOf('self')
const NS = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!
const r16 = (c: string): string => c.repeat(16)
const deadPid = (): number => spawnSync('true').pid!
const named = (pid: number, start: string, ns = NS, thread = 0, c = 'a'): string => `middy-cleanup-${pid}-${thread}-t${start}-n${ns}-${r16(c)}`

describe('this process start identity, as /proc has it', () => {
  it('processStart() reads field 22 of /proc/<pid>/stat, for this process and another; undefined for a pid that is gone', () => {
    expect(processStart('self')).toBe(START)
    expect(processStart(process.pid)).toBe(START)
    // multi-digit, and another process's own value (the parent started earlier, or at least not later)
    expect(processStart(process.ppid)).toBe(startOf(process.ppid))
    expect(START).toMatch(/^\d{2,}$/)
    expect(processStart(deadPid())).toBeUndefined()
  })

  it('processIdentity() is { start, ns } of this process, and a new dir name carries both', () => {
    expect(processIdentity()).toEqual({ start: START, ns: NS })
    expect(invocationDirName()).toMatch(new RegExp(`^middy-cleanup-${process.pid}-${threadId}-t${START}-n${NS}-[0-9a-z]{16}$`))
  })
})

describe('ownerIsDead: true only on proof', () => {
  it('a dir of this very process (this thread or another) is never dead; one that records another start time is an earlier process with this pid', () => {
    expect(ownerIsDead(named(process.pid, START), Date.now())).toBe(false)
    expect(ownerIsDead(named(process.pid, START, NS, 7), Date.now())).toBe(false)
    expect(ownerIsDead(named(process.pid, String(Number(START) - 1)), Date.now())).toBe(true)
    expect(ownerIsDead(named(process.pid, String(Number(START) + 1)), Date.now())).toBe(true)
    // the dir cannot tell its start: it may be this very process
    expect(ownerIsDead(named(process.pid, 'x'), 0)).toBe(false)
  })

  it('another pid: dead when gone, or alive with another start time (pid reused); alive with its own start, or unknown, is not', () => {
    const dead = deadPid()
    expect(ownerIsDead(named(dead, START), Date.now())).toBe(true)
    expect(ownerIsDead(named(dead, 'x'), Date.now())).toBe(true)
    const parent = process.ppid
    expect(ownerIsDead(named(parent, startOf(parent)), 0)).toBe(false)
    expect(ownerIsDead(named(parent, String(Number(startOf(parent)) + 1)), 0)).toBe(true)
    expect(ownerIsDead(named(parent, 'x'), 0)).toBe(false)
  })

  it('a pid of another pid namespace (or one /proc could not tell) proves nothing, even a dead one', () => {
    const dead = deadPid()
    expect(ownerIsDead(named(dead, START, String(Number(NS) + 1)), 0)).toBe(false)
    expect(ownerIsDead(named(dead, START, 'x'), 0)).toBe(false)
    expect(ownerIsDead(named(process.pid, String(Number(START) - 1), 'x'), 0)).toBe(false)
  })

  it('0.1.0 names: another pid when gone; this pid only when last modified before this process started (beyond the clock margin)', () => {
    const dead = deadPid()
    expect(ownerIsDead(`middy-cleanup-${dead}-0-${r16('l')}`, Date.now())).toBe(true)
    expect(ownerIsDead(`middy-cleanup-${process.ppid}-0-${r16('l')}`, 0)).toBe(false)
    expect(ownerIsDead(`middy-cleanup-${process.pid}-0-${r16('l')}`, performance.timeOrigin - 3_600_000)).toBe(true)
    // within the margin for clock steps, or after this process started: maybe this process's own
    expect(ownerIsDead(`middy-cleanup-${process.pid}-0-${r16('l')}`, performance.timeOrigin - 500)).toBe(false)
    expect(ownerIsDead(`middy-cleanup-${process.pid}-0-${r16('l')}`, Date.now())).toBe(false)
  })

  it('a name that is not a per-invocation dir is never dead', () => {
    expect(ownerIsDead('middy-cleanup-not-ours', 0)).toBe(false)
    expect(ownerIsDead(`middy-cleanup-${deadPid()}-x-${r16('z')}`, 0)).toBe(false)
  })

  // EPERM from kill(pid, 0) means a process exists that we may not signal: alive. Tests run
  // as root here, so the check runs in a child without CAP_KILL against a process of uid 65534.
  it('a live process we may not signal (EPERM) is alive', async () => {
    // ESRCH, in this process: the contrast (and what makes Stryker's per-test coverage pick this test for pidExists)
    expect(ownerIsDead(named(deadPid(), START), 0)).toBe(true)
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) {
      // not root: this process cannot signal pid 1 (EPERM) — the same proof, in-process
      expect(ownerIsDead(named(1, startOf(1)), 0)).toBe(false)
      return
    }
    const other: ChildProcess = spawn('sleep', ['30'], { uid: 65534, gid: 65534, stdio: 'ignore' })
    try {
      const pid = other.pid!
      const names = [named(pid, startOf(pid)), `middy-cleanup-${pid}-0-${r16('p')}`]
      const probe = fileURLToPath(new URL('./fixtures/owner-is-dead-probe.ts', import.meta.url))
      const run = spawnSync('setpriv', ['--bounding-set', '-kill', '--inh-caps', '-kill', process.execPath, '--import', 'tsx', probe, JSON.stringify(names)], { encoding: 'utf8' })
      expect(run.stderr).toBe('')
      expect(JSON.parse(run.stdout)).toEqual({ eperm: true, dead: [false, false] })
    } finally { other.kill('SIGKILL') }
  })
})

// The sweep reads os.tmpdir() once per module instance (this file's), and os.tmpdir()
// reads the real process.env, of which a jest test only sees a copy: TMPDIR is pointed at
// a private directory through the real process object, so the sweep touches nothing of
// the machine's /tmp. "This very process" is this jest worker.
describe('sweepStaleInvocationDirs: only real dirs of ours whose owner is dead', () => {
  const realEnv = (process as unknown as { getBuiltinModule: (id: string) => NodeJS.Process }).getBuiltinModule('node:process').env
  const saved = realEnv.TMPDIR
  let tmp: string
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mc-sweep-units-'))
    realEnv.TMPDIR = tmp
    expect(tmpdir()).toBe(tmp)
  })
  afterAll(async () => {
    if (saved === undefined) delete realEnv.TMPDIR
    else realEnv.TMPDIR = saved
    await rm(tmp, { recursive: true, force: true })
  })

  const dirWith = (name: string, files: Record<string, string> = { f: 'x' }): string => {
    const dir = join(tmp, name)
    mkdirSync(join(dir, 'sub'), { recursive: true })
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text)
    writeFileSync(join(dir, 'sub', 'big.bin'), 'x'.repeat(1000))
    return dir
  }
  const present = (dir: string): boolean => existsSync(join(dir, 'sub', 'big.bin'))

  it('removes the dirs of dead owners (with their contents) and says so; keeps live ones, links, files and other users\' dirs', async () => {
    const dead = deadPid()
    const gone = [
      dirWith(named(dead, START, NS, 0, 'b')),
      dirWith(named(process.pid, String(Number(START) - 1), NS, 0, 'c')), // an earlier process with this pid
      dirWith(`middy-cleanup-${dead}-0-${r16('d')}`),
    ]
    const kept = [
      dirWith(named(process.pid, START, NS, 0, 'e')),
      dirWith(named(process.pid, START, NS, 3, 'f')),
      dirWith(named(dead, START, String(Number(NS) + 1), 0, 'g')),
      dirWith(`middy-cleanup-${process.pid}-0-${r16('h')}`),
    ]
    const outside = join(tmp, 'outside')
    mkdirSync(outside)
    writeFileSync(join(outside, 'precious'), 'keep')
    const link = join(tmp, named(dead, START, NS, 0, 'i'))
    symlinkSync(outside, link)
    const file = join(tmp, named(dead, START, NS, 0, 'j'))
    writeFileSync(file, 'a file')
    let otherUser: string | undefined
    if (process.getuid?.() === 0) {
      otherUser = dirWith(named(dead, START, NS, 0, 'k'))
      chownSync(otherUser, 65534, 65534)
    }

    const result = await sweepStaleInvocationDirs()
    expect(result.removed.sort()).toEqual([...gone].sort())
    expect(result.notes).toEqual([])
    for (const dir of gone) expect([dir, existsSync(dir)]).toEqual([dir, false])
    for (const dir of kept) expect([dir, present(dir)]).toEqual([dir, true])
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep')
    expect(readFileSync(file, 'utf8')).toBe('a file')
    if (otherUser !== undefined) expect(present(otherUser)).toBe(true)
    for (const dir of [...kept, outside, link, file, ...(otherUser === undefined ? [] : [otherUser])]) await rm(dir, { recursive: true, force: true })
  })

  it('a dead owner\'s dir whose journal lists resources goes to onJournal, not to rm; without onJournal it waits', async () => {
    const dir = dirWith(named(deadPid(), START, NS, 0, 'm'), { '.journal': `${JSON.stringify({ kind: 's3', bucket: 'scratch', key: 'tmp/a', versionIds: [] })}\n` })
    const handed: Array<[string, unknown[]]> = []
    const first = await sweepStaleInvocationDirs((d, journal) => { handed.push([d, journal.entries]) })
    expect(handed).toEqual([[dir, [{ kind: 's3', bucket: 'scratch', key: 'tmp/a', versionIds: [] }]]])
    expect(first).toEqual({ removed: [], notes: [] })
    expect(present(dir)).toBe(true)
    expect(await sweepStaleInvocationDirs()).toEqual({ removed: [], notes: [] })
    expect(existsSync(join(dir, '.journal'))).toBe(true)
    await rm(dir, { recursive: true, force: true })
  })

  it('a journal with nothing replayable is noted (malformed lines) and its dir removed; a dir without journal gets no note', async () => {
    const junk = dirWith(named(deadPid(), START, NS, 0, 'n'), { '.journal': 'not json\n{"kind":"s3"}\n' })
    const plain = dirWith(named(deadPid(), START, NS, 0, 'o'))
    const result = await sweepStaleInvocationDirs(() => { throw new Error('nothing replayable: never called') })
    expect(result.removed.sort()).toEqual([junk, plain].sort())
    expect(result.notes).toEqual([`${join(junk, '.journal')}: 2 malformed line(s) skipped`])
  })

  it('a TMPDIR that cannot be read gives an empty result, never a rejection', async () => {
    await rm(tmp, { recursive: true, force: true })
    await expect(sweepStaleInvocationDirs()).resolves.toEqual({ removed: [], notes: [] })
  })
})
