// Figures for the bundling recipes (docs/recipes.md § Bundling): bundles
// __tests__/fixtures/bundling-handler.ts with each documented esbuild command line
// (__tests__/support/bundling-recipes.mjs), and bundling-package-only.ts (Middy and the
// package, no SDK client) with two of them, then imports each bundle in N fresh `node`
// processes and prints the bundle size and the median import time (module evaluation,
// top-level await included; no AWS_LAMBDA_RUNTIME_API, so no extension registration).
// Informational: CI prints it, nothing is asserted (__tests__/bundler-recipes-load-and-clean-up.test.ts asserts).
// Usage: node .ci/bundle-figures.mjs [runs=9]
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { bundle, outRoot, plainEsm, recipes, root } from '../__tests__/support/bundling-recipes.mjs'

const runs = Number(process.argv[2] ?? 9)
const entry = join(root, '__tests__', 'fixtures', 'bundling-handler.ts')
const env = { ...process.env, AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
delete env.AWS_LAMBDA_RUNTIME_API
delete env.NODE_OPTIONS
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

const packageOnly = join(root, '__tests__', 'fixtures', 'bundling-package-only.ts')
const rows = [['recipe', 'SDK', 'bundle', `import (median of ${runs}, min–max)`]]
const cases = [...recipes.map((r) => [r, entry, r.name]), [plainEsm, entry, plainEsm.name],
  // the package's own share: Middy + middy-cleanup, no SDK client in the handler
  ...[recipes[0], recipes[2]].map((r) => [r, packageOnly, `${r.name}, no SDK client`])]
for (const [recipe, input, name] of cases) {
  const { file, bytes } = bundle(recipe, input, join(outRoot, 'figures', name.replace(/[^\w-]+/g, '-')))
  const times = []
  let failure = ''
  for (let i = 0; i < runs && failure === ''; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t))`],
    { env, encoding: 'utf8' })
    if (r.status !== 0) failure = (r.stderr.match(/^\w*Error: .*$/m) ?? [`exit ${r.status}`])[0]
    else times.push(Number(r.stdout.trim().split('\n').pop()))
  }
  rows.push([name, input === packageOnly ? 'none' : recipe.sdkBundled ? 'bundled' : 'external', `${(bytes / 1024).toFixed(1)} kB`,
    failure !== '' ? `FAILS: ${failure}` : `${median(times).toFixed(1)} ms (${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)})`])
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
const line = (r) => `| ${r.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`
console.log(`Node ${process.version}, ${runs} fresh processes per bundle`)
console.log(line(rows[0]))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const r of rows.slice(1)) console.log(line(r))
