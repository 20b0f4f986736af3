#!/usr/bin/env bash
# Type-checks consumer projects against the packed tarball, as issue 13's "done when" asks,
# with the repo's TypeScript (5.9) and the current one from npm:
#   1. full: @middy/core + the AWS SDK clients + @aws-lambda-powertools/logger; tsc --strict,
#      NodeNext: a Powertools Logger, console, a Middy-style function and `false` as
#      `logger` of cleanup() and shutdown(); detectLeaks: true and { every: 10 }.
#      With the SDK installed, putObject/putItem keep the SDK's typing: inputs typed
#      PutObjectCommandInput / PutItemCommandInput / PutCommandInput are accepted as they
#      are, outputs assign to PutObjectCommandOutput / PutItemCommandOutput / PutCommandOutput.
#   2. s3-only: the tarball + @aws-sdk/client-s3 alone, skipLibCheck false: the package's
#      declaration files must not import an optional peer that is not installed.
#   3. no-peers: the tarball alone (no SDK, no Middy), skipLibCheck false.
# Exits non-zero when any check fails; prints what each compiler said.
# Needs a built dist/ (runs `npm run build` when it is missing).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/middy-cleanup-types.XXXXXX")
trap 'rm -rf "$work"' EXIT
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npm_i () { npm install --no-audit --no-fund --prefer-offline --loglevel=error "$@"; }
v () { node -p "require('$root/node_modules/$1/package.json').version"; }
[ -f dist/index.js ] || npm run build > /dev/null || exit 1
npm pack --json --pack-destination "$work" > "$work/pack.json" || exit 1
tarball="$work/$(node -p "require('$work/pack.json')[0].filename")"
current_ts=$(npm view typescript version)
status=0

tsconfig () { # $1 dir, $2 skipLibCheck
  cat > "$1/tsconfig.json" <<JSON
{ "compilerOptions": { "target": "ES2022", "lib": ["ES2023", "ESNext.Disposable"], "module": "NodeNext",
  "moduleResolution": "NodeNext", "strict": true, "noEmit": true, "skipLibCheck": $2, "types": ["node"] },
  "include": ["*.ts"] }
JSON
}
check () { # $1 dir, $2 label
  for ts in "$(v typescript)" "$current_ts"; do
    mkdir -p "$1/ts-$ts" && ( cd "$1/ts-$ts" && [ -d node_modules/typescript ] || npm_i --prefix . "typescript@$ts" > /dev/null )
    if out=$(cd "$1" && "$1/ts-$ts/node_modules/.bin/tsc" -p tsconfig.json 2>&1); then
      echo "ok    $2 (TypeScript $ts)"
    else
      echo "FAIL  $2 (TypeScript $ts):"; echo "$out" | sed 's/^/      /' | head -30; status=1
    fi
  done
}

full="$work/full"; mkdir -p "$full"
echo '{ "name": "types-full", "private": true, "type": "module" }' > "$full/package.json"
( cd "$full" && npm_i "$tarball" "@middy/core@$(v @middy/core)" "@aws-sdk/client-s3@$(v @aws-sdk/client-s3)" \
    "@aws-sdk/client-dynamodb@$(v @aws-sdk/client-dynamodb)" "@aws-sdk/lib-dynamodb@$(v @aws-sdk/lib-dynamodb)" \
    "@aws-lambda-powertools/logger@$(v @aws-lambda-powertools/logger)" "@types/node@$(v @types/node)" > /dev/null ) || exit 1
cat > "$full/loggers-and-leaks.ts" <<'TS'
import middy from '@middy/core'
import { Logger } from '@aws-lambda-powertools/logger'
import { cleanup, shutdown, CleanupScope, type CleanupOptions } from 'middy-cleanup'

const logger = new Logger({ serviceName: 'types' })
export const handler = middy()
  .use(shutdown({ logger }))
  .use(cleanup({ logger, detectLeaks: true }))
  .handler(async (_event: unknown, context) => { await context.cleanup.tempFile() })

