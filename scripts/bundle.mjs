// Build step after `tsc -p tsconfig.build.json`: bundles dist/*.js into one
// dist/index.js. Importing ~25 small ESM files costs ~35 ms of Lambda cold start;
// one file ~18 ms (measured by `npm run bench`, table 6). One file, one entry: a second
// entry (middy-cleanup/durable) needed code splitting, and loading the entry plus a
// shared chunk cost ~2 ms more than one file of the same code (measured side by side). The .d.ts files stay
// per module (types resolve through dist/index.d.ts). The AWS SDK stays external:
// it is an optional peer loaded on first use.
// Source map: tsc emits per-module maps with the TypeScript inlined (`npm run build`
// passes --sourceMap --inlineSources); esbuild composes them into dist/index.js.map, whose
// sources are ../src/*.ts with their text embedded, so `node --enable-source-maps` and a
// user's bundler (esbuild follows sourceMappingURL in node_modules) point at our
// TypeScript lines although src/ does not ship.
import { build } from 'esbuild'
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const dist = new URL('../dist/', import.meta.url).pathname
await build({
  entryPoints: [join(dist, 'index.js')],
  outfile: join(dist, 'index.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@aws-sdk/*'],
  legalComments: 'none',
  sourcemap: true,
  sourcesContent: true,
  logLevel: 'warning',
})
// Only the bundle ships as JavaScript; every other .js (and tsc's .js.map) under dist/ is now inside it.
for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
  if (entry.isFile() && /\.js(\.map)?$/.test(entry.name) && !entry.name.startsWith('index.bundle.js')) await rm(join(entry.parentPath ?? entry.path, entry.name))
}
await rename(join(dist, 'index.bundle.js'), join(dist, 'index.js'))
await rename(join(dist, 'index.bundle.js.map'), join(dist, 'index.js.map'))
// the map and the comment were written under the bundle's temporary name
const code = await readFile(join(dist, 'index.js'), 'utf8')
await writeFile(join(dist, 'index.js'), code.replace(/\/\/# sourceMappingURL=index\.bundle\.js\.map\s*$/, '//# sourceMappingURL=index.js.map\n'))
const map = JSON.parse(await readFile(join(dist, 'index.js.map'), 'utf8'))
map.file = 'index.js'
await writeFile(join(dist, 'index.js.map'), JSON.stringify(map))
