// Build step after `tsc -p tsconfig.build.json`: bundles dist/*.js into the package's two
// entries, dist/index.js and dist/durable.js (`middy-cleanup/durable`), plus one shared
// chunk. Importing ~25 small ESM files costs ~35 ms of Lambda cold start; one file
// ~18 ms (measured by `npm run bench`, table 6). Two entries bundled apart would each carry
// their own CleanupScope class, and durable.js could not reach into a scope the main
// entry's cleanup() made: code splitting puts what both use into one chunk, loaded once.
// The .d.ts files stay per module (types resolve through dist/index.d.ts and
// dist/durable.d.ts). The AWS SDK stays external: it is an optional peer loaded on first use.
// Source map: tsc emits per-module maps with the TypeScript inlined (`npm run build`
// passes --sourceMap --inlineSources); esbuild composes them into one map per output file,
// whose sources are ../src/*.ts with their text embedded, so `node --enable-source-maps` and
// a user's bundler (esbuild follows sourceMappingURL in node_modules) point at our
// TypeScript lines although src/ does not ship.
import { build } from 'esbuild'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const dist = join(root, 'dist')
// Beside dist/, at the same depth: the maps' relative paths to ../src/ stay right once moved in.
const out = join(root, '.dist-bundle')
await rm(out, { recursive: true, force: true })
await mkdir(out)
await build({
  entryPoints: [join(dist, 'index.js'), join(dist, 'durable.js')],
  outdir: out,
  bundle: true,
  splitting: true,
  chunkNames: 'shared-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@aws-sdk/*'],
  legalComments: 'none',
  sourcemap: true,
  sourcesContent: true,
  logLevel: 'warning',
})
// Only the bundles ship as JavaScript; every per-module .js (and tsc's .js.map) is now inside them.
for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
  const parent = entry.parentPath ?? entry.path
  if (entry.isFile() && /\.js(\.map)?$/.test(entry.name)) await rm(join(parent, entry.name))
}
// esbuild wrote the outputs with their final names and relative sourceMappingURLs.
for (const name of await readdir(out)) await rename(join(out, name), join(dist, name))
await rm(out, { recursive: true })
