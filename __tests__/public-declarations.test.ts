// What the package's declaration files give a user (issue 14): the curated entry's names
// and nothing else, no `@internal` declaration (tsconfig.build.json strips them), and
// declarations that still type-check once stripped (skipLibCheck false, no peer
// installed): an `@internal` type that a shipped declaration still names would leave a
// dangling name. .ci/types-check.sh checks the packed tarball the same way in CI; this
// runs on every test run, from src (about 20 s: one declaration emit, two type-checks).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('..', import.meta.url))

// The public surface. A change here is a change of the package's API: deliberate, and in the CHANGELOG.
const VALUES = [
  'CleanupConfigError', 'CleanupDeclarationError', 'CleanupError', 'CleanupScope', 'MARKER_ATTRIBUTE', 'TEMP_TAG',
  'cleanOnEarlyReturn', 'cleanup', 'currentScope', 'default', 'durableCleanup', 'invocationLocal', 'onShutdown', 'shutdown', 'tempKey', 'watch',
]
const TYPES = [
  'AllowOptions', 'CleanupContext', 'CleanupMiddleware', 'CleanupOptions', 'CleanupReport', 'CleanupRequest', 'Closeable',
  'Deadline', 'DeleteContext', 'DeleteOutcome', 'DurableCleanup', 'DurableDeclaration', 'DynamoItemTarget', 'ExecutionCleanup', 'ExitPath', 'ExtensionStatus', 'FailedResource', 'FailureReason', 'FindingOf',
  'GlobalLeakDetails', 'HandleLeakDetails', 'InvocationLocal', 'LambdaContextLike', 'LeakDetectionOptions', 'LeakFinding',
  'LeakKind', 'ListenerResult', 'LogFunction', 'Logger', 'LoggerOption', 'MemoryCheckOptions', 'MemoryLeakDetails', 'MiddlewareLike', 'MultipartUploadTarget',
  'PutItemInput', 'PutItemOptions', 'PutItemOutput', 'PutObjectInput', 'PutObjectOptions', 'PutObjectOutput',
  'RemoteDeleter', 'RemoteResource', 'ResourceKind', 'ResponseMetadata', 'S3ObjectTarget', 'ScopeState', 'SdkClientLike',
  'ShutdownMiddleware', 'ShutdownOptions', 'ShutdownReport', 'Teardown', 'TeardownResult', 'TempDirOptions',
  'TempFileOptions', 'TempKeyOptions', 'TmpCheckOptions', 'TmpLeakDetails', 'UploadLike',
]

let out = ''
let emitted: readonly ts.Diagnostic[] = []

// One line per distinct error (file, code, message) with its count: one missing peer type gives hundreds.
const format = (diagnostics: readonly ts.Diagnostic[]): string => {
  const counts = new Map<string, number>()
  for (const d of diagnostics) {
    const line = `${d.file === undefined ? '' : `${d.file.fileName.slice(out.length + 1)}: `}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    counts.set(line, (counts.get(line) ?? 0) + 1)
  }
  return [...counts].map(([line, n]) => n > 1 ? `${line} (×${n})` : line).join('\n')
}

const declarationFiles = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.d.ts')).map((f) => join(dir, f))

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'middy-cleanup-dts-'))
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), {}, {
    ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(format([d])) },
  })!
  // Declarations only (what the build ships of the types), into a directory of this test.
  const program = ts.createProgram(config.fileNames, { ...config.options, outDir: join(out, 'dist'), emitDeclarationOnly: true, sourceMap: false, inlineSources: false })
  emitted = program.emit().diagnostics
})

afterAll(() => { rmSync(out, { recursive: true, force: true }) })

describe('the declaration files that ship', () => {
  it('are emitted without an error', () => {
    expect(format(emitted)).toBe('')
    expect(declarationFiles(join(out, 'dist')).length).toBeGreaterThan(5)
  })

  it('carry no @internal declaration (stripInternal)', () => {
    const leaking = declarationFiles(join(out, 'dist')).filter((f) => readFileSync(f, 'utf8').includes('@internal'))
    expect(leaking.map((f) => f.slice(out.length))).toEqual([])
  })

  it('type-check as a user compiles them: strict, skipLibCheck false, no peer installed', () => {
    const consumer = join(out, 'consumer.ts')
    writeFileSync(consumer, [
      "import cleanup, { CleanupScope, onShutdown, shutdown, type CleanupReport, type FailureReason } from './dist/index.js'",
      'export const middleware = cleanup({ timeoutMs: 1000, detectLeaks: { every: 10 } })',
      'export const reasons = (r: CleanupReport): FailureReason[] => r.failed.map((f) => f.error)',
      'export const scope = new CleanupScope()',
      "export const off = onShutdown('pool', () => undefined)",
      'export const s = shutdown({ timeoutMs: 400 })',
      '',
    ].join('\n'))
    const program = ts.createProgram([consumer], {
      target: ts.ScriptTarget.ES2022, lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'], module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: false,
      types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
    })
    expect(format(ts.getPreEmitDiagnostics(program))).toBe('')
  })

  it('export exactly the curated names from the entry (values and types)', () => {
    const entry = join(out, 'dist', 'index.d.ts')
    const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true, types: [] })
    const checker = program.getTypeChecker()
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!
    const values: string[] = []
    const types: string[] = []
    for (const s of checker.getExportsOfModule(symbol)) {
      const target = (s.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(s) : s
      const isValue = (target.flags & ts.SymbolFlags.Value) !== 0 && !s.declarations!.some((d) => ts.isTypeOnlyImportOrExportDeclaration(d))
      ;(isValue ? values : types).push(s.name)
    }
    expect(values.sort()).toEqual([...VALUES].sort())
    expect(types.sort()).toEqual([...TYPES].sort())
    expect(values.length).toBeLessThanOrEqual(16)
  })

  // check-structure once counted `export type { Deadline }` (a class, exported as a type) as a value
  it('the values are what the module has at runtime, and what scripts/check-structure.mjs counts', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([...VALUES].sort())
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'check-structure.mjs'), '--json'], { encoding: 'utf8' })
    expect(r.status).toBe(0)
    expect((JSON.parse(r.stdout) as { valueExportNames: string[] }).valueExportNames).toEqual([...VALUES].sort())
  })

  it('document every export with TSDoc that has an @example, in the .d.ts a user hovers', () => {
    const entry = join(out, 'dist', 'index.d.ts')
    const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true, types: [] })
    const checker = program.getTypeChecker()
    const undocumented = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).filter((s) => {
      const target = (s.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(s) : s
      return !(target.declarations ?? []).some((d) => ts.getJSDocTags(d).some((t) => t.tagName.text === 'example'))
    }).map((s) => s.name)
    expect(undocumented).toEqual([])
  })
})
