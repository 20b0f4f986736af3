#!/usr/bin/env bash
# Packaging check, as a user meets the package: `npm pack`, then fresh projects outside
# the repo that install the tarball from disk (everything else from the npm registry, at
# the versions this repo's lockfile pins):
#   1. full:   tarball + @middy/core + the three AWS SDK clients + Powertools Idempotency
#              (examples/idempotency.ts) + typescript. Runs an ESM
#              consumer script (a temp file is removed), type-checks a consumer .ts and the
#              examples/ (copied as they are) with moduleResolution nodenext,
#              then runs the compiled examples against the embedded S3/DynamoDB servers.
#   2. no-sdk: tarball alone (no AWS SDK, no Middy): importing works, a standalone scope works.
# Then publint and @arethetypeswrong/cli on the tarball (ESM-only is expected).
# Needs a built dist/ (runs `npm run build` when it is missing). PACK_CHECK_KEEP=1 keeps the
# temp projects.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/middy-cleanup-pack.XXXXXX")
if [ "${PACK_CHECK_KEEP:-0}" = 1 ]; then echo "(keeping $work)"; else trap 'rm -rf "$work"' EXIT; fi
say () { echo; echo "--- $*"; }
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npm_i () { npm install --no-audit --no-fund --prefer-offline --loglevel=error "$@"; }
# the version this repo's lockfile installed, so the consumers test what CI tests
v () { node -p "require('$root/node_modules/$1/package.json').version"; }

[ -f dist/index.js ] || npm run build

say "npm pack"
npm pack --json --pack-destination "$work" > "$work/pack.json"
tarball="$work/$(node -p "require('$work/pack.json')[0].filename")"
node --input-type=module - "$work/pack.json" "$tarball" <<'JS'
// What ships: dist (js + its source map + d.ts), the docs the README links to and the
// examples they link to, the external extension, README, LICENSE, package.json.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
const [pack] = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const tarball = process.argv[3]
const files = pack.files.map((f) => f.path)
const allowed = /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|js\.map|d\.ts)|docs\/[^/]+\.md|examples\/[^/]+\.ts|examples\/cdk\/(README\.md|cdk\.json|package\.json|tsconfig\.json|(bin|lib|lambda)\/[^/]+\.(mjs|ts))|extension\/.+)$/
const unexpected = files.filter((f) => !allowed.test(f))
const required = ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.js.map', 'dist/index.d.ts', 'extension/extensions/middy-cleanup-shutdown']
const missing = required.filter((f) => !files.includes(f))
const kb = (n) => `${(n / 1024).toFixed(1)} kB`
const size = (f) => pack.files.find((x) => x.path === f)?.size ?? 0
console.log(`${pack.filename}: packed ${kb(pack.size)}, unpacked ${kb(pack.unpackedSize)}, ${files.length} files ` +
  `(${files.filter((f) => f.startsWith('dist/')).length} in dist/, ${files.filter((f) => f.startsWith('docs/')).length} in docs/, ${files.filter((f) => f.startsWith('examples/')).length} in examples/, ${files.filter((f) => f.startsWith('extension/')).length} in extension/); ` +
  `dist/index.js ${kb(size('dist/index.js'))}, dist/index.js.map ${kb(size('dist/index.js.map'))}`)
