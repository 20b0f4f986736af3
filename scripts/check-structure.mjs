#!/usr/bin/env node
// Holds src/ to the shape issue 14 asked for, measured with the TypeScript compiler
// API (not line greps, which miss arrow functions and count comments as code):
// no import cycle, no function over 60 lines, no file over 300, no class over 200,
// and at most 16 value exports from the package entry. Exits 1 on any breach.
import ts from 'typescript'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'src')
const LIMITS = { file: 300, function: 60, class: 200, valueExports: 16 }

const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [])

const files = walk(src).sort()
const program = ts.createProgram(files, { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowJs: false, noEmit: true })
const breaches = []
const measured = { longestFunction: { lines: 0, where: '' }, longestFile: { lines: 0, where: '' }, longestClass: { lines: 0, where: '' } }
const lineOf = (sf, pos) => sf.getLineAndCharacterOfPosition(pos).line
const span = (sf, node) => lineOf(sf, node.getEnd()) - lineOf(sf, node.getStart(sf)) + 1
const nameOf = (node) => {
  if (node.name !== undefined && ts.isIdentifier(node.name)) return node.name.text
  const p = node.parent
  if (p !== undefined && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && ts.isIdentifier(p.name)) return p.name.text
  return '(anonymous)'
}
const note = (kind, lines, where) => { if (lines > measured[kind].lines) measured[kind] = { lines, where } }

const imports = new Map()
for (const file of files) {
  const sf = program.getSourceFile(file)
  const rel = relative(root, file)
  // Lines of the file as written: what a reader has to hold, comments included.
  const fileLines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n').length
  note('longestFile', fileLines, rel)
  if (fileLines > LIMITS.file) breaches.push(`${rel}: ${fileLines} lines (file limit ${LIMITS.file})`)
  const deps = new Set()
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      // Type-only imports are erased: they cannot form a cycle at run time, but they do in the reader's head.
      const spec = node.moduleSpecifier.text
      if (spec.startsWith('.')) deps.add(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    }
    if (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
      if (node.body !== undefined) {
        const lines = span(sf, node)
        const where = `${rel}:${lineOf(sf, node.getStart(sf)) + 1} ${nameOf(node)}`
        note('longestFunction', lines, where)
        if (lines > LIMITS.function) breaches.push(`${where}: function of ${lines} lines (limit ${LIMITS.function})`)
      }
    }
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      const lines = span(sf, node)
      const where = `${rel}:${lineOf(sf, node.getStart(sf)) + 1} class ${nameOf(node)}`
      note('longestClass', lines, where)
      if (lines > LIMITS.class) breaches.push(`${where}: class of ${lines} lines (limit ${LIMITS.class})`)
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  imports.set(file, [...deps].filter((d) => files.includes(d)))
}

// Cycles: depth-first search, each cycle reported once by its smallest rotation.
const cycles = new Set()
const state = new Map()
const stack = []
const dfs = (f) => {
  state.set(f, 'open'); stack.push(f)
  for (const d of imports.get(f) ?? []) {
    if (state.get(d) === 'open') {
      const cyc = stack.slice(stack.indexOf(d)).map((x) => relative(root, x))
      const i = cyc.indexOf([...cyc].sort()[0])
      cycles.add([...cyc.slice(i), ...cyc.slice(0, i)].join(' → '))
    } else if (!state.has(d)) dfs(d)
  }
  stack.pop(); state.set(f, 'done')
}
for (const f of files) if (!state.has(f)) dfs(f)
for (const c of cycles) breaches.push(`import cycle: ${c}`)

// Value exports of the entry, as a consumer's `import * as m` sees them (types excluded).
const entry = program.getSourceFile(join(src, 'index.ts'))
const checker = program.getTypeChecker()
const entrySymbol = entry === undefined ? undefined : checker.getSymbolAtLocation(entry)
const valueExports = entrySymbol === undefined ? [] : checker.getExportsOfModule(entrySymbol).filter((s) => {
  const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s
  // `export type { SomeClass }` gives a consumer the type only: nothing in `import * as m`
  return (target.flags & ts.SymbolFlags.Value) !== 0 && !(s.declarations ?? []).some((d) => ts.isTypeOnlyImportOrExportDeclaration(d))
}).map((s) => s.name).sort()
if (valueExports.length > LIMITS.valueExports) breaches.push(`src/index.ts: ${valueExports.length} value exports (limit ${LIMITS.valueExports}): ${valueExports.join(', ')}`)

const summary = {
  files: files.length,
  valueExports: valueExports.length,
  valueExportNames: valueExports,
  longestFunction: measured.longestFunction,
  longestFile: measured.longestFile,
  longestClass: measured.longestClass,
  cycles: cycles.size,
}
if (process.argv.includes('--json')) console.log(JSON.stringify({ ...summary, breaches }, null, 2))
else {
  console.log(`check-structure: ${files.length} files; ${valueExports.length} value exports; longest function ${measured.longestFunction.lines} lines (${measured.longestFunction.where}); longest file ${measured.longestFile.lines} (${measured.longestFile.where}); longest class ${measured.longestClass.lines} (${measured.longestClass.where}); ${cycles.size} import cycle(s)`)
  for (const b of breaches) console.log(`  ✗ ${b}`)
}
process.exit(breaches.length > 0 ? 1 : 0)
