#!/bin/sh
# bench/run.sh — runs every benchmark under build/bench/ (built by `make bench`) and prints its
# figures. Benchmarks print "meets"/"misses" against their targets; a slow machine is not a
# failure, so this script fails only when a benchmark itself errors out.
set -u
cd "$(dirname "$0")/.." || exit 1

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "machine: $(uname -sm), ${cpu:-unknown cpu}, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cpus"
echo

status=0
found=0
for b in build/bench/*; do
    [ -x "$b" ] || continue
    found=1
    echo "== $b"
    if ! "$b"; then
        echo "$b: failed" >&2
        status=1
    fi
    echo
done
if [ "$found" = 0 ]; then
    echo "bench/run.sh: no benchmarks in build/bench/ (run 'make bench')" >&2
    exit 1
fi

# The same report through the command line, for scale (process start + config + write).
if [ -x build/wanmeter ]; then
    echo "== build/wanmeter report --no-artifacts --format json (20 runs, wall)"
    t0=$(date +%s%N 2>/dev/null)
    i=0
    while [ $i -lt 20 ]; do
        build/wanmeter report --no-artifacts --format json >/dev/null || status=1
        i=$((i + 1))
    done
    t1=$(date +%s%N 2>/dev/null)
    case "$t0$t1" in
    *N*|'') echo "  (date +%s%N not available)" ;;
    *) echo "  $(( (t1 - t0) / 20000 )) us per run" ;;
    esac
fi
# The time and memory model against published measurements (predicted vs measured, per row).
echo
sh bench/calibrate.sh || status=1
exit $status
