"""The encoder stages against PyTorch FlopCounterMode on transformers' real modules.

text_encoder = transformers UMT5EncoderModel (umT5-XXL), image_encoder = transformers
CLIPVisionModel (ViT-H/14), measured by reference/wanmeter_reference.py (torch 2.13.0,
transformers 5.23.0) and compared module by module with tolerance 0 (tests/verify/exact.yaml).
The measured parameter counts must equal the report's stage parameters too.

The five harness runs take ~15 s each, mostly importing torch and transformers, so a module
fixture starts them two at a time (the CI machines have 2 cores) and the tests read the
results."""
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXACT = Path(__file__).resolve().parent / "exact.yaml"
SUMMARY = re.compile(r"^(\d+) modules compared, (\d+) failed, max relative difference (\S+) "
                     r"\(tolerance 0\): (PASS|FAIL)$", re.M)

# Wan-AI/Wan2.1-I2V-14B-480P-Diffusers/image_encoder/config.json (CLIP ViT-H/14)
VIT_H14 = """\
      _class_name: CLIPVisionModel
      hidden_size: 1280
      intermediate_size: 5120
      num_hidden_layers: {layers}
      num_attention_heads: 16
      image_size: 224
      patch_size: 14
      num_channels: 3
      projection_dim: 1024
      hidden_act: gelu
      layer_norm_eps: 1.0e-5
"""

CONFIGS = {
    # an I2V-style preset: the T2V-14B one plus the image encoder section
    "i2v": "models:\n  enc-i2v:\n    base: wan2.1-t2v-14b\n    image_encoder:\n" + VIT_H14.format(layers=32),
    # FLF2V: the transformer embeds 2 x 257 image tokens, so the pipeline encodes 2 images;
    # 2 CLIP layers keep the CPU run small
    "flf2v": ("models:\n  enc-flf2v:\n    base: wan2.1-t2v-14b\n    transformer:\n      in_channels: 36\n"
              "      image_dim: 1280\n      added_kv_proj_dim: 5120\n      pos_embed_seq_len: 514\n"
              "    image_encoder:\n" + VIT_H14.format(layers=2)),
    # umT5-XXL's widths on the CPU: 2 layers and a small vocabulary (the embedding counts 0 FLOPs)
    # so the bf16 weights take 0.8 GB instead of 13.4 GB
    "te_cpu": "model:\n  text_encoder:\n    num_layers: 2\n    vocab_size: 1000\n",
}

# name: (config, model, workload, stage, device)
RUNS = {
    "te_meta_tiny": (None, "wan2.1-t2v-14b", "wan2-1-ci-tiny", "text_encoder", "meta"),
    "te_meta_512": (None, "wan2.1-t2v-14b", "wan2-1-480p-81f", "text_encoder", "meta"),
    "te_cpu_tiny": ("te_cpu", "wan2.1-t2v-14b", "wan2-1-ci-tiny", "text_encoder", "cpu"),
    "ie_meta": ("i2v", "enc-i2v", "wan2-1-ci-tiny", "image_encoder", "meta"),
    "ie_cpu_flf2v": ("flf2v", "enc-flf2v", "wan2-1-480p-81f", "image_encoder", "cpu"),
}


@pytest.fixture(scope="module")
def runs(wanmeter, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("encoders")
    paths = {}
    for name, body in CONFIGS.items():
        paths[name] = tmp / f"{name}.yaml"
        paths[name].write_text(EXACT.read_text() + body)

    def one(name):
        config, model, workload, stage, device = RUNS[name]
        ref = tmp / f"{name}.reference.json"
        proc = wanmeter("verify", "layers", "--config", paths[config] if config else EXACT, "--model", model,
                        "--workload", workload, "--stage", stage, "--device", device, "--all",
                        "--keep-reference", ref)
        report = wanmeter("report", "--config", paths[config] if config else EXACT, "--model", model,
                          "--workload", workload, "--format", "json", check=0)
        return proc, json.loads(ref.read_text()) if ref.exists() else None, json.loads(report.stdout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(one, name) for name in RUNS}
        return {name: f.result() for name, f in futures.items()}


def assert_exact(proc, modules):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    m = SUMMARY.search(proc.stdout)
    assert m, f"no summary line in:\n{proc.stdout[-3000:]}"
    assert (int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)) == (modules, 0, "0", "PASS"), \
        proc.stdout[-3000:]


def row(out, module_id):
    m = re.search(rf"^{re.escape(module_id)}\s+([\d,]+)\s+([\d,]+)\s+0\s+pass$", out, re.M)
    assert m, f"no passing row for {module_id}"
    return int(m.group(1).replace(",", ""))


def stage_of(report, name):
    return next(s for s in report["stages"] if s["id"] == name)


