"""Every Wan transformer variant against PyTorch FlopCounterMode on diffusers' real code.

Each preset's transformer (and, for the Wan2.2 A14B, its second expert `transformer_2`) is
measured by reference/wanmeter_reference.py on the meta device and compared module by module
with tolerance 0 (tests/verify/exact.yaml): I2V and FLF2V (WanTransformer3DModel with the image
embedder and the added key/value attention), VACE (WanVACETransformer3DModel), the two A14B
experts and TI2V-5B (one timestep per token). The small workload is wan2-1-ci-tiny with the 512
text tokens image-conditioned models need; a few native workloads are measured too (every
native one was verified by hand, see docs/models.md). The expert split is checked against
diffusers' own UniPCMultistepScheduler."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXACT = Path(__file__).resolve().parent / "exact.yaml"
SUMMARY = re.compile(r"^(\d+) modules compared, (\d+) failed, max relative difference (\S+) "
                     r"\(tolerance 0\): (PASS|FAIL)$", re.M)


def assert_exact(out, modules):
    m = SUMMARY.search(out)
    assert m, f"no summary line in:\n{out[-3000:]}"
    compared, failed, max_rel, verdict = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
    assert (failed, max_rel, verdict) == (0, "0", "PASS"), out[-3000:]
    assert compared == modules, out[-3000:]


# Modules FlopCounterMode reports per model (each id compared exactly, both ways):
#   WanTransformer3DModel: 11 top-level ids + 15 per block (the block, attn1 + 5 linears,
#   attn2 + 4 linears, ffn, ffn.net.0, ffn.net.0.proj, ffn.net.2);
#   image conditioning: + 5 (image_embedder, ff, ff.net.0, ff.net.0.proj, ff.net.2) and + 2 per
#   block (attn2.add_k_proj, attn2.add_v_proj);
#   VACE: + 1 (vace_patch_embedding) + 16 per VACE block (a block + proj_out) + 1 (proj_in).
I2V_14B = 11 + 5 + 40 * (15 + 2)              # 696
VACE_1_3B = 11 + 1 + 30 * 15 + 15 * 16 + 1    # 703
VACE_14B = 11 + 1 + 40 * 15 + 8 * 16 + 1      # 741
T2V_14B = 11 + 40 * 15                        # 611
TI2V_5B = 11 + 30 * 15                        # 461

SMALL = ["--workload", "wan2-1-ci-tiny", "--text-len", "512"]

# One harness run costs ~10 s of CPU (importing torch and diffusers dominates), so each preset's
# new code path is measured once, on a small workload or on its native one. Not repeated here
# (verified the same way by hand, docs/models.md): wan2.1-i2v-14b-720p (the same transformer
# config as -480p), the A14B `transformer` stage (the T2V-14B / I2V-A14B config that test_verify.py
# and the transformer_2 runs measure), and the small workloads of the presets measured natively.
CASES = [
    # (model, stage, extra flags, modules)
    # batch 2: the text slice of the image-conditioned context is not contiguous, so attn2's
    # to_k/to_v (and add_k_proj/add_v_proj) record aten.mm instead of aten.addmm (same FLOPs)
    ("wan2.1-i2v-14b-480p", "transformer", SMALL + ["--batch", "2"], I2V_14B),
    ("wan2.1-vace-14b", "transformer", SMALL, VACE_14B),
    ("wan2.2-t2v-a14b", "transformer_2", SMALL, T2V_14B),
    ("wan2.2-i2v-a14b", "transformer_2", SMALL, T2V_14B),
    # native workloads: TI2V-5B's 121 x 704 x 1280 (WAN_FACTS §5.3: 520,654,782,726,144 per
    # forward), FLF2V's 720P with 514 image tokens, VACE-1.3B's 480P
    ("wan2.2-ti2v-5b", "transformer", [], TI2V_5B),
    ("wan2.1-flf2v-14b", "transformer", [], I2V_14B),
    ("wan2.1-vace-1.3b", "transformer", [], VACE_1_3B),
]


@pytest.mark.parametrize("model,stage,flags,modules", CASES,
                         ids=[f"{m}-{s}-{'native' if not f else 'small'}" for m, s, f, _ in CASES])
def test_layers_exact(wanmeter, model, stage, flags, modules):
    out = wanmeter("verify", "layers", "--config", EXACT, "--model", model, "--stage", stage,
                   *flags, check=0).stdout
    assert f"stage {stage}; reference: vendor on meta" in out, out[:2000]
    assert_exact(out, modules)


def test_native_ti2v_total(wanmeter):
    """The per-forward total of TI2V-5B on its native workload is WAN_FACTS §5.3's."""
    report = json.loads(wanmeter("report", "--model", "wan2.2-ti2v-5b", "--format", "json",
                                 "--no-artifacts", check=0).stdout)
    assert report["totals"]["flops_per_forward"] == 520_654_782_726_144


