// Build step after `tsc -p tsconfig.build.json`: bundles dist/*.js into one
// dist/index.js. Importing ~25 small ESM files costs ~35 ms of Lambda cold start;
// one file ~18 ms (measured by `npm run bench`, table 6). The .d.ts files stay
// per module (types resolve through dist/index.d.ts). The AWS SDK stays external:
// it is an optional peer loaded on first use.
import { build } from 'esbuild'
import { readdir, rename, rm } from 'node:fs/promises'
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
  logLevel: 'warning',
})
// Only the bundle ships as JavaScript; every other .js under dist/ is now inside it.
for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
  if (entry.isFile() && entry.name.endsWith('.js') && entry.name !== 'index.bundle.js') await rm(join(entry.parentPath ?? entry.path, entry.name))
}
await rename(join(dist, 'index.bundle.js'), join(dist, 'index.js'))