# umT5: text_encoder + encoder + 24 blocks x (block, layer.0, SelfAttention, q, k, v, o, layer.1,
# DenseReluDense, wi_0, wi_1, wo) = 2 + 24 * 12 = 290 modules with counted work.
@pytest.mark.parametrize("name,text_len,per_call", [
    # 24 * (385,875,968 * 64 + 16,384 * 64^2) and 24 * (385,875,968 * 512 + 16,384 * 512^2)
    ("te_meta_tiny", 64, 594_316_099_584),
    ("te_meta_512", 512, 4_844_723_109_888),
])
def test_text_encoder_meta(runs, name, text_len, per_call):
    proc, ref, report = runs[name]
    assert_exact(proc, 290)
    assert "stage text_encoder; reference: vendor on meta" in proc.stdout
    assert row(proc.stdout, "text_encoder") == per_call
    row(proc.stdout, "text_encoder.encoder.block.0.layer.0.SelfAttention.q")
    row(proc.stdout, "text_encoder.encoder.block.23.layer.1.DenseReluDense.wi_0")
    # the attention core is an SDPA (transformers 5 "sdpa"): aten.bmm on meta, under SelfAttention
    attn = next(m for m in ref["modules"] if m["id"] == "text_encoder.encoder.block.0.layer.0.SelfAttention")
    assert attn["ops"]["aten.bmm"] == 4 * 64 * text_len * text_len * 64
    assert ref["attn_implementation"] == "sdpa"
    # UMT5EncoderModel.parameters() (shared = encoder.embed_tokens, counted once) = the report's
    te = stage_of(report, "text_encoder")
    assert ref["params"] == te["params"] == 5_680_910_336
    # prompt and negative prompt under classifier-free guidance
    assert te["calls"] == 2 and te["flops_per_call"] == per_call


def test_text_encoder_cpu(runs):
    """On the CPU the fused SDPA kernel counts 0, so the analytic side runs in mode torch-cpu."""
    proc, ref, report = runs["te_cpu_tiny"]
    assert_exact(proc, 2 + 2 * 12)
    assert "reference: vendor on cpu" in proc.stdout and "analytic mode torch-cpu" in proc.stdout
    # linears only: 2 * 385,875,968 * 64
    assert row(proc.stdout, "text_encoder") == 49_392_123_904
    assert not any("aten.bmm" in m["ops"] for m in ref["modules"])
    # 1000 * 4096 + 2 * 192,948,224 + 4096
    assert ref["params"] == stage_of(report, "text_encoder")["params"] == 389_996_544


# CLIP: image_encoder, embeddings, patch_embedding, encoder + 32 layers x (layer, self_attn,
# q/k/v/out_proj, mlp, fc1, fc2) = 4 + 32 * 9 = 292 modules with counted work.
def test_image_encoder_meta(runs):
    proc, ref, report = runs["ie_meta"]
    assert_exact(proc, 292)
    assert "stage image_encoder; reference: vendor on meta" in proc.stdout
    # 2*256*196*3*1280 + 32 * (2*257*(4*1280^2 + 2*1280*5120) + 4*257^2*1280)
    assert row(proc.stdout, "image_encoder") == 334_587_658_240
    assert row(proc.stdout, "image_encoder.embeddings.patch_embedding") == 385_351_680
    assert row(proc.stdout, "image_encoder.encoder.layers.31.self_attn") == 4 * 842_137_600 + 338_170_880
    assert ref["geometry"]["images"] == 1 and ref["attn_implementation"] == "sdpa"
    ie = stage_of(report, "image_encoder")
    assert ref["params"] == ie["params"] == 630_766_080
    assert ie["calls"] == 1


def test_image_encoder_cpu_flf2v(runs):
    """FLF2V: first and last frame in one call (batch 2); the CPU counts no attention."""
    proc, ref, report = runs["ie_cpu_flf2v"]
    assert_exact(proc, 4 + 2 * 9)
    assert "analytic mode torch-cpu" in proc.stdout
    assert ref["geometry"]["images"] == 2 and ref["inputs"]["pixel_values"] == [2, 3, 224, 224]
    # 2 images x (385,351,680 + 2 * 10,105,651,200)
    assert row(proc.stdout, "image_encoder") == 41_193_308_160
    assert ref["params"] == stage_of(report, "image_encoder")["params"]


def test_text_encoder_calls_without_cfg(wanmeter):
    """No guidance: the negative prompt is not encoded, one call."""
    out = wanmeter("report", "--workload", "wan2-1-480p-81f", "--no-cfg", "--format", "json", check=0).stdout
    te = stage_of(json.loads(out), "text_encoder")
    assert te["calls"] == 1 and te["flops"] == te["flops_per_call"] == 4_844_723_109_888
