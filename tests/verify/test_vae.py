"""wanmeter's VAE stages against PyTorch FlopCounterMode on diffusers' real AutoencoderKLWan.

Each case runs `wanmeter verify layers --stage vae_decode|vae_encode`: a fresh measurement of
`vae.decode(z)` / `vae.encode(x)` by reference/wanmeter_reference.py (torch 2.13.0, diffusers
0.42.1), compared module by module with tolerance 0. The cases are independent processes, so
they are started together (two at a time, the CI machine has two cores) and each test checks
its own result: the file stays well under 90 s.

Module counts (ids with counted work): Wan2.1 decode 66 (64 with one latent frame, when both
time_convs never run), Wan2.1 encode 51 (49), Wan2.2 decode 67, Wan2.2 encode 55.
"""
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXACT = Path(__file__).resolve().parent / "exact.yaml"
SUMMARY = re.compile(r"^(\d+) modules compared, (\d+) failed, max relative difference (\S+) "
                     r"\(tolerance 0\): (PASS|FAIL)$", re.M)


def workload(frames, height, width):
    return f"workload:\n  frames: {frames}\n  height: {height}\n  width: {width}\n"


# name -> (stage, model, workload, extra YAML merged over exact.yaml, extra flags)
CASES = {
    # Wan2.1 decode at the native workloads (T = 1; 21 x 60 x 104; 21 x 90 x 160 latents)
    "dec-ci-tiny": ("vae_decode", "wan2.1-t2v-14b", "wan2-1-ci-tiny", "", ()),
    "dec-480p-81f": ("vae_decode", "wan2.1-t2v-14b", "wan2-1-480p-81f", "", ()),
    "dec-720p-81f": ("vae_decode", "wan2.1-t2v-14b", "wan2-1-720p-81f", "", ()),
    # Wan2.1 I2V encode, T = 3 (chunks 1, 4, 4), latent 18 x 26: not multiples of 4
    "enc-i2v-odd": ("vae_encode", "wan2.1-i2v-14b-480p", "wan2-1-i2v-480p-81f", workload(9, 144, 208), ()),
    # the Wan2.2 VAE of TI2V-5B (residual blocks, patch 2): T = 3, latent 6 x 10; the encoder
    # through a video-to-video pipeline (an F-frame encode, unlike TI2V's one-frame image mode)
    "dec-wan22": ("vae_decode", "wan2.2-ti2v-5b", "wan2-2-ti2v-704p-121f", workload(9, 96, 160), ()),
    "enc-wan22": ("vae_encode", "wan2.2-ti2v-5b", "wan2-2-ti2v-704p-121f",
                  workload(9, 96, 160) + "model:\n  variant: v2v\n", ()),
    # on the CPU (real tensors, mode torch-cpu: the fused attention counts 0): T = 3, 2 x 2
    "dec-cpu": ("vae_decode", "wan2.1-t2v-14b", "wan2-1-ci-tiny", workload(9, 16, 16),
                ("--device", "cpu")),
}


@pytest.fixture(scope="module")
def results(wanmeter, tmp_path_factory):
    """Starts every case, two at a time; maps the case name to a future of its process."""
    tmp = tmp_path_factory.mktemp("vae")
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {}
    for name, (stage, model, wl, extra, flags) in CASES.items():
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(EXACT.read_text() + extra)
        futures[name] = pool.submit(wanmeter, "verify", "layers", "--stage", stage, "--model", model,
                                    "--workload", wl, "--config", cfg, "--all", *flags)
    yield futures
    pool.shutdown(wait=True)


def verified(results, name, min_modules):
    proc = results[name].result()
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-4000:]}\n{proc.stderr[-2000:]}"
    m = SUMMARY.search(out)
    assert m, f"no summary line in:\n{out[-3000:]}"
    compared, failed, max_rel, verdict = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
    assert (failed, max_rel, verdict) == (0, "0", "PASS"), out[-4000:]
    assert compared == min_modules, out[-4000:]
    return out


def row(out, module):
    """The analytic and reference FLOPs of one module row (--all prints every row)."""
    m = re.search(rf"^{re.escape(module)}\s+([\d,]+)\s+([\d,]+)\s+0\s+pass$", out, re.M)
    assert m, f"no passing row for {module}"
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def test_decode_ci_tiny(results):
    out = verified(results, "dec-ci-tiny", 64)
    assert "stage vae_decode; reference: vendor on meta" in out
    # one latent frame: the first chunk skips every time_conv, so torch never runs one
    assert "time_conv" not in out


@pytest.mark.parametrize("name,total,attention", [
    # WAN_FACTS §7: conv + 6,688,604,160,000 attention at 720p
    ("dec-720p-81f", 639_218_375_884_800, 6_688_604_160_000),
    ("dec-480p-81f", 275_352_205_639_680, 1_255_971_225_600),
])
def test_decode_native(results, name, total, attention):
    out = verified(results, name, 66)
    post, _ = row(out, "vae.post_quant_conv")
    dec, _ = row(out, "vae.decoder")
    assert post + dec == total
    # the mid-block attention: its two 1x1 convs plus the core, counted as aten.bmm on meta
    attn, _ = row(out, "vae.decoder.mid_block.attentions.0")
    qkv, _ = row(out, "vae.decoder.mid_block.attentions.0.to_qkv")
    proj, _ = row(out, "vae.decoder.mid_block.attentions.0.proj")
    assert attn - qkv - proj == attention


def test_encode_i2v_odd_sizes(results):
    out = verified(results, "enc-i2v-odd", 51)
    assert "stage vae_encode; reference: vendor on meta" in out
    # downsample3d time_convs: 2(T-1) = 4 frames of 36 x 52, then T-1 = 2 frames of 18 x 26
    assert row(out, "vae.encoder.down_blocks.5.time_conv")[0] == 2 * 4 * 36 * 52 * 3 * 192 * 192
    assert row(out, "vae.encoder.down_blocks.8.time_conv")[0] == 2 * 2 * 18 * 26 * 3 * 384 * 384


def test_wan22_decode(results):
    out = verified(results, "dec-wan22", 67)
    # the upsampler keeps 1024 channels; time_conv on T-1 = 2 frames of 6 x 10
    assert row(out, "vae.decoder.up_blocks.0.upsampler.time_conv")[0] == 2 * 2 * 60 * 3 * 1024 * 2048
    assert "avg_shortcut" not in out  # DupUp3D: no counted work


def test_wan22_encode(results):
    out = verified(results, "enc-wan22", 55)
    assert "avg_shortcut" not in out  # AvgDown3D: no counted work


def test_cpu_decode(results):
    out = verified(results, "dec-cpu", 66)
    assert "reference: vendor on cpu" in out
    assert "analytic mode torch-cpu" in out
    attn, _ = row(out, "vae.decoder.mid_block.attentions.0")
    qkv, _ = row(out, "vae.decoder.mid_block.attentions.0.to_qkv")
    proj, _ = row(out, "vae.decoder.mid_block.attentions.0.proj")
    assert attn == qkv + proj  # the fused CPU attention counts 0 in torch 2.13.0
