#!/bin/sh
# bench/calibrate.sh — the time and memory model against published measurements: runs
# `wanmeter calibrate bench/calibration.yaml`, which prints, per row, the predicted and measured
# wall clock of one generation and peak memory per GPU, and the error of each. Extra arguments
# go to `wanmeter calibrate` (e.g. --devices my-efficiencies.yaml to try other values).
set -u
cd "$(dirname "$0")/.." || exit 1
[ -x build/wanmeter ] || make -s build/wanmeter || exit 1
echo "== wanmeter calibrate bench/calibration.yaml $*"
build/wanmeter calibrate bench/calibration.yaml "$@"
