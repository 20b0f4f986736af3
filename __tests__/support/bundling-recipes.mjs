// The esbuild command lines that the documented deployment recipes run, argument for
// argument, so a test can bundle a handler each way and load the result in a fresh node.
// Plain JS: used by __tests__/bundler-recipes-load-and-clean-up.test.ts and by .ci/bundle-figures.mjs (sizes,
// import times).
//
// Where each command line comes from:
// - CDK: aws-cdk-lib/aws-lambda-nodejs Bundling.createBundlingSteps + buildEsbuildArgs
//   (local bundling): `esbuild --bundle ENTRY --target=node22 --platform=node
//   --format=esm --outfile=OUT/index.mjs --external:@aws-sdk/* --banner:js=…`; the
//   target comes from the runtime (NODEJS_22_X → node22), `@aws-sdk/*` is external
//   unless `bundleAwsSDK: true`. examples/cdk synthesizes the real thing in CI.
// - SAM: aws-lambda-builders, workflows/nodejs_npm_esbuild/esbuild.py: the defaults
//   `--bundle --platform=node --outdir=OUT`, plus `--minify` unless Minify is set, then
//   one flag per BuildProperties key (Format → --format=, Target → --target=,
//   OutExtension → --out-extension:, Banner → --banner:, External → --external:).
//   The SAM CLI itself is not run here (Python, not installable on this machine).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../../', import.meta.url))
const esbuildBin = join(root, 'node_modules', '.bin', 'esbuild')

/** The banner CDK users add for ESM output (and docs/recipes.md gives): `require` for bundled CommonJS. */
export const CDK_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);"

/**
 * @typedef {object} Recipe
 * @property {string} name
 * @property {string} what       the configuration it stands for, as written in docs/recipes.md
 * @property {boolean} sdkBundled  the AWS SDK is inside the bundle (else it is the runtime's, external)
 * @property {string} [outfile]  name of the file the bundle is written to (default: the entry's name, .mjs)
 * @property {(entry: string, outdir: string) => string[]} args
 */

/** @type {Recipe[]} */
export const recipes = [
  {
    name: 'cdk-esm',
    what: "CDK NodejsFunction { runtime: NODEJS_22_X, bundling: { format: ESM, banner } } (SDK external: CDK's default)",
    sdkBundled: false,
    outfile: 'index.mjs',
    args: (entry, out) => ['--bundle', entry, '--target=node22', '--platform=node', '--format=esm', `--outfile=${join(out, 'index.mjs')}`,
      '--external:@aws-sdk/*', `--banner:js=${CDK_BANNER}`],
  },
  {
    name: 'cdk-esm-sdk-bundled',
    what: 'CDK NodejsFunction { bundling: { format: ESM, banner, bundleAwsSDK: true } }',
    sdkBundled: true,
    outfile: 'index.mjs',
    args: (entry, out) => ['--bundle', entry, '--target=node22', '--platform=node', '--format=esm', `--outfile=${join(out, 'index.mjs')}`,
      `--banner:js=${CDK_BANNER}`],
  },
  {
    name: 'sam-esm',
    what: 'SAM Metadata.BuildProperties { Format: esm, OutExtension: [.js=.mjs], Target: es2022, Banner: [js=…] } (SDK bundled, minified: SAM defaults)',
    sdkBundled: true,
    args: (entry, out) => [entry, '--bundle', '--platform=node', `--outdir=${out}`, '--minify',
      '--target=es2022', '--format=esm', '--out-extension:.js=.mjs', `--banner:js=${CDK_BANNER}`],
  },
  {
    name: 'sam-esm-sdk-external',
    what: "SAM Metadata.BuildProperties { Format: esm, OutExtension: [.js=.mjs], Target: es2022, External: ['@aws-sdk/*'] } (the runtime's SDK, no banner)",
    sdkBundled: false,
    args: (entry, out) => [entry, '--bundle', '--platform=node', `--outdir=${out}`, '--minify',
      '--target=es2022', '--format=esm', '--out-extension:.js=.mjs', '--external:@aws-sdk/*'],
  },
  {
    name: 'sam-esm-main-fields',
    what: 'SAM Metadata.BuildProperties { Format: esm, OutExtension: [.js=.mjs], Target: es2022, MainFields: module,main } (SDK bundled from its ES module build, no banner)',
    sdkBundled: true,
    args: (entry, out) => [entry, '--bundle', '--platform=node', `--outdir=${out}`, '--minify',
      '--target=es2022', '--format=esm', '--main-fields=module,main', '--out-extension:.js=.mjs'],
  },
]

/**
 * What docs/recipes.md warns against, kept to prove the warning: SAM's ESM flags without
 * a banner and with the SDK bundled (esbuild bundles the SDK's CommonJS build, whose
 * `require("node:https")` throws `Dynamic require of "node:https" is not supported` in ESM output).
 * @type {Recipe}
 */
export const samWithoutBanner = {
  name: 'sam-esm-no-banner',
  what: 'SAM Metadata.BuildProperties { Format: esm, OutExtension: [.js=.mjs], Target: es2022 } (SDK bundled, no banner)',
  sdkBundled: true,
  args: (entry, out) => [entry, '--bundle', '--platform=node', `--outdir=${out}`, '--minify',
    '--target=es2022', '--format=esm', '--out-extension:.js=.mjs'],
}

/**
 * Plain esbuild ESM, no banner, `@aws-sdk/*` external, unminified: not a documented
 * recipe, the common base of them, for tests whose subject is not the bundler (the
 * runtime-client tests), so that a recipe-specific failure shows up in one place only.
 * @type {Recipe}
 */
export const plainEsm = {
  name: 'plain-esm',
  what: 'esbuild --bundle --platform=node --format=esm --target=node22 --external:@aws-sdk/*',
  sdkBundled: false,
  outfile: 'index.mjs',
  args: (entry, out) => ['--bundle', entry, '--platform=node', '--format=esm', '--target=node22', `--outfile=${join(out, 'index.mjs')}`, '--external:@aws-sdk/*'],
}

/** Where bundles go: inside the repo, so that an external `@aws-sdk/*` resolves from its node_modules (the runtime's SDK on Lambda). */
export const outRoot = join(root, 'node_modules', '.cache', 'middy-cleanup-bundling')

/**
 * Runs esbuild for `recipe` on `entry`; returns the bundle's path and size.
 * @param {Recipe} recipe
 * @param {string} entry
 * @param {string} [outdir]
 */
export const bundle = (recipe, entry, outdir = join(outRoot, recipe.name)) => {
  rmSync(outdir, { recursive: true, force: true })
  mkdirSync(outdir, { recursive: true })
  const r = spawnSync(esbuildBin, [...recipe.args(entry, outdir), '--log-level=warning'], { cwd: root, encoding: 'utf8' })
  const file = join(outdir, recipe.outfile ?? basename(entry).replace(/\.[cm]?[jt]s$/, '.mjs'))
  if (r.status !== 0 || !existsSync(file)) {
    throw new Error(`esbuild (${recipe.name}) exited ${r.status}: ${r.stderr}`)
  }
  return { file, bytes: statSync(file).size, warnings: r.stderr }
}
