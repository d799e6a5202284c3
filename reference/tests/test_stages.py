"""Tests of the pipeline stages of the reference harness (wanmeter_stages.py).

Every stage is measured in-process on the meta device with a tiny config, and at least one
per-module number is checked against a formula written here (not pasted from an output).
The VAE gets a complete closed form of every module (see docs/reference-stages.md), checked
for the Wan2.1 and the Wan2.2 structure, for decode and encode.
"""

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

REFERENCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REFERENCE_DIR))

import wanmeter_reference as harness  # noqa: E402

TRANSFORMER = {
    "_class_name": "WanTransformer3DModel",
    "patch_size": [1, 2, 2],
    "num_attention_heads": 2,
    "attention_head_dim": 32,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 96,
    "freq_dim": 32,
    "ffn_dim": 128,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-06,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 1024,
    "pos_embed_seq_len": None,
}
UMT5 = {  # umT5-XXL's fields with tiny widths
    "vocab_size": 1000,
    "d_model": 64,
    "d_kv": 16,
    "d_ff": 160,
    "num_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-06,
}
CLIP = {  # CLIP ViT-H/14's fields with tiny widths; 28 px / 14 = 2x2 patches + CLS = 5 tokens
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 28,
    "patch_size": 14,
    "num_channels": 3,
    "projection_dim": 32,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-05,
}
VAE21 = {  # Wan2.1 structure, base_dim 8 instead of 96, z_dim 4 instead of 16
    "_class_name": "AutoencoderKLWan",
    "base_dim": 8,
    "z_dim": 4,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}
VAE22 = {  # Wan2.2 (TI2V-5B) structure: residual blocks, patch 2, separate decoder width
    **VAE21,
    "decoder_base_dim": 16,
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
}
WORKLOAD = {
    "profile_id": "tiny",
    "batch_size": 2,
    "num_frames": 9,  # -> 3 latent frames
    "height": 32,
    "width": 48,
    "num_inference_steps": 2,
    "text_len": 7,
    "cfg": True,
    "forwards_per_step": 2,
    "dtype": "bf16",
}
B = 2


