// Each test file stands for a fresh process to middy-cleanup: its process-wide state lives
// on the file's own globalThis, and jest reuses a worker (one pid) for many files. The
// package never sweeps a per-invocation dir of its own pid (issue 12, G1), so dirs an
// earlier file of this worker left on purpose (starved budgets, Middy 5 orphans, journal
// fixtures named with this pid) would still be here. A real next process would see a dead
// pid and sweep them; this does the same for the next file, before it starts.
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const prefix = `middy-cleanup-${process.pid}-`
for (const name of readdirSync(tmpdir())) {
  if (name.startsWith(prefix)) rmSync(join(tmpdir(), name), { recursive: true, force: true })
}
