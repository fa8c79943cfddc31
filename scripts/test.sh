#!/usr/bin/env bash
# Runs the test suite: type-check of sources and tests, then every *.test.ts under src/ and test/
# with Node's built-in runner (node 20 needs tsx to load TypeScript, and does not expand globs itself).
# `--stress` runs the long reliability runs under test/stress/ instead.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.test.json
if [[ "${1:-}" == "--stress" ]]; then
  mapfile -t files < <(find test/stress -name '*.stress.ts' | sort)
else
  mapfile -t files < <(find src test -name '*.test.ts' -not -path 'test/stress/*' | sort)
fi
if [[ ${#files[@]} -eq 0 ]]; then echo "no test files found" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout=300000 "${files[@]}"
