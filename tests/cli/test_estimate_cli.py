"""Black-box CLI tests of `wanmeter estimate` and `wanmeter calibrate` (docs/performance-model.md).

The binary is $WANMETER (default build/wanmeter; CI runs build/san/wanmeter and every run is
checked for sanitizer reports by conftest.run). Expected values never come from wanmeter's own
output: they are worked out here from the model's documented formulas with the round-number
device of tests/data/devices/round.yaml (merged over the built-in database with --devices),
read from configs/devices.yaml / bench/calibration.yaml, or taken from `wanmeter report` (the
exact counts the estimate starts from).

round.yaml's `testgpu`: bf16 peak 100 TFLOP/s, fp8 200 (fp4 recorded as sparse), 1000 GB/s;
efficiencies gemm 0.5, fa2 0.25, memory 0.5, launch overhead 0.001 us, runtime 1 GB.

Runs use small workloads (wan2-1-ci-tiny: 4 frames 256x256, 1 step; L = 256 video tokens, 64
text tokens) except the calibration, whose rows are what they are.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from wanmeter_cli_conftest import (EXIT_INPUT, EXIT_IO, EXIT_OK, EXIT_USAGE, EXIT_VERIFY, REPO,
                                   report, run, write)

DEVICES = REPO / "tests" / "data" / "devices"
ROUND = str(DEVICES / "round.yaml")
MYGPU = str(DEVICES / "mygpu.yaml")
CALIBRATION = REPO / "bench" / "calibration.yaml"
BUILTIN = yaml.safe_load((REPO / "configs" / "devices.yaml").read_text())

TINY = ("--model", "wan2.1-t2v-1.3b", "--workload", "wan2-1-ci-tiny")
# a workload where the transformer dominates and sequence parallelism pays off
MEDIUM = ("--model", "wan2.1-t2v-1.3b", "--workload", "wan2-1-480p-81f", "--steps", "2")

STAGES_T2V = {"text_encoder", "transformer", "vae_decode"}
BOUNDS = {"-", "compute", "memory", "communication", "host"}

# round.yaml
PEAK_BF16, PEAK_FP8 = 100e12, 200e12
GEMM, FA2 = 0.5, 0.25
BW = 1000e9 * 0.5
LAUNCH = 0.001e-6
D, L, LT, HEADS = 1536, 256, 64, 12  # 1.3B on wan2-1-ci-tiny


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


@functools.lru_cache(maxsize=None)
def _estimate_cached(args: tuple[str, ...]) -> str:
    res = run("estimate", "--format", "json", "--no-artifacts", *args)
    assert res.rc == EXIT_OK, str(res)
    return res.stdout


def estimate(*args: str) -> dict:
    """`wanmeter estimate --format json --no-artifacts ARGS`, parsed (fresh object per call)."""
    return json.loads(_estimate_cached(tuple(args)))


def error_run(args, workdir: Path, code: int) -> str:
    """Runs a failing command with every chance to write artifacts; checks the exit code, the
    one error line, the empty stdout and that nothing was written. Returns the line."""
    before = sorted(p.name for p in workdir.iterdir())
    full = list(args)
    if full and full[0] == "estimate":
        full = ["estimate", "--out-dir", "out", "--run-id", "bad", *full[1:]]
    res = run(*full, cwd=workdir)
    assert res.rc == code, str(res)
    line = res.error_line()
    assert res.stdout == "", str(res)
    assert sorted(p.name for p in workdir.iterdir()) == before, "a failed run wrote files"
    return line


# =============================================================================================
# help and flags
# =============================================================================================

PLAN_FLAGS = ["--device", "--devices", "--precision", "--gpus", "--ulysses", "--ring",
              "--cfg-parallel", "--fsdp", "--offload-model", "--t5-cpu", "--attention-kernel"]
SHARED_FLAGS = ["--model", "--workload", "--model-dir", "--config", "--batch", "--frames",
                "--height", "--width", "--steps", "--text-len", "--cfg", "--no-cfg", "--dtype",
                "--mode", "--impl", "--stages", "--format", "--depth", "--names", "--run-id",
                "--out-dir", "--no-artifacts"]


def test_help_lists_every_flag(workdir):
    res = run("estimate", "--help", cwd=workdir)
    assert res.rc == EXIT_OK and res.stderr == "", str(res)
    assert res.stdout.startswith("usage: wanmeter estimate")
    for flag in PLAN_FLAGS + SHARED_FLAGS:
        assert re.search(rf"(^|\s){re.escape(flag)}(\s|$|=|,)", res.stdout, re.M), flag
    # every built-in device is named, and the precisions and kernels
    for dev in BUILTIN["devices"]:
        assert dev in res.stdout, dev
    for word in ["bf16", "fp16", "fp8", "fp8-block", "fp4", "fa2", "fa3", "fa3-fp8", "math"]:
        assert word in res.stdout, word
    res = run("calibrate", "--help", cwd=workdir)
    assert res.rc == EXIT_OK and res.stdout.startswith("usage: wanmeter calibrate"), str(res)
    assert "--devices" in res.stdout


def test_plan_flags_reach_the_plan():
    """Each plan flag lands in estimate.plan (the unit tests bypass the flag parser)."""
    e = estimate(*TINY, "--batch", "2", "--gpus", "8", "--ulysses", "2", "--ring", "1",
                 "--cfg-parallel", "--fsdp", "--offload-model", "--t5-cpu", "--device", "h200",
                 "--precision", "fp8", "--attention-kernel", "fa3-fp8")["estimate"]
    assert e["plan"] == {
        "device": "h200", "precision": "fp8", "attention_kernel": "fa3-fp8", "gpus": 8,
        "ulysses": 2, "ring": 1, "cfg_parallel": True, "fsdp": True, "offload_model": True,
        "t5_cpu": True, "convert_model_dtype": False, "gpus_per_generation": 4,
        "data_parallel": 2}
    e = estimate(*TINY, "--gpus=4", "--ring=2", "--ulysses=2")["estimate"]
    assert (e["plan"]["ring"], e["plan"]["ulysses"], e["plan"]["gpus_per_generation"]) == (2, 2, 4)
    # the defaults: one H100, bf16, its default kernel (fa3)
    e = estimate(*TINY)["estimate"]
    assert e["plan"] == {
        "device": "h100", "precision": "bf16", "attention_kernel": "fa3", "gpus": 1,
        "ulysses": 1, "ring": 1, "cfg_parallel": False, "fsdp": False, "offload_model": False,
        "t5_cpu": False, "convert_model_dtype": False, "gpus_per_generation": 1,
        "data_parallel": 1}


# =============================================================================================
# the JSON contract
# =============================================================================================


def children_of(mods: list[dict]) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {}
    for m in mods:
        if m.get("parent"):
            kids.setdefault(m["parent"], []).append(m["id"])
    return kids


def test_json_contract():
    doc = estimate(*TINY)
    rep = report(*TINY)
    # report.json plus an "estimate" member: the report members are the report's
    est = doc.pop("estimate")
    assert doc == rep
    assert doc["totals"]["flops_per_forward"] == rep["totals"]["flops_per_forward"]

    total = est["total_seconds"]
    assert isinstance(total, float) and math.isfinite(total) and total > 0
    peak = est["peak_bytes_per_gpu"]
    assert isinstance(peak, int) and not isinstance(peak, bool) and peak > 0
    assert est["memory_bytes_per_gpu"] == int(BUILTIN["devices"]["h100"]["memory_gb"] * 1e9)
    assert est["fits"] is (peak <= est["memory_bytes_per_gpu"])
    assert est["offload_seconds"] == 0.0
    assert est["peak_stage"] in STAGES_T2V
    assert close(est["videos_per_hour"], 3600.0 / total)

    # the device block is configs/devices.yaml's h100
    h100 = BUILTIN["devices"]["h100"]
    dev = est["device"]
    assert dev["id"] == "h100" and dev["name"] == h100["name"] and dev["arch"] == h100["arch"]
    assert dev["memory_bandwidth_gbs"] == h100["memory_bandwidth_gbs"]
    assert dev["peak_tflops"] == h100["peaks"]["bf16"]["tflops"]
    assert dev["bf16_peak_tflops"] == h100["peaks"]["bf16"]["tflops"]
    assert dev["interconnect_gbs"] == h100["interconnect"]["bandwidth_gbs"]
    assert dev["pcie_gbs"] == h100["pcie"]["bandwidth_gbs"]
    assert dev["host_cpu_tflops"] == BUILTIN["hosts"][h100["host"]]["cpu_tflops"]

    # MFU: the generation's FLOPs over what the GPUs could do at the bf16 peak in that time
    assert close(est["mfu"], rep["totals"]["flops"] / (total * 1 * dev["bf16_peak_tflops"] * 1e12))

    # stages: the model's, with the report's calls; total = the selected stages
    assert set(est["stages"]) == STAGES_T2V
    rep_stages = {s["id"]: s for s in rep["stages"]}
    fields = {"selected", "on_host", "calls", "seconds", "compute_seconds", "memory_seconds",
              "comm_seconds", "comm_bytes_per_gpu", "flops_per_gpu", "bytes_per_gpu", "mfu",
              "bound", "weight_bytes_per_gpu", "activation_bytes_per_gpu"}
    for name, st in est["stages"].items():
        assert fields <= set(st), name
        assert st["calls"] == rep_stages[name]["calls"]
        assert st["selected"] is True and st["on_host"] is False
        assert st["seconds"] > 0 and st["comm_seconds"] == 0.0
        assert st["bound"] in BOUNDS
        assert isinstance(st["weight_bytes_per_gpu"], int)
        assert isinstance(st["activation_bytes_per_gpu"], int)
        # one GPU: the stage's FLOPs are the report's
        assert close(st["flops_per_gpu"], rep_stages[name]["flops"])
        # and its weights the report's (bf16, fp32 where diffusers keeps them)
        assert st["weight_bytes_per_gpu"] == rep_stages[name]["weight_bytes"]
    assert close(total, sum(s["seconds"] for s in est["stages"].values()))

    # modules: every module that runs, with seconds = per call x calls and a bound;
    # containers are the sums of their children
    mods = {m["id"]: m for m in est["modules"]}
    assert list(mods) == [m["id"] for m in rep["modules"] if m["calls"] > 0]
    stage_of = {m["id"]: m["stage"] for m in rep["modules"]}
    for mid, m in mods.items():
        assert m["bound"] in BOUNDS
        assert m["calls"] == est["stages"][stage_of[mid]]["calls"]
        assert m["seconds_per_call"] > 0
        assert close(m["seconds"], m["seconds_per_call"] * m["calls"])
    for parent, kids in children_of(rep["modules"]).items():
        assert close(mods[parent]["seconds_per_call"],
                     sum(mods[k]["seconds_per_call"] for k in kids)), parent
        assert close(mods[parent]["flops_per_gpu"], sum(mods[k]["flops_per_gpu"] for k in kids))
    roots = [m for m in rep["modules"] if not m.get("parent")]
    for name, st in est["stages"].items():
        per_call = sum(mods[r["id"]]["seconds_per_call"] for r in roots if r["stage"] == name)
        assert close(st["seconds"], st["calls"] * per_call), name
    assert isinstance(est["notes"], list) and est["notes"]


def test_flops_per_forward_matches_report_for_other_flags():
    args = ("--model", "wan2.1-t2v-14b", "--workload", "wan2-1-ci-tiny", "--frames", "9",
            "--batch", "2", "--mode", "full", "--no-cfg")
    doc = estimate(*args, "--gpus", "2")
    rep = report(*args)
    assert doc["totals"] == rep["totals"]
    assert doc["estimate"]["plan"]["data_parallel"] == 2


def test_hand_computed_roofline():
    """The documented roofline on round numbers (docs/performance-model.md §2)."""
    est = estimate(*TINY, "--devices", ROUND, "--device", "testgpu")["estimate"]
    assert est["plan"]["attention_kernel"] == "fa2"  # testgpu's default
    mods = {m["id"]: m for m in est["modules"]}

    def check(mid, flops, nbytes, rate, bound):
        m = mods[mid]
        tc, tm = flops / rate, nbytes / BW
        assert close(m["flops_per_gpu"], flops), mid
        assert close(m["bytes_per_gpu"], nbytes), mid
        assert close(m["compute_seconds_per_call"], tc), mid
        assert close(m["memory_seconds_per_call"], tm), mid
        assert close(m["seconds_per_call"], max(tc, tm) + LAUNCH), mid
        assert close(m["arithmetic_intensity"], flops / nbytes), mid
        assert m["bound"] == bound, mid

    # to_q: 2 M K N with M = 256, K = N = 1536; activations in + out at 2 B, weights d^2 + d
    check("transformer.blocks.0.attn1.to_q", 2 * L * D * D, (L * D + L * D) * 2 + (D * D + D) * 2,
          PEAK_BF16 * GEMM, "compute")
    # cross-attention to_k on the 64 text tokens: memory-bound
    check("transformer.blocks.0.attn2.to_k", 2 * LT * D * D,
          (LT * D + LT * D) * 2 + (D * D + D) * 2, PEAK_BF16 * GEMM, "memory")
    # self-attention core with FlashAttention-2: 4 B L L d at the fa2 efficiency, Q K V O traffic
    check("transformer.blocks.0.attn1#sdpa", 4 * L * L * D, 4 * L * D * 2, PEAK_BF16 * FA2,
          "compute")

    # the math kernel: GEMM efficiency and 16 bytes per score element more
    mods = {m["id"]: m for m in estimate(*TINY, "--devices", ROUND, "--device", "testgpu",
                                         "--attention-kernel", "math")["estimate"]["modules"]}
    check("transformer.blocks.0.attn1#sdpa", 4 * L * L * D, 4 * L * D * 2 + 16 * HEADS * L * L,
          PEAK_BF16 * GEMM, "memory")

    # fp8: the fp8 peak and 1-byte weights
    mods = {m["id"]: m for m in estimate(*TINY, "--devices", ROUND, "--device", "testgpu",
                                         "--precision", "fp8")["estimate"]["modules"]}
    check("transformer.blocks.0.attn1.to_q", 2 * L * D * D, (L * D + L * D) * 2 + (D * D + D),
          PEAK_FP8 * GEMM, "compute")


def test_user_device_file_adds_a_device():
    doc = estimate(*TINY, "--devices", MYGPU, "--device", "mygpu")
    est = doc["estimate"]
    assert est["plan"]["device"] == "mygpu"
    assert est["device"]["name"] == "My GPU 64GB" and est["device"]["arch"] == "hopper"
    assert est["device"]["peak_tflops"] == 500.0
    assert est["device"]["memory_bandwidth_gbs"] == 2000.0
    assert est["memory_bytes_per_gpu"] == 64_000_000_000
    assert est["total_seconds"] > 0
    # the built-in devices are still there, unchanged
    assert estimate(*TINY, "--devices", MYGPU)["estimate"] == estimate(*TINY)["estimate"]
    # and `list --devices` shows it
    res = run("list", "--devices", MYGPU)
    assert res.rc == EXIT_OK and "mygpu" in res.stdout, str(res)


# =============================================================================================
# table, other formats, artifacts
# =============================================================================================


def test_table_mentions_every_stage(workdir):
    res = run("estimate", *TINY, "--no-artifacts", cwd=workdir)
    assert res.rc == EXIT_OK and res.stderr == "", str(res)
    assert res.stdout.startswith("wanmeter estimate:")
    for stage in STAGES_T2V:
        assert re.search(rf"^\s+{stage}\s", res.stdout, re.M), stage
    assert BUILTIN["devices"]["h100"]["name"] in res.stdout
    assert "memory per GPU" in res.stdout and "fits" in res.stdout
    # offload gets its own line
    res = run("estimate", *TINY, "--no-artifacts", "--offload-model", cwd=workdir)
    assert res.rc == EXIT_OK and re.search(r"^\s+offload\s", res.stdout, re.M), str(res)
    # md and csv run too
    res = run("estimate", *TINY, "--no-artifacts", "--format", "md", cwd=workdir)
    assert res.rc == EXIT_OK and all(s in res.stdout for s in STAGES_T2V), str(res)
    res = run("estimate", *TINY, "--no-artifacts", "--format", "csv", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    rows = res.stdout.splitlines()
    assert len(rows) == 1 + len(estimate(*TINY)["estimate"]["modules"])


def test_artifact_equals_stdout(workdir, tmp_path):
    out = tmp_path / "out"
    res = run("estimate", *TINY, "--format", "json", "--out-dir", str(out), "--run-id", "r1",
              cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    path = out / "r1" / "estimate" / "wan2_1" / "estimate.json"
    assert path.is_file(), sorted(str(p) for p in out.rglob("*"))
    assert path.read_text() == res.stdout
    assert res.stderr_lines == [f"wanmeter: wrote {path}"]
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["estimate.json"]
    # the table run writes the same JSON
    res = run("estimate", *TINY, "--out-dir", str(out), "--run-id", "r2", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert (out / "r2" / "estimate" / "wan2_1" / "estimate.json").read_text() == path.read_text()
    assert list(workdir.iterdir()) == []


def test_invalid_plan_writes_nothing(workdir, tmp_path):
    out = tmp_path / "out"
    res = run("estimate", *TINY, "--fsdp", "--out-dir", str(out), "--run-id", "r1", cwd=workdir)
    assert res.rc == EXIT_INPUT, str(res)
    assert "--fsdp" in res.error_line()
    assert not out.exists()
    assert list(workdir.iterdir()) == []


# =============================================================================================
# bad plans and flags
# =============================================================================================

NOTEXT_CONFIG = """\
# a transformer-only model: no text encoder (and no VAE)
models:
  notext:
    variant: t2v
    transformer:
      _class_name: WanTransformer3DModel
      patch_size: [1, 2, 2]
      num_attention_heads: 12
      attention_head_dim: 128
      in_channels: 16
      out_channels: 16
      text_dim: 4096
      freq_dim: 256
      ffn_dim: 8960
      num_layers: 2
      cross_attn_norm: true
      qk_norm: rms_norm_across_heads
      eps: 1.0e-6
      rope_max_seq_len: 1024
    pipeline:
      vae_scale_factor_temporal: 4
      vae_scale_factor_spatial: 8
