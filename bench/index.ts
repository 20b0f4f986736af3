// `npm run bench`: the scenarios of issues #6 and #14, side by side in one run, printed
// as Markdown tables (paste-able into docs/performance.md).
//   BENCH_QUICK=1                 seconds-long smoke run (CI): few rounds, small N; fails only on errors
//   BENCH_BACKEND=moto|embedded   force a backend (default: moto when moto_server is on PATH)
//   BENCH_FULL=1                  also run the slowest cells a default run on moto leaves out
//   BENCH_LOADER=1                measure under tsx's loader instead of plain node (see below)
//
// tsx runs this file, but the measurements run in plain `node`: tsx's ESM loader hooks
// (off-thread on Node 20) make every dynamic `import()` cost ~0.7 ms instead of ~0.01 ms,
// and the package imports the AWS SDK command classes lazily. So this file transpiles
// bench/ into .bench-tmp/ with TypeScript and re-runs itself there without hooks.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Backend } from '../test-support/servers.mjs'
import type { Section } from './table.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const here = dirname(fileURLToPath(import.meta.url))

/** Transpiles bench/*.ts (and copies test-support/servers.mjs, bench/fixtures) into .bench-tmp/, then runs it with plain node. */
const relaunchWithoutLoader = async (): Promise<number> => {
  const { default: ts } = await import('typescript')
  const root = join(here, '..')
  const out = join(root, '.bench-tmp')
  rmSync(out, { recursive: true, force: true })
  mkdirSync(join(out, 'bench', 'fixtures'), { recursive: true })
  mkdirSync(join(out, 'test-support'), { recursive: true })
  for (const f of readdirSync(here)) {
    if (!f.endsWith('.ts')) continue
    const js = ts.transpileModule(readFileSync(join(here, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: f,
    }).outputText
    writeFileSync(join(out, 'bench', f.replace(/\.ts$/, '.js')), js)
  }
  copyFileSync(join(root, 'test-support', 'servers.mjs'), join(out, 'test-support', 'servers.mjs'))
  // an ESM scope for the transpiled files (the root package.json is "type": "module" too, but be explicit)
  writeFileSync(join(out, 'package.json'), '{ "type": "module", "private": true }\n')
  const r = spawnSync(process.execPath, [join(out, 'bench', 'index.js')], { stdio: 'inherit', env: { ...process.env, BENCH_RELAUNCHED: '1' } })
  return r.status ?? 1
}

const main = async (): Promise<number> => {
  const { FULL, QUICK, chooseBackend, ensureBuilt, loadLib, startBackend } = await import('./common.js')
  const { runOverhead } = await import('./overhead.js')
  const { runS3 } = await import('./s3.js')
  const { runDynamo } = await import('./dynamodb.js')
  const { runMixed } = await import('./mixed.js')
  const { runLarge } = await import('./large.js')
  const { runScale } = await import('./scale.js')
  const { runShutdownBench } = await import('./shutdown.js')
  const { runColdStart } = await import('./coldstart.js')
  const { printSection } = await import('./table.js')

  const started = performance.now()
  const choice = chooseBackend()
  const build = ensureBuilt()
  const lib = await loadLib()

  console.log('# middy-cleanup benchmark')
  console.log('')
  console.log(`- date: ${new Date().toISOString()}`)
  console.log(`- node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}`)
  console.log(`- backend: ${choice.name} — ${choice.why}`)
  console.log(`- mode: ${QUICK ? 'BENCH_QUICK (smoke run: few rounds, small N — numbers are indicative only)' : FULL ? 'full (BENCH_FULL=1)' : 'default'}`)
  console.log(`- library: dist/ (${build}); runner: ${process.env.BENCH_RELAUNCHED === '1' ? 'plain node (bench transpiled to .bench-tmp/)' : 'tsx loader (BENCH_LOADER=1)'}`)

  const sections: Section[] = []
  const show = (s: Section): void => { sections.push(s); printSection(s) }

  let backend: Backend | undefined
  let failed = false
  try {
    // BENCH_ONLY=overhead,s3 runs a subset (for profiling one scenario); default: all
    const only = new Set((process.env.BENCH_ONLY ?? '').split(',').map((x) => x.trim()).filter((x) => x !== ''))
    const wanted = (name: string): boolean => only.size === 0 || only.has(name)
    // in-process overhead first, before any server shares this event loop
    if (wanted('overhead')) show(await runOverhead(lib))
    if (wanted('s3') || wanted('dynamodb') || wanted('mixed')) {
      backend = await startBackend(choice.name)
      if (wanted('s3')) show(await runS3(lib, backend))
      if (wanted('dynamodb')) show(await runDynamo(lib, backend))
      if (wanted('mixed')) show(await runMixed(lib, backend))
      await backend.stop()
      backend = undefined
    }
    // The large and scale scenarios run on the embedded servers: the ratio of interest is
    // against a hand-written run on the same server (large) or a modelled limit (scale), and
    // fauxqs takes the 20,000 untimed puts per round in seconds where moto takes minutes.
    if (wanted('large') || wanted('scale')) {
      backend = await startBackend('embedded')
      if (wanted('large')) show(await runLarge(lib, backend))
      if (wanted('scale')) show(await runScale(lib, backend))
      await backend.stop()
      backend = undefined
    }
    if (wanted('shutdown')) show(await runShutdownBench())
    if (wanted('coldstart')) show(runColdStart())
  } catch (e) {
    failed = true
    console.error(`\nbench FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
  } finally {
    await backend?.stop()
  }

  console.log('\n## Summary\n')
  for (const s of sections) for (const [k, v] of Object.entries(s.summary ?? {})) console.log(`- ${k}: ${v}`)
  console.log(`- total bench time: ${((performance.now() - started) / 1000).toFixed(1)} s (backend ${choice.name}${QUICK ? ', BENCH_QUICK' : ''})`)
  return failed ? 1 : 0
}

const useLoader = process.env.BENCH_LOADER === '1' || process.env.BENCH_RELAUNCHED === '1'
process.exitCode = useLoader ? await main() : await relaunchWithoutLoader()
