// G10 (leak part): leak findings judge growth per type and target, so unrelated churn
// neither hides nor invents a leak. Issue 12 obs 14 on every Middy major (child
// processes, real S3 server), then a property over random churn around a steady leak.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { fc, test } from '@fast-check/jest'
import { spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanup, type LeakFinding } from '../src/index.js'
import { leakStats } from '../src/leaks/detector.js'
import { HandleJudge } from '../src/leaks/handles.js'
import type { FdInfo } from '../src/leaks/fds.js'
import { backends } from './support/backends.js'
import { lambdaContext, middyVersions } from './support/middy.js'
import { closeSocket, connectTo, recorder, type ServerChild, startServer } from './fixtures/leaks-support.js'

const dataFile = join(process.cwd(), 'package.json')

describe('HandleJudge on synthetic readings (what /proc/self/fd and getActiveResourcesInfo() would say)', () => {
  type Fd = [number, FdInfo['cls'], string]
  const fds = (...list: Fd[]): Map<number, FdInfo> => new Map(list.map(([fd, cls, id]) => [fd, { cls, id }]))
  const none = new Map<string, number>()
  /** Feeds (start, end) readings of consecutive sampled invocations; returns the invocation numbers with a verdict. */
  const feed = (judge: HandleJudge, steps: Array<[Map<number, FdInfo> | undefined, Map<number, FdInfo> | undefined, Map<string, number>?, Map<string, number>?]>) =>
    steps.flatMap(([a, b, ha, hb], i) => judge.judge(ha ?? none, hb ?? none, a, b) === undefined ? [] : [i + 1])

  it('a closed socket\'s number taken by a leaked file is a new file, not "no change"', () => {
    const judge = new HandleJudge(3)
    const v = [
      judge.judge(none, none, fds([90020, 'socket', '9:100']), fds([90020, 'file', '8:5'])),
      judge.judge(none, none, fds([90020, 'file', '8:5'], [90021, 'socket', '9:101']), fds([90020, 'file', '8:5'], [90021, 'file', '8:5'])),
      judge.judge(none, none, fds([90020, 'file', '8:5'], [90021, 'file', '8:5'], [90022, 'socket', '9:102']), fds([90020, 'file', '8:5'], [90021, 'file', '8:5'], [90022, 'file', '8:5'])),
    ]
    expect(v.slice(0, 2)).toEqual([undefined, undefined])
    expect(v[2]).toMatchObject({ growth: 1, details: { invocations: 3, byType: { 'fd:file': 3 }, fds: { before: 1, after: 3 } } })
  })

  it('a pool replacing its socket every invocation never grows; the same with one more socket kept each time does', () => {
    const pool = new HandleJudge(3)
    expect(feed(pool, [
      [fds(), fds([90030, 'socket', '9:1'])],
      [fds([90030, 'socket', '9:1']), fds([90030, 'socket', '9:2'])],
      [fds([90030, 'socket', '9:2']), fds([90031, 'socket', '9:3'])],
      [fds([90031, 'socket', '9:3']), fds([90030, 'socket', '9:4'])],
    ])).toEqual([])
    const leak = new HandleJudge(3)
    expect(feed(leak, [
      [fds(), fds([90030, 'socket', '9:1'], [90031, 'socket', '9:11'])],
      [fds([90030, 'socket', '9:1'], [90031, 'socket', '9:11']), fds([90030, 'socket', '9:2'], [90031, 'socket', '9:11'], [90032, 'socket', '9:12'])],
      [fds([90030, 'socket', '9:2'], [90031, 'socket', '9:11'], [90032, 'socket', '9:12']), fds([90030, 'socket', '9:3'], [90031, 'socket', '9:11'], [90032, 'socket', '9:12'], [90033, 'socket', '9:13'])],
    ])).toEqual([3])
  })

  it('an invocation that leaves nothing new resets the streak; one that closes a kept descriptor restarts it', () => {
    const judge = new HandleJudge(3)
    const a = fds([90040, 'file', '8:1'])
    const ab = fds([90040, 'file', '8:1'], [90041, 'file', '8:2'])
    expect(feed(judge, [
      [fds(), a], [a, ab], [ab, ab], // the third left nothing new
      [ab, fds([90040, 'file', '8:1'], [90041, 'file', '8:2'], [90042, 'file', '8:3'])],
    ])).toEqual([])
    const restarted = new HandleJudge(2)
    expect(feed(restarted, [
      [fds(), fds([90050, 'pipe', '12:1'])],
      [fds([90050, 'pipe', '12:1']), fds([90051, 'pipe', '12:2'])], // 12:1 closed, 12:2 opened: replaced
      [fds([90051, 'pipe', '12:2']), fds([90051, 'pipe', '12:2'], [90052, 'pipe', '12:3'])],
    ])).toEqual([3])
  })

  it('a file reopened every invocation beside a new file each time: the finding counts and names the new files only', () => {
    const judge = new HandleJudge(3)
    const v = [
      judge.judge(none, none, fds(), fds([90060, 'file', '8:100'], [90070, 'file', '8:1'])),
      judge.judge(none, none, fds([90060, 'file', '8:100'], [90070, 'file', '8:1']), fds([90061, 'file', '8:100'], [90070, 'file', '8:1'], [90071, 'file', '8:2'])),
      judge.judge(none, none, fds([90061, 'file', '8:100'], [90070, 'file', '8:1'], [90071, 'file', '8:2']), fds([90060, 'file', '8:100'], [90070, 'file', '8:1'], [90071, 'file', '8:2'], [90072, 'file', '8:3'])),
    ]
    expect(v[2]).toMatchObject({ growth: 1, details: { invocations: 3, byType: { 'fd:file': 3 } } })
  })

  it('without /proc: a handle type grows when its count rises in the invocation and ends above the last one', () => {
    const h = (n: number): Map<string, number> => new Map([['TCPSocketWrap', n], ['Timeout', 1]])
    const rising = new HandleJudge(3)
    expect(feed(rising, [[undefined, undefined, h(1), h(2)], [undefined, undefined, h(2), h(3)], [undefined, undefined, h(3), h(4)]])).toEqual([3])
    expect(rising.judge(h(4), h(5), undefined, undefined)).toMatchObject({ growth: 1, details: { invocations: 4, byType: { TCPSocketWrap: 4 } } })
    // a socket opened each invocation while an older one closes between invocations: the level stays
    const flat = new HandleJudge(3)
    expect(feed(flat, [[undefined, undefined, h(1), h(2)], [undefined, undefined, h(1), h(2)], [undefined, undefined, h(1), h(2)], [undefined, undefined, h(1), h(2)]])).toEqual([])
  })

  it('confirm: 1 reports the first growth; byType holds only what grew', () => {
    const judge = new HandleJudge(1)
    const v = judge.judge(new Map([['Timeout', 2]]), new Map([['Timeout', 1], ['TCPSocketWrap', 1]]), fds([90003, 'anon', '16:17']), fds([90004, 'socket', '9:5']))
    expect(v).toMatchObject({ growth: 1, details: { invocations: 1, byType: { 'fd:socket': 1, TCPSocketWrap: 1 } } })
    expect(Object.keys(v!.details.byType).sort()).toEqual(['TCPSocketWrap', 'fd:socket'])
  })

  it('names the class of what grew: fd:pipe, fd:anon, fd:other; targets only of descriptors still there (a closed one has none)', () => {
    for (const [cls, type] of [['pipe', 'fd:pipe'], ['anon', 'fd:anon'], ['other', 'fd:other'], ['socket', 'fd:socket']] as const) {
      const judge = new HandleJudge(1)
      const v = judge.judge(none, none, fds(), fds([90001, cls, '7:1']))
      expect(v?.details.byType).toEqual({ [type]: 1 })
      expect(v?.details.targets).toHaveLength(0) // 90001 is not open in this process: readlink finds nothing
    }
  })

  it('two descriptors left open per invocation count twice; more than five targets are cut to five', () => {
    const judge = new HandleJudge(3)
    const open: Fd[] = []
    let v
    for (let i = 0; i < 3; i++) {
      const before = fds(...open)
      open.push([90100 + 2 * i, 'socket', `9:${2 * i}`], [90101 + 2 * i, 'socket', `9:${2 * i + 1}`])
      v = judge.judge(none, none, before, fds(...open))
    }
    expect(v).toMatchObject({ growth: 2, details: { invocations: 3, byType: { 'fd:socket': 6 } } })
    // real descriptors: seven files opened here, seven distinct targets
    const dir = mkdtempSync(join(tmpdir(), 'leaks-targets-'))
    const opened = Array.from({ length: 7 }, (_, i) => { const p = join(dir, `f${i}`); writeFileSync(p, 'x'); return openSync(p, 'r') })
    try {
      const many = new HandleJudge(1)
      const targets = many.judge(none, none, fds(), fds(...opened.map((fd, i): Fd => [fd, 'file', `8:${1000 + i}`])))?.details.targets
      expect(targets).toEqual(opened.slice(0, 5).map((_, i) => join(dir, `f${i}`)))
    } finally {
      for (const fd of opened) closeSync(fd)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keys confirmed together: each is named, fds.before is where the longest streak started', () => {
    const judge = new HandleJudge(3)
    const open: Fd[] = [[90200, 'anon', '16:17']]
    const verdicts = []
    for (let i = 0; i < 4; i++) {
      const before = fds(...open)
      // a socket each invocation from the 2nd (listed first, as /proc lists lower numbers first: judged first)
      if (i > 0) open.push([90250 + i, 'socket', `9:${400 + i}`])
      open.push([90300 + i, 'file', `8:${300 + i}`]) // a new file each invocation (all-files key) from the 1st
      verdicts.push(judge.judge(none, none, before, fds(...open)))
    }
    expect(verdicts.slice(0, 2)).toEqual([undefined, undefined])
    expect(verdicts[2]!.details.byType).toEqual({ 'fd:file': 3 })
    expect(verdicts[3]).toMatchObject({ details: { invocations: 4, byType: { 'fd:file': 4, 'fd:socket': 3 }, fds: { before: 1, after: 8 } } })
    expect(verdicts[3]!.growth).toBe(2)
  })

  it('a handle type that grew alone (fds unchanged) gives no fds figures; a type that vanished or stayed flat resets its streak', () => {
    const same = fds([90500, 'socket', '9:500'])
    const t = (n: number): Map<string, number> => n === 0 ? new Map() : new Map([['Timeout', n]])
    const judge = new HandleJudge(2)
    expect(judge.judge(t(1), t(2), same, same)).toBeUndefined()
    const v = judge.judge(t(2), t(3), same, same)
    expect(v).toMatchObject({ growth: 1, details: { invocations: 2, byType: { Timeout: 2 } } })
    expect(v!.details.fds).toBeUndefined()
    // vanished, then back higher than ever: a new streak
    const gone = new HandleJudge(2)
    expect(feed(gone, [[same, same, t(1), t(2)], [same, same, t(2), t(0)], [same, same, t(0), t(5)]])).toEqual([])
    // flat in between: a new streak
    const flat = new HandleJudge(2)
    expect(feed(flat, [[same, same, t(1), t(2)], [same, same, t(2), t(2)], [same, same, t(2), t(3)]])).toEqual([])
  })
})

// In a sequential Lambda runtime a sampled invocation that directly follows another
// starts from that one's end reading (src/leaks/detector.ts): both ways are proven.
// (off Lambda the titles are the ones docs/guarantees.md names)
const runtimes: Array<[string, boolean]> = [['', false], [', in a sequential Lambda runtime', true]]

describe.each(runtimes)('issue 12 obs 14: a FileHandle leak after unrelated keep-alive socket churn (real S3 server, each Middy major)%s', (_where, sequential) => {
  // fauxqs (a real S3 emulator that keeps connections alive, as AWS endpoints do; moto
  // answers `Connection: close`) behind a relay in a child process that closes one idle
  // pooled connection on command
  let relay: ServerChild
  beforeAll(async () => { relay = await startServer('relay', backends().find((b) => b.name === 'embedded')!.s3Endpoint) })
  afterAll(() => { relay.child.kill() })

  interface ChurnRun { foundAt: number | null, pooledSockets: number, serverClosed: number, finding?: LeakFinding, allFindings: LeakFinding[] }
  const run = (major: number, mode: 'fresh' | 'churn'): Promise<ChurnRun> => new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL('./fixtures/leaks-churn.ts', import.meta.url))
    const env = { ...process.env }
    delete env.AWS_LAMBDA_MAX_CONCURRENCY
    if (sequential) env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9'
    else delete env.AWS_LAMBDA_RUNTIME_API
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', script, String(major), mode, String(relay.port), String(relay.control)], { stdio: ['ignore', 'pipe', 'inherit'], env })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out) as ChurnRun) : reject(new Error(`leaks-churn.ts ${major} ${mode}: exit ${code}`)))
  })

  it.each(middyVersions.map((v) => v.major))('Middy %i: found by the same invocation as in a fresh process, and the churned sockets are not named', async (major) => {
    const [fresh, churn] = await Promise.all([run(major, 'fresh'), run(major, 'churn')])
    expect(fresh.foundAt).toBe(3)
    // the scenario is real: earlier handlers left pooled keep-alive sockets, and the server
    // closed one of them inside each leaky invocation
    expect(churn.pooledSockets).toBeGreaterThanOrEqual(3)
    expect(churn.serverClosed).toBe(churn.foundAt ?? 6)
    expect(churn.foundAt).toBe(fresh.foundAt)
    expect(churn.finding).toMatchObject({ kind: 'handles', growth: 1, details: { invocations: 3, byType: { 'fd:file': 3 }, targets: [dataFile] } })
    for (const f of churn.allFindings) {
      expect(f.kind === 'handles' && Object.keys(f.details.byType)).toEqual(['fd:file'])
      expect(f.kind === 'handles' && f.details.targets.some((t) => t.startsWith('socket:'))).toBe(false)
    }
  })
})

