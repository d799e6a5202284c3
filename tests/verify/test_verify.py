"""wanmeter against PyTorch FlopCounterMode on diffusers' real WanTransformer3DModel.

Every run here measures a fresh reference with reference/wanmeter_reference.py (torch 2.13.0,
diffusers 0.42.1) and compares it module by module with tolerance 0 (tests/verify/exact.yaml):
the analytic numbers must equal the measured ones exactly."""
import json
import re
from pathlib import Path

import pytest

EXACT = Path(__file__).resolve().parent / "exact.yaml"

STANDARD = ["wan2-1-ci-tiny", "wan2-1-512p", "wan2-1-720p", "wan2-1-480p-81f", "wan2-1-720p-81f"]
SUMMARY = re.compile(r"^(\d+) modules compared, (\d+) failed, max relative difference (\S+) "
                     r"\(tolerance 0\): (PASS|FAIL)$", re.M)


def summary(out):
    m = SUMMARY.search(out)
    assert m, f"no summary line in:\n{out[-3000:]}"
    return int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


def assert_exact(out, min_modules):
    compared, failed, max_rel, verdict = summary(out)
    assert (failed, max_rel, verdict) == (0, "0", "PASS"), out[-3000:]
    assert compared >= min_modules


# 14B has 40 blocks x 15 counted modules + 11 top-level ids = 611; 1.3B has 30 blocks: 461.
@pytest.mark.parametrize("workload", STANDARD)
def test_layers_vendor_meta_14b(wanmeter, workload):
    out = wanmeter("verify", "layers", "--config", EXACT, "--workload", workload, check=0).stdout
    assert "reference: vendor on meta" in out
    assert_exact(out, 611)


@pytest.mark.parametrize("model,modules", [("wan2.1-t2v-14b", 611), ("wan2.1-t2v-1.3b", 461)])
@pytest.mark.parametrize("against", ["vendor", "mirror"])
def test_layers_ci_tiny_both_references(wanmeter, model, modules, against):
    out = wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
                   "--model", model, "--against", against, "--all", check=0).stdout
    assert f"reference: {against} on meta" in out
    assert_exact(out, modules)
    # --all prints every module row, leaves included
    assert re.search(r"^transformer\.blocks\.0\.ffn\.net\.0\.proj\s", out, re.M)


def test_layers_cpu_matches_torch_cpu_mode(wanmeter):
    out = wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
                   "--model", "wan2.1-t2v-1.3b", "--device", "cpu", check=0).stdout
    assert "reference: vendor on cpu" in out
    assert "attention cores are NOT in this reference" in out
    assert "analytic mode torch-cpu" in out
    assert_exact(out, 461)


def test_layers_cpu_config_override(wanmeter, tmp_path):
    """The 14B model's real widths on the CPU, with 2 blocks so it fits in memory."""
    cfg = tmp_path / "two-blocks.yaml"
    cfg.write_text(EXACT.read_text() + "model:\n  num_layers: 2\n")
    out = wanmeter("verify", "layers", "--config", cfg, "--workload", "wan2-1-ci-tiny",
                   "--device", "cpu", check=0).stdout
    assert_exact(out, 2 * 15 + 11)


def test_cpu_reference_with_torch_mode_is_refused(wanmeter):
    proc = wanmeter("verify", "layers", "--workload", "wan2-1-ci-tiny", "--model",
                    "wan2.1-t2v-1.3b", "--device", "cpu", "--mode", "torch", check=3)
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("wanmeter: --mode: ") and "torch-cpu" in lines[-1]


@pytest.mark.parametrize("workload,method", [("wan2-1-ci-tiny", "in a loop"),
                                             ("wan2-1-720p-81f", "measured one step")])
def test_end2end(wanmeter, workload, method):
    out = wanmeter("verify", "end2end", "--config", EXACT, "--workload", workload, check=0).stdout
    assert method in out
    row = re.search(r"^transformer x generation\s+([\d,]+)\s+([\d,]+)\s+(\S+)\s+pass$", out, re.M)
    assert row and row.group(1) == row.group(2) and row.group(3) == "0", out


def test_one_flop_error_fails_the_gate(wanmeter, tmp_path):
    """Prove the gate can fail: one FLOP added to one module of a real reference."""
    ref = tmp_path / "ref.json"
    wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
             "--keep-reference", ref, check=0)
    data = json.loads(ref.read_text())
    victim = next(m for m in data["modules"] if m["id"] == "transformer.blocks.7.attn2.to_v")
    victim["flops"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
                    "--reference", bad, check=1)
    assert re.search(r"^transformer\.blocks\.7\.attn2\.to_v\s.*FAIL$", proc.stdout, re.M), proc.stdout
    assert "stopped at the first failure" in proc.stdout
    # the unmodified reference still passes when read back from the file
    out = wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
                   "--reference", ref, check=0).stdout
    assert_exact(out, 611)
    # with --all every row is compared: only the edited module differs (its ancestors keep
    # their measured sums, which the analytic tree matches)
    proc = wanmeter("verify", "layers", "--config", EXACT, "--workload", "wan2-1-ci-tiny",
                    "--reference", bad, "--all", check=1)
    compared, failed, _, verdict = summary(proc.stdout)
    assert (compared, failed, verdict) == (611, 1, "FAIL")