def test_image_models_need_512_text_tokens(wanmeter):
    proc = wanmeter("report", "--model", "wan2.1-i2v-14b-480p", "--text-len", "64",
                    "--no-artifacts", check=3)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("wanmeter: --text-len 64: 64: an image-conditioned model"), line
    assert line.endswith("(use 512)"), line


# (steps, flow_shift, boundary_ratio): the presets' own, the official A14B settings, and edge
# cases: one step, a boundary on a timestep (t = 875 at 50 steps, shift 3), a boundary just
# above it that float32 rounds onto it, boundaries 0.0001 and 1.
SPLITS = [(50, 3.0, 0.875), (50, 3.0, 0.9), (40, 12.0, 0.875), (40, 5.0, 0.9), (1, 3.0, 0.875),
          (2, 3.0, 0.875), (7, 1.0, 0.5), (10, 1.0, 0.5), (25, 8.0, 0.6), (100, 3.0, 0.875),
          (50, 3.0, 0.87500000001), (50, 16.0, 0.0001), (30, 0.5, 0.95), (50, 3.0, 1.0),
          (13, 3.7, 0.33)]

SCHEDULER = """
import json, sys
from diffusers import UniPCMultistepScheduler
out = []
for steps, shift, ratio in json.loads(sys.argv[1]):
    # the Wan2.x scheduler config (diffusers' conversion script): flow sigmas, shift
    s = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                num_train_timesteps=1000, flow_shift=shift)
    s.set_timesteps(steps, device="cpu")
    # WanPipeline: `transformer` while t >= boundary_ratio * num_train_timesteps
    boundary = ratio * s.config.num_train_timesteps
    out.append(sum(1 for t in s.timesteps if t >= boundary))
print(json.dumps(out))
"""


def test_expert_split_matches_diffusers_scheduler(wanmeter, tmp_path):
    python = os.environ.get("WANMETER_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    proc = subprocess.run([python, "-c", SCHEDULER, json.dumps(SPLITS)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    high = json.loads(proc.stdout)
    for i, ((steps, shift, ratio), want) in enumerate(zip(SPLITS, high)):
        cfg = tmp_path / "split.yaml"
        cfg.write_text(f"model:\n  pipeline:\n    boundary_ratio: {ratio!r}\n    flow_shift: {shift!r}\n")
        fps = 2 if i % 2 else 1  # with and without guidance: calls are steps x forwards per step
        report = json.loads(wanmeter("report", "--config", cfg, "--model", "wan2.2-t2v-a14b",
                                     "--workload", "wan2-1-ci-tiny", "--steps", steps,
                                     "--cfg" if fps == 2 else "--no-cfg", "--format", "json",
                                     "--no-artifacts", check=0).stdout)
        calls = {s["id"]: s["calls"] for s in report["stages"]}
        assert (calls["transformer"], calls["transformer_2"]) == (want * fps, (steps - want) * fps), \
            (steps, shift, ratio, calls, want)
