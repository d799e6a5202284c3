"""Fixtures for the verification tests: the wanmeter binary and the PyTorch reference venv.

In CI (CI set) nothing may skip: a missing torch is a failure. Outside CI the tests skip with
a message saying how to install the reference environment."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _have_torch(python):
    try:
        return subprocess.run([python, "-c", "import torch, diffusers"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.fixture(scope="session")
def wanmeter():
    binary = ROOT / os.environ.get("WANMETER", "build/wanmeter")
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make` (or scripts/setup.sh) first")
    python = os.environ.get("WANMETER_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    if not _have_torch(python):
        msg = f"torch/diffusers not importable with {python}: run scripts/setup.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)

    def run(*args, check=None):
        env = dict(os.environ, WANMETER_PYTHON=python)
        proc = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=900)
        if check is not None:
            assert proc.returncode == check, (
                f"wanmeter {' '.join(map(str, args))} exited {proc.returncode}, expected {check}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc

    return run