"""


def _fp4_line() -> int:
    lines = Path(ROUND).read_text().splitlines()
    return next(i for i, t in enumerate(lines, 1) if "fp4:" in t)


# (args after `estimate`, exit code, substrings of the error line)
BAD_PLANS = [
    pytest.param([*TINY, "--gpus", "5", "--ulysses", "5"], EXIT_INPUT, ["--ulysses", "12"],
                 id="ulysses-not-dividing-heads"),
    pytest.param(["--model", "wan2.1-t2v-14b", "--workload", "wan2-1-ci-tiny", "--gpus", "3",
                  "--ulysses", "3"], EXIT_INPUT, ["--ulysses", "40"], id="ulysses-3-on-14b"),
    pytest.param([*TINY, "--gpus", "2", "--ulysses", "4"], EXIT_INPUT, ["--gpus"],
                 id="gpus-below-group"),
    pytest.param([*TINY, "--gpus", "2", "--cfg-parallel", "--ulysses", "2"], EXIT_INPUT,
                 ["--gpus"], id="gpus-below-group-cfg"),
    pytest.param([*TINY, "--gpus", "3", "--ulysses", "2"], EXIT_INPUT, ["--gpus"],
                 id="gpus-not-multiple-of-group"),
    pytest.param([*TINY, "--gpus", "2"], EXIT_INPUT, ["--batch"], id="batch-not-divisible"),
    pytest.param([*TINY, "--gpus", "4", "--batch", "6"], EXIT_INPUT, ["--batch"],
                 id="batch-6-over-4"),
    pytest.param([*TINY, "--gpus", "2", "--cfg-parallel", "--no-cfg"], EXIT_INPUT,
                 ["--cfg-parallel"], id="cfg-parallel-without-guidance"),
    pytest.param([*TINY, "--fsdp"], EXIT_INPUT, ["--fsdp"], id="fsdp-one-gpu"),
    pytest.param([*TINY, "--device", "v100"], EXIT_INPUT, ["--device", "v100", "h100", "a100"],
                 id="unknown-device"),
    pytest.param([*TINY, "--device", "mygpu"], EXIT_INPUT, ["--device", "mygpu"],
                 id="user-device-without-its-file"),
    pytest.param([*TINY, "--device", "a100", "--precision", "fp8"], EXIT_INPUT,
                 ["--precision fp8", "a100"], id="fp8-on-a100"),
    pytest.param([*TINY, "--precision", "fp4"], EXIT_INPUT, ["--precision fp4", "h100"],
                 id="fp4-on-h100"),
    pytest.param([*TINY, "--devices", ROUND, "--device", "testgpu", "--precision", "fp4"],
                 EXIT_INPUT, ["devices.testgpu.peaks.fp4", "sparse", f"round.yaml:{_fp4_line()}:"],
                 id="sparse-peak-as-dense"),
    pytest.param([*TINY, "--device", "rtx4090", "--attention-kernel", "fa3"], EXIT_INPUT,
                 ["--attention-kernel", "fa3", "rtx4090"], id="fa3-on-rtx4090"),
    pytest.param([*TINY, "--device", "a100", "--attention-kernel", "fa3-fp8"], EXIT_INPUT,
                 ["--attention-kernel", "a100"], id="fa3-fp8-on-a100"),
    pytest.param([*TINY, "--mode", "torch-cpu"], EXIT_INPUT, ["--mode"], id="mode-torch-cpu"),
    pytest.param([*TINY, "--dtype", "fp32"], EXIT_INPUT, ["--dtype"], id="dtype-fp32"),
    pytest.param([*TINY, "--convert-model-dtype"], EXIT_INPUT, ["--convert-model-dtype"],
                 id="convert-model-dtype-without-official"),
    pytest.param(["--config", "notext.yaml", "--model", "notext", "--workload", "wan2-1-ci-tiny",
                  "--t5-cpu"], EXIT_INPUT, ["--t5-cpu"], id="t5-cpu-without-text-encoder"),
    pytest.param([*TINY, "--gpus", "0"], EXIT_INPUT, ["--gpus"], id="gpus-0"),
    pytest.param([*TINY, "--gpus", "two"], EXIT_INPUT, ["--gpus", "two"], id="gpus-two"),
    pytest.param([*TINY, "--ulysses", "-2"], EXIT_INPUT, ["--ulysses"], id="ulysses-negative"),
    pytest.param([*TINY, "--ring", "0"], EXIT_INPUT, ["--ring"], id="ring-0"),
    pytest.param([*TINY, "--gpus", "99999999"], EXIT_INPUT, ["--gpus"], id="gpus-huge"),
    pytest.param([*TINY, "--precision", "int8"], EXIT_INPUT, ["--precision", "int8"],
                 id="precision-unknown"),
    pytest.param([*TINY, "--attention-kernel", "fa9"], EXIT_INPUT, ["--attention-kernel", "fa9"],
                 id="kernel-unknown"),
    pytest.param([*TINY, "--device", ""], EXIT_INPUT, ["--device"], id="device-empty"),
    pytest.param([*TINY, "--devices", ""], EXIT_INPUT, ["--devices"], id="devices-empty"),
    pytest.param([*TINY, "--devices", "missing.yaml"], EXIT_IO, ["missing.yaml"],
                 id="devices-missing-file"),
    pytest.param([*TINY, "--depth", "x"], EXIT_INPUT, ["--depth"], id="depth-x"),
    pytest.param([*TINY, "--format", "xml"], EXIT_USAGE, ["--format"], id="format-xml"),
    pytest.param([*TINY, "--names", "bogus"], EXIT_USAGE, ["--names"], id="names-bogus"),
    pytest.param([*TINY, "--bogus"], EXIT_USAGE, ["--bogus"], id="unknown-flag"),
    pytest.param([*TINY, "--gpus"], EXIT_USAGE, ["--gpus"], id="gpus-no-value"),
    pytest.param([*TINY, "--devices"], EXIT_USAGE, ["--devices"], id="devices-no-value"),
    pytest.param([*TINY, "--run-id", "../x"], EXIT_USAGE, ["--run-id"], id="run-id-dotdot"),
]


@pytest.mark.parametrize("args,code,needles", BAD_PLANS)
def test_bad_plan(args, code, needles, workdir):
    write(workdir / "notext.yaml", NOTEXT_CONFIG)
    line = error_run(["estimate", *args], workdir, code)
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"


def test_notext_model_runs_without_t5_cpu(workdir):
    """The config of the t5-cpu case is valid: only the flag is refused."""
    write(workdir / "notext.yaml", NOTEXT_CONFIG)
    res = run("estimate", "--format", "json", "--no-artifacts", "--config", "notext.yaml",
              "--model", "notext", "--workload", "wan2-1-ci-tiny", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert set(json.loads(res.stdout)["estimate"]["stages"]) == {"transformer"}


# =============================================================================================
# device files
# =============================================================================================


def _line(name: str, needle: str) -> int:
    lines = (DEVICES / name).read_text().splitlines()
    return next(i for i, t in enumerate(lines, 1) if needle in t)


BAD_DEVICE_FILES = [
    ("bad-malformed.yaml", ["YAML syntax"], None),
    ("bad-unknown-key.yaml", ["devices.h100.memory_bandwith_gbs", "unknown key"],
     "memory_bandwith_gbs"),
    ("bad-missing-dense.yaml", ["devices.h100.peaks.fp4.dense", "missing"], "fp4:"),
    ("bad-missing-source.yaml", ["devices.nosource.peaks.bf16.source", "missing"], "bf16:"),
    ("bad-tflops-negative.yaml", ["devices.h100.peaks.bf16.tflops", "-989.4"], "bf16:"),
    ("bad-tflops-zero.yaml", ["devices.h100.peaks.bf16.tflops"], "bf16:"),
    ("bad-tflops-text.yaml", ["devices.h100.peaks.bf16.tflops", "fast"], "bf16:"),
    ("bad-efficiency-above-1.yaml", ["efficiency.memory", "1.5"], "memory:"),
    ("bad-gemm-above-1.yaml", ["efficiency.gemm.hopper", "1.2"], "gemm:"),
    ("bad-arch-no-gemm.yaml", ["devices.h100.arch", "volta"], "arch:"),
    ("bad-unknown-host.yaml", ["devices.h100.host", "mainframe"], "host:"),
]


@pytest.mark.parametrize("name,needles,at", BAD_DEVICE_FILES,
                         ids=[c[0].removesuffix(".yaml") for c in BAD_DEVICE_FILES])
def test_bad_device_file(name, needles, at, workdir):
    path = DEVICES / name
    for cmd in (["estimate", *TINY, "--devices", str(path)],
                ["calibrate", str(CALIBRATION), "--devices", str(path)],
                ["list", "--devices", str(path)]):
        if cmd[0] != "estimate":  # list and calibrate print their first lines before the error
            res = run(*cmd, cwd=workdir)
            assert res.rc == EXIT_INPUT, str(res)
            line = res.error_line()
        else:
            line = error_run(cmd, workdir, EXIT_INPUT)
        for needle in needles:
            assert needle in line, f"{needle!r} not in {line!r}"
        # located in the user's file
        where = re.search(re.escape(str(path)) + r":(\d+):", line)
        assert where, line
        if at:
            assert int(where.group(1)) == _line(name, at), line


# =============================================================================================
# physical sanity (end to end through the flags)
# =============================================================================================


def stage_seconds(doc: dict, stage: str) -> float:
    return doc["estimate"]["stages"][stage]["seconds"]


def test_ulysses_lowers_transformer_time():
    one = estimate(*MEDIUM)
    four = estimate(*MEDIUM, "--gpus", "4", "--ulysses", "4")
    assert stage_seconds(four, "transformer") < stage_seconds(one, "transformer")
    assert four["estimate"]["stages"]["transformer"]["comm_seconds"] > 0
    assert four["estimate"]["stages"]["transformer"]["comm_bytes_per_gpu"] > 0


def test_fa3_faster_than_fa2_on_h100():
    fa3 = estimate(*MEDIUM, "--attention-kernel", "fa3")
    fa2 = estimate(*MEDIUM, "--attention-kernel", "fa2")
    assert fa3["estimate"]["total_seconds"] < fa2["estimate"]["total_seconds"]
    assert estimate(*MEDIUM)["estimate"] == fa3["estimate"]  # fa3 is h100's default


def test_fp8_faster_than_bf16_for_transformer_gemms():
    bf16 = estimate(*MEDIUM)
    fp8 = estimate(*MEDIUM, "--precision", "fp8")
    linears = {m["id"] for m in bf16["modules"]
               if m["stage"] == "transformer" and m["op"] == "linear"}
    t16 = {m["id"]: m["seconds"] for m in bf16["estimate"]["modules"] if m["id"] in linears}
    t8 = {m["id"]: m["seconds"] for m in fp8["estimate"]["modules"] if m["id"] in linears}
    assert sum(t8.values()) < sum(t16.values())
    assert t8["transformer.blocks.0.ffn.net.0.proj"] < t16["transformer.blocks.0.ffn.net.0.proj"]
    assert stage_seconds(fp8, "transformer") < stage_seconds(bf16, "transformer")
    assert stage_seconds(fp8, "vae_decode") == stage_seconds(bf16, "vae_decode")
    assert (fp8["estimate"]["stages"]["transformer"]["weight_bytes_per_gpu"]
            < bf16["estimate"]["stages"]["transformer"]["weight_bytes_per_gpu"])


def test_offload_adds_host_copies():
    base = estimate(*MEDIUM)["estimate"]
    off = estimate(*MEDIUM, "--offload-model")["estimate"]
    assert off["offload_seconds"] > 0
    assert close(off["total_seconds"],
                 sum(s["seconds"] for s in off["stages"].values()) + off["offload_seconds"])
    assert close(off["total_seconds"], base["total_seconds"] + off["offload_seconds"])
    assert off["peak_bytes_per_gpu"] < base["peak_bytes_per_gpu"]
    # the copies: transformer and text encoder in and out over PCIe at host_transfer
    eff = BUILTIN["efficiency"]["host_transfer"]
    moved = 2 * (off["stages"]["transformer"]["weight_bytes_per_gpu"]
                 + off["stages"]["text_encoder"]["weight_bytes_per_gpu"])
    assert close(off["offload_seconds"], moved / (off["device"]["pcie_gbs"] * 1e9 * eff))


def test_offload_copies_count_with_their_stage():
    eff = BUILTIN["efficiency"]["host_transfer"]
    vae_only = estimate(*MEDIUM, "--offload-model", "--stages", "vae_decode")["estimate"]
    assert vae_only["offload_seconds"] == 0
    dit_only = estimate(*MEDIUM, "--offload-model", "--stages", "transformer")["estimate"]
    moved = 2 * dit_only["stages"]["transformer"]["weight_bytes_per_gpu"]
    assert close(dit_only["offload_seconds"], moved / (dit_only["device"]["pcie_gbs"] * 1e9 * eff))


def test_t5_cpu_runs_the_text_encoder_on_the_host():
    base = estimate(*MEDIUM)["estimate"]
    t5 = estimate(*MEDIUM, "--t5-cpu")["estimate"]
    te = t5["stages"]["text_encoder"]
    assert te["on_host"] is True and te["bound"] == "host"
    assert te["weight_bytes_per_gpu"] == 0
    assert close(te["seconds"], te["flops_per_gpu"] / (t5["device"]["host_cpu_tflops"] * 1e12))
    assert base["stages"]["text_encoder"]["on_host"] is False
    assert t5["peak_bytes_per_gpu"] < base["peak_bytes_per_gpu"]


def test_h200_not_slower_than_h100():
    h100 = estimate(*MEDIUM, "--device", "h100")["estimate"]
    h200 = estimate(*MEDIUM, "--device", "h200")["estimate"]
    assert h200["total_seconds"] <= h100["total_seconds"]
    for stage in STAGES_T2V:
        assert h200["stages"][stage]["seconds"] <= h100["stages"][stage]["seconds"]


def test_data_parallel_keeps_latency_and_multiplies_throughput():
    one = estimate(*MEDIUM)["estimate"]
    four = estimate(*MEDIUM, "--gpus", "4", "--batch", "4")["estimate"]
    assert four["plan"]["data_parallel"] == 4 and four["plan"]["gpus_per_generation"] == 1
    assert close(four["total_seconds"], one["total_seconds"])
    assert close(four["videos_per_hour"], 4 * one["videos_per_hour"])
    for stage in STAGES_T2V:
        assert four["stages"][stage]["comm_seconds"] == 0


# =============================================================================================
# calibrate
# =============================================================================================

ROW = re.compile(r"^(?P<id>\S+)\s+(?P<pred>[\d.]+) s\s+(?P<meas>[\d.]+) s\s+(?P<err>[+-][\d.]+)%\s+"
                 r"(?P<ppred>[\d.]+) GB\s+(?:(?P<pmeas>[\d.]+) GB|-)\s+(?:(?P<perr>[+-][\d.]+)%|-)"
                 r"(?P<bad>\s+OUT OF TOLERANCE)?$")


def parse_calibration(stdout: str) -> dict[str, dict]:
    rows = {}
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            assert m["id"] not in rows, line
            rows[m["id"]] = m.groupdict()
    return rows


def test_calibration_rows_within_tolerance(workdir):
    data = yaml.safe_load(CALIBRATION.read_text())
    tol = data["tolerance"]
    res = run("calibrate", str(CALIBRATION), cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert res.stderr == ""
    rows = parse_calibration(res.stdout)
    assert list(rows) == [r["id"] for r in data["rows"]]
    for r in data["rows"]:
        got = rows[r["id"]]
        assert not got["bad"], r["id"]
        measured = r["measured"]["seconds"]
        assert abs(float(got["meas"]) - measured) <= 0.05 + 1e-9
        # recompute the error from the printed prediction (0.1 s rounding)
        pred = float(got["pred"])
        assert abs(pred / measured - 1) <= tol + 0.05 / measured, r["id"]
        assert abs(float(got["err"])) <= 100 * tol
        assert pred > 0
        if "peak_gb" in r["measured"]:
            peak = r["measured"]["peak_gb"]
            assert got["pmeas"] is not None and abs(float(got["pmeas"]) - peak) < 0.006
            assert abs(float(got["ppred"]) / peak - 1) <= tol + 0.005 / peak, r["id"]
            assert abs(float(got["perr"])) <= 100 * tol
        else:
            assert got["pmeas"] is None and got["perr"] is None
    summary = res.stdout.strip().splitlines()[-1]
    want = rf"{len(data['rows'])} rows, 0 outside \+-{round(100 * tol)}%"
    assert re.match(want, summary), summary


def test_calibration_prediction_is_the_estimate(workdir):
    """A row's prediction is `wanmeter estimate` with the row's flags."""
    data = yaml.safe_load(CALIBRATION.read_text())
    row = data["rows"][-1]
    res = run("calibrate", str(CALIBRATION), cwd=workdir)
    printed = float(parse_calibration(res.stdout)[row["id"]]["pred"])
    est = estimate(*row["args"])["estimate"]
    assert abs(est["total_seconds"] - printed) <= 0.05 + 1e-9


def _calibration(rows: list[dict], tolerance: float = 0.15) -> str:
    return yaml.safe_dump({"about": "test rows", "tolerance": tolerance, "rows": rows},
                          sort_keys=False)


def test_calibration_far_off_row_fails(workdir):
    data = yaml.safe_load(CALIBRATION.read_text())
    good = data["rows"][-1]  # a 1.3B row: quick
    bad = json.loads(json.dumps(good))
    bad["id"] = "tripled"
    bad["measured"]["seconds"] = good["measured"]["seconds"] * 3
    path = write(workdir / "far.yaml", _calibration([good, bad]))
    res = run("calibrate", str(path), cwd=workdir)
    assert res.rc == EXIT_VERIFY, str(res)
    rows = parse_calibration(res.stdout)
    assert not rows[good["id"]]["bad"] and rows["tripled"]["bad"]
    assert float(rows["tripled"]["err"]) < -60  # about -2/3
    assert re.search(r"2 rows, 1 outside \+-15%", res.stdout)
    # a peak memory far off fails too
    mem = json.loads(json.dumps(good))
    mem["id"] = "memory-off"
    mem["measured"]["peak_gb"] = 1000.0
    res = run("calibrate", str(write(workdir / "mem.yaml", _calibration([mem]))), cwd=workdir)
    assert res.rc == EXIT_VERIFY, str(res)
    assert parse_calibration(res.stdout)["memory-off"]["bad"]


ROW_OK = {"id": "r", "source": "a test", "args": ["--model", "wan2.1-t2v-1.3b", "--workload",
                                                   "wan2-1-ci-tiny"],
          "measured": {"seconds": 1.0}}

BAD_CALIBRATIONS = [
    pytest.param("rows: [1, 2\n", EXIT_INPUT, ["bad.yaml:"], id="malformed"),
    pytest.param("- 1\n- 2\n", EXIT_INPUT, [], id="root-is-a-list"),
    pytest.param("tolerance: 0.15\n", EXIT_INPUT, ["rows", "missing"], id="no-rows"),
    pytest.param("rows: []\n", EXIT_INPUT, ["rows"], id="empty-rows"),
    pytest.param("rows: 3\n", EXIT_INPUT, ["rows"], id="rows-not-a-list"),
    pytest.param(_calibration([ROW_OK]) + "extra: 1\n", EXIT_INPUT, ["extra", "unknown key"],
                 id="unknown-top-key"),
    pytest.param(_calibration([ROW_OK], tolerance=1.5), EXIT_INPUT, ["tolerance"],
                 id="tolerance-1.5"),
    pytest.param(_calibration([ROW_OK], tolerance=0), EXIT_INPUT, ["tolerance"], id="tolerance-0"),
    pytest.param(_calibration([dict(ROW_OK, measured={"seconds": -1.0})]), EXIT_INPUT,
                 ["rows[0].measured.seconds"], id="seconds-negative"),
    pytest.param(_calibration([dict(ROW_OK, measured={"seconds": "fast"})]), EXIT_INPUT,
                 ["rows[0].measured.seconds"], id="seconds-not-a-number"),
    pytest.param(_calibration([dict(ROW_OK, measured={"peak_gb": 3.0})]), EXIT_INPUT,
                 ["rows[0].measured.seconds", "missing"], id="seconds-missing"),
    pytest.param(_calibration([dict(ROW_OK, measured={"seconds": 1.0, "watts": 700})]),
                 EXIT_INPUT, ["rows[0].measured.watts"], id="measured-unknown-key"),
    pytest.param(_calibration([dict(ROW_OK, args="--model x")]), EXIT_INPUT, ["rows[0].args"],
                 id="args-not-a-list"),
    pytest.param(_calibration([{k: v for k, v in ROW_OK.items() if k != "id"}]), EXIT_INPUT,
                 ["rows[0].id", "missing"], id="id-missing"),
    pytest.param(_calibration([{k: v for k, v in ROW_OK.items() if k != "source"}]), EXIT_INPUT,
                 ["rows[0].source"], id="source-missing"),
    pytest.param(_calibration([dict(ROW_OK, when="2025")]), EXIT_INPUT, ["rows[0].when"],
                 id="row-unknown-key"),
    pytest.param(_calibration(["just a string"]), EXIT_INPUT, ["rows[0]"], id="row-not-a-map"),
]


@pytest.mark.parametrize("text,code,needles", BAD_CALIBRATIONS)
def test_bad_calibration_file(text, code, needles, workdir):
    path = write(workdir / "bad.yaml", text)
    line = error_run(["calibrate", str(path)], workdir, code)
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"


def test_calibration_row_with_an_invalid_plan(workdir):
    """A row whose flags do not make an estimate: exit 3, one line naming the row."""
    row = dict(ROW_OK, id="bad-device", args=[*ROW_OK["args"], "--device", "v100"])
    path = write(workdir / "plan.yaml", _calibration([row]))
    res = run("calibrate", str(path), cwd=workdir)
    assert res.rc == EXIT_INPUT, str(res)
    line = res.error_line()
    assert "bad-device" in line and "--device" in line and "v100" in line
    row = dict(ROW_OK, id="bad-flag", args=[*ROW_OK["args"], "--bogus"])
    res = run("calibrate", str(write(workdir / "flag.yaml", _calibration([row]))), cwd=workdir)
    assert res.rc == EXIT_USAGE, str(res)
    assert "--bogus" in res.error_line()


def test_calibrate_usage_errors(workdir):
    for args, code in ((["calibrate"], EXIT_USAGE), (["calibrate", "--bogus"], EXIT_USAGE),
                       (["calibrate", "a.yaml", "b.yaml"], EXIT_USAGE),
                       (["calibrate", "missing.yaml"], EXIT_IO)):
        error_run(args, workdir, code)


# =============================================================================================
# the peaks every plan uses besides --precision
# =============================================================================================

def _device_file(tmp_path: Path, peaks: dict) -> Path:
    """A user device `edgegpu` with the given peaks (each with its own source), in a file
    named after them (estimate() caches by arguments, so different peaks need other paths)."""
    doc = {"devices": {"edgegpu": {
        "name": "Edge GPU", "arch": "hopper", "memory_gb": 80, "memory_bandwidth_gbs": 3000,
        "interconnect": {"name": "link", "bandwidth_gbs": 100},
        "pcie": {"name": "PCIe", "bandwidth_gbs": 32}, "host": "server",
        "default_attention_kernel": "fa2",
        "peaks": {k: {"tflops": v[0], "dense": v[1], "source": "test"} for k, v in peaks.items()},
        "sources": {"memory": "test", "interconnect": "test"}}}}
    path = tmp_path / ("edge-" + "-".join(sorted(peaks)) + ".yaml")
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("peaks, needle", [
    # the VAE and CLIP run in fp32: a device without an fp32 peak cannot be estimated
    ({"bf16": (500, True)}, "peaks.fp32"),
    # a sparse bf16 figure must not stand in for the dense one the attention uses
    ({"fp32": (50, True), "bf16": (1000, False)}, "peaks.bf16"),
    # tf32 is optional (fp32 stands in), but when given it must be dense
    ({"fp32": (50, True), "tf32": (400, False), "bf16": (500, True)}, "peaks.tf32"),
])
def test_peaks_the_stages_need(peaks, needle, workdir, tmp_path):
    path = _device_file(tmp_path, peaks)
    line = error_run(["estimate", "--devices", str(path), "--device", "edgegpu",
                      "--workload", "wan2-1-ci-tiny"], workdir, EXIT_INPUT)
    assert needle in line, line


def test_device_without_tf32_runs_the_vae_at_its_fp32_peak(tmp_path):
    base = {"fp32": (50, True), "bf16": (500, True)}
    without = estimate("--devices", str(_device_file(tmp_path, base)), "--device", "edgegpu",
                       "--workload", "wan2-1-ci-tiny")
    with_tf32 = estimate("--devices", str(_device_file(tmp_path, {**base, "tf32": (200, True)})),
                         "--device", "edgegpu", "--workload", "wan2-1-ci-tiny")
    vae = [m for m in without["estimate"]["modules"] if m["id"].startswith("vae.decoder.conv_in")]
    vae4 = [m for m in with_tf32["estimate"]["modules"] if m["id"].startswith("vae.decoder.conv_in")]
    assert vae and vae4
    # the compute part of a convolution scales with 1 / peak: tf32 200 vs fp32 50 TFLOP/s
    assert close(vae[0]["compute_seconds_per_call"], 4.0 * vae4[0]["compute_seconds_per_call"])
