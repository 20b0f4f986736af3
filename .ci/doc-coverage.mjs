// Lists the package's exports whose TSDoc has no @example (the house rule: every export
// has one). Reads typedoc's JSON model: `node .ci/doc-coverage.mjs <api.json> [--strict]`.
// Informational by default; --strict (what .ci/run uses) exits 1 when any is missing.
import { readFileSync } from 'node:fs'

const [file, flag] = process.argv.slice(2)
const model = JSON.parse(readFileSync(file, 'utf8'))
const kinds = { 8: 'enum', 32: 'const', 64: 'function', 128: 'class', 256: 'interface', 2097152: 'type' }
// One entry point: its exports are the project's children; several (middy-cleanup and
// middy-cleanup/durable): each module's children.
const exports = (model.children ?? []).flatMap((c) => c.kind === 2 ? c.children ?? [] : [c])
const byId = new Map()
const index = (d) => { byId.set(d.id, d); for (const c of d.children ?? []) index(c) }
index(model)
const hasExample = (comment) => (comment?.blockTags ?? []).some((t) => t.tag === '@example')
const documented = (d) => hasExample(d.comment) || (d.signatures ?? []).some((s) => hasExample(s.comment))
// A reference (`export { cleanup as default }`) is documented where its target is.
const REFERENCE = 4194304
const missing = exports.filter((d) => !documented(d.kind === REFERENCE && byId.has(d.target) ? byId.get(d.target) : d))
console.log(`TSDoc @example: ${exports.length - missing.length}/${exports.length} exports have one`)
if (missing.length > 0) console.log(`  without: ${missing.map((d) => `${kinds[d.kind] ?? d.kind} ${d.name}`).join(', ')}`)
process.exitCode = flag === '--strict' && missing.length > 0 ? 1 : 0
