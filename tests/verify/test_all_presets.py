"""Every stage of every preset against PyTorch FlopCounterMode on diffusers'/transformers' real
code (meta device), with tolerance 0: `verify layers --stage all` on a small workload (4 frames
at 256x256; text 512, which the image-conditioned models require; the TI2V-5B VAE needs sizes
that are multiples of 32, which 256 is). The native workloads of each transformer path are in
test_variants.py, the VAE's in test_vae.py, the encoders' in test_encoders.py."""
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXACT = Path(__file__).resolve().parent / "exact.yaml"
PRESETS = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-i2v-14b-720p",
           "wan2.1-flf2v-14b", "wan2.1-vace-1.3b", "wan2.1-vace-14b", "wan2.2-t2v-a14b",
           "wan2.2-i2v-a14b", "wan2.2-ti2v-5b"]
STAGE_SUMMARY = re.compile(r"^(\d+) modules compared, (\d+) failed, max relative difference (\S+) "
                           r"\(tolerance 0\): (PASS|FAIL)$", re.M)
STAGE_LINE = re.compile(r"^stage (\w+); reference: vendor on meta", re.M)


@pytest.fixture(scope="module")
def runs(wanmeter):
    """All presets, two harness runs at a time (each stage is a Python process)."""
    def one(preset):
        return preset, wanmeter("verify", "layers", "--config", EXACT, "--model", preset,
                                "--workload", "wan2-1-ci-tiny", "--text-len", "512",
                                "--stage", "all")
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, PRESETS))


def expected_stages(wanmeter, preset):
    """The stages the model has, from its report (what `--stage all` must cover)."""
    import json
    proc = wanmeter("report", "--no-artifacts", "--format", "json", "--model", preset,
                    "--workload", "wan2-1-ci-tiny", "--text-len", "512", check=0)
    return [s["id"] for s in json.loads(proc.stdout)["stages"]]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_stage_exact(runs, wanmeter, preset):
    proc = runs[preset]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    stages = STAGE_LINE.findall(proc.stdout)
    summaries = STAGE_SUMMARY.findall(proc.stdout)
    assert stages == expected_stages(wanmeter, preset)
    assert len(summaries) == len(stages)
    for stage, (compared, failed, max_rel, verdict) in zip(stages, summaries):
        assert (failed, max_rel, verdict) == ("0", "0", "PASS"), (stage, proc.stdout[-3000:])
        assert int(compared) > 0
    # every preset has the text encoder, the transformer and the VAE decode
    assert {"text_encoder", "transformer", "vae_decode"} <= set(stages)
