"""Fixtures and helpers for the black-box CLI tests of wanmeter (tests/cli/test_cli.py).

The binary is taken from the environment variable WANMETER (default ``build/wanmeter``); a
relative path is resolved against the repository root, so the tests work from any current
directory. CI runs them with ``WANMETER=build/san/wanmeter`` (ASan + UBSan): every run is
checked for sanitizer reports, so a leak or undefined behaviour fails the test that caused it.

Nothing here writes into the repository: commands run in a temporary directory, and report
runs pass ``--no-artifacts`` unless a test is about artifacts (and then gives ``--out-dir``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# test_cli.py imports the helpers below from this name: pytest may replace the plain
# `conftest` module with another directory's conftest.py when several test dirs run together.
sys.modules.setdefault("wanmeter_cli_conftest", sys.modules[__name__])

# The contract's exit codes (DESIGN.md §4).
EXIT_OK, EXIT_VERIFY, EXIT_USAGE, EXIT_INPUT, EXIT_IO, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5

# One error line: `wanmeter: <what>: <why> (<fix>)` (DESIGN.md §4).
ERROR_LINE = re.compile(r"^wanmeter: (?P<what>\S.*?): (?P<why>\S.*) \((?P<fix>.+)\)$")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                     "runtime error:")


# The current directory of runs that give no other, made by the session fixture below: it must
# stay empty (report() passes --no-artifacts; the fixture checks that nothing was written).
SCRATCH: Path | None = None


def binary_path() -> Path:
    raw = os.environ.get("WANMETER", "build/wanmeter")
    path = Path(raw)
    return path if path.is_absolute() else REPO / path


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # shown by pytest when an assertion about a run fails
        return (f"wanmeter {' '.join(self.args)}\n  exit {self.rc}\n  stdout: "
                f"{self.stdout[:2000]!r}\n  stderr: {self.stderr[:2000]!r}")

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json(self):
        return json.loads(self.stdout)

    def error_line(self) -> str:
        """The one error line of a failed run, checked against the contract's format."""
        lines = self.stderr_lines
        assert len(lines) == 1, f"expected exactly one stderr line:\n{self}"
        line = lines[0]
        assert line.startswith("wanmeter: "), f"error line lacks the 'wanmeter: ' prefix:\n{self}"
        assert ERROR_LINE.match(line), f"error line is not 'wanmeter: <what>: <why> (<fix>)':\n{self}"
        return line


def run(*args: str, cwd: Path | str | None = None, env: dict | None = None,
        timeout: float = 60) -> Result:
    """Runs the binary; fails the test on sanitizer output or a signal."""
    exe = binary_path()
    full_env = dict(os.environ)
    full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if env:
        full_env.update(env)
    assert cwd or SCRATCH, "run() outside a test session needs cwd="
    proc = subprocess.run([str(exe), *args], cwd=str(cwd or SCRATCH), env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    res = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}:\n{res}"
    for marker in SANITIZER_MARKERS:
        assert marker not in proc.stderr, f"sanitizer report:\n{res}"
    return res


@functools.lru_cache(maxsize=None)
def _report_cached(exe: str, args: tuple[str, ...]) -> str:
    res = run("report", "--format", "json", "--no-artifacts", *args)
    assert res.rc == EXIT_OK, str(res)
    return res.stdout


def report(*args: str) -> dict:
    """`wanmeter report --format json --no-artifacts ARGS` parsed (a fresh object per call;
    the subprocess result is cached per argument list, so repeated workloads cost nothing)."""
    return json.loads(_report_cached(str(binary_path()), tuple(args)))


def modules_by_id(rep: dict) -> dict[str, dict]:
    mods = {}
    for m in rep["modules"]:
        assert m["id"] not in mods, f"duplicate module id {m['id']}"
        mods[m["id"]] = m
    return mods


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="session", autouse=True)
def wanmeter_binary():
    global SCRATCH
    exe = binary_path()
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"wanmeter binary {exe} is missing: run 'make build/wanmeter "
                    f"build/san/wanmeter' (or set WANMETER)", pytrace=False)
    SCRATCH = Path(tempfile.mkdtemp(prefix="wanmeter-cli-"))
    yield exe
    left = sorted(str(p.relative_to(SCRATCH)) for p in SCRATCH.rglob("*"))
    shutil.rmtree(SCRATCH)
    SCRATCH = None
    assert not left, f"runs with --no-artifacts wrote files into their current directory: {left[:5]}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty current directory for a run: anything the binary writes lands here."""
    d = tmp_path / "cwd"
    d.mkdir()
    return d
