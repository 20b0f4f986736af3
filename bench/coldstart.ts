// Scenario 6: cold-start cost. Time to import the package in a fresh Node process
// (median of 20 processes) vs @middy/core alone, and the size of what npm publishes.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { QUICK, ROOT } from './common.js'
import { type Section, kb, ms, ratio, renderTable, stats } from './table.js'

const FIXTURE = join(ROOT, 'bench', 'fixtures', 'import-time.mjs')

interface Probe { imports: Array<{ spec: string, ms: number }>, startToReadyMs: number }

const probe = (specs: string[]): Probe => {
  // cwd and the fixture's location are inside the package, so 'middy-cleanup' resolves
  // to dist/index.js through the package's own "exports" (self-reference), as for a user.
  const r = spawnSync(process.execPath, [FIXTURE, ...specs], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
  if (r.status !== 0) throw new Error(`bench: import probe ${specs.join(' ')} failed (${r.status}):\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe
}

const dirSize = (dir: string): { bytes: number, files: number } => {
  let bytes = 0
  let files = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) { const s = dirSize(p); bytes += s.bytes; files += s.files } else { bytes += statSync(p).size; files++ }
  }
  return { bytes, files }
}

export const runColdStart = (): Section => {
  const n = QUICK ? 3 : 20
  const cases = [
    { label: '`@middy/core` alone', specs: ['@middy/core'], pick: 0 },
    { label: '`middy-cleanup` alone', specs: ['middy-cleanup'], pick: 0 },
    { label: '`middy-cleanup` after `@middy/core` (what it adds)', specs: ['@middy/core', 'middy-cleanup'], pick: 1 },
  ]
  const importMs = new Map<string, number[]>(cases.map((c) => [c.label, []]))
  const readyMs = new Map<string, number[]>(cases.map((c) => [c.label, []]))
  probe(['@middy/core', 'middy-cleanup']) // warm the OS file cache once
  for (let i = 0; i < n; i++) {
    for (const c of cases) {
      const p = probe(c.specs)
      importMs.get(c.label)!.push(p.imports[c.pick]!.ms)
      readyMs.get(c.label)!.push(p.startToReadyMs)
    }
  }
  const rows = cases.map((c) => {
    const s = stats(importMs.get(c.label)!)
    const r = stats(readyMs.get(c.label)!)
    return [c.label, ms(s.median), ms(s.p95), ms(r.median), String(s.n)]
  })
  const core = stats(importMs.get(cases[0]!.label)!).median
  const ours = stats(importMs.get(cases[1]!.label)!).median
  const added = stats(importMs.get(cases[2]!.label)!).median

  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })
  if (pack.status !== 0) throw new Error(`bench: npm pack --dry-run failed:\n${pack.stderr}`)
  const info = (JSON.parse(pack.stdout) as Array<{ size: number, unpackedSize: number, entryCount: number, files: Array<{ path: string, size: number }> }>)[0]!
  const jsBytes = info.files.filter((f) => f.path.startsWith('dist/') && f.path.endsWith('.js')).reduce((a, f) => a + f.size, 0)
  const coreDir = join(ROOT, 'node_modules', '@middy', 'core')
  const coreSize = dirSize(coreDir)
  const sizes = renderTable(['package', 'unpacked', 'tarball', 'files', 'of which runtime JS'], [
    ['middy-cleanup (npm pack --dry-run)', kb(info.unpackedSize), kb(info.size), String(info.entryCount), kb(jsBytes)],
    ['@middy/core (installed)', kb(coreSize.bytes), '–', String(coreSize.files), '–'],
  ])
  return {
    title: '6. Cold start: import time in a fresh process, and published size',
    table: `${renderTable(['import', 'median', 'p95', 'process start → imported (median)', 'processes'], rows)}\n\n${sizes}`,
    notes: [
      `middy-cleanup ÷ @middy/core import time: ${ratio(ours, core)}; on top of an already imported @middy/core it adds ${ms(added)}. The import is of the built dist/index.js through the package's "exports" (self-reference), in a fresh node process each time; the package loads no AWS SDK module at import (its S3/DynamoDB code imports the command classes lazily, when a delete is sent).`,
    ],
    summary: { [`cold start import (median of ${n} processes)`]: `middy-cleanup ${ms(ours)} vs @middy/core ${ms(core)} (${ratio(ours, core)}); adds ${ms(added)} after @middy/core; unpacked ${kb(info.unpackedSize)}` },
  }
}
