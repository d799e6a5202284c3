#!/usr/bin/env bash
# Prepares a fresh Debian machine for wanmeter and builds it:
#   1. the C build dependencies from Debian (compiler, libyaml, jansson, cmocka),
#   2. the PyTorch reference environment in .venv (pinned torch and diffusers, pytest),
#   3. build/wanmeter.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc make pkg-config libyaml-dev libjansson-dev libcmocka-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The reference harness needs Python 3.11: torch==2.13.0 is the CPU wheel for cp311 that lies
# on this machine's disk (any other torch request downloads a multi-GB CUDA build).
py=${PYTHON:-python3}
req=reference/requirements.txt
stamp=.venv/.requirements.sha256
want=$(cat "$req" reference/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: creating .venv with $(cat "$req" | grep -v '^#' | tr '\n' ' ')"
    "$py" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req" -c reference/constraints.txt
    echo "$want" > "$stamp"
fi

make -j2 build/wanmeter
