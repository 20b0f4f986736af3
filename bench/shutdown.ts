// Scenario 5: time from SIGTERM to exit of a real child process.
// 3 teardowns of 100 ms: `shutdown()` (concurrent, deadline-bound) vs the aws-samples
// handler (sequential awaits, then process.exit(0)); plus one teardown that never settles.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { QUICK, ROOT, now } from './common.js'
import { type Section, ms, ratio, renderTable, stats } from './table.js'

const FIXTURE = join(ROOT, 'bench', 'fixtures', 'shutdown-child.mjs')
/** Stands in for the end of Lambda's shutdown phase: a child still alive by then is SIGKILLed. */
const KILL_AFTER_MS = 1500

interface Run { exitMs: number, code: number | null, signal: string | null, killed: boolean, report?: { teardowns: Array<{ name: string, status: string, durationMs: number }> } }

const runChild = (style: string, teardowns: string): Promise<Run> => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [FIXTURE, style, teardowns], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let sentAt: number | undefined
  let killed = false
  let killTimer: NodeJS.Timeout | undefined
  const startTimer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`shutdown-child ${style} ${teardowns} did not get ready in 20 s:\n${stderr}`)) }, 20_000)
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    if (sentAt === undefined && stdout.includes('ready\n')) {
      clearTimeout(startTimer)
      sentAt = now()
      child.kill('SIGTERM')
      killTimer = setTimeout(() => { killed = true; child.kill('SIGKILL') }, KILL_AFTER_MS)
    }
  })
  child.once('error', reject)
  child.once('exit', (code, signal) => {
    const exitedAt = now()
    clearTimeout(startTimer)
    if (killTimer !== undefined) clearTimeout(killTimer)
    if (sentAt === undefined) { reject(new Error(`shutdown-child ${style} ${teardowns} exited (${code ?? signal}) before it was ready:\n${stderr}`)); return }
    const line = stdout.split('\n').find((l) => l.startsWith('report '))
    resolve({ exitMs: exitedAt - sentAt, code, signal, killed, ...(line !== undefined ? { report: JSON.parse(line.slice(7)) } : {}) })
  })
})

export const runShutdownBench = async (): Promise<Section> => {
  const rounds = QUICK ? 1 : 3
  const cases: Array<{ label: string, style: string, teardowns: string }> = [
    { label: 'bare SIGTERM → exit (no teardowns; the floor)', style: 'bare', teardowns: '3x100' },
    { label: 'aws-samples style: 3 × 100 ms, sequential awaits', style: 'sequential', teardowns: '3x100' },
    { label: 'middy-cleanup `shutdown()`: 3 × 100 ms', style: 'middy-cleanup', teardowns: '3x100' },
    { label: 'aws-samples style: 2 × 100 ms + 1 hanging', style: 'sequential', teardowns: 'hang' },
    { label: 'middy-cleanup `shutdown()`: 2 × 100 ms + 1 hanging (deadline 400 ms)', style: 'middy-cleanup', teardowns: 'hang' },
  ]
  const results = new Map<string, Run[]>()
  // interleaved rounds, so machine load drifts over all cases alike
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const run = await runChild(c.style, c.teardowns)
      results.set(c.label, [...(results.get(c.label) ?? []), run])
    }
  }
  const rows = cases.map((c) => {
    const runs = results.get(c.label)!
    const s = stats(runs.map((x) => x.exitMs))
    const exits = [...new Set(runs.map((x) => x.killed ? 'SIGKILL (still running)' : x.signal ?? `code ${x.code}`))].join(', ')
    const report = runs.find((x) => x.report !== undefined)?.report
    const statuses = report === undefined ? '–' : report.teardowns.map((t) => `${t.name} ${t.status}`).join(', ')
    return [c.label, runs.every((x) => x.killed) ? `> ${KILL_AFTER_MS} ms` : ms(s.median), runs.every((x) => x.killed) ? '–' : ms(s.p95), exits, statuses, String(runs.length)]
  })
  const med = (label: string): number => stats(results.get(label)!.map((x) => x.exitMs)).median
  const seq = med(cases[1]!.label)
  const mc = med(cases[2]!.label)
  const hang = results.get(cases[4]!.label)!
  for (const run of [...results.get(cases[2]!.label)!, ...hang]) {
    if (run.killed || run.code !== 0) throw new Error(`bench: a shutdown() child did not exit 0 by itself (code ${run.code}, signal ${run.signal}, killed ${run.killed})`)
  }
  return {
    title: '5. Shutdown: SIGTERM → process exit (real child processes)',
    table: renderTable(['case', 'median', 'p95', 'exit', 'teardown report', 'rounds'], rows),
    notes: [
      `3 × 100 ms teardowns: sequential ÷ shutdown() = ${ratio(seq, mc)} (${ms(seq)} vs ${ms(mc)}). With a hanging teardown, shutdown() exits at its deadline (median ${ms(stats(hang.map((x) => x.exitMs)).median)} for timeoutMs 400) while the aws-samples handler never exits on its own: the parent SIGKILLs it after ${KILL_AFTER_MS} ms, as Lambda does at the end of the shutdown phase.`,
      'Each child (node + @middy/core + the built package) handles one invocation through a Middy handler, keeps a ref\'ed interval as the runtime\'s long poll would, and is sent a real SIGTERM; time is measured by the parent from kill() to the exit event.',
    ],
    summary: { 'shutdown, 3 × 100 ms teardowns': `shutdown() ${ms(mc)} vs sequential ${ms(seq)} (${ratio(seq, mc)}); hanging teardown: exits at ${ms(stats(hang.map((x) => x.exitMs)).median)} (deadline 400 ms)` },
  }
}