cleanup({ logger: console })
cleanup({ logger: (message: string, ...extra: unknown[]) => { void message; void extra } })
cleanup({ logger: false })
shutdown({ logger: console })
cleanup({ detectLeaks: { every: 10 } })
const options: CleanupOptions = { detectLeaks: { every: 10 }, logger }
export const scope = new CleanupScope(options)
// @ts-expect-error not an option
cleanup({ detectLeak: true })
TS
cat > "$full/sdk-typing.ts" <<'TS'
import { S3Client, type PutObjectCommandInput, type PutObjectCommandOutput } from '@aws-sdk/client-s3'
import { DynamoDBClient, type PutItemCommandInput, type PutItemCommandOutput } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, type PutCommandInput, type PutCommandOutput } from '@aws-sdk/lib-dynamodb'
import { CleanupScope, type PutItemInput, type PutObjectOutput } from 'middy-cleanup'

export const run = async (body: Uint8Array): Promise<void> => {
  const ddb = new DynamoDBClient({})
  await using scope = new CleanupScope({ s3: new S3Client({}), dynamodb: ddb })
  const input: PutObjectCommandInput = { Bucket: 'b', Key: 'tmp/a', Body: body, ContentType: 'image/jpeg' }
  const out: PutObjectCommandOutput = await scope.putObject(input, { tags: true })
  const sse: string | undefined = out.ServerSideEncryption
  const plain: PutObjectOutput = await scope.putObject({ Bucket: 'b', Key: 'tmp/b', Body: 'x', IfNoneMatch: '*' })
  const etag: string | undefined = plain.ETag
  const status: number | undefined = plain.$metadata.httpStatusCode
  const item: PutItemCommandInput = { TableName: 'T', Item: { pk: { S: 'a' } }, ConditionExpression: 'attribute_not_exists(pk)' }
  const low: PutItemCommandOutput = await scope.putItem(item)
  const doc: PutCommandInput = { TableName: 'T', Item: { pk: 'a', n: 1 }, ReturnValues: 'ALL_OLD' }
  const high: PutCommandOutput = await scope.putItem(doc, { client: DynamoDBDocumentClient.from(ddb) })
  const mine: PutItemInput = { TableName: 'T', Item: { pk: 'b' }, ReturnValues: 'ALL_OLD' }
  await scope.putItem(mine)
  void [sse, etag, status, low.ConsumedCapacity, high.Attributes]
  // @ts-expect-error Bucket is a string
  await scope.putObject({ Bucket: 5, Key: 'k' })
  // @ts-expect-error Key is required, as in the SDK
  await scope.putObject({ Bucket: 'b' })
  // @ts-expect-error TableName is required
  await scope.putItem({ Item: {} })
}
TS
tsconfig "$full" true
check "$full" "Powertools Logger / console / function / false as logger; detectLeaks true and { every: 10 }; putObject/putItem keep the SDK's types (strict, NodeNext)"

s3only="$work/s3-only"; mkdir -p "$s3only"
echo '{ "name": "types-s3-only", "private": true, "type": "module" }' > "$s3only/package.json"
( cd "$s3only" && npm_i "$tarball" "@aws-sdk/client-s3@$(v @aws-sdk/client-s3)" "@types/node@$(v @types/node)" > /dev/null ) || exit 1
cat > "$s3only/s3-only.ts" <<'TS'
import { S3Client } from '@aws-sdk/client-s3'
import { CleanupScope } from 'middy-cleanup'

export const run = async (): Promise<void> => {
  await using scope = new CleanupScope({ s3: new S3Client({}) })
  await scope.putObject({ Bucket: 'scratch', Key: 'tmp/x', Body: 'x' })
}
TS
tsconfig "$s3only" false
check "$s3only" "S3-only project (no DynamoDB SDK, no Middy), skipLibCheck false"

bare="$work/no-peers"; mkdir -p "$bare"
echo '{ "name": "types-no-peers", "private": true, "type": "module" }' > "$bare/package.json"
( cd "$bare" && npm_i "$tarball" "@types/node@$(v @types/node)" > /dev/null ) || exit 1
cat > "$bare/no-peers.ts" <<'TS'
import { cleanup, CleanupScope, onShutdown, shutdown } from 'middy-cleanup'

export const middleware = cleanup({ detectLeaks: { every: 10 }, logger: false })
export const closing = shutdown({ logger: console })
onShutdown('pool', async () => undefined)
export const run = async (): Promise<string> => {
  await using scope = new CleanupScope({ detectLeaks: true })
  return scope.tempFile({ suffix: '.txt' })
}
TS
tsconfig "$bare" false
check "$bare" "No optional peer installed (no AWS SDK, no Middy), skipLibCheck false"
exit $status
