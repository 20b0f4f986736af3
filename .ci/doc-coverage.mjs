// Lists the package's exports whose TSDoc has no @example (the house rule: every export
// has one). Reads typedoc's JSON model: `node .ci/doc-coverage.mjs <api.json> [--strict]`.
// Informational by default; --strict (what .ci/run uses) exits 1 when any is missing.
import { readFileSync } from 'node:fs'

const [file, flag] = process.argv.slice(2)
const model = JSON.parse(readFileSync(file, 'utf8'))
const kinds = { 8: 'enum', 32: 'const', 64: 'function', 128: 'class', 256: 'interface', 2097152: 'type' }
const exports = model.children?.[0]?.kind === 2 ? model.children[0].children ?? [] : model.children ?? []
const hasExample = (comment) => (comment?.blockTags ?? []).some((t) => t.tag === '@example')
const missing = exports.filter((d) => !hasExample(d.comment) && !(d.signatures ?? []).some((s) => hasExample(s.comment)))
console.log(`TSDoc @example: ${exports.length - missing.length}/${exports.length} exports have one`)
if (missing.length > 0) console.log(`  without: ${missing.map((d) => `${kinds[d.kind] ?? d.kind} ${d.name}`).join(', ')}`)
process.exitCode = flag === '--strict' && missing.length > 0 ? 1 : 0
