#!/usr/bin/env bash
# examples/cdk, as a CDK user meets the package: install the example's own lockfile
# (aws-cdk-lib, the aws-cdk CLI, esbuild: no Docker), put the packed tarball where its
# `file:../..` link to this repo was, `cdk synth` offline (environment-agnostic stack: no
# account, no credentials), then run examples/cdk/test against cdk.out: the template's
# runtime and IAM statements, and the bundled asset's handler on the embedded servers.
# Needs a built dist/ (runs `npm run build` when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/middy-cleanup-cdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the CLI's version check, telemetry and notices would only try the network
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
ms () { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

[ -f dist/index.js ] || npm run build

t=$(date +%s%N)
( cd examples/cdk && npm ci --no-audit --no-fund --loglevel=error )
echo "examples/cdk: npm ci in $(ms "$t") ms"

npm pack --json --pack-destination "$work" > "$work/pack.json"
tarball="$work/$(node -p "require('$work/pack.json')[0].filename")"
( cd examples/cdk && npm install --no-save --no-audit --no-fund --loglevel=error "$tarball" )
[ ! -L examples/cdk/node_modules/middy-cleanup ] && [ -f examples/cdk/node_modules/middy-cleanup/dist/index.js ] \
  || { echo "examples/cdk/node_modules/middy-cleanup is not the packed tarball" >&2; exit 1; }

t=$(date +%s%N)
( cd examples/cdk && rm -rf cdk.out && npx --no-install cdk synth --no-notices --quiet )
synth_ms=$(ms "$t")
asset=$(ls -d examples/cdk/cdk.out/asset.*/index.mjs)
echo "cdk synth: ${synth_ms} ms; asset $(wc -c < "$asset") bytes ($asset)"

NODE_OPTIONS=--experimental-vm-modules npx jest --ci --roots '<rootDir>/examples/cdk/test'