def request(stage: str, workload: dict | None = None, **configs) -> dict:
    spatial = 16 if configs.get("vae", {}).get("patch_size") == 2 else 8
    return {
        "schema_version": 1,
        "stage": stage,
        "reference": "vendor",
        "device": "meta",
        "model_id": "tiny",
        "configs": configs,
        "pipeline": {"vae_scale_factor_temporal": 4, "vae_scale_factor_spatial": spatial},
        "workload": {**WORKLOAD, **(workload or {})},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """run(request, *cli_args) -> parsed output; identical runs are done once."""
    cache = {}

    def _run(req: dict, *args: str) -> dict:
        key = (json.dumps(req, sort_keys=True), args)
        if key not in cache:
            tmp = tmp_path_factory.mktemp("run")
            (tmp / "request.json").write_text(key[0])
            code = harness.main(["--request", str(tmp / "request.json"), "--out", str(tmp / "out.json"), *args])
            assert code == 0
            cache[key] = (tmp / "out.json").read_text()
        return json.loads(cache[key])

    return _run


def by_id(output: dict) -> dict:
    return {m["id"]: m for m in output["modules"]}


def check_ids(output: dict, prefix: str, root_entry: bool) -> None:
    """Ids are pipeline paths: no class-name root leaks, unique, every flops = sum of its ops."""
    ids = [m["id"] for m in output["modules"]]
    assert len(ids) == len(set(ids))
    assert all(i == prefix or i.startswith(prefix + ".") for i in ids), ids
    for leak in ("PipelineRoot", "WanDecoder3d", "WanEncoder3d", "WanCausalConv3d", "UMT5EncoderModel",
                 "CLIPVisionModel", "WanTransformer3DModel", "AutoencoderKLWan"):
        assert not any(leak in i for i in ids), leak
    for m in output["modules"]:
        assert all(type(v) is int for v in m["ops"].values()) and m["flops"] == sum(m["ops"].values())
    if root_entry:
        assert output["modules"][0]["id"] == prefix and output["modules"][0]["flops"] == output["flops_per_forward"]
    else:
        assert prefix not in ids
        children = [m for m in output["modules"] if m["id"].count(".") == prefix.count(".") + 1]
        assert sum(m["flops"] for m in children) == output["flops_per_forward"]


# text_encoder ---------------------------------------------------------------------


def umt5_layer(batch: int, length: int) -> tuple[int, int]:
    """(mm, bmm) of one umT5 layer: q,k,v,o (d x H*dkv), wi_0, wi_1 (d x dff), wo (dff x d); QK^T and PV."""
    d, dff, heads, dkv = UMT5["d_model"], UMT5["d_ff"], UMT5["num_heads"], UMT5["d_kv"]
    inner = heads * dkv
    return 2 * batch * length * (4 * d * inner + 3 * d * dff), 4 * batch * heads * length * length * dkv


def test_text_encoder_meta(run):
    out = run(request("text_encoder", text_encoder=UMT5))
    check_ids(out, "text_encoder", root_entry=True)
    modules = by_id(out)
    lt = WORKLOAD["text_len"]
    mm, bmm = umt5_layer(B, lt)
    assert out["stage"] == "text_encoder" and out["attn_implementation"] == "sdpa"
    assert out["inputs"] == {"input_ids": [B, lt], "attention_mask": [B, 1, lt, lt]}
    assert out["output_shape"] == [B, lt, UMT5["d_model"]]
    for i in range(UMT5["num_layers"]):
        assert modules[f"text_encoder.encoder.block.{i}"]["ops"] == {"aten.mm": mm, "aten.bmm": bmm}
    inner = UMT5["num_heads"] * UMT5["d_kv"]
    assert modules["text_encoder.encoder.block.0.layer.0.SelfAttention.q"]["ops"] == {
        "aten.mm": 2 * B * lt * UMT5["d_model"] * inner}
    assert modules["text_encoder.encoder.block.1.layer.1.DenseReluDense.wo"]["flops"] == \
        2 * B * lt * UMT5["d_ff"] * UMT5["d_model"]
    assert out["flops_per_forward"] == UMT5["num_layers"] * (mm + bmm)
    assert out["attention_counted"] is True


def test_text_encoder_cpu_misses_sdpa_attention(run):
    """transformers 5 runs umT5 through SDPA: 0 FLOPs on the CPU; eager matmuls are counted."""
    meta = run(request("text_encoder", text_encoder=UMT5))
    cpu = run(request("text_encoder", text_encoder=UMT5), "--device", "cpu")
    eager = run(request("text_encoder", text_encoder={**UMT5, "attn_implementation": "eager"}), "--device", "cpu")
    _, bmm = umt5_layer(B, WORKLOAD["text_len"])
    assert cpu["attention_counted"] is False and cpu["inputs"]["attention_mask"] == [B, WORKLOAD["text_len"]]
    assert meta["flops_per_forward"] - cpu["flops_per_forward"] == UMT5["num_layers"] * bmm
    assert eager["attn_implementation"] == "eager" and eager["attention_counted"] is True
    assert eager["modules"] == meta["modules"]
    assert cpu["params"] == meta["params"]  # the tied embedding is counted once on both devices


def test_text_encoder_end2end_counts_prompt_and_negative_prompt(run):
    out = run(request("text_encoder", text_encoder=UMT5), "--end2end")
    assert out["end2end"]["forwards_per_generation"] == 2 and out["end2end"]["method"] == "loop"
    assert out["end2end"]["flops"] == 2 * out["flops_per_forward"]
    no_cfg = run(request("text_encoder", {"cfg": False, "forwards_per_step": 1}, text_encoder=UMT5), "--end2end")
    assert no_cfg["end2end"]["forwards_per_generation"] == 1


# image_encoder --------------------------------------------------------------------


def test_image_encoder_meta(run):
    out = run(request("image_encoder", image_encoder=CLIP))
    check_ids(out, "image_encoder", root_entry=True)
    modules = by_id(out)
    d, mlp, n = CLIP["hidden_size"], CLIP["intermediate_size"], (CLIP["image_size"] // CLIP["patch_size"]) ** 2 + 1
    patches, p = n - 1, CLIP["patch_size"]
    assert out["inputs"] == {"pixel_values": [B, 3, 28, 28]} and out["output_shape"] == [B, n, d]
    assert out["image_encoder_class"] == "CLIPVisionModel" and out["attn_implementation"] == "sdpa"
    assert modules["image_encoder.embeddings.patch_embedding"]["ops"] == {
        "aten.convolution": 2 * B * patches * d * 3 * p * p}
    assert modules["image_encoder.encoder.layers.0.self_attn.q_proj"]["ops"] == {"aten.addmm": 2 * B * n * d * d}
    layer = {"aten.addmm": 2 * B * n * (4 * d * d + 2 * d * mlp), "aten.bmm": 4 * B * n * n * d}
    # diffusers takes hidden_states[-2], but every layer runs.
    assert [modules[f"image_encoder.encoder.layers.{i}"]["ops"] for i in range(2)] == [layer, layer]


def test_image_encoder_flf2v_and_projection(run):
    flf2v = {**TRANSFORMER, "image_dim": 40, "added_kv_proj_dim": 64, "pos_embed_seq_len": 514}
    single = run(request("image_encoder", image_encoder=CLIP))
    two = run(request("image_encoder", image_encoder=CLIP, transformer=flf2v))
    assert two["geometry"]["images"] == 2 and two["inputs"]["pixel_values"][0] == 2 * B
    assert two["flops_per_forward"] == 2 * single["flops_per_forward"]

    proj = run(request("image_encoder", image_encoder={**CLIP, "_class_name": "CLIPVisionModelWithProjection"}))
    hub_style = run(request("image_encoder",
                            image_encoder={**CLIP, "architectures": ["CLIPVisionModelWithProjection"]}))
    assert hub_style["modules"] == proj["modules"] and proj["image_encoder_class"] == "CLIPVisionModelWithProjection"
    check_ids(proj, "image_encoder", root_entry=True)
    modules = by_id(proj)
    assert modules["image_encoder.visual_projection"]["ops"] == {
        "aten.mm": 2 * B * CLIP["hidden_size"] * CLIP["projection_dim"]}
    assert modules["image_encoder.vision_model"]["flops"] == single["flops_per_forward"]


# VAE: closed form of every module -----------------------------------------------


def conv(cout: int, cin: int, kernel: int, frames: int, h: int, w: int) -> int:
    return 2 * B * cout * cin * kernel * frames * h * w


def resnet(out: dict, name: str, cin: int, cout: int, frames: int, h: int, w: int) -> int:
    out[name + ".conv1"] = conv(cout, cin, 27, frames, h, w)
    out[name + ".conv2"] = conv(cout, cout, 27, frames, h, w)
    out[name] = out[name + ".conv1"] + out[name + ".conv2"]
    if cin != cout:
        out[name + ".conv_shortcut"] = conv(cout, cin, 1, frames, h, w)
        out[name] += out[name + ".conv_shortcut"]
    return out[name]


def mid_block(out: dict, name: str, c: int, frames: int, h: int, w: int) -> int:
    """res, single-head attention over the h*w pixels of each frame (1x1 convs, SDPA), res."""
    att = name + ".attentions.0"
    out[att + ".to_qkv"] = 2 * B * frames * h * w * 3 * c * c
    out[att + ".proj"] = 2 * B * frames * h * w * c * c
    out[att] = out[att + ".to_qkv"] + out[att + ".proj"] + 4 * B * frames * (h * w) ** 2 * c
    out[name] = resnet(out, name + ".resnets.0", c, c, frames, h, w) + out[att] + \
        resnet(out, name + ".resnets.1", c, c, frames, h, w)
    return out[name]


def vae_decode_formula(cfg: dict, t: int, h: int, w: int) -> dict:
    """vae.decode(z): post_quant_conv once, then the decoder once per latent frame.

    Chunk 0 stays 1 frame; chunk c >= 1 doubles at every temporal upsample, so a level after k
    temporal upsamples holds 1 + 2^k (t - 1) frames; time_conv runs on chunks >= 1 only.
    """
    base, mult, z = cfg.get("decoder_base_dim") or cfg["base_dim"], cfg["dim_mult"], cfg["z_dim"]
    residual = cfg.get("is_residual", False)
    dims = [base * m for m in [mult[-1]] + mult[::-1]]
    out = {"vae.post_quant_conv": conv(z, z, 1, t, h, w)}
    total = out["vae.decoder.conv_in"] = conv(dims[0], z, 27, t, h, w)
    total += mid_block(out, "vae.decoder.mid_block", dims[0], t, h, w)
    per_chunk = 1
    for i, up_t in enumerate(cfg["temperal_downsample"][::-1] + [False]):
        cin, cout = dims[i] if residual or i == 0 else dims[i] // 2, dims[i + 1]
        frames, name = 1 + per_chunk * (t - 1), f"vae.decoder.up_blocks.{i}"
        out[name] = sum(resnet(out, f"{name}.resnets.{r}", cin if r == 0 else cout, cout, frames, h, w)
                        for r in range(cfg["num_res_blocks"] + 1))
        if i < len(mult) - 1:
            up = f"{name}.upsampler" if residual else f"{name}.upsamplers.0"
            out[up] = 0
            if up_t:
                out[up + ".time_conv"] = conv(2 * cout, cout, 3, frames - 1, h, w)
                out[up] += out[up + ".time_conv"]
                per_chunk *= 2
            h, w = 2 * h, 2 * w
            resample = conv(cout if residual else cout // 2, cout, 9, 1 + per_chunk * (t - 1), h, w)
            out[up + ".resample"] = out[up + ".resample.1"] = resample
            out[up] += resample
            out[name] += out[up]
        total += out[name]
    out["vae.decoder.conv_out"] = conv(cfg.get("out_channels", 3), dims[-1], 27, 1 + per_chunk * (t - 1), h, w)
    out["vae.decoder"] = total + out["vae.decoder.conv_out"]
    return out


def vae_encode_formula(cfg: dict, frames_in: int, height: int, width: int) -> dict:
    """vae.encode(x): the encoder once per chunk of 1, 4, 4, ... frames, then quant_conv once.

    A temporal downsample (time_conv, stride 2 over [1 cached frame + chunk]) halves the
    frames of chunks >= 1 and does not run on chunk 0; spatial downsamples floor-halve.
    """
    base, mult, z, residual = cfg["base_dim"], cfg["dim_mult"], cfg["z_dim"], cfg.get("is_residual", False)
    patch = cfg.get("patch_size") or 1
    t, h, w = 1 + (frames_in - 1) // 4, height // patch, width // patch
    dims = [base * m for m in [1] + mult]
    out, per_chunk, flat = {}, 4, 0
    total = out["vae.encoder.conv_in"] = conv(dims[0], cfg.get("in_channels", 3), 27, 1 + per_chunk * (t - 1), h, w)
    for i, down_t in enumerate(cfg["temperal_downsample"] + [False]):
        frames, last = 1 + per_chunk * (t - 1), i == len(mult) - 1
        names = [f"vae.encoder.down_blocks.{i}.resnets.{r}" if residual else f"vae.encoder.down_blocks.{flat + r}"
                 for r in range(cfg["num_res_blocks"])]
        block = sum(resnet(out, n, dims[i] if r == 0 else dims[i + 1], dims[i + 1], frames, h, w)
                    for r, n in enumerate(names))
        flat += cfg["num_res_blocks"]
        if not last:
            down = f"vae.encoder.down_blocks.{i}.downsampler" if residual else f"vae.encoder.down_blocks.{flat}"
            flat += 1
            h, w, c = h // 2, w // 2, dims[i + 1]
            out[down + ".resample"] = out[down + ".resample.1"] = out[down] = conv(c, c, 9, frames, h, w)
            if down_t:
                per_chunk //= 2
                out[down + ".time_conv"] = conv(c, c, 3, per_chunk * (t - 1), h, w)
                out[down] += out[down + ".time_conv"]
            block += out[down]
        if residual:
            out[f"vae.encoder.down_blocks.{i}"] = block
        total += block
    total += mid_block(out, "vae.encoder.mid_block", dims[-1], t, h, w)
    out["vae.encoder.conv_out"] = conv(2 * z, dims[-1], 27, t, h, w)
    out["vae.encoder"] = total + out["vae.encoder.conv_out"]
    out["vae.quant_conv"] = conv(2 * z, 2 * z, 1, t, h, w)
    return out


VAE_CASES = {  # name: (config, workload changes)
    "wan2.1": (VAE21, {}),
    "wan2.1-odd": (VAE21, {"num_frames": 6, "height": 40, "width": 56}),  # 6 frames -> 2 chunks, latent 5x7
    "wan2.2": (VAE22, {"height": 32, "width": 48}),
}


@pytest.mark.parametrize("case", sorted(VAE_CASES))
def test_vae_decode_closed_form(run, case):
    cfg, changes = VAE_CASES[case]
    out = run(request("vae_decode", changes, vae=cfg))
    check_ids(out, "vae", root_entry=False)
    geo = out["geometry"]
    t, h, w = geo["latent_frames"], geo["latent_height"], geo["latent_width"]
    assert out["inputs"] == {"z": [B, cfg["z_dim"], t, h, w]}
    assert {m["id"]: m["flops"] for m in out["modules"]} == vae_decode_formula(cfg, t, h, w)
    modules = by_id(out)
    assert modules["vae.post_quant_conv"]["calls"] == 1
    assert modules["vae.decoder"]["calls"] == modules["vae.decoder.conv_in"]["calls"] == geo["decoder_calls"] == t
    time_conv = [m for m in out["modules"] if m["id"].endswith(".time_conv")]
    assert len(time_conv) == 2 and all(m["calls"] == t - 1 for m in time_conv)
    assert modules["vae.decoder.mid_block.attentions.0"]["ops"]["aten.bmm"] == 4 * B * t * (h * w) ** 2 * \
        (cfg.get("decoder_base_dim") or cfg["base_dim"]) * 4


@pytest.mark.parametrize("case", sorted(VAE_CASES))
def test_vae_encode_closed_form(run, case):
    cfg, changes = VAE_CASES[case]
    out = run(request("vae_encode", changes, vae=cfg))
    check_ids(out, "vae", root_entry=False)
    wl = {**WORKLOAD, **changes}
    assert out["inputs"] == {"x": [B, 3, wl["num_frames"], wl["height"], wl["width"]]}
    assert {m["id"]: m["flops"] for m in out["modules"]} == \
        vae_encode_formula(cfg, wl["num_frames"], wl["height"], wl["width"])
    modules = by_id(out)
    assert modules["vae.quant_conv"]["calls"] == 1
    assert modules["vae.encoder"]["calls"] == out["geometry"]["encoder_calls"] == 1 + (wl["num_frames"] - 1) // 4
    assert out["output_shape"][:3] == [B, cfg["z_dim"], out["geometry"]["latent_frames"]]


def test_vae_cpu_misses_only_the_mid_block_attention(run):
    meta = run(request("vae_decode", vae=VAE21))
    cpu = run(request("vae_decode", vae=VAE21), "--device", "cpu")
    assert cpu["attention_counted"] is False and meta["attention_counted"] is True
    cpu_modules = by_id(cpu)
    for m in meta["modules"]:
        assert cpu_modules[m["id"]]["flops"] == m["flops"] - m["ops"].get("aten.bmm", 0), m["id"]
        assert cpu_modules[m["id"]]["calls"] == m["calls"]


# transformer variants ---------------------------------------------------------------


def test_vace_transformer(run):
    vace = {**TRANSFORMER, "_class_name": "WanVACETransformer3DModel", "num_layers": 4, "vace_layers": [0, 2],
            "vace_in_channels": 6}
    out = run(request("transformer", transformer=vace))
    check_ids(out, "transformer", root_entry=True)
    modules = by_id(out)
    d, n_tokens = 64, 3 * 2 * 3  # 3 latent frames of 4x6 -> 2x3 tokens
    assert out["inputs"]["control_hidden_states"] == [B, 6, 3, 4, 6]
    assert out["inputs"]["control_hidden_states_scale"] == [2]
    assert modules["transformer.vace_patch_embedding"]["ops"] == {"aten.convolution": 2 * B * n_tokens * d * 6 * 4}
    assert modules["transformer.vace_blocks.0.proj_in"]["ops"] == {"aten.addmm": 2 * B * n_tokens * d * d}
    assert "transformer.vace_blocks.1.proj_in" not in modules
    for i in (0, 1):
        assert modules[f"transformer.vace_blocks.{i}.proj_out"]["flops"] == 2 * B * n_tokens * d * d
    # A VACE block is a full transformer block plus its projections.
    block = modules["transformer.blocks.0"]["flops"]
    assert modules["transformer.vace_blocks.1"]["flops"] == block + 2 * B * n_tokens * d * d
    assert modules["transformer.vace_blocks.0"]["flops"] == block + 4 * B * n_tokens * d * d


def test_per_token_timestep(run):
    """Wan2.2 TI2V-5B: expand_timesteps passes timestep [B, L]; the time embedder runs per token."""
    per_sample = run(request("transformer", transformer=TRANSFORMER))
    tokens = per_sample["geometry"]["dit_seq_len"]
    req = request("transformer", {"timestep_per_token": True}, transformer=TRANSFORMER)
    per_token = run(req)
    pipeline_flag = request("transformer", transformer=TRANSFORMER)
    pipeline_flag["pipeline"]["expand_timesteps"] = True
    assert run(pipeline_flag)["modules"] == per_token["modules"]
    assert per_token["inputs"]["timestep"] == [B, tokens] and per_token["geometry"]["timestep_tokens"] == tokens
    modules, d, fd = by_id(per_token), 64, TRANSFORMER["freq_dim"]
    emb = "transformer.condition_embedder"
    assert modules[f"{emb}.time_embedder.linear_1"]["ops"] == {"aten.addmm": 2 * B * tokens * fd * d}
    assert modules[f"{emb}.time_proj"]["flops"] == 2 * B * tokens * d * 6 * d
    extra = 2 * B * (tokens - 1) * (fd * d + 7 * d * d)
    assert per_token["flops_per_forward"] - per_sample["flops_per_forward"] == extra


def test_the_two_experts_are_not_merged(run):
    first = run(request("transformer", transformer=TRANSFORMER))
    second = run(request("transformer_2", transformer=TRANSFORMER))
    check_ids(second, "transformer_2", root_entry=True)
    assert second["stage"] == "transformer_2"
    assert [m["id"].replace("transformer_2", "transformer", 1) for m in second["modules"]] == \
        [m["id"] for m in first["modules"]]
    assert [m["flops"] for m in second["modules"]] == [m["flops"] for m in first["modules"]]

    # Both experts in one counting session: the pipeline root keeps them apart, where calling
    # each as its own root merges both under the class name.
    from diffusers import WanTransformer3DModel

    config = {k: v for k, v in TRANSFORMER.items() if not k.startswith("_")}
    with torch.device("meta"):
        experts = {"transformer": WanTransformer3DModel(**config), "transformer_2": WanTransformer3DModel(**config)}
        inputs = {"hidden_states": torch.zeros(1, 4, 1, 4, 4), "timestep": torch.zeros(1),
                  "encoder_hidden_states": torch.zeros(1, 3, 96)}
    root = harness.PipelineRoot(experts, lambda r, x: (r.transformer(**x), r.transformer_2(**x)))
    counter, _, calls = harness.counted_calls(root, inputs, 1)
    counts = harness.flop_counts_by_id(root, counter)
    assert counts["transformer"] == counts["transformer_2"]
    assert sum(counts["transformer"].values()) * 2 == counter.get_total_flops()
    assert calls[experts["transformer_2"]] == 1
    with torch.no_grad(), FlopCounterMode(display=False) as naive:
        experts["transformer"](**inputs)
        experts["transformer_2"](**inputs)
    merged = {k: sum(v.values()) for k, v in naive.get_flop_counts().items()}
    assert merged["WanTransformer3DModel"] == counter.get_total_flops()


def test_legacy_model_field_still_works(run):
    legacy = request("transformer")
    del legacy["configs"], legacy["stage"]
    legacy["model"] = TRANSFORMER
    assert run(legacy)["modules"] == run(request("transformer", transformer=TRANSFORMER))["modules"]


# bad requests -------------------------------------------------------------------------


def _bad(**changes) -> dict:
    req = request("vae_decode", vae=VAE21)
    for key, value in changes.items():
        req[key] = value
    return req


BAD = {
    "unknown-stage": (_bad(stage="scheduler"), "request.stage"),
    "missing-config": (request("text_encoder"), "configs.text_encoder"),
    "mirror-vae": (_bad(reference="mirror"), "reference"),
    "unknown-vae-field": (request("vae_decode", vae={**VAE21, "clip_output": False}), "configs.vae.clip_output"),
    "unknown-umt5-field": (request("text_encoder", text_encoder={**UMT5, "d_modle": 64}),
                           "configs.text_encoder.d_modle"),
    "bad-clip-class": (request("image_encoder", image_encoder={**CLIP, "_class_name": "SiglipVisionModel"}),
                       "configs.image_encoder._class_name"),
    "bad-attn-impl": (request("image_encoder", image_encoder={**CLIP, "attn_implementation": "flash"}),
                      "configs.image_encoder.attn_implementation"),
    "vae-scale-mismatch": (request("vae_decode", vae={**VAE22, "scale_factor_spatial": 8}),
                           "configs.vae.scale_factor_spatial"),
    "pipeline-scale-mismatch": (_bad(pipeline={"vae_scale_factor_spatial": 16}), "pipeline.vae_scale_factor_spatial"),
    "model-and-configs-differ": ({**request("transformer", transformer=TRANSFORMER),
                                  "model": {**TRANSFORMER, "num_layers": 3}}, "request.model"),
    "timestep-flags-disagree": (request("transformer", {"timestep_per_token": False}, transformer=TRANSFORMER)
                                | {"pipeline": {"vae_scale_factor_temporal": 4, "vae_scale_factor_spatial": 8,
                                                "expand_timesteps": True}}, "workload.timestep_per_token"),
    "vace-layers": (request("transformer", transformer={**TRANSFORMER, "_class_name": "WanVACETransformer3DModel",
                                                        "vace_layers": [1], "vace_in_channels": 6}),
                    "configs.transformer.vace_layers"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_request_exits_3(tmp_path, capsys, name):
    req, what = BAD[name]
    (tmp_path / "req.json").write_text(json.dumps(copy.deepcopy(req)))
    assert harness.main(["--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json")]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"wanmeter-reference: {what}: ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == [tmp_path / "req.json"]