describe.each(runtimes)('property: random unrelated churn around a steady leak of one type%s', (_where, sequential) => {
  const saved = { api: process.env.AWS_LAMBDA_RUNTIME_API, max: process.env.AWS_LAMBDA_MAX_CONCURRENCY }
  beforeAll(() => {
    delete process.env.AWS_LAMBDA_MAX_CONCURRENCY
    if (sequential) process.env.AWS_LAMBDA_RUNTIME_API = '127.0.0.1:9'
    else delete process.env.AWS_LAMBDA_RUNTIME_API
  })
  afterAll(() => {
    if (saved.api === undefined) delete process.env.AWS_LAMBDA_RUNTIME_API
    else process.env.AWS_LAMBDA_RUNTIME_API = saved.api
    if (saved.max !== undefined) process.env.AWS_LAMBDA_MAX_CONCURRENCY = saved.max
  })

  // Churn actions, run inside an invocation. "old" handles were opened before the first
  // invocation (an earlier pool, a file opened at init); "rotating" ones live from one
  // invocation to the next (a pool replacing its connection, a log file reopened).
  const CHURN = ['open-close-socket', 'open-close-file', 'close-old-socket', 'close-old-file', 'rotate-socket', 'rotate-file'] as const
  type Churn = typeof CHURN[number]
  type Leak = 'none' | 'file' | 'file-per-path' | 'socket'
  const CONFIRM = 3 // the default
  const INVOCATIONS = 4

  let server: ServerChild
  const dir = mkdtempSync(join(tmpdir(), 'leaks-churn-'))
  const churnFiles = ['a.log', 'b.log'].map((n) => join(dir, n))
  const leakFiles = Array.from({ length: INVOCATIONS }, (_, i) => join(dir, `out-${i}.csv`))
  beforeAll(async () => {
    for (const f of [...churnFiles, ...leakFiles]) writeFileSync(f, 'x')
    server = await startServer('tcp')
  })
  afterAll(() => {
    server.child.kill()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Which finding types and targets a leak may be named by; anything else named is churn mistaken for a leak. */
  const allowed = (leak: Leak): { types: string[], target: (t: string) => boolean } => {
    switch (leak) {
      case 'file': return { types: ['fd:file'], target: (t) => t === dataFile }
      case 'file-per-path': return { types: ['fd:file'], target: (t) => leakFiles.includes(t) }
      case 'socket': return { types: ['fd:socket', 'TCPSocketWrap'], target: (t) => t.startsWith('socket:') }
      case 'none': return { types: [], target: () => false }
    }
  }

  test.prop({
    major: fc.constantFrom(...middyVersions.map((v) => v.major)),
    leak: fc.constantFrom<Leak>('none', 'file', 'file-per-path', 'socket'),
    churn: fc.array(fc.array(fc.constantFrom<Churn>(...CHURN), { maxLength: 5 }), { minLength: INVOCATIONS, maxLength: INVOCATIONS }),
    leakAt: fc.array(fc.nat({ max: 5 }), { minLength: INVOCATIONS, maxLength: INVOCATIONS }),
  }, { numRuns: 50 })('the leak is found at the 3rd invocation as without churn, no finding names a churned type; no leak → no finding', async ({ major, leak, churn, leakAt }) => {
    // Beside a leak of a class whose members are anonymous (sockets; files when each
    // invocation leaks another file), churn of that same class is only the closing of old
    // ones: that it does not hide the leak is the point. A socket or a file that another
    // invocation opens and keeps open is, to anyone looking, one more left open.
    const sameClass = leak === 'socket' ? 'socket' : leak === 'file-per-path' ? 'file' : undefined
    const plan = sameClass === undefined ? churn : churn.map((c) => c.filter((a) => !a.endsWith(sameClass) || a.startsWith('close-old') || a.startsWith('open-close')))
    const leakedFiles: FileHandle[] = []
    const leakedSockets: Socket[] = []
    const oldSockets = await Promise.all([1, 2, 3, 4].map(async () => (await connectTo(server.port)).unref())) // pooled: unref'd
    const oldFiles = await Promise.all(churnFiles.map((f) => open(f, 'r')))
    let rotatingSocket: Socket | undefined
    let rotatingFile: FileHandle | undefined
    const doChurn = async (a: Churn): Promise<void> => {
      switch (a) {
        case 'open-close-socket': { const s = await connectTo(server.port); s.write('x'); await closeSocket(s); break }
        case 'open-close-file': { const fh = await open(churnFiles[0]!, 'r'); await fh.stat(); await fh.close(); break }
        case 'close-old-socket': { const s = oldSockets.shift(); if (s !== undefined) await closeSocket(s); break }
        case 'close-old-file': { await oldFiles.shift()?.close(); break }
        case 'rotate-socket': { if (rotatingSocket !== undefined) await closeSocket(rotatingSocket); rotatingSocket = await connectTo(server.port); break }
        case 'rotate-file': { await rotatingFile?.close(); rotatingFile = await open(churnFiles[1]!, 'r'); break }
      }
    }
    const doLeak = async (i: number): Promise<void> => {
      if (leak === 'file') leakedFiles.push(await open(dataFile, 'r'))
      if (leak === 'file-per-path') leakedFiles.push(await open(leakFiles[i]!, 'r'))
      if (leak === 'socket') leakedSockets.push(await connectTo(server.port))
    }
    const r = recorder()
    const middy = middyVersions.find((v) => v.major === major)!.middy
    const handler = middy().use(cleanup({ detectLeaks: { tmp: false, memory: false, globals: false, onLeak: r.onLeak }, logger: r.logger, onReport: r.onReport }))
      .handler(async (event: { i: number }) => {
        const actions = plan[event.i]!
        const at = Math.min(leakAt[event.i]!, actions.length)
        for (let k = 0; k <= actions.length; k++) {
          if (k === at) await doLeak(event.i)
          if (k < actions.length) await doChurn(actions[k]!)
        }
      })
    const samplesBefore = leakStats().samples
    try {
      for (let i = 0; i < INVOCATIONS; i++) await handler({ i }, lambdaContext())
      expect(leakStats().samples - samplesBefore).toBe(INVOCATIONS)
      const perInvocation = r.reports.map((rep) => (rep.leaks ?? []).filter((f) => f.kind === 'handles').length)
      expect(perInvocation).toEqual(leak === 'none' ? [0, 0, 0, 0] : [0, 0, 1, 1])
      const { types, target } = allowed(leak)
      for (const f of r.leaks) {
        if (f.kind !== 'handles') continue
        for (const t of Object.keys(f.details.byType)) expect(types).toContain(t)
        for (const t of f.details.targets) expect(target(t)).toBe(true)
        expect(f.details.invocations).toBeGreaterThanOrEqual(CONFIRM)
      }
      if (leak === 'file') expect(r.leaks[0]).toMatchObject({ growth: 1, details: { byType: { 'fd:file': 3 }, targets: [dataFile] } })
    } finally {
      for (const fh of [...leakedFiles, ...oldFiles, ...(rotatingFile === undefined ? [] : [rotatingFile])]) await fh.close()
      for (const s of [...leakedSockets, ...oldSockets, ...(rotatingSocket === undefined ? [] : [rotatingSocket])]) await closeSocket(s)
    }
  })
})
