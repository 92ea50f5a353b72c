#!/usr/bin/env bash
# Runs chatd's test suites against the binaries in BUILD (build/asan for
# `make test`): every unit-test binary, then the end-to-end suites over real
# sockets. Prints each suite's result and closes with "N passed, N failed".
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

if [ "$which" = e2e ] || [ "$which" = all ]; then
  export CHATD_BIN_DIR="$top/$build"
  out="$log_dir/e2e.log"
  /usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider -o console_output_style=classic \
    >"$out" 2>&1
  status=$?
  summary=$(grep -E '^=*.*[0-9]+ (passed|failed|error)' "$out" | tail -n 1)
  [ -n "$summary" ] || summary="0 passed, 1 failed"
  grep -E '^(FAILED|ERROR) ' "$out" | head -40
  [ $status -le 1 ] || [ -n "$(grep -oE '[0-9]+ passed' <<<"$summary")" ] || summary="0 passed, 1 failed"
  printf 'e2e  %-28s %s\n' "sqlite" "$summary"
  count "$summary"
fi

echo "logs: $log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
