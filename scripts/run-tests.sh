#!/usr/bin/env bash
# Runs chatd's test suites against the binaries in BUILD (build/asan for
# `make test`): every unit-test binary, then the end-to-end suites over real
# sockets, once per storage engine (CHATD_TEST_ENGINES, default "sqlite
# postgres"). Prints each suite's result and closes with "N passed, N failed".
#
# PostgreSQL: the store's unit tests and the e2e PostgreSQL pass run against
# CHATD_TEST_POSTGRES_URL; when it is unset, scripts/pg-test-server.sh starts
# a throwaway cluster on 127.0.0.1 and the URL it prints is used. The cluster
# is left running for the next run (another run in this tree may share it):
# `scripts/pg-test-server.sh stop` ends it.
set -uo pipefail

build=${1:?usage: run-tests.sh BUILD [unit|e2e|all]}
which=${2:-all}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
log_dir=$(mktemp -d)

count() { # adds the "N passed" / "N failed" of a summary line to the totals
  local line=$1 p f
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | awk '{s += $1} END {print s + 0}')
  f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$line" | awk '{s += $1} END {print s + 0}')
  passed=$((passed + p))
  failed=$((failed + f))
}

engines=${CHATD_TEST_ENGINES:-sqlite postgres}
if [ -z "${CHATD_TEST_POSTGRES_URL:-}" ] && grep -qw postgres <<<"$engines"; then
  if url=$(scripts/pg-test-server.sh start 2>"$log_dir/pg-test-server.log"); then
    export CHATD_TEST_POSTGRES_URL=$url
    echo "postgres test server: $url"
  else
    echo "postgres test server did not start:"
    tail -n 20 "$log_dir/pg-test-server.log"
    # the e2e pass reports it; a unit-only run would otherwise skip silently
    [ "$which" = unit ] && failed=$((failed + 1))
  fi
fi

if [ "$which" = unit ] || [ "$which" = all ]; then
  for test in $(find "$build/tests/unit" -type f -name '*_test' | sort); do
    name=${test#"$build/tests/unit/"}
    out="$log_dir/$(tr / _ <<<"$name").log"
    "$test" >"$out" 2>&1
    status=$?
    summary=$(tail -n 1 "$out")
    if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' <<<"$summary"; then
      summary="0 passed, 1 failed"   # crashed before its summary
    elif [ $status -ne 0 ] && grep -q ', 0 failed' <<<"$summary"; then
      summary="${summary%%,*}, 1 failed"   # a sanitizer report after the tests
    fi
    printf 'unit %-28s %s\n' "$name" "$summary"
    [ $status -eq 0 ] || { grep -E 'FAIL|ERROR|runtime error' "$out" | head -20; }
    count "$summary"
  done
fi

# One pass of the e2e suite on one engine; prints its line and counts it.
run_e2e() {
  local engine=$1 out="$log_dir/e2e-$1.log" status summary
  if [ "$engine" = postgres ] && [ -z "${CHATD_TEST_POSTGRES_URL:-}" ]; then
    summary="0 passed, 1 failed (no PostgreSQL test server)"
  else
    CHATD_TEST_ENGINE=$engine /usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider \
      -o console_output_style=classic >"$out" 2>&1
    status=$?
    summary=$(grep -E '^=*.*[0-9]+ (passed|failed|error)' "$out" | tail -n 1)
    [ -n "$summary" ] || summary="0 passed, 1 failed"
    grep -E '^(FAILED|ERROR) ' "$out" | head -40
    [ $status -le 1 ] || [ -n "$(grep -oE '[0-9]+ passed' <<<"$summary")" ] ||
      summary="0 passed, 1 failed"
  fi
  printf 'e2e  %-28s %s\n' "$engine" "$summary"
  count "$summary"
}

if [ "$which" = e2e ] || [ "$which" = all ]; then
  export CHATD_BIN_DIR="$top/$build"
  for engine in $engines; do run_e2e "$engine"; done
fi

echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
