#!/usr/bin/env bash
# The project's test command (README, CI): runs every test/**/*.test.ts under tap and prints, as its last line,
# "N passed, N failed" computed from tap's TAP output (leaf test points). Exit 1 on any failure.
# Usage: test/run.sh [tap args / files...]
#
# With no arguments the suite runs as two tap runs side by side: the lab files (test/e2e, one lab at a time: each
# lab takes the machine's netns, dockerds and most of a core) and everything else (unit and integration tests,
# one file at a time). tap alone runs one file at a time on a 2-core machine (its default jobs is cores - 1), so
# the unit tests would otherwise wait for ~20 minutes of labs. The lab run streams to the terminal; the other
# run's output follows when both are done, then the one summary line over both.
set -uo pipefail
cd "$(dirname "$0")/.."
e2e_out=$(mktemp /tmp/mesh-tap-e2e.XXXXXX)
rest_out=$(mktemp /tmp/mesh-tap-rest.XXXXXX)
trap 'rm -f "$e2e_out" "$rest_out"' EXIT
# Tests run the CLI from dist/ (bin/mesh.js): build first, so they never run stale code (a no-op when up to date).
if ! npm run --silent build; then
  echo "0 passed, 1 failed"
  exit 1
fi
if [ "$#" -gt 0 ]; then
  npx tap --reporter=tap "$@" | tee "$e2e_out"
  rc=${PIPESTATUS[0]}
  node test/support/tap-summary.mjs "$e2e_out"
  sum=$?
  [ "$rc" -eq 0 ] && [ "$sum" -eq 0 ] || exit 1
  exit 0
fi
rest_files=$(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)
e2e_files=$(find test/e2e -name '*.test.ts' | sort)   # not the parts the lab files load (test/e2e/<file>/*.ts)
# tap clears .tap/processinfo when a run starts: the second run starts once the first has done that.
# shellcheck disable=SC2086
npx tap --reporter=tap --jobs=1 $rest_files > "$rest_out" 2>&1 &
rest_pid=$!
sleep 3
# shellcheck disable=SC2086
npx tap --reporter=tap --jobs=1 $e2e_files | tee "$e2e_out"
e2e_rc=${PIPESTATUS[0]}
wait "$rest_pid"
rest_rc=$?
echo "# ---- unit and integration tests (ran beside the labs) ----"
cat "$rest_out"
cat "$e2e_out" "$rest_out" > "$e2e_out.all"
node test/support/tap-summary.mjs "$e2e_out.all"
sum=$?
rm -f "$e2e_out.all"
[ "$e2e_rc" -eq 0 ] && [ "$rest_rc" -eq 0 ] && [ "$sum" -eq 0 ] || exit 1