if (unexpected.length > 0 || missing.length > 0) {
  console.error(`unexpected in the tarball: ${unexpected.join(', ') || 'none'}; missing: ${missing.join(', ') || 'none'}`)
  process.exit(1)
}
// Every relative link of the shipped README and docs resolves to a shipped file (npm shows
// the README; without a repository URL its relative links can only point into the package).
const read = (f) => execFileSync('tar', ['-xzOf', tarball, `package/${f}`], { encoding: 'utf8' })
const dead = []
for (const f of files.filter((x) => x.endsWith('.md') && !x.startsWith('extension/'))) {
  const dir = f.includes('/') ? f.slice(0, f.lastIndexOf('/') + 1) : ''
  // links outside code: fenced blocks and inline code spans removed first
  const prose = read(f).replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
  for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue
    const path = new URL(target.replace(/#.*$/, ''), `file:///${dir}`).pathname.slice(1).replace(/\/$/, '')
    if (!files.includes(path) && !files.some((x) => x.startsWith(`${path}/`))) dead.push(`${f} → ${target}`)
  }
}
if (dead.length > 0) { console.error(`links to files that are not in the tarball:\n  ${dead.join('\n  ')}`); process.exit(1) }
console.log('README and docs: every relative link resolves inside the tarball')
JS
# every sourceMappingURL of the shipped JS names a shipped map, whose sources carry their text
for js in $(tar -tzf "$tarball" | grep -E '^package/dist/.*\.js$'); do
  url=$(tar -xzOf "$tarball" "$js" | sed -n 's|^//# sourceMappingURL=||p')
  [ -n "$url" ] || { echo "$js has no sourceMappingURL" >&2; exit 1; }
  map="$(dirname "$js")/$url"
  tar -xzOf "$tarball" "$map" | node -e '
    const m = JSON.parse(require("fs").readFileSync(0, "utf8"))
    const ts = m.sources.filter((s) => /^\.\.\/src\/.+\.ts$/.test(s))
    if (ts.length === 0 || ts.length !== m.sources.length || m.sourcesContent?.length !== m.sources.length || m.sourcesContent.some((c) => typeof c !== "string" || c === "")) {
      console.error(`${process.argv[1]}: sources must all be ../src/*.ts with their text embedded (src/ does not ship); got ${JSON.stringify(m.sources.slice(0, 3))}…`); process.exit(1)
    }
    console.log(`${process.argv[1]}: ${m.sources.length} TypeScript sources, text embedded`)' "$map" \
    || exit 1
done
tar -tvzf "$tarball" package/extension/extensions/middy-cleanup-shutdown | grep -q '^-rwx' \
  || { echo "extension/extensions/middy-cleanup-shutdown is not executable in the tarball (Lambda runs it from /opt/extensions)" >&2; exit 1; }

# ---------------------------------------------------------------- 1. full consumer
say "consumer project with @middy/core and the AWS SDK clients ($work/full)"
full="$work/full"
mkdir -p "$full/examples"
echo '{ "name": "consumer-full", "private": true, "type": "module" }' > "$full/package.json"
( cd "$full" && npm_i "$tarball" "@middy/core@$(v @middy/core)" \
    "@aws-sdk/client-s3@$(v @aws-sdk/client-s3)" "@aws-sdk/client-dynamodb@$(v @aws-sdk/client-dynamodb)" \
    "@aws-sdk/lib-dynamodb@$(v @aws-sdk/lib-dynamodb)" "typescript@$(v typescript)" "@types/node@$(v @types/node)" \
    "@types/aws-lambda@$(v @types/aws-lambda)" \
    "@aws-lambda-powertools/idempotency@$(v @aws-lambda-powertools/idempotency)" )

cat > "$full/consumer.mjs" <<'JS'
// Plain ESM, as a user writes it: a Middy handler whose temp file must be gone afterwards.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import middy from '@middy/core'
import { cleanup, CleanupScope, shutdown, onShutdown, invocationLocal } from 'middy-cleanup'

const where = fileURLToPath(import.meta.resolve('middy-cleanup'))
assert.match(where, /node_modules\/middy-cleanup\/dist\/index\.js$/, `resolved to ${where}`)
for (const fn of [cleanup, shutdown, onShutdown, invocationLocal]) assert.equal(typeof fn, 'function')

let file
const reports = []
const handler = middy()
  .use(cleanup({ onReport: (r) => { reports.push(r) } }))
  .handler(async (event, context) => {
    file = await context.cleanup.tempFile({ suffix: '.txt' })
    await writeFile(file, event.text)
    assert.equal(existsSync(file), true)
    return 'ok'
  })
const context = { awsRequestId: 'pack-1', getRemainingTimeInMillis: () => 30000 }
assert.equal(await handler({ text: 'hello' }, context), 'ok')
assert.equal(existsSync(file), false, `${file} was not removed`)
assert.equal(reports.length, 1)
assert.equal(reports[0].exitPath, 'success')
assert.deepEqual(reports[0].failed, [])
assert.equal(typeof CleanupScope, 'function')
const { durableCleanup } = await import('middy-cleanup')
assert.equal(typeof durableCleanup(() => () => {}).step, 'function')
console.log(`consumer.mjs: handler ran, temp file ${file} removed, report ${JSON.stringify({ exitPath: reports[0].exitPath, cleaned: reports[0].cleaned })}`)
JS
( cd "$full" && node consumer.mjs )
# the shipped source map: with --enable-source-maps an error thrown inside the package
# points at its TypeScript line (the text is embedded in the map; src/ does not ship)
( cd "$full" && node --enable-source-maps --input-type=module -e "
import { cleanup } from 'middy-cleanup'
try { cleanup({ timeoutMS: 1 }) } catch (e) {
  const frame = e.stack.split('\\n').find((l) => /node_modules\\/middy-cleanup\\/src\\/[\\w/-]+\\.ts:\\d+:\\d+/.test(l))
  if (frame === undefined) { console.error('no TypeScript frame in the stack:\\n' + e.stack); process.exit(1) }
  console.log('source map: ' + e.name + ' thrown ' + frame.trim())
  process.exit(0)
}
console.error('cleanup({ timeoutMS }) did not throw'); process.exit(1)" )

cat > "$full/consumer.ts" <<'TS'
// Type-checked with moduleResolution nodenext against the installed package's .d.ts.
import middy from '@middy/core'
import { S3Client } from '@aws-sdk/client-s3'
import { cleanup, CleanupScope, shutdown, type CleanupReport } from 'middy-cleanup'

const s3 = new S3Client({})
export const handler = middy<{ key: string }, string>()
  .use(shutdown({ exit: true }))
  .use(cleanup({ s3, timeoutMs: 1000, onReport: (r: CleanupReport) => console.log(r.exitPath) }))
  .handler(async (event, context) => {
    const file: string = await context.cleanup.tempFile({ suffix: '.jpg' })
    await context.cleanup.putObject({ Bucket: 'scratch', Key: `tmp/${event.key}`, Body: file })
    return file
  })

export const standalone = async (): Promise<void> => {
  await using scope = new CleanupScope()
  await scope.tempDir()
}

// @ts-expect-error unknown option
cleanup({ timeoutMS: 10 })
TS
# the examples, as a user copies them (they import 'middy-cleanup' by name; in the repo
# tsconfig paths map it to src/, here it is the installed tarball)
cp "$root"/examples/*.ts "$full/examples/"
! grep -l "src/index" "$full"/examples/*.ts || { echo "an example imports the repo's source instead of 'middy-cleanup'" >&2; exit 1; }
cat > "$full/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2023", "ESNext.Disposable"],
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "skipLibCheck": true,
    "types": ["node"],
    "outDir": "out"
  },
  "include": ["consumer.ts", "examples/*.ts"]
}
JSON
# middy-cleanup's own .d.ts, with skipLibCheck off (@middy/core 7's .d.ts needs it on: it
# imports '@aws/durable-execution-sdk-js', which it does not depend on)
echo "import type * as pkg from 'middy-cleanup'; export type Exports = typeof pkg" > "$full/lib-check.ts"
cat > "$full/tsconfig.lib.json" <<'JSON'
{ "extends": "./tsconfig.json", "compilerOptions": { "skipLibCheck": false, "noEmit": true }, "include": ["lib-check.ts"] }
JSON
( cd "$full" && npx tsc -p tsconfig.json && npx tsc -p tsconfig.lib.json \
  && echo "tsc (nodenext, strict): consumer.ts + $(ls examples | wc -l) examples compile; the package's .d.ts pass with skipLibCheck off" )

cat > "$full/run-examples.mjs" <<'JS'
// The compiled examples, run against the embedded servers (started from the repo's
// test-support, the only thing taken from the repo) through the packed package.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { S3Client, CreateBucketCommand, PutObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { DynamoDBClient, CreateTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb'

const { startEmbedded } = await import(process.env.SERVERS_MODULE)
const backend = await startEmbedded()
Object.assign(process.env, {
  AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL_S3: backend.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: backend.dynamodbEndpoint,
  S3_SCRATCH_BUCKET: 'pack-scratch', JOBS_TABLE: 'PackJobs',
})
const leftoverDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith(`middy-cleanup-${process.pid}-`))
const ctx = (id) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 30000 })
const s3 = new S3Client({})
const ddb = new DynamoDBClient({})
try {
  await s3.send(new CreateBucketCommand({ Bucket: 'pack-images' }))
  await s3.send(new CreateBucketCommand({ Bucket: 'pack-scratch' }))
  await s3.send(new PutObjectCommand({ Bucket: 'pack-images', Key: 'cat.jpg', Body: Buffer.alloc(2048, 1) }))
  const resize = await import('./out/examples/image-resize.js')
  const r = await resize.handler({ bucket: 'pack-images', key: 'cat.jpg' }, ctx('pack-resize'))
  for (const key of r.thumbnails) await s3.send(new HeadObjectCommand({ Bucket: 'pack-images', Key: key }))
  assert.deepEqual((await s3.send(new ListObjectsV2Command({ Bucket: 'pack-scratch' }))).Contents ?? [], [])
  assert.deepEqual(await leftoverDirs(), [])
  console.log(`image-resize: ${r.thumbnails.length} thumbnails written, scratch bucket empty, /tmp clean`)

  await ddb.send(new CreateTableCommand({
    TableName: 'PackJobs', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  }))
  const job = await import('./out/examples/job-lock.js')
  await assert.rejects(job.handler({ jobId: '1', steps: ['a', 'b'], failAt: 'b' }, ctx('pack-job-1')), /step b failed/)
  assert.deepEqual(await job.handler({ jobId: '1', steps: ['a', 'b'] }, ctx('pack-job-2')), { jobId: '1', done: ['a', 'b'] })
  for (const sk of ['lock', 'step#a', 'step#b']) {
    const { Item } = await ddb.send(new GetItemCommand({ TableName: 'PackJobs', Key: { pk: { S: 'job#1' }, sk: { S: sk } }, ConsistentRead: true }))
    assert.equal(Item, undefined, `item ${sk} left`)
  }
  console.log('job-lock: failed run released its lock, the retry ran, no item left')

  const standalone = await import('./out/examples/await-using.js')
  assert.equal((await standalone.handler({ rows: [{ a: 1 }] })).rows, 1)
  assert.deepEqual(await leftoverDirs(), [])
  console.log('await-using: export done, /tmp clean')

  // global-connection: a child process, a Redis-like server here, a real SIGTERM
  const log = []
  const server = createServer((socket) => {
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      for (const line of chunk.split('\r\n').filter(Boolean)) {
        log.push(line.split(' ')[0])
        if (line.startsWith('INCR')) socket.write(':1\r\n')
        else if (line === 'QUIT') socket.end('+OK\r\n')
      }
    })
    socket.on('close', () => log.push('close'))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { handler } = await import('./out/examples/global-connection.js')
    const r = await handler({ page: 'p' }, { awsRequestId: 'pack-gc', getRemainingTimeInMillis: () => 30000 })
    console.log(JSON.stringify(r)); setInterval(() => {}, 1 << 30)`],
  { env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${server.address().port}` }, stdio: ['ignore', 'pipe', 'inherit'] })
  const out = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d))))
  assert.deepEqual(JSON.parse(out), { page: 'p', views: 1 })
  child.kill('SIGTERM')
  const code = await new Promise((resolve) => child.once('exit', (c) => resolve(c)))
  assert.equal(code, 0)
  assert.deepEqual(log, ['INCR', 'QUIT', 'close'])
  server.close()
  console.log('global-connection: SIGTERM → QUIT sent, connection closed, exit 0')
} finally {
  s3.destroy(); ddb.destroy()
  await backend.stop()
}
JS
( cd "$full" && SERVERS_MODULE="$root/test-support/servers.mjs" node run-examples.mjs )

# ---------------------------------------------------------------- 2. no AWS SDK, no Middy
say "consumer project without the AWS SDK nor @middy/core ($work/no-sdk)"
bare="$work/no-sdk"
mkdir -p "$bare"
echo '{ "name": "consumer-no-sdk", "private": true, "type": "module" }' > "$bare/package.json"
( cd "$bare" && npm_i "$tarball" )
for p in @aws-sdk @middy; do
  [ ! -e "$bare/node_modules/$p" ] || { echo "npm installed $p although every peer is optional" >&2; exit 1; }
done
cat > "$bare/consumer.mjs" <<'JS'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import * as pkg from 'middy-cleanup'

assert.equal(typeof pkg.cleanup, 'function')
const scope = new pkg.CleanupScope()
const dir = await scope.tempDir()
const report = await scope.dispose()
assert.equal(existsSync(dir), false)
assert.deepEqual(report.failed, [])
assert.throws(() => scope.s3Object({ bucket: 'b', key: 'k' }))
assert.equal(typeof pkg.durableCleanup, 'function')
console.log(`no-sdk consumer: imported ${Object.keys(pkg).length} exports, standalone scope removed ${dir}`)
JS
( cd "$bare" && node consumer.mjs )
# TypeScript users without the SDK: the .d.ts name @aws-sdk types (putObject/putItem
# inputs); with skipLibCheck (the usual setting) that is fine, checked here with the
# repo's tsc (the consumer has no typescript of its own).
cat > "$bare/consumer.ts" <<'TS'
import { CleanupScope, invocationLocal } from 'middy-cleanup'
export const run = async (): Promise<string> => {
  await using scope = new CleanupScope({ timeoutMs: 500 })
  const seen = invocationLocal(() => [] as string[])
  void seen
  return scope.tempDir({ prefix: 'x-' })
}
TS
( cd "$bare" && "$root/node_modules/.bin/tsc" --noEmit --strict --skipLibCheck --module nodenext --moduleResolution nodenext \
    --target ES2022 --lib ES2023,ESNext.Disposable --types node --typeRoots "$root/node_modules/@types" consumer.ts \
  && echo "tsc (nodenext, skipLibCheck) on a consumer .ts without the SDK installed: ok" )

# ---------------------------------------------------------------- 3. linters
say "publint (strict: warnings fail)"
npx --no-install publint run --strict "$tarball"
say "@arethetypeswrong/cli (profile esm-only: ESM-only is the design, CommonJS require is not offered)"
npx --no-install attw "$tarball" --profile esm-only --no-color
say "packaging: ok ($(du -k "$tarball" | cut -f1) kB tarball)"
