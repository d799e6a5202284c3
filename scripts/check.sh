#!/usr/bin/env bash
# Runs every test (called by `make check`, after the sanitized build):
#   - the C unit tests (cmocka), under AddressSanitizer + UndefinedBehaviorSanitizer,
#   - the CLI tests (pytest) against the sanitized build/san/wanmeter,
#   - the PyTorch reference tests and the verification of every standard workload against
#     diffusers' real model code (pytest, .venv).
# The last line is "N passed, N failed" over everything.
set -uo pipefail
cd "$(dirname "$0")/.."

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0
failed=0

echo "== C unit tests (ASan/UBSan)"
for t in build/san/tests/*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    rc=$?
    n_ok=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
    n_bad=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p')
    n_ok=${n_ok:-0}
    n_bad=${n_bad:-0}
    if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then
        n_bad=1 # crashed, or a sanitizer stopped it
    fi
    printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR)|ERROR: |runtime error' || true
    echo "$(basename "$t"): $n_ok passed, $n_bad failed"
    passed=$((passed + n_ok))
    failed=$((failed + n_bad))
done

echo "== pytest: CLI, reference harness, verification against PyTorch"
py=.venv/bin/python
if [ ! -x "$py" ]; then
    echo "check: .venv is missing: run scripts/setup.sh first" >&2
    failed=$((failed + 1))
else
    log=$(mktemp)
    WANMETER=build/san/wanmeter "$py" -m pytest -q -p no:cacheprovider tests/cli reference/tests tests/verify 2>&1 | tee "$log"
    line=$(grep -E '(passed|failed|error|errors|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -1)
    p=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    f=$(printf '%s' "$line" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
    s=$(printf '%s' "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || true)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ -n "${CI:-}" ] && [ -n "$s" ] && [ "$s" -gt 0 ]; then
        echo "check: $s test(s) skipped in CI, where nothing may skip" >&2
        failed=$((failed + s))
    fi
    [ -n "$line" ] || failed=$((failed + 1))
    rm -f "$log"
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
