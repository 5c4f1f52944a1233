#!/usr/bin/env bash
# Runs the test suites with node:test. `bash scripts/test.sh [unit|integration|FILE...]`.
# Unit tests need no root; integration tests need root and a real kernel and skip
# themselves (with a reason) when they cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
if [ "$#" -eq 0 ]; then
  set -- unit integration e2e
fi
for arg in "$@"; do
  case "$arg" in
    unit|integration|e2e) for f in test/"$arg"/*.test.ts; do [ -e "$f" ] && files+=("$f"); done ;;
    *) files+=("$arg") ;;
  esac
done
[ "${#files[@]}" -gt 0 ] || { echo "no test files"; exit 1; }
# One process per file (node:test's default) isolates namespace and cgroup side effects.
# A file that hangs fails after 10 minutes (node 20 times out the whole file; the
# longest takes ~15 s here) rather than holding CI until its own limit.
exec node --import tsx --test --test-concurrency="${HAKO_TEST_CONCURRENCY:-1}" --test-timeout="${HAKO_TEST_TIMEOUT_MS:-600000}" --test-reporter=spec "${files[@]}"
