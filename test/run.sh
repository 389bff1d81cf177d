#!/usr/bin/env bash
# The project's test command (README, CI): runs every test/**/*.test.ts under tap and prints, as its last line,
# "N passed, N failed" computed from tap's TAP output (leaf test points). Exit 1 on any failure.
# Usage: test/run.sh [tap args / files...]
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp /tmp/mesh-tap.XXXXXX)
trap 'rm -f "$out"' EXIT
# Tests run the CLI from dist/ (bin/mesh.js): build first, so they never run stale code (a no-op when up to date).
if ! npm run --silent build; then
  echo "0 passed, 1 failed"
  exit 1
fi
npx tap --reporter=tap "$@" | tee "$out"
rc=${PIPESTATUS[0]}
node test/support/tap-summary.mjs "$out"
sum=$?
[ "$rc" -eq 0 ] && [ "$sum" -eq 0 ] || exit 1
