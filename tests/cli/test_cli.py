"""Black-box tests of the wanmeter command line (DESIGN.md §4 CLI contract, §5 report.json).

Expected numbers never come from wanmeter itself. They are either the independently derived
values of /work/shared/WAN_FACTS.md (§2 parameters, §5.1/§5.2/§5.3 FLOPs, §7 VAE, §8 encoders,
copied below as literals) or computed here from formulas written out in this file: the DiT
closed forms of WAN_FACTS §4 (`closed_form`, `expected_module_flops`), the umT5 encoder of §8
(`umt5_module_flops`), the Wan2.1 VAE decoder of §7 (`vae_decode_flops`), CLIP ViT-H/14 (§8,
`clip_flops`) and diffusers' UniPC flow schedule for the Wan2.2 A14B expert split
(`high_noise_steps`). `test_closed_forms_reproduce_wan_facts` and
`test_stage_formulas_reproduce_wan_facts` tie formulas and literals together, so a slip in either
is caught without running the binary.

A report models the whole pipeline as stages (text_encoder, image_encoder, vae_encode,
transformer, transformer_2, vae_decode; only those the model has). The DiT-specific checks look at
the transformer stage (its modules, `totals.transformer_flops`, `stages[transformer]`); the
stage-aware invariants hold for whatever stages a model has.

Sections:
  1. the independent model (formulas + WAN_FACTS literals)
  2. golden numbers per standard workload and mode, every stage
  3. report invariants seen from the outside (per stage and for the whole generation)
  4. frame counts that are not 4n+1
  5. determinism and artifacts
  6. bad inputs: exact exit code, one `wanmeter: <what>: <why> (<fix>)` line, nothing written
  7. config overrides (--config YAML)
  8. verify core, list, --help
  9. verify layers --reference with hand-built reference JSON
 10. pipeline stages: --stages, native workloads, the other presets, --impl, --names
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from wanmeter_cli_conftest import (EXIT_INPUT, EXIT_IO, EXIT_OK, EXIT_USAGE, EXIT_VERIFY, Result,
                                   modules_by_id, report, run, write)

# =============================================================================================
# 1. The independent model
# =============================================================================================


@dataclass(frozen=True)
class Model:
    """Transformer dimensions (WAN_FACTS §2) and its parameter counts (WAN_FACTS §2 table)."""

    name: str
    d: int  # model dim = heads x 128
    F: int  # ffn dim
    H: int  # heads
    N: int  # layers
    params: int
    params_per_block: int
    Cin: int = 16
    Cout: int = 16
    P: int = 4  # patch 1*2*2
    fd: int = 256  # freq_dim
    Dt: int = 4096  # text_dim

    @property
    def params_top(self) -> int:
        return self.params - self.N * self.params_per_block


T2V_14B = Model("wan2.1-t2v-14b", d=5120, F=13824, H=40, N=40, params=14_288_491_584,
                params_per_block=351_394_304)
T2V_1_3B = Model("wan2.1-t2v-1.3b", d=1536, F=8960, H=12, N=30, params=1_418_996_800,
                 params_per_block=46_440_704)
MODELS = {m.name: m for m in (T2V_14B, T2V_1_3B)}


@dataclass(frozen=True)
class Workload:
    """The standard workload set (configs/wanmeter.yaml; WAN_FACTS §3 workloads a-e)."""

    name: str
    frames: int
    height: int
    width: int
    text_len: int
    steps: int
    batch: int = 1


WORKLOADS = {w.name: w for w in (
    Workload("wan2-1-ci-tiny", 4, 256, 256, 64, 1),
    Workload("wan2-1-512p", 16, 512, 512, 512, 50),
    Workload("wan2-1-720p", 16, 720, 1280, 512, 50),
    Workload("wan2-1-480p-81f", 81, 480, 832, 512, 50),
    Workload("wan2-1-720p-81f", 81, 720, 1280, 512, 50),
)}


def geometry(frames: int, height: int, width: int) -> dict:
    """WAN_FACTS §3: T = (F-1)//4+1, h = H//8, w = W//8, L = T * (h//2) * (w//2)."""
    T, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
    return {"latent_frames": T, "latent_height": h, "latent_width": w,
            "tokens_per_frame": (h // 2) * (w // 2), "dit_seq_len": T * (h // 2) * (w // 2)}


def seq_len(frames: int, height: int, width: int) -> int:
    return geometry(frames, height, width)["dit_seq_len"]


def closed_form(m: Model, B: int, L: int, Lt: int, attention: bool = True,
                layers: int | None = None) -> tuple[int, int, int]:
    """WAN_FACTS §4 closed forms (T2V, L_tau = 1): (top, per_block, forward)."""
    d, F = m.d, m.F
    per_block = B * (12 * L * d * d + 4 * Lt * d * d + 4 * L * d * F)
    if attention:
        per_block += B * (4 * L * L * d + 4 * L * Lt * d)
    top = (2 * B * L * d * m.Cin * m.P + 2 * B * (m.fd * d + 7 * d * d)
           + 2 * B * Lt * (m.Dt * d + d * d) + 2 * B * L * d * m.Cout * m.P)
    n = m.N if layers is None else layers
    return top, per_block, top + n * per_block


def expected_module_flops(m: Model, B: int, L: int, Lt: int, attention: bool = True,
                          layers: int | None = None) -> dict[str, int]:
    """Every module id FlopCounterMode would report for one forward (WAN_FACTS §4.1 tree,
    ids as diffusers pipeline paths) plus the two functional attention cores per block
    (`#sdpa`), with their FLOPs. Containers are sums of their children."""
    d, F = m.d, m.F

    def lin(rows: int, k: int, n: int) -> int:  # addmm [rows,k] x [k,n]
        return 2 * rows * k * n

    e: dict[str, int] = {}
    root = "transformer"
    e[f"{root}.patch_embedding"] = 2 * B * L * d * m.Cin * m.P
    ce = f"{root}.condition_embedder"
    e[f"{ce}.time_embedder.linear_1"] = lin(B, m.fd, d)
    e[f"{ce}.time_embedder.linear_2"] = lin(B, d, d)
    e[f"{ce}.time_embedder"] = e[f"{ce}.time_embedder.linear_1"] + e[f"{ce}.time_embedder.linear_2"]
    e[f"{ce}.time_proj"] = lin(B, d, 6 * d)
    e[f"{ce}.text_embedder.linear_1"] = lin(B * Lt, m.Dt, d)
    e[f"{ce}.text_embedder.linear_2"] = lin(B * Lt, d, d)
    e[f"{ce}.text_embedder"] = e[f"{ce}.text_embedder.linear_1"] + e[f"{ce}.text_embedder.linear_2"]
    e[ce] = e[f"{ce}.time_embedder"] + e[f"{ce}.time_proj"] + e[f"{ce}.text_embedder"]
    blocks_total = 0
    for i in range(m.N if layers is None else layers):
        b = f"{root}.blocks.{i}"
        a1 = {f"{b}.attn1.{n}": lin(B * L, d, d) for n in ("to_q", "to_k", "to_v", "to_out.0")}
        a1[f"{b}.attn1#sdpa"] = 4 * B * L * L * d if attention else 0
        a2 = {f"{b}.attn2.to_q": lin(B * L, d, d), f"{b}.attn2.to_k": lin(B * Lt, d, d),
              f"{b}.attn2.to_v": lin(B * Lt, d, d), f"{b}.attn2.to_out.0": lin(B * L, d, d),
              f"{b}.attn2#sdpa": 4 * B * L * Lt * d if attention else 0}
        ffn = {f"{b}.ffn.net.0.proj": lin(B * L, d, F), f"{b}.ffn.net.0": lin(B * L, d, F),
               f"{b}.ffn.net.2": lin(B * L, F, d)}
        e.update(a1)
        e.update(a2)
        e.update(ffn)
        e[f"{b}.attn1"] = sum(a1.values())
        e[f"{b}.attn2"] = sum(a2.values())
        e[f"{b}.ffn"] = ffn[f"{b}.ffn.net.0"] + ffn[f"{b}.ffn.net.2"]
        e[b] = e[f"{b}.attn1"] + e[f"{b}.attn2"] + e[f"{b}.ffn"]
        blocks_total += e[b]
    e[f"{root}.proj_out"] = lin(B * L, d, m.Cout * m.P)
    e[root] = e[f"{root}.patch_embedding"] + e[ce] + blocks_total + e[f"{root}.proj_out"]
    return e


# WAN_FACTS §5.1 (T2V-14B) and §5.3 (T2V-1.3B): FLOPs per forward, B = 1, "raw" geometry.
# (meta = mode torch, CPU-2.13 = mode torch-cpu)
GOLDEN_PER_FORWARD = {
    ("wan2.1-t2v-14b", "wan2-1-ci-tiny"): (6_462_617_681_920, 6_395_508_817_920),
    ("wan2.1-t2v-14b", "wan2-1-512p"): (115_588_676_976_640, 100_126_794_711_040),
    ("wan2.1-t2v-14b", "wan2-1-720p"): (522_392_628_101_120, 346_483_518_341_120),
    ("wan2.1-t2v-14b", "wan2-1-480p-81f"): (1_678_370_283_192_320, 785_449_885_368_320),
    ("wan2.1-t2v-14b", "wan2-1-720p-81f"): (6_523_436_592_005_120, 1_809_704_741_765_120),
    ("wan2.1-t2v-1.3b", "wan2-1-480p-81f"): (283_001_787_777_024, 82_094_698_266_624),
}
GOLDEN_CASES = [pytest.param(model, wl, mode, id=f"{model}-{wl}-{mode}")
                for (model, wl) in GOLDEN_PER_FORWARD for mode in ("torch", "torch-cpu")]

# WAN_FACTS §5.2, "full gen meta" of T2V-14B (50 steps x 2 forwards + 2 umT5 prompts + one VAE
# decode) for the rows whose workload is a standard one with 50 steps (raw geometry).
GOLDEN_FULL_GENERATION_META = {
    "wan2-1-512p": 11_598_043_092_615_168,  # b raw
    "wan2-1-720p": 52_353_525_426_814_976,  # c raw
    "wan2-1-480p-81f": 168_122_069_971_091_456,  # d
    "wan2-1-720p-81f": 652_992_567_022_616_576,  # e
}


def golden(model: str, workload: str, mode: str) -> int:
    meta, cpu = GOLDEN_PER_FORWARD[(model, workload)]
    return meta if mode == "torch" else cpu


def expected_for(model: str, workload: str, mode: str = "torch") -> dict[str, int]:
    m, w = MODELS[model], WORKLOADS[workload]
    return expected_module_flops(m, w.batch, seq_len(w.frames, w.height, w.width), w.text_len,
                                 attention=mode != "torch-cpu")


def wl_args(model: str, workload: str, mode: str = "torch") -> tuple[str, ...]:
    return ("--model", model, "--workload", workload, "--mode", mode)


@pytest.mark.parametrize("model,workload,mode", GOLDEN_CASES)
def test_closed_forms_reproduce_wan_facts(model, workload, mode):
    """The test's own formulas against WAN_FACTS' literals (no binary involved)."""
    m, w = MODELS[model], WORKLOADS[workload]
    L = seq_len(w.frames, w.height, w.width)
    top, per_block, fwd = closed_form(m, w.batch, L, w.text_len, attention=mode == "torch")
    assert fwd == golden(model, workload, mode)
    assert expected_for(model, workload, mode)["transformer"] == fwd
    assert expected_for(model, workload, mode)["transformer.blocks.0"] == per_block


# ---- the other stages of the pipeline (WAN_FACTS §2, §7, §8) --------------------------------

# Parameters (WAN_FACTS §2): the umT5-XXL encoder; the Wan2.1 VAE's encoder and decoder and its
# two 1x1x1 convolutions with bias (quant_conv 2z->2z after the encoder, post_quant_conv z->z
# before the decoder; z = 16): 53,595,872 + 73,295,331 + 1,056 + 272 = 126,892,531.
UMT5_PARAMS = 5_680_910_336
VAE_ENCODER_PARAMS, VAE_DECODER_PARAMS = 53_595_872, 73_295_331
QUANT_CONV_PARAMS, POST_QUANT_CONV_PARAMS = 32 * 32 + 32, 16 * 16 + 16
VAE_ENCODE_PARAMS = VAE_ENCODER_PARAMS + QUANT_CONV_PARAMS  # what vae.encode() runs
VAE_DECODE_PARAMS = VAE_DECODER_PARAMS + POST_QUANT_CONV_PARAMS  # what vae.decode() runs

# The stage a root module (parent null) belongs to. diffusers' pipelines call text_encoder(...),
# image_encoder(...), vae.encode() (= vae.encoder then vae.quant_conv), transformer(...),
# transformer_2(...) and vae.decode() (= vae.post_quant_conv then vae.decoder), in this order.
ROOT_STAGE = {
    "text_encoder": "text_encoder", "image_encoder": "image_encoder",
    "vae.encoder": "vae_encode", "vae.quant_conv": "vae_encode",
    "transformer": "transformer", "transformer_2": "transformer_2",
    "vae.post_quant_conv": "vae_decode", "vae.decoder": "vae_decode",
}
STAGE_ORDER = ("text_encoder", "image_encoder", "vae_encode", "transformer", "transformer_2",
               "vae_decode")
DIT_STAGES = ("transformer", "transformer_2")

# Wan2.2 A14B: (boundary_ratio, scheduler flow_shift) of the diffusers pipelines (WAN_FACTS §2.1:
# WanPipeline(boundary_ratio=0.875), WanImageToVideoPipeline(boundary_ratio=0.9); UniPC with the
# conversion script's shift 3.0).
A14B_SCHEDULE = {"wan2.2-t2v-a14b": (0.875, 3.0), "wan2.2-i2v-a14b": (0.9, 3.0)}


def umt5_module_flops(B: int, L: int, attention: bool = True, layers: int = 24) -> dict[str, int]:
    """WAN_FACTS §8, umT5-XXL encoder: d 4096, 64 heads x 64, gated-GELU FFN 4096->10240 (wi_0,
    wi_1) ->4096 (wo), linears without bias; the attention core is 4*B*H*L^2*dkv. Every module
    with counted work, ids as the pipeline's `text_encoder.encoder.block.<i>...`. With transformers
    5.23 (reference/constraints.txt) UMT5 runs its attention through SDPA
    (_supports_sdpa), so torch 2.13's CPU kernel counts 0 for it like the DiT's."""
    d, ff, H, dk = 4096, 10240, 64, 64
    e: dict[str, int] = {}
    enc = "text_encoder.encoder"
    total = 0
    for i in range(layers):
        b = f"{enc}.block.{i}"
        sa = f"{b}.layer.0.SelfAttention"
        att = {f"{sa}.{n}": 2 * B * L * d * H * dk for n in ("q", "k", "v", "o")}
        att[f"{sa}#sdpa"] = 4 * B * H * L * L * dk if attention else 0
        dr = f"{b}.layer.1.DenseReluDense"
        mlp = {f"{dr}.wi_0": 2 * B * L * d * ff, f"{dr}.wi_1": 2 * B * L * d * ff,
               f"{dr}.wo": 2 * B * L * ff * d}
        e.update(att)
        e.update(mlp)
        e[sa] = e[f"{b}.layer.0"] = sum(att.values())
        e[dr] = e[f"{b}.layer.1"] = sum(mlp.values())
        e[b] = e[sa] + e[dr]
        total += e[b]
    e[enc] = e["text_encoder"] = total
    return e


def umt5_flops(B: int, L: int, attention: bool = True) -> int:
    return umt5_module_flops(B, L, attention)["text_encoder"]


def vae_decode_flops(T: int, h: int, w: int, B: int = 1, attention: bool = True) -> dict[str, int]:
    """WAN_FACTS §7: vae.decode() of the Wan2.1 VAE (base 96, z 16) on T latent frames of h x w,
    per top-level part; 'vae_decode' is the whole stage. The decoder runs one latent frame per
    call with a feature cache, so a causal 3x3x3 conv outputs the frames it reads:
    conv(Cout, Cin, k) = 2*Cout*Cin*k*positions. up_block 0 and 1 end in a time_conv 384->768
    k=(3,1,1) on every frame but the first chunk's (frames 1+2(T-1), then 1+4(T-1)) and a nearest
    2x upsample + Conv2d 3x3 to half the channels; the mid-block attention is single-head SDPA
    over h*w tokens per frame (0 on the CPU)."""
    hw = h * w

    def conv(cout: int, cin: int, k: int, positions: int) -> int:
        return 2 * cout * cin * k * positions

    def res(cin: int, cout: int, n: int) -> int:  # WanResidualBlock: 2 convs (+ 1x1x1 shortcut)
        return (conv(cout, cin, 27, n) + conv(cout, cout, 27, n)
                + (conv(cout, cin, 1, n) if cin != cout else 0))

    T1, T2 = 1 + 2 * (T - 1), 1 + 4 * (T - 1)
    p = {
        "vae.post_quant_conv": conv(16, 16, 1, T * hw),
        "vae.decoder.conv_in": conv(384, 16, 27, T * hw),
        "vae.decoder.mid_block": (2 * res(384, 384, T * hw)
                                  + T * (conv(1152, 384, 1, hw) + conv(384, 384, 1, hw))
                                  + (4 * T * hw * hw * 384 if attention else 0)),
        "vae.decoder.up_blocks.0": (3 * res(384, 384, T * hw) + conv(768, 384, 3, (T - 1) * hw)
                                    + conv(192, 384, 9, T1 * 4 * hw)),
        "vae.decoder.up_blocks.1": (res(192, 384, T1 * 4 * hw) + 2 * res(384, 384, T1 * 4 * hw)
                                    + conv(768, 384, 3, (T1 - 1) * 4 * hw)
                                    + conv(192, 384, 9, T2 * 16 * hw)),
        "vae.decoder.up_blocks.2": 3 * res(192, 192, T2 * 16 * hw) + conv(96, 192, 9, T2 * 64 * hw),
        "vae.decoder.up_blocks.3": 3 * res(96, 96, T2 * 64 * hw),
        "vae.decoder.conv_out": conv(3, 96, 27, T2 * 64 * hw),
    }
    p = {k: B * v for k, v in p.items()}
    p["vae.decoder"] = sum(v for k, v in p.items() if k.startswith("vae.decoder."))
    p["vae_decode"] = p["vae.decoder"] + p["vae.post_quant_conv"]
    return p


def vae_decode_total(frames: int, height: int, width: int, B: int = 1, attention: bool = True) -> int:
    g = geometry(frames, height, width)
    return vae_decode_flops(g["latent_frames"], g["latent_height"], g["latent_width"], B,
                            attention)["vae_decode"]


def clip_flops(B: int = 1, images: int = 1, layers: int = 32, attention: bool = True) -> int:
    """WAN_FACTS §8, CLIP ViT-H/14 vision tower at 224x224: patch Conv2d 3->1280 k=s=14 without
    bias over 16x16 patches, then `layers` blocks on 257 tokens of width 1280 (16 heads x 80):
    q,k,v,out 1280->1280 and MLP 1280->5120->1280 with bias, attention core 4*257^2*1280.
    diffusers/transformers run all 32 blocks, the official code 31. (WAN_FACTS prints the core as
    338,165,760; 4*257^2*1280 is 338,170,880.)"""
    n = B * images
    patch = 2 * n * 256 * 1280 * 3 * 14 * 14
    block = 2 * n * 257 * (4 * 1280 * 1280 + 2 * 1280 * 5120)
    if attention:
        block += 4 * n * 257 * 257 * 1280
    return patch + layers * block


def high_noise_steps(steps: int, shift: float, boundary: float, train: int = 1000) -> int:
    """Steps the high-noise expert (`transformer`) runs in diffusers' Wan2.2 A14B pipelines:
    UniPCMultistepScheduler(use_flow_sigmas) sets sigmas = linspace(1, 1/train, steps+1)[:-1],
    shifts them to shift*s/(1+(shift-1)*s), nudges a first sigma of 1 down by 1e-6, and stores
    timesteps = int64(sigma*train); the pipeline runs `transformer` while t >= boundary*train."""
    delta = (1 / train - 1) / steps
    n = 0
    for i in range(steps):
        s = 1.0 + i * delta
        s = shift * s / (1 + (shift - 1) * s)
        if i == 0 and abs(s - 1) < 1e-6:
            s -= 1e-6
        n += int(s * train) >= boundary * train
    return n


def expected_t2v_stages(model: str, B: int, frames: int, height: int, width: int, Lt: int,
                        steps: int, cfg: bool = True, mode: str = "torch") -> list[dict]:
    """The stages of a Wan2.1 T2V generation (WAN_FACTS §5.2: umT5 once per forward of a step,
    steps x forwards DiT forwards, one VAE decode), each {id, calls, flops_per_call, flops,
    params}, in pipeline order."""
    m, g = MODELS[model], geometry(frames, height, width)
    fps, att = (2 if cfg else 1), mode != "torch-cpu"
    fwd = closed_form(m, B, g["dit_seq_len"], Lt, attention=att)[2]
    te, vae = umt5_flops(B, Lt, att), vae_decode_total(frames, height, width, B, att)
    rows = [("text_encoder", fps, te, UMT5_PARAMS), ("transformer", steps * fps, fwd, m.params),
            ("vae_decode", 1, vae, VAE_DECODE_PARAMS)]
    return [{"id": i, "calls": c, "flops_per_call": f, "flops": c * f, "params": p}
            for i, c, f, p in rows]


def expected_t2v_stages_for(model: str, workload: str, mode: str = "torch", **kw) -> list[dict]:
    w = WORKLOADS[workload]
    args = dict(B=w.batch, frames=w.frames, height=w.height, width=w.width, Lt=w.text_len,
                steps=w.steps, mode=mode)
    args.update(kw)
    return expected_t2v_stages(model, **args)


# WAN_FACTS §5.2 / §7 literals: VAE decode per geometry (T, h, w) -> (meta, CPU-2.13).
VAE_DECODE_LITERALS = {
    (1, 32, 32): (706_002_550_784, 704_391_938_048),  # a raw
    (2, 32, 32): (2_921_388_310_528, 2_918_167_085_056),  # a pipe
    (4, 64, 64): (29_485_948_731_392, 29_382_869_516_288),  # b raw
    (5, 64, 64): (38_366_819_123_200, 38_237_970_104_320),  # b pipe
    (4, 90, 160): (104_573_170_483_200, 103_299_150_643_200),  # c raw
    (5, 90, 160): (136_022_888_448_000, 134_430_363_648_000),  # c pipe
    (21, 60, 104): (275_352_205_639_680, 274_096_234_414_080),  # d
    (21, 90, 160): (639_218_375_884_800, 632_529_771_724_800),  # e
}


def test_stage_formulas_reproduce_wan_facts():
    """The stage formulas against WAN_FACTS' literals (no binary involved)."""
    # §8 umT5: 4,844,723,109,888 per prompt at L = 512 (4,741,643,894,784 of it mm), 594,316,099,584
    # at L = 64
    assert umt5_flops(1, 512) == 4_844_723_109_888
    assert umt5_flops(1, 512, attention=False) == 4_741_643_894_784
    assert umt5_flops(1, 64) == 594_316_099_584
    assert umt5_module_flops(1, 512)["text_encoder.encoder.block.0"] == 201_863_462_912
    # §7 / §5.2 VAE decode, both modes
    for (T, h, w), (meta, cpu) in VAE_DECODE_LITERALS.items():
        assert vae_decode_flops(T, h, w)["vae_decode"] == meta, (T, h, w)
        assert vae_decode_flops(T, h, w, attention=False)["vae_decode"] == cpu, (T, h, w)
    # §2 VAE parameters
    assert VAE_ENCODE_PARAMS + VAE_DECODE_PARAMS == 126_892_531
    # §8 CLIP: ≈334.6 GFLOP per image in diffusers (32 blocks), ≈324.1 in the official code (31)
    assert round(clip_flops() / 1e9, 1) == 334.6 and round(clip_flops(layers=31) / 1e9, 1) == 324.1
    assert clip_flops(layers=0) == 385_351_680
    # §5.2 full generation (meta) = 100 forwards + 2 umT5 prompts + one VAE decode
    for wl, full in GOLDEN_FULL_GENERATION_META.items():
        stages = expected_t2v_stages_for("wan2.1-t2v-14b", wl)
        assert sum(s["flops"] for s in stages) == full, wl
        assert [s["calls"] for s in stages] == [2, 100, 1]
    # §5.2 row a raw, whose full generation assumes 50 steps (the ci-tiny workload runs 1)
    a_raw = expected_t2v_stages_for("wan2.1-t2v-14b", "wan2-1-ci-tiny", steps=50)
    assert sum(s["flops"] for s in a_raw) == 648_156_402_941_952
    # the A14B split: the last high-noise step is the one whose shifted sigma reaches the boundary
    assert high_noise_steps(1, 3.0, 0.875) == 1  # sigma 1 - 1e-6 -> t = 999
    # no shift, boundary 0.5: sigma_i = 1 - 0.01998 i gives t = 500 at i = 25, 480 at i = 26
    assert high_noise_steps(50, 1.0, 0.5) == 26


# ---- reading a report's stages ---------------------------------------------------------------

STAGE_KEYS = ("id", "calls", "flops_per_call", "flops", "params")


def stages_by_id(rep: dict) -> dict[str, dict]:
    out = {}
    for s in rep["stages"]:
        assert s["id"] not in out, f"stage {s['id']} listed twice"
        out[s["id"]] = s
    return out


def stage_rows(rep: dict) -> list[dict]:
    return [{k: s[k] for k in STAGE_KEYS} for s in rep["stages"]]


def module_stages(rep: dict) -> dict[str, str]:
    """Module id -> its stage, through its root (parent null): ROOT_STAGE."""
    out: dict[str, str] = {}
    for m in rep["modules"]:
        if m["parent"] is None:
            assert m["id"] in ROOT_STAGE, f"root {m['id']!r} is not a module of a pipeline stage"
            out[m["id"]] = ROOT_STAGE[m["id"]]
        else:
            assert m["parent"] in out, f"{m['id']}: parent {m['parent']} not listed before it"
            out[m["id"]] = out[m["parent"]]
    return out


def stage_modules(rep: dict, stage: str) -> list[dict]:
    st = module_stages(rep)
    return [m for m in rep["modules"] if st[m["id"]] == stage]


def leaves(mods: list[dict]) -> list[dict]:
    parents = {m["parent"] for m in mods}
    return [m for m in mods if m["id"] not in parents]


def expected_stage_calls(rep: dict) -> dict[str, int]:
    """Calls per generation of each stage, from the workload alone: the text encoder once per
    forward of a step (prompt, and the negative prompt under guidance), image encoder and VAE
    once (VACE encodes its control video twice: the inactive and the reactive part, as
    diffusers' WanVACEPipeline does), the transformer steps x forwards per step (A14B: split at
    the boundary)."""
    w = rep["workload"]
    fps, steps = (2 if w["cfg"] else 1), w["num_inference_steps"]
    vace = "vace_layers" in rep["model"]["config"]
    calls = {"text_encoder": fps, "image_encoder": 1, "vae_encode": 2 if vace else 1,
             "vae_decode": 1, "transformer": steps * fps}
    if rep["model"]["id"] in A14B_SCHEDULE:
        boundary, shift = A14B_SCHEDULE[rep["model"]["id"]]
        hi = high_noise_steps(steps, shift, boundary)
        calls["transformer"], calls["transformer_2"] = hi * fps, (steps - hi) * fps
    return calls


# =============================================================================================
# 2. Golden numbers
# =============================================================================================


@pytest.mark.parametrize("model,workload,mode", GOLDEN_CASES)
def test_golden_totals(model, workload, mode):
    m, w = MODELS[model], WORKLOADS[workload]
    rep = report(*wl_args(model, workload, mode))
    t = rep["totals"]
    fwd = golden(model, workload, mode)
    # the transformer: one forward, one step, the whole generation
    assert t["flops_per_forward"] == fwd
    assert t["forwards"] == w.steps * 2
    assert t["flops_per_step"] == fwd * 2
    assert t["transformer_flops"] == fwd * w.steps * 2
    # every stage of the T2V pipeline (WAN_FACTS §5.2), and the generation is their sum
    want = expected_t2v_stages_for(model, workload, mode)
    assert stage_rows(rep) == want
    assert all(s["selected"] for s in rep["stages"])
    assert t["flops"] == sum(s["flops"] for s in want)
    if mode == "torch" and model == "wan2.1-t2v-14b" and workload in GOLDEN_FULL_GENERATION_META:
        assert t["flops"] == GOLDEN_FULL_GENERATION_META[workload]
    assert t["params"] == m.params + UMT5_PARAMS + VAE_DECODE_PARAMS
    assert t["kv_cache_bytes"] == 0
    assert rep["model"]["id"] == model
    assert rep["workload"]["profile_id"] == workload
    assert rep["workload"]["mode"] == mode
    assert rep["geometry"]["dit_seq_len"] == seq_len(w.frames, w.height, w.width)


@pytest.mark.parametrize("model,workload,mode", GOLDEN_CASES)
def test_golden_selected_modules(model, workload, mode):
    m, w = MODELS[model], WORKLOADS[workload]
    B, L, Lt, d, F = w.batch, seq_len(w.frames, w.height, w.width), w.text_len, m.d, m.F
    mods = modules_by_id(report(*wl_args(model, workload, mode)))
    last = m.N - 1
    want = {
        "transformer.blocks.0.attn1.to_q": 2 * B * L * d * d,
        "transformer.blocks.0.attn1#sdpa": 4 * B * L * L * d if mode == "torch" else 0,
        "transformer.blocks.0.attn2#sdpa": 4 * B * L * Lt * d if mode == "torch" else 0,
        "transformer.blocks.0.attn2.to_k": 2 * B * Lt * d * d,
        f"transformer.blocks.{last}.ffn.net.2": 2 * B * L * F * d,
        f"transformer.blocks.{last}.ffn.net.0.proj": 2 * B * L * d * F,
        "transformer.condition_embedder.time_embedder.linear_1": 2 * B * m.fd * d,
        "transformer.condition_embedder.text_embedder.linear_1": 2 * B * Lt * m.Dt * d,
        "transformer.patch_embedding": 2 * B * L * d * m.Cin * m.P,
        "transformer.proj_out": 2 * B * L * d * m.Cout * m.P,
        "transformer": golden(model, workload, mode),
    }
    got = {k: mods[k]["flops"] if k in mods else None for k in want}
    assert got == want


@pytest.mark.parametrize("model,workload,mode", GOLDEN_CASES)
def test_golden_every_module(model, workload, mode):
    """Every module of the transformer stage against the formula tree: counted modules (and
    #sdpa) equal their formula, everything else (norms, activations, RoPE, residuals) counts 0,
    and every module FlopCounterMode would report is present."""
    exp = expected_for(model, workload, mode)
    rep = report(*wl_args(model, workload, mode))
    mods = {m["id"]: m for m in stage_modules(rep, "transformer")}
    assert all(i == "transformer" or i.startswith(("transformer.", "transformer#")) for i in mods)
    missing = sorted(set(exp) - set(mods))
    assert not missing, f"modules missing from the report: {missing[:10]}"
    wrong = {i: (m["flops"], exp.get(i, 0)) for i, m in mods.items() if m["flops"] != exp.get(i, 0)}
    assert not wrong, f"(report, expected) differ for {len(wrong)} modules, e.g. {list(wrong.items())[:5]}"


TEXT_ENCODER_CASES = [pytest.param(wl, mode, id=f"{wl}-{mode}")
                      for wl in ("wan2-1-ci-tiny", "wan2-1-480p-81f") for mode in ("torch", "torch-cpu")]


@pytest.mark.parametrize("workload,mode", TEXT_ENCODER_CASES)
def test_golden_text_encoder_every_module(workload, mode):
    """Every module of the umT5 stage against WAN_FACTS §8: the linears, the attention cores
    (0 on the CPU), everything else 0; called once per forward of a step."""
    w = WORKLOADS[workload]
    exp = umt5_module_flops(w.batch, w.text_len, attention=mode != "torch-cpu")
    rep = report("--workload", workload, "--mode", mode)
    mods = {m["id"]: m for m in stage_modules(rep, "text_encoder")}
    missing = sorted(set(exp) - set(mods))
    assert not missing, f"modules missing from the report: {missing[:10]}"
    wrong = {i: (m["flops"], exp.get(i, 0)) for i, m in mods.items() if m["flops"] != exp.get(i, 0)}
    assert not wrong, f"(report, expected) differ for {len(wrong)} modules, e.g. {list(wrong.items())[:5]}"
    assert {m["calls"] for m in mods.values()} == {2}
    # linears without bias are aten.mm (WAN_FACTS §1.2)
    assert mods["text_encoder.encoder.block.0.layer.0.SelfAttention.q"]["aten"] == "aten.mm"
    assert mods["text_encoder.encoder.block.23.layer.1.DenseReluDense.wo"]["aten"] == "aten.mm"


VAE_CASES = [pytest.param(wl, mode, id=f"{wl}-{mode}") for wl in WORKLOADS
             for mode in ("torch", "torch-cpu")]


@pytest.mark.parametrize("workload,mode", VAE_CASES)
def test_golden_vae_decode_parts(workload, mode):
    """vae.decode() against WAN_FACTS §7, part by part, for every standard workload."""
    w = WORKLOADS[workload]
    g = geometry(w.frames, w.height, w.width)
    T, h, wd = g["latent_frames"], g["latent_height"], g["latent_width"]
    exp = vae_decode_flops(T, h, wd, w.batch, attention=mode != "torch-cpu")
    assert exp["vae_decode"] == VAE_DECODE_LITERALS[(T, h, wd)][0 if mode == "torch" else 1]
    rep = report("--workload", workload, "--mode", mode)
    mods = modules_by_id(rep)
    got = {k: mods[k]["flops"] if k in mods else None for k in exp if k != "vae_decode"}
    assert got == {k: v for k, v in exp.items() if k != "vae_decode"}
    assert stages_by_id(rep)["vae_decode"]["flops_per_call"] == exp["vae_decode"]
    assert {m["calls"] for m in stage_modules(rep, "vae_decode")} == {1}


def test_golden_720p_81f_per_module_wan_facts():
    """WAN_FACTS §5.1, per-module detail for workload (e), copied literally."""
    mods = modules_by_id(report(*wl_args("wan2.1-t2v-14b", "wan2-1-720p-81f")))
    b = "transformer.blocks.7"
    ce = "transformer.condition_embedder"
    want = {
        f"{b}.attn1.to_q": 3_963_617_280_000, f"{b}.attn1.to_k": 3_963_617_280_000,
        f"{b}.attn1.to_v": 3_963_617_280_000, f"{b}.attn1.to_out.0": 3_963_617_280_000,
        f"{b}.attn2.to_q": 3_963_617_280_000, f"{b}.attn2.to_out.0": 3_963_617_280_000,
        f"{b}.attn2.to_k": 26_843_545_600, f"{b}.attn2.to_v": 26_843_545_600,
        f"{b}.ffn.net.0.proj": 10_701_766_656_000, f"{b}.ffn.net.2": 10_701_766_656_000,
        f"{b}.attn1#sdpa": 117_050_572_800_000, f"{b}.attn2#sdpa": 792_723_456_000,
        b: 163_082_220_339_200,
        "transformer.patch_embedding": 49_545_216_000,
        f"{ce}.time_embedder.linear_1": 2_621_440, f"{ce}.time_embedder.linear_2": 52_428_800,
        f"{ce}.time_proj": 314_572_800,
        f"{ce}.text_embedder.linear_1": 21_474_836_480,
        f"{ce}.text_embedder.linear_2": 26_843_545_600,
        "transformer.proj_out": 49_545_216_000,
        # WAN_FACTS §8 and §7
        "text_encoder": 4_844_723_109_888,
    }
    assert {k: mods[k]["flops"] for k in want} == want
    assert mods["vae.decoder"]["flops"] + mods["vae.post_quant_conv"]["flops"] == 639_218_375_884_800


def test_golden_ci_tiny_worked_check_wan_facts():
    """WAN_FACTS §4.1 worked check for workload (a) raw, copied literally."""
    mods = modules_by_id(report(*wl_args("wan2.1-t2v-14b", "wan2-1-ci-tiny")))
    want = {
        "transformer.blocks.0": 161_396_817_920, "transformer.blocks.0.attn1": 55_029_268_480,
        "transformer.blocks.0.attn1#sdpa": 1_342_177_280,
        "transformer.blocks.0.attn2": 33_889_976_320, "transformer.blocks.0.attn2#sdpa": 335_544_320,
        "transformer.blocks.0.ffn": 72_477_573_120,
        "transformer.condition_embedder": 6_409_420_800,
        "transformer.patch_embedding": 167_772_160, "transformer.proj_out": 167_772_160,
        "transformer": 6_462_617_681_920,
        "text_encoder": 594_316_099_584,  # WAN_FACTS §8, L = 64
    }
    assert {k: mods[k]["flops"] for k in want} == want


@pytest.mark.parametrize("model", list(MODELS))
def test_params_per_module(model):
    m = MODELS[model]
    rep = report("--model", model, "--workload", "wan2-1-ci-tiny")
    mods = modules_by_id(rep)
    d, F = m.d, m.F
    te = "text_encoder.encoder"
    want = {
        "transformer.blocks.0.attn1.to_q": d * d + d,
        "transformer.blocks.0.attn2.to_k": d * d + d,
        "transformer.blocks.0.ffn.net.0.proj": d * F + F,
        "transformer.blocks.0.ffn.net.2": F * d + d,
        "transformer.patch_embedding": m.Cin * m.P * d + d,
        "transformer.proj_out": d * m.Cout * m.P + m.Cout * m.P,
        "transformer.condition_embedder.time_proj": d * 6 * d + 6 * d,
        f"transformer.blocks.{m.N - 1}": m.params_per_block,
        "transformer": m.params,
        # umT5 (no biases; vocab 256384) and the VAE decode path, WAN_FACTS §2 / §8
        f"{te}.block.0.layer.0.SelfAttention.q": 4096 * 4096,
        f"{te}.block.0.layer.1.DenseReluDense.wi_0": 4096 * 10240,
        f"{te}.block.23.layer.1.DenseReluDense.wo": 10240 * 4096,
        f"{te}.embed_tokens": 256384 * 4096,
        "text_encoder": UMT5_PARAMS,
        "vae.decoder": VAE_DECODER_PARAMS,
        "vae.post_quant_conv": POST_QUANT_CONV_PARAMS,
    }
    assert {k: mods[k]["params"] if k in mods else None for k in want} == want
    st = stages_by_id(rep)
    assert (st["text_encoder"]["params"], st["transformer"]["params"], st["vae_decode"]["params"]) \
        == (UMT5_PARAMS, m.params, VAE_DECODE_PARAMS)
    # totals.params: every stage of the pipeline
    assert rep["totals"]["params"] == m.params + UMT5_PARAMS + VAE_DECODE_PARAMS


@pytest.mark.parametrize("model", list(MODELS))
def test_module_ids_follow_diffusers_paths(model):
    m = MODELS[model]
    rep = report("--model", model, "--workload", "wan2-1-ci-tiny")
    ids = [x["id"] for x in rep["modules"]]
    mods = modules_by_id(rep)
    roots = [x["id"] for x in rep["modules"] if x["parent"] is None]
    # the roots are the top-level modules of the stages, in the order the pipeline runs them
    assert roots == ["text_encoder", "transformer", "vae.post_quant_conv", "vae.decoder"]
    assert [ROOT_STAGE[r] for r in roots] == sorted((ROOT_STAGE[r] for r in roots),
                                                    key=STAGE_ORDER.index)
    for i in range(m.N):
        for sub in ("", ".attn1.to_out.0", ".attn2.to_out.0", ".ffn.net.0.proj", ".ffn.net.2",
                    ".attn1#sdpa", ".attn2#sdpa"):
            assert f"transformer.blocks.{i}{sub}" in mods
    assert f"transformer.blocks.{m.N}" not in mods
    for i in range(24):
        assert f"text_encoder.encoder.block.{i}.layer.0.SelfAttention.q" in mods
    assert "text_encoder.encoder.block.24" not in mods
    for i in range(4):
        assert f"vae.decoder.up_blocks.{i}" in mods
    # containers FlopCounterMode never sees (ModuleLists) and class-name roots are absent
    for absent in ("transformer.blocks", "transformer.blocks.0.attn1.to_out", "WanTransformer3DModel",
                   "text_encoder.encoder.block", "UMT5EncoderModel", "vae", "WanDecoder3d"):
        assert absent not in mods
    # every module lies under a root, every parent is an earlier module, and a child's id
    # extends its parent's id
    assert all(any(i == r or i.startswith((r + ".", r + "#")) for r in roots) for i in ids)
    seen = set()
    for x in rep["modules"]:
        if x["parent"] is not None:
            assert x["parent"] in seen, x["id"]
            rest = x["id"][len(x["parent"]):]
            assert x["id"].startswith(x["parent"]) and rest[:1] in (".", "#") and len(rest) > 1
        seen.add(x["id"])
    # '#' ids are functional ops, never modules with weights
    for x in rep["modules"]:
        if "#" in x["id"]:
            assert x["op"] not in ("module", "linear", "conv3d"), x


def test_report_json_has_the_contract_fields():
    rep = report("--workload", "wan2-1-ci-tiny")
    assert isinstance(rep["schema_version"], int)
    for key in ("id", "variant", "source", "impl", "config", "pipeline", "vae", "text_encoder"):
        assert key in rep["model"], key
    assert rep["model"]["impl"] == "diffusers"
    assert "image_encoder" not in rep["model"]  # T2V has none
    # the components' config.json fields (WAN_FACTS §2, §7, §8)
    te, vae = rep["model"]["text_encoder"], rep["model"]["vae"]
    assert (te["_class_name"], te["d_model"], te["d_ff"], te["d_kv"], te["num_heads"],
            te["num_layers"], te["vocab_size"]) == ("UMT5EncoderModel", 4096, 10240, 64, 64, 24, 256384)
    assert (vae["_class_name"], vae["base_dim"], vae["z_dim"]) == ("AutoencoderKLWan", 96, 16)
    p = rep["model"]["pipeline"]
    assert (p["vae_scale_factor_temporal"], p["vae_scale_factor_spatial"]) == (4, 8)
    for key in ("boundary_ratio", "expand_timesteps", "flow_shift", "num_train_timesteps"):
        assert key in p, key
    for key in ("profile_id", "batch_size", "num_frames", "height", "width",
                "num_inference_steps", "text_len", "cfg", "forwards_per_step", "dtype", "mode"):
        assert key in rep["workload"], key
    for key in ("latent_frames", "latent_height", "latent_width", "tokens_per_frame",
                "dit_seq_len"):
        assert key in rep["geometry"], key
    for m in rep["modules"]:
        for key in ("id", "parent", "op", "category", "calls", "flops", "params", "bytes_read",
                    "bytes_written"):
            assert key in m, (m.get("id"), key)
        assert "official_id" not in m  # only with --names official
    for key in ("flops", "transformer_flops", "flops_per_forward", "params", "weight_bytes",
                "peak_activation_bytes"):
        assert isinstance(rep["totals"][key], int), key
    for s in rep["stages"]:
        assert set(s) >= {"id", "calls", "flops_per_call", "flops", "params", "weight_bytes",
                          "selected"}, s
        assert s["id"] in STAGE_ORDER and isinstance(s["selected"], bool)
    assert "modules" in rep["hotspots"] and "categories" in rep["hotspots"]
    assert any("kv_cache" in n for n in rep["notes"])
    w = rep["workload"]
    assert (w["batch_size"], w["num_frames"], w["height"], w["width"], w["num_inference_steps"],
            w["text_len"], w["cfg"], w["forwards_per_step"], w["dtype"]) == \
        (1, 4, 256, 256, 1, 64, True, 2, "bf16")


def test_torch_cpu_mode_says_attention_is_omitted():
    rep = report("--workload", "wan2-1-ci-tiny", "--mode", "torch-cpu")
    assert any("attention" in n.lower() for n in rep["notes"])
    mods = modules_by_id(rep)
    assert mods["transformer.blocks.0.attn1#sdpa"]["flops"] == 0
    assert all(m["flops"] == 0 for m in rep["modules"] if m["op"] == "sdpa")


# =============================================================================================
# 3. Report invariants
# =============================================================================================

INVARIANT_CASES = [
    pytest.param(("--workload", "wan2-1-ci-tiny"), id="14b-ci-tiny"),
    pytest.param(("--workload", "wan2-1-720p-81f"), id="14b-720p-81f"),
    pytest.param(("--workload", "wan2-1-ci-tiny", "--mode", "full"), id="14b-ci-tiny-full"),
    pytest.param(("--workload", "wan2-1-512p", "--mode", "torch-cpu", "--batch", "2"),
                 id="14b-512p-cpu-b2"),
    pytest.param(("--workload", "wan2-1-ci-tiny", "--no-cfg", "--steps", "3"), id="14b-tiny-nocfg"),
    pytest.param(("--model", "wan2.1-t2v-1.3b", "--workload", "wan2-1-480p-81f"), id="1.3b-480p"),
    # the other presets on their native workloads
    pytest.param(("--model", "wan2.1-i2v-14b-480p"), id="i2v-480p"),
    pytest.param(("--model", "wan2.1-i2v-14b-720p", "--mode", "full", "--batch", "2"),
                 id="i2v-720p-full-b2"),
    pytest.param(("--model", "wan2.1-flf2v-14b"), id="flf2v"),
    pytest.param(("--model", "wan2.1-vace-1.3b"), id="vace-1.3b"),
    pytest.param(("--model", "wan2.1-vace-14b", "--mode", "torch-cpu"), id="vace-14b-cpu"),
    pytest.param(("--model", "wan2.2-t2v-a14b"), id="t2v-a14b"),
    pytest.param(("--model", "wan2.2-i2v-a14b", "--steps", "7", "--no-cfg"), id="i2v-a14b-7-nocfg"),
    pytest.param(("--model", "wan2.2-ti2v-5b"), id="ti2v-5b"),
]


def children_of(rep: dict) -> dict[str, list[dict]]:
    kids: dict[str, list[dict]] = {}
    for m in rep["modules"]:
        if m["parent"] is not None:
            kids.setdefault(m["parent"], []).append(m)
    return kids


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_transformer_leaf_sum_equals_flops_per_forward(args):
    """One forward of the (first) transformer: the sum of its leaves, its root, its stage's
    flops_per_call and totals.flops_per_forward agree."""
    rep = report(*args)
    dit = leaves(stage_modules(rep, "transformer"))
    assert len(dit) > 100
    fwd = rep["totals"]["flops_per_forward"]
    assert sum(m["flops"] for m in dit) == fwd
    assert modules_by_id(rep)["transformer"]["flops"] == fwd
    assert stages_by_id(rep)["transformer"]["flops_per_call"] == fwd
    assert rep["totals"]["flops_per_step"] == fwd * rep["workload"]["forwards_per_step"]


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_stage_totals_are_their_modules(args):
    """Per stage: its roots' FLOPs per call, their leaves' and the stage's flops_per_call agree;
    flops = calls x flops_per_call; the roots' calls and params are the stage's; the stages listed
    are exactly those with modules, once each, in pipeline order."""
    rep = report(*args)
    st = stages_by_id(rep)
    stage_of = module_stages(rep)
    roots = [m for m in rep["modules"] if m["parent"] is None]
    assert list(st) == sorted(st, key=STAGE_ORDER.index)
    assert set(st) == set(stage_of.values())
    assert "transformer" in st and "vae_decode" in st and "text_encoder" in st
    for sid, s in st.items():
        mine = [m for m in rep["modules"] if stage_of[m["id"]] == sid]
        rts = [r for r in roots if ROOT_STAGE[r["id"]] == sid]
        assert s["flops"] == s["calls"] * s["flops_per_call"], sid
        assert sum(r["flops"] for r in rts) == s["flops_per_call"], sid
        assert sum(m["flops"] for m in leaves(mine)) == s["flops_per_call"], sid
        assert {m["calls"] for m in mine} == {s["calls"]}, sid
        assert sum(r["params"] for r in rts) == s["params"], sid
        assert sum(r["weight_bytes"] for r in rts) == s["weight_bytes"], sid


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_generation_total_is_every_stage(args):
    """With every stage selected (the default): totals.flops = the sum of the stages' flops =
    the sum over all leaves of calls x flops; transformer_flops = the transformer stage(s);
    params and weight bytes = every stage."""
    rep = report(*args)
    t, stages = rep["totals"], rep["stages"]
    assert all(s["selected"] for s in stages)
    assert t["flops"] == sum(s["flops"] for s in stages)
    assert t["flops"] == sum(m["calls"] * m["flops"] for m in leaves(rep["modules"]))
    assert t["transformer_flops"] == sum(s["flops"] for s in stages if s["id"] in DIT_STAGES)
    assert t["transformer_flops"] < t["flops"]
    assert t["params"] == sum(s["params"] for s in stages)
    assert t["weight_bytes"] == sum(s["weight_bytes"] for s in stages)
    roots = [m for m in rep["modules"] if m["parent"] is None]
    assert t["params"] == sum(r["params"] for r in roots)


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_parent_flops_equal_sum_of_children(args):
    rep = report(*args)
    kids = children_of(rep)
    mods = modules_by_id(rep)
    assert kids, "no parent/child structure"
    bad = {p: (mods[p]["flops"], sum(c["flops"] for c in cs)) for p, cs in kids.items()
           if mods[p]["flops"] != sum(c["flops"] for c in cs)}
    assert not bad


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_calls_follow_the_stage(args):
    """Every module runs as often as its stage: the text encoder once per forward of a step,
    image encoder and VAE once, the transformer steps x forwards per step (Wan2.2 A14B: the
    high-noise steps, transformer_2 the rest, by diffusers' flow schedule)."""
    rep = report(*args)
    w = rep["workload"]
    fps = 2 if w["cfg"] else 1
    assert w["forwards_per_step"] == fps
    assert rep["totals"]["forwards"] == w["num_inference_steps"] * fps
    want = expected_stage_calls(rep)
    st = stages_by_id(rep)
    assert {i: s["calls"] for i, s in st.items()} == {i: want[i] for i in st}
    stage_of = module_stages(rep)
    wrong = [(m["id"], m["calls"]) for m in rep["modules"] if m["calls"] != want[stage_of[m["id"]]]]
    assert not wrong, wrong[:5]
    assert sum(s["calls"] for i, s in st.items() if i in DIT_STAGES) == rep["totals"]["forwards"]


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_shapes_agree_with_flops(args):
    """Each counted op's `shape` string describes the call whose FLOPs the report gives:
    linear [..,K]x[K,N] -> 2*rows*K*N; conv [N,Cin,..] k[..] -> [N,Cout,out..] -> 2*N*Cout*Cin*
    prod(k)*prod(out); sdpa q[b,h,Lq,d] kv[b,h,Lk,d] -> 4*b*h*Lq*Lk*d (0 in torch-cpu)."""
    rep = report(*args)
    cpu = rep["workload"]["mode"] == "torch-cpu"
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    bad = []
    for m in rep["modules"]:
        sh, want = m["shape"], None
        if m["op"] == "linear":
            a, b = re.fullmatch(r"\[([\d,]+)\]x\[([\d,]+)\]", sh).groups()
            a, b = ints(a), ints(b)
            rows = 1
            for x in a[:-1]:
                rows *= x
            want = 2 * rows * b[0] * b[1] if a[-1] == b[0] else -1
        elif m["op"] == "conv3d":
            i, k, o = (ints(g) for g in re.fullmatch(
                r"\[([\d,]+)\] k\[([\d,]+)\] -> \[([\d,]+)\]", sh).groups())
            want = 2 * o[0] * o[1] * i[1]
            for x in k + o[2:]:
                want *= x
            if i[0] != o[0]:
                want = -1
        elif m["op"] == "sdpa":
            q, kv = (ints(g) for g in re.fullmatch(r"q\[([\d,]+)\] kv\[([\d,]+)\]", sh).groups())
            want = 0 if cpu else 4 * q[0] * q[1] * q[2] * kv[2] * q[3]
        if want is not None and want != m["matrix_flops"]:
            bad.append((m["id"], sh, m["matrix_flops"]))
    assert not bad, f"{len(bad)} shapes disagree with their FLOPs, e.g. {bad[:4]}"


def test_totals_linear_in_batch():
    one = report("--workload", "wan2-1-480p-81f")
    three = report("--workload", "wan2-1-480p-81f", "--batch", "3")
    assert three["workload"]["batch_size"] == 3
    assert three["totals"]["flops_per_forward"] == 3 * 1_678_370_283_192_320
    assert three["totals"]["flops"] == 3 * one["totals"]["flops"]
    assert three["totals"]["transformer_flops"] == 3 * one["totals"]["transformer_flops"]
    assert three["totals"]["params"] == one["totals"]["params"]
    s1, s3 = stages_by_id(one), stages_by_id(three)
    assert {i: (s["calls"], s["flops_per_call"]) for i, s in s3.items()} == \
        {i: (s["calls"], 3 * s["flops_per_call"]) for i, s in s1.items()}
    m1, m3 = modules_by_id(one), modules_by_id(three)
    assert all(m3[i]["flops"] == 3 * m1[i]["flops"] for i in m1)
    # the prompts are encoded batch-wide too (WAN_FACTS §8: B x umT5)
    assert s3["text_encoder"]["flops_per_call"] == umt5_flops(3, 512)


def test_totals_linear_in_steps():
    """Steps multiply the transformer only: the text encoder and the VAE run once per generation."""
    fwd = 6_462_617_681_920
    other = 2 * umt5_flops(1, 64) + vae_decode_total(4, 256, 256)
    assert other == 2 * 594_316_099_584 + 706_002_550_784  # WAN_FACTS §8, §5.2 (a raw)
    for steps in (1, 7, 50):
        rep = report("--workload", "wan2-1-ci-tiny", "--steps", str(steps))
        t = rep["totals"]
        assert t["flops_per_forward"] == fwd
        assert t["transformer_flops"] == fwd * steps * 2
        assert t["flops"] == fwd * steps * 2 + other
        assert rep["workload"]["num_inference_steps"] == steps
        st = stages_by_id(rep)
        assert (st["text_encoder"]["calls"], st["transformer"]["calls"], st["vae_decode"]["calls"]) \
            == (2, 2 * steps, 1)


def test_no_cfg_halves_text_encoder_and_transformer_not_vae():
    cfg = report("--workload", "wan2-1-720p-81f")
    nocfg = report("--workload", "wan2-1-720p-81f", "--no-cfg")
    fwd = 6_523_436_592_005_120
    assert nocfg["totals"]["flops_per_forward"] == cfg["totals"]["flops_per_forward"] == fwd
    assert 2 * nocfg["totals"]["transformer_flops"] == cfg["totals"]["transformer_flops"]
    assert nocfg["totals"]["transformer_flops"] == fwd * 50
    a, b = stages_by_id(cfg), stages_by_id(nocfg)
    # the negative prompt is not encoded, the VAE decodes the one video either way
    assert 2 * b["text_encoder"]["flops"] == a["text_encoder"]["flops"] == 2 * 4_844_723_109_888
    assert b["text_encoder"]["calls"] == 1 and b["transformer"]["calls"] == 50
    assert 2 * b["transformer"]["flops"] == a["transformer"]["flops"]
    assert b["vae_decode"] == a["vae_decode"]
    assert b["vae_decode"]["flops"] == 639_218_375_884_800  # WAN_FACTS §7 (e)
    assert nocfg["totals"]["flops"] == fwd * 50 + 4_844_723_109_888 + 639_218_375_884_800
    assert cfg["totals"]["flops"] - nocfg["totals"]["flops"] == fwd * 50 + 4_844_723_109_888
    assert (nocfg["workload"]["cfg"], nocfg["workload"]["forwards_per_step"]) == (False, 1)
    assert {m["calls"] for m in stage_modules(nocfg, "text_encoder")} == {1}
    # --cfg after --no-cfg turns it back on (last flag wins)
    again = report("--workload", "wan2-1-720p-81f", "--no-cfg", "--cfg")
    assert again["totals"]["flops"] == cfg["totals"]["flops"]
    assert again["stages"] == cfg["stages"]


def test_full_mode_adds_vector_flops_on_top_of_torch():
    torch_ = report("--workload", "wan2-1-ci-tiny")
    full = report("--workload", "wan2-1-ci-tiny", "--mode", "full")
    t, f = torch_["totals"], full["totals"]
    assert t["vector_flops_per_forward"] == 0
    assert f["vector_flops_per_forward"] > 0
    assert f["matrix_flops_per_forward"] == t["flops_per_forward"] == 6_462_617_681_920
    assert f["flops_per_forward"] == f["matrix_flops_per_forward"] + f["vector_flops_per_forward"]
    # softmax alone touches every attention score at least once (WAN_FACTS §6)
    m, B, L, Lt = T2V_14B, 1, 256, 64
    assert f["vector_flops_per_forward"] >= m.N * B * m.H * (L * L + L * Lt)
    mt, mf = modules_by_id(torch_), modules_by_id(full)
    assert all(mf[i]["matrix_flops"] == mt[i]["flops"] for i in mt)
    assert all(mf[i]["flops"] == mf[i]["matrix_flops"] + mf[i]["vector_flops"] for i in mf)
    assert mf["transformer.blocks.0.norm1"]["vector_flops"] > 0
    # every stage gains elementwise work (norms, activations, residuals, softmax)
    st, sf = stages_by_id(torch_), stages_by_id(full)
    assert all(sf[i]["flops_per_call"] > st[i]["flops_per_call"] for i in st)


@pytest.mark.parametrize("dtype,size", [("bf16", 2), ("fp16", 2), ("fp32", 4)])
def test_dtype_sets_activation_bytes(dtype, size):
    """A linear leaf writes B*L*d activations of the workload dtype; FLOPs do not change."""
    rep = report("--workload", "wan2-1-ci-tiny", "--dtype", dtype)
    to_q = modules_by_id(rep)["transformer.blocks.0.attn1.to_q"]
    assert rep["workload"]["dtype"] == dtype
    assert to_q["bytes_written"] == 1 * 256 * 5120 * size
    assert rep["totals"]["flops_per_forward"] == 6_462_617_681_920


def test_fp32_doubles_bf16_activation_bytes():
    bf16 = modules_by_id(report("--workload", "wan2-1-ci-tiny"))
    fp32 = modules_by_id(report("--workload", "wan2-1-ci-tiny", "--dtype", "fp32"))
    for leaf in ("transformer.blocks.0.attn1.to_q", "transformer.blocks.3.ffn.net.2",
                 "transformer.proj_out"):
        assert fp32[leaf]["bytes_written"] == 2 * bf16[leaf]["bytes_written"] > 0


def test_more_frames_more_flops():
    """Non-decreasing in frames; strictly increasing over 4n+1; equal within a latent frame."""
    fwd = {f: report("--workload", "wan2-1-ci-tiny", "--frames", str(f))["totals"]["flops_per_forward"]
           for f in range(1, 22)}
    values = [fwd[f] for f in sorted(fwd)]
    assert values == sorted(values)
    assert all(fwd[f] < fwd[f + 4] for f in range(1, 18, 4))
    assert fwd[14] == fwd[16] == fwd[13]  # all T = 4
    m = T2V_14B
    for f, v in fwd.items():
        assert v == closed_form(m, 1, seq_len(f, 256, 256), 64)[2], f


@pytest.mark.parametrize("workload,want", [
    ("wan2-1-720p-81f", (21, 90, 160, 3600, 75600)),
    ("wan2-1-480p-81f", (21, 60, 104, 1560, 32760)),
    ("wan2-1-720p", (4, 90, 160, 3600, 14400)),
    ("wan2-1-512p", (4, 64, 64, 1024, 4096)),
    ("wan2-1-ci-tiny", (1, 32, 32, 256, 256)),
])
def test_geometry_fields(workload, want):
    g = report("--workload", workload)["geometry"]
    got = (g["latent_frames"], g["latent_height"], g["latent_width"], g["tokens_per_frame"],
           g["dit_seq_len"])
    assert got == want
    w = WORKLOADS[workload]
    assert tuple(geometry(w.frames, w.height, w.width).values()) == want


def test_geometry_from_flags_720p_81f():
    g = report("--workload", "wan2-1-ci-tiny", "--frames", "81", "--height", "720",
               "--width", "1280")["geometry"]
    assert (g["latent_frames"], g["latent_height"], g["latent_width"], g["dit_seq_len"]) == \
        (21, 90, 160, 75600)
    assert g["frames_not_4n1"] is False


# frames 5 -> T = 2, L = 512: WAN_FACTS §5.1 (a pipe) 12,757,764,669,440
@pytest.mark.parametrize("fmt,needle", [("table", "12,757,764,669,440"),
                                        ("md", "12,757,764,669,440"),
                                        ("csv", ",12757764669440,")])
def test_other_formats_show_the_total(fmt, needle, workdir):
    res = run("report", "--workload", "wan2-1-ci-tiny", "--frames", "5", "--no-artifacts",
              "--format", fmt, cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert closed_form(T2V_14B, 1, seq_len(5, 256, 256), 64)[2] == 12_757_764_669_440
    assert needle in res.stdout
    assert res.stderr == ""
    assert list(workdir.iterdir()) == []


def test_csv_has_one_row_per_module(workdir):
    res = run("report", "--workload", "wan2-1-ci-tiny", "--no-artifacts", "--format", "csv",
              cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    rows = res.stdout.splitlines()
    rep = report("--workload", "wan2-1-ci-tiny")
    assert len(rows) == 1 + len(rep["modules"])
    assert rows[0].startswith("id,")
    ffn = next(r for r in rows if r.startswith("transformer.blocks.39.ffn.net.2,"))
    assert f",{2 * 256 * 13824 * 5120}," in ffn


# =============================================================================================
# 4. Frames that are not 4n+1
# =============================================================================================


def test_frames_16_note_and_geometry(workdir):
    res = run("report", "--frames", "16", "--format", "json", "--no-artifacts", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    notes = [ln for ln in res.stderr_lines if ln.startswith("wanmeter: note:")]
    assert len(notes) == 1 and len(res.stderr_lines) == 1, str(res)
    assert "4n+1" in notes[0] and "17" in notes[0]
    rep = res.json()
    g = rep["geometry"]
    assert g["frames_not_4n1"] is True
    assert g["pipeline_frames"] == 17
    assert g["latent_frames"] == 4
    assert g["dit_seq_len"] == 4 * 45 * 80
    assert any("4n+1" in n and "17" in n for n in rep["notes"])
    assert any("4n+1" in n for n in g["rounding_notes"])
    # raw geometry (T = 4), the default 720x1280: WAN_FACTS §5.1 (c raw)
    assert rep["totals"]["flops_per_forward"] == 522_392_628_101_120


@pytest.mark.parametrize("frames,pipeline,latent", [(4, 5, 1), (2, 1, 1), (16, 17, 4), (80, 81, 20)])
def test_frames_not_4n1_other_counts(frames, pipeline, latent):
    g = report("--workload", "wan2-1-ci-tiny", "--frames", str(frames))["geometry"]
    assert (g["frames_not_4n1"], g["pipeline_frames"], g["latent_frames"]) == (True, pipeline, latent)


@pytest.mark.parametrize("frames", [1, 5, 17, 81])
def test_frames_4n1_have_no_note(frames, workdir):
    res = run("report", "--workload", "wan2-1-ci-tiny", "--frames", str(frames), "--format",
              "json", "--no-artifacts", cwd=workdir)
    assert res.rc == EXIT_OK and res.stderr == "", str(res)
    rep = res.json()
    assert rep["geometry"]["frames_not_4n1"] is False
    assert rep["geometry"]["pipeline_frames"] == frames
    assert rep["geometry"]["rounding_notes"] == []
    assert not any("4n+1" in n for n in rep["notes"])


# =============================================================================================
# 5. Determinism and artifacts
# =============================================================================================


def artifact_dir(out: Path, run_id: str) -> Path:
    return out / run_id / "static_analysis" / "wan2_1"


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_artifacts_are_deterministic(workdir):
    out = workdir / "out"
    args = ("report", "--workload", "wan2-1-480p-81f", "--format", "json", "--run-id", "r1",
            "--out-dir", str(out))
    first = run(*args, cwd=workdir)
    assert first.rc == EXIT_OK, str(first)
    d = artifact_dir(out, "r1")
    rj1, sm1 = (d / "report.json").read_bytes(), (d / "summary.md").read_bytes()
    second = run(*args, cwd=workdir)
    assert second.rc == EXIT_OK, str(second)
    assert (d / "report.json").read_bytes() == rj1
    assert (d / "summary.md").read_bytes() == sm1
    assert first.stdout == second.stdout
    assert first.stdout.encode() == rj1  # stdout JSON is the written report.json
    assert json.loads(rj1)["totals"]["flops_per_forward"] == 1_678_370_283_192_320
    assert sm1.strip()
    assert all_files(out) == ["r1", "r1/static_analysis", "r1/static_analysis/wan2_1",
                              "r1/static_analysis/wan2_1/report.json",
                              "r1/static_analysis/wan2_1/summary.md"]
    assert [p.name for p in workdir.iterdir()] == ["out"]
    assert "report.json" in first.stderr


def test_artifacts_default_out_dir_is_relative_to_cwd(workdir):
    res = run("report", "--workload", "wan2-1-ci-tiny", "--model", "wan2.1-t2v-1.3b",
              "--run-id", "r2", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    d = artifact_dir(workdir / "tmp" / "profile-output", "r2")
    rep = json.loads((d / "report.json").read_text())
    assert rep["model"]["id"] == "wan2.1-t2v-1.3b"
    assert rep["totals"]["flops_per_forward"] == closed_form(T2V_1_3B, 1, 256, 64)[2]
    assert (d / "summary.md").is_file()


def test_stdout_is_the_report_for_non_json_formats_too(workdir):
    out = workdir / "out"
    res = run("report", "--workload", "wan2-1-ci-tiny", "--run-id", "r3", "--out-dir", str(out),
              cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    via_json = report("--workload", "wan2-1-ci-tiny")
    written = json.loads((artifact_dir(out, "r3") / "report.json").read_text())
    assert written == via_json


def test_failing_run_writes_nothing(workdir):
    out = workdir / "out"
    res = run("report", "--height", "250", "--run-id", "bad", "--out-dir", str(out), cwd=workdir)
    assert res.rc == EXIT_INPUT, str(res)
    assert not out.exists()
    assert list(workdir.iterdir()) == []


def test_failing_run_keeps_an_earlier_report(workdir):
    out = workdir / "out"
    ok = run("report", "--workload", "wan2-1-ci-tiny", "--run-id", "same", "--out-dir", str(out),
             cwd=workdir)
    assert ok.rc == EXIT_OK, str(ok)
    before = (artifact_dir(out, "same") / "report.json").read_bytes()
    bad = run("report", "--workload", "wan2-1-ci-tiny", "--batch", "0", "--run-id", "same",
              "--out-dir", str(out), cwd=workdir)
    assert bad.rc == EXIT_INPUT, str(bad)
    assert (artifact_dir(out, "same") / "report.json").read_bytes() == before


def test_no_temporary_files_left(workdir):
    out = workdir / "out"
    for i in range(3):
        res = run("report", "--workload", "wan2-1-ci-tiny", "--run-id", f"t{i % 2}",
                  "--out-dir", str(out), cwd=workdir)
        assert res.rc == EXIT_OK, str(res)
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    assert leftovers == []
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == \
        ["report.json", "report.json", "summary.md", "summary.md"]


def test_unwritable_out_dir_is_an_io_error(workdir):
    blocker = write(workdir / "file", "not a directory\n")
    res = run("report", "--workload", "wan2-1-ci-tiny", "--frames", "5", "--run-id", "x",
              "--out-dir", str(blocker), cwd=workdir)
    assert res.rc == EXIT_IO, str(res)
    res.error_line()
    assert res.stdout == ""
    assert blocker.read_text() == "not a directory\n"


# =============================================================================================
# 6. Bad inputs
# =============================================================================================

# Config files the table refers to; written into the run's current directory.
BAD_FILES = {
    "malformed.yaml": "model: {num_layers: [1, 2\n",
    "unknown.yaml": "model:\n  num_layers: 2\n  bogus_key: 3\n",
    "negative.yaml": "model: {num_layers: -1}\n",
    "interp_missing.yaml": "verify_run:\n  accept_rel_diff:\n    default: ${.nothere}\n",
    "interp_cycle.yaml": ("verify_run:\n  accept_rel_diff:\n    default: ${.layers}\n"
                          "    layers: ${.default}\n"),
    "tolerance.yaml": "verify_run:\n  accept_rel_diff:\n    layers: 1.5\n",
}

ALL_WORKLOADS = list(WORKLOADS)

# (args, exit code, substrings the error line must contain [str or compiled regex])
BAD_INPUTS = [
    pytest.param(["report", "--frames", "0"], EXIT_INPUT, ["--frames"], id="frames-0"),
    pytest.param(["report", "--frames", "-3"], EXIT_INPUT, ["--frames", "-3"], id="frames-negative"),
    pytest.param(["report", "--frames", "abc"], EXIT_INPUT, ["--frames", "abc"], id="frames-abc"),
    pytest.param(["report", "--batch", "12x"], EXIT_INPUT, ["--batch", "12x"], id="batch-12x"),
    pytest.param(["report", "--batch", ""], EXIT_INPUT, ["--batch"], id="batch-empty"),
    pytest.param(["report", "--batch"], EXIT_USAGE, ["--batch"], id="batch-no-value"),
    pytest.param(["report", "--height", "250"], EXIT_INPUT, ["height", "240", "256"], id="height-250"),
    pytest.param(["report", "--width", "1000"], EXIT_INPUT, ["width", "992", "1008"], id="width-1000"),
    pytest.param(["report", "--steps", "0"], EXIT_INPUT, ["--steps"], id="steps-0"),
    pytest.param(["report", "--text-len", "0"], EXIT_INPUT, ["--text-len"], id="text-len-0"),
    pytest.param(["report", "--batch", "99999999999999999999"], EXIT_INPUT,
                 ["--batch", "too large"], id="batch-too-large"),
    pytest.param(["report", "--workload", "wan2-1-720p-81f", "--batch", "9999999999"], EXIT_INPUT,
                 [re.compile(r"overflow|exceed"), "batch"], id="batch-count-overflow"),
    pytest.param(["report", "--height", "16000"], EXIT_INPUT, [re.compile(r"overflow|exceed")],
                 id="height-16000-count-overflow"),
    pytest.param(["report", "--workload", "wan2-1-ci-tiny", "--height", "16400"], EXIT_INPUT,
                 ["height", "rope_max_seq_len"], id="height-16400-rope"),
    pytest.param(["report", "--workload", "wan2-1-ci-tiny", "--width", "16400"], EXIT_INPUT,
                 ["width", "rope_max_seq_len"], id="width-16400-rope"),
    pytest.param(["report", "--workload", "wan2-1-ci-tiny", "--frames", "4097"], EXIT_INPUT,
                 ["frames", "rope_max_seq_len"], id="frames-4097-rope"),
    pytest.param(["report", "--dtype", "int8"], EXIT_INPUT, ["--dtype", "int8"], id="dtype-int8"),
    pytest.param(["report", "--mode", "gpu"], EXIT_INPUT, ["--mode", "gpu"], id="mode-gpu"),
    pytest.param(["report", "--format", "xml"], EXIT_USAGE, ["--format"], id="format-xml"),
    pytest.param(["report", "--bogus"], EXIT_USAGE, ["--bogus"], id="unknown-flag"),
    pytest.param(["frobnicate"], EXIT_USAGE, ["frobnicate"], id="unknown-subcommand"),
    pytest.param(["verify", "bogus"], EXIT_USAGE, ["bogus"], id="unknown-verify-check"),
    pytest.param(["verify", "core", "--bogus"], EXIT_USAGE, ["--bogus"], id="verify-unknown-flag"),
    pytest.param(["report", "--model", "nope"], EXIT_INPUT,
                 ["nope", "wan2.1-t2v-14b", "wan2.1-t2v-1.3b"], id="unknown-model"),
    pytest.param(["report", "--workload", "nope"], EXIT_INPUT, ["nope", *ALL_WORKLOADS],
                 id="unknown-workload"),
    pytest.param(["report", "--config", "missing.yaml"], EXIT_IO, ["missing.yaml"],
                 id="config-missing"),
    pytest.param(["report", "--config", "malformed.yaml"], EXIT_INPUT,
                 [re.compile(r"malformed\.yaml:\d+:\d+: ")], id="config-malformed"),
    pytest.param(["report", "--config", "unknown.yaml"], EXIT_INPUT,
                 ["bogus_key", re.compile(r"unknown\.yaml:3:\d+: ")], id="config-unknown-key"),
    pytest.param(["report", "--config", "negative.yaml"], EXIT_INPUT,
                 ["num_layers", re.compile(r"negative\.yaml:1:\d+: ")], id="config-negative-layers"),
    pytest.param(["report", "--config", "interp_missing.yaml"], EXIT_INPUT,
                 ["verify_run.accept_rel_diff.default", "nothere"], id="config-interp-missing"),
    pytest.param(["report", "--config", "interp_cycle.yaml"], EXIT_INPUT,
                 ["cycle", "verify_run.accept_rel_diff.default", "verify_run.accept_rel_diff.layers"],
                 id="config-interp-cycle"),
    pytest.param(["report", "--config", "tolerance.yaml"], EXIT_INPUT,
                 ["verify_run.accept_rel_diff.layers", re.compile(r"tolerance\.yaml:3:\d+: ")],
                 id="config-tolerance-1.5"),
    pytest.param(["verify", "core", "--config", "tolerance.yaml"], EXIT_INPUT,
                 ["verify_run.accept_rel_diff.layers"], id="verify-config-tolerance-1.5"),
    pytest.param(["list", "--config", "unknown.yaml"], EXIT_INPUT, ["bogus_key"],
                 id="list-config-unknown-key"),
    pytest.param(["report", "--depth", "x"], EXIT_INPUT, ["--depth"], id="depth-x"),
    pytest.param(["report", "--run-id", "../x"], EXIT_USAGE, ["--run-id"], id="run-id-dotdot"),
    pytest.param(["report", "--run-id", "a/b"], EXIT_USAGE, ["--run-id"], id="run-id-slash"),
    pytest.param(["report", "--run-id", ".."], EXIT_USAGE, ["--run-id"], id="run-id-parent"),
    # pipeline stages: unknown ones, and ones the model does not have (T2V: no image encoder, no
    # VAE encode, one transformer)
    pytest.param(["report", "--stages", "bogus"], EXIT_INPUT, ["--stages", "bogus"],
                 id="stages-unknown"),
    pytest.param(["report", "--stages", "transformer,bogus"], EXIT_INPUT, ["--stages", "bogus"],
                 id="stages-one-unknown"),
    pytest.param(["report", "--stages", "image_encoder"], EXIT_INPUT, ["--stages", "image_encoder"],
                 id="stages-t2v-no-image-encoder"),
    pytest.param(["report", "--stages", "transformer,vae_encode"], EXIT_INPUT,
                 ["--stages", "vae_encode"], id="stages-t2v-no-vae-encode"),
    pytest.param(["report", "--model", "wan2.1-t2v-1.3b", "--stages", "transformer_2"], EXIT_INPUT,
                 ["--stages", "transformer_2"], id="stages-1.3b-no-transformer-2"),
    pytest.param(["report", "--model", "wan2.2-i2v-a14b", "--stages", "image_encoder"], EXIT_INPUT,
                 ["--stages", "image_encoder"], id="stages-i2v-a14b-no-clip"),
    pytest.param(["report", "--stages", ""], EXIT_INPUT, ["--stages"], id="stages-empty"),
    pytest.param(["report", "--stages"], EXIT_USAGE, ["--stages"], id="stages-no-value"),
    pytest.param(["verify", "core", "--stages", "bogus"], EXIT_INPUT, ["--stages", "bogus"],
                 id="verify-stages-unknown"),
    pytest.param(["report", "--impl", "bogus"], EXIT_INPUT, ["--impl", "bogus"], id="impl-unknown"),
    pytest.param(["report", "--impl"], EXIT_USAGE, ["--impl"], id="impl-no-value"),
    pytest.param(["report", "--names", "bogus"], EXIT_USAGE, ["--names"], id="names-unknown"),
]


@pytest.mark.parametrize("args,code,needles", BAD_INPUTS)
def test_bad_input(args, code, needles, workdir):
    for name, text in BAD_FILES.items():
        write(workdir / name, text)
    before = sorted(p.name for p in workdir.iterdir())
    full = list(args)
    if args[0] == "report":  # give the run every chance to write, so "nothing written" means something
        full = ["report", "--out-dir", "out", "--run-id", "bad", *args[1:]]
    res = run(*full, cwd=workdir)
    assert res.rc == code, str(res)
    line = res.error_line()
    for needle in needles:
        if isinstance(needle, re.Pattern):
            assert needle.search(line), f"{needle.pattern!r} not in {line!r}"
        else:
            assert needle in line, f"{needle!r} not in {line!r}"
    assert res.stdout == ""
    assert sorted(p.name for p in workdir.iterdir()) == before, "a failed run wrote files"


def test_empty_config_path_is_named(workdir):
    """`--config ""`: one well-formed error line that names the flag (not an empty <what>)."""
    res = run("report", "--config", "", "--no-artifacts", cwd=workdir)
    assert res.rc in (EXIT_INPUT, EXIT_IO), str(res)
    assert "--config" in res.error_line()
    assert res.stdout == ""


def test_empty_out_dir_does_not_write_to_the_filesystem_root(workdir):
    """`--out-dir ""` must be refused or mean the current directory, never `/<run-id>`."""
    run_id = f"wanmeter-cli-test-{uuid.uuid4().hex[:12]}"
    stray = Path("/") / run_id
    try:
        res = run("report", "--workload", "wan2-1-ci-tiny", "--frames", "5", "--run-id", run_id,
                  "--out-dir", "", cwd=workdir)
        assert not stray.exists(), f"an empty --out-dir wrote {stray}"
        assert res.rc in (EXIT_OK, EXIT_USAGE, EXIT_INPUT), str(res)
        if res.rc == EXIT_OK:
            assert (artifact_dir(workdir, run_id) / "report.json").is_file()
        else:
            assert "--out-dir" in res.error_line()
    finally:
        if stray.exists():  # made by this test (unique name): remove it
            shutil.rmtree(stray)


def test_no_arguments_is_a_usage_error(workdir):
    res = run(cwd=workdir)
    assert res.rc == EXIT_USAGE, str(res)
    assert res.stdout == ""
    assert "usage: wanmeter" in res.stderr


def test_verify_without_a_check_is_a_usage_error(workdir):
    """Like `wanmeter` with no arguments: exit 2, the usage on stderr (errors go to stderr)."""
    res = run("verify", cwd=workdir)
    assert res.rc == EXIT_USAGE, str(res)
    assert res.stdout == "", "a usage error must not print to stdout"
    assert "usage: wanmeter verify" in res.stderr


# =============================================================================================
# 7. Config overrides
# =============================================================================================


def test_config_num_layers_override(workdir):
    cfg = write(workdir / "two.yaml", "model: {num_layers: 2}\n")
    rep = report("--config", str(cfg))
    w = WORKLOADS["wan2-1-720p-81f"]  # the default workload
    top, per_block, _ = closed_form(T2V_14B, 1, seq_len(w.frames, w.height, w.width), w.text_len)
    assert rep["totals"]["flops_per_forward"] == top + 2 * per_block
    dit_params = T2V_14B.params_top + 2 * T2V_14B.params_per_block
    assert stages_by_id(rep)["transformer"]["params"] == dit_params
    # the other components keep their configs: only the transformer lost layers
    assert rep["totals"]["params"] == dit_params + UMT5_PARAMS + VAE_DECODE_PARAMS
    assert rep["totals"]["transformer_flops"] == 100 * (top + 2 * per_block)
    assert rep["totals"]["flops"] == 100 * (top + 2 * per_block) + 2 * umt5_flops(1, 512) \
        + VAE_DECODE_LITERALS[(21, 90, 160)][0]
    assert rep["model"]["num_layers"] == 2
    ids = {m["id"] for m in rep["modules"]}
    assert "transformer.blocks.1" in ids and "transformer.blocks.2" not in ids
    assert "two.yaml" in rep["model"]["source"]


def test_config_workload_selection_and_override(workdir):
    cfg = write(workdir / "wl.yaml", "workload: {name: wan2-1-ci-tiny, frames: 9}\n")
    rep = report("--config", str(cfg))
    assert rep["workload"]["profile_id"] == "wan2-1-ci-tiny"
    assert rep["workload"]["num_frames"] == 9
    assert (rep["workload"]["height"], rep["workload"]["text_len"]) == (256, 64)
    L = seq_len(9, 256, 256)
    assert L == 3 * 16 * 16
    assert rep["totals"]["flops_per_forward"] == closed_form(T2V_14B, 1, L, 64)[2]
    # a flag still overrides the file
    rep2 = report("--config", str(cfg), "--frames", "5")
    assert rep2["totals"]["flops_per_forward"] == 12_757_764_669_440  # WAN_FACTS (a pipe)


def test_config_new_model_preset_with_base(workdir):
    cfg = write(workdir / "mine.yaml",
                "models:\n  my-model:\n    base: wan2.1-t2v-1.3b\n    num_layers: 4\n")
    rep = report("--config", str(cfg), "--model", "my-model", "--workload", "wan2-1-ci-tiny")
    assert rep["model"]["id"] == "my-model"
    assert (rep["model"]["dim"], rep["model"]["ffn_dim"], rep["model"]["num_layers"]) == (1536, 8960, 4)
    top, per_block, fwd = closed_form(T2V_1_3B, 1, 256, 64, layers=4)
    assert rep["totals"]["flops_per_forward"] == fwd == top + 4 * per_block
    dit_params = T2V_1_3B.params_top + 4 * T2V_1_3B.params_per_block
    assert stages_by_id(rep)["transformer"]["params"] == dit_params
    assert rep["totals"]["params"] == dit_params + UMT5_PARAMS + VAE_DECODE_PARAMS
    # the base's text encoder and VAE come along (ci-tiny: 1 step, text 64, latent 1x32x32)
    assert stage_rows(rep) == [
        {"id": "text_encoder", "calls": 2, "flops_per_call": umt5_flops(1, 64),
         "flops": 2 * umt5_flops(1, 64), "params": UMT5_PARAMS},
        {"id": "transformer", "calls": 2, "flops_per_call": fwd, "flops": 2 * fwd,
         "params": dit_params},
        {"id": "vae_decode", "calls": 1, "flops_per_call": 706_002_550_784,
         "flops": 706_002_550_784, "params": VAE_DECODE_PARAMS}]
    exp = expected_module_flops(T2V_1_3B, 1, 256, 64, layers=4)
    mods = modules_by_id(rep)
    assert {i: mods[i]["flops"] for i in exp} == exp
    # the built-in presets are still there
    listing = run("list", "--config", str(cfg), cwd=workdir)
    assert listing.rc == EXIT_OK, str(listing)
    for name in ("my-model", "wan2.1-t2v-14b", "wan2.1-t2v-1.3b"):
        assert name in listing.stdout


def test_config_new_model_reports_its_source(workdir):
    """model.source should say where a user-defined preset came from, not the built-in file."""
    cfg = write(workdir / "mine.yaml",
                "models:\n  my-model:\n    base: wan2.1-t2v-1.3b\n    num_layers: 4\n")
    rep = report("--config", str(cfg), "--model", "my-model", "--workload", "wan2-1-ci-tiny")
    assert "mine.yaml" in rep["model"]["source"], rep["model"]["source"]


@pytest.mark.parametrize("yaml_text,tol", [
    ("verify_run:\n  accept_rel_diff:\n    default: 0.01\n", "0.01"),
    ("verify_run:\n  accept_rel_diff:\n    default: 0.02\n    layers: 0.03\n"
     "    core: ${verify_run.accept_rel_diff.layers}\n", "0.03"),
    ("verify_run:\n  accept_rel_diff:\n    default: 0.02\n    core: ${.default}\n", "0.02"),
])
def test_config_interpolation_reaches_verify(yaml_text, tol, workdir):
    cfg = write(workdir / "tol.yaml", yaml_text)
    res = run("verify", "core", "--config", str(cfg), "--workload", "wan2-1-ci-tiny", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert f"tolerance {tol} " in res.stdout or f"tolerance {tol})" in res.stdout, res.stdout


def test_config_is_merged_over_the_builtin_one(workdir):
    """A user file that only sets the output dir keeps every built-in preset and workload."""
    cfg = write(workdir / "out.yaml", "output: {dir: elsewhere}\n")
    res = run("report", "--config", str(cfg), "--workload", "wan2-1-ci-tiny", "--run-id", "m",
              cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert (artifact_dir(workdir / "elsewhere", "m") / "report.json").is_file()
    assert not (workdir / "tmp").exists()


# =============================================================================================
# 8. verify core, list, --help
# =============================================================================================


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("workload", ALL_WORKLOADS)
def test_verify_core_passes(model, workload, workdir):
    res = run("verify", "core", "--model", model, "--workload", workload, cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    last = res.stdout.strip().splitlines()[-1]
    assert ", 0 failed," in last and last.endswith("PASS"), last
    assert res.stderr == "" or all(ln.startswith("wanmeter: note:") for ln in res.stderr_lines)
    # its closed-form row shows the independently known total
    m, w = MODELS[model], WORKLOADS[workload]
    fwd = closed_form(m, 1, seq_len(w.frames, w.height, w.width), w.text_len)[2]
    row = next(ln for ln in res.stdout.splitlines() if "closed form" in ln and "FLOPs" in ln)
    assert row.count(f"{fwd:,}") == 2, row
    # and the generation: the sum of every stage (text encoder, transformer, VAE decode)
    gen = sum(s["flops"] for s in expected_t2v_stages_for(model, workload))
    row = next(ln for ln in res.stdout.splitlines() if "generation" in ln and "stages" in ln)
    assert row.count(f"{gen:,}") == 2, row


@pytest.mark.parametrize("mode", ["torch-cpu", "full"])
def test_verify_core_other_modes(mode, workdir):
    res = run("verify", "core", "--workload", "wan2-1-ci-tiny", "--mode", mode, cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert f"mode {mode}" in res.stdout and res.stdout.rstrip().endswith("PASS")


def test_list_shows_presets_and_workloads(workdir):
    res = run("list", cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert res.stderr == ""
    for name in [*MODELS, *WORKLOADS]:
        assert re.search(rf"^\s+{re.escape(name)}\s", res.stdout, re.M), name
    assert re.search(r"wan2\.1-t2v-14b\s.*d=5120 layers=40 heads=40 ffn=13824", res.stdout)
    assert re.search(r"wan2\.1-t2v-1\.3b\s.*d=1536 layers=30 heads=12 ffn=8960", res.stdout)


HELP_CASES = {
    "wanmeter": (["--help"], ["report", "verify", "list", "compare", "hotspots"]),
    "report": (["report", "--help"],
               ["--model", "--workload", "--config", "--batch", "--frames", "--height", "--width",
                "--steps", "--text-len", "--no-cfg", "--dtype", "--mode", "--format", "--depth",
                "--run-id", "--out-dir", "--no-artifacts", "--stages", "--impl", "--names",
                "--model-dir", *STAGE_ORDER]),
    "verify": (["verify", "--help"], ["layers", "end2end", "core", "--reference", "--device",
                                      "--all"]),
    "verify-layers": (["verify", "layers", "--help"], ["--reference", "--device", "--against",
                                                       "--model"]),
    "verify-core": (["verify", "core", "--help"], ["--model", "--workload", "--config"]),
    "list": (["list", "--help"], ["--config"]),
    "compare": (["compare", "--help"], ["--top", "--format"]),
    "hotspots": (["hotspots", "--help"], ["--top", "--format"]),
}


@pytest.mark.parametrize("args,flags", list(HELP_CASES.values()), ids=list(HELP_CASES))
def test_help(args, flags, workdir):
    res = run(*args, cwd=workdir)
    assert res.rc == EXIT_OK, str(res)
    assert res.stdout.startswith("usage: wanmeter"), res.stdout[:200]
    for flag in flags:
        assert flag in res.stdout, flag
    assert res.stderr == ""


def test_version(workdir):
    res = run("--version", cwd=workdir)
    assert res.rc == EXIT_OK and re.match(r"^wanmeter \d+\.\d+\.\d+", res.stdout), str(res)
    assert report("--workload", "wan2-1-ci-tiny")["generator"]["version"] in res.stdout


# =============================================================================================
# 9. verify layers --reference
# =============================================================================================

# A small configuration: T2V-14B with one block on the ci-tiny workload (L = 256, Lt = 64),
# and a zero tolerance, so a one-FLOP difference fails.
REF_CONFIG = ("model: {num_layers: 1}\n"
              "verify_run:\n  accept_rel_diff:\n    default: 0\n")
REF_ARGS = ("--workload", "wan2-1-ci-tiny")


def make_reference(attention: bool = True, device: str = "meta") -> dict:
    m, L, Lt = T2V_14B, 256, 64
    flops = expected_module_flops(m, 1, L, Lt, attention=attention, layers=1)
    return {
        "schema_version": 1, "kind": "wanmeter-reference", "reference": "vendor",
        "device": device, "attention_counted": attention,
        "torch_version": "x", "diffusers_version": "y",
        "model": {"num_attention_heads": m.H, "attention_head_dim": 128, "in_channels": m.Cin,
                  "out_channels": m.Cout, "text_dim": m.Dt, "freq_dim": m.fd, "ffn_dim": m.F,
                  "num_layers": 1, "patch_size": [1, 2, 2]},
        "workload": {"batch_size": 1, "text_len": Lt, "num_frames": 4, "height": 256, "width": 256},
        "geometry": {"latent_frames": 1, "latent_height": 32, "latent_width": 32,
                     "dit_seq_len": L},
        "flops_per_forward": flops["transformer"],
        # FlopCounterMode keys are modules only: the functional '#sdpa' ops are inside attn1/attn2
        "modules": [{"id": i, "flops": f} for i, f in flops.items() if "#" not in i],
        "end2end": None,
    }


@pytest.fixture
def verify_layers(workdir):
    """Runs `verify layers --reference REF` on the small configuration; returns a callable
    taking the reference (dict, or raw text) and extra flags."""
    cfg = write(workdir / "one-layer.yaml", REF_CONFIG)

    def go(ref, *extra: str, name: str = "ref.json"):
        path = workdir / name
        if ref is not None:
            write(path, ref if isinstance(ref, str) else json.dumps(ref, indent=1))
        return run("verify", "layers", "--config", str(cfg), *REF_ARGS, "--reference", str(path),
                   *extra, cwd=workdir)

    return go


def row_of(stdout: str, module_id: str) -> str:
    rows = [ln for ln in stdout.splitlines() if ln.split(" ", 1)[0] == module_id]
    assert len(rows) == 1, f"no single row for {module_id} in:\n{stdout}"
    return rows[0]


def test_reference_fixture_is_consistent():
    ref = make_reference()
    top, per_block, fwd = closed_form(T2V_14B, 1, 256, 64, layers=1)
    assert ref["flops_per_forward"] == fwd == top + per_block
    assert len(ref["modules"]) == 26
    assert 6_462_617_681_920 == closed_form(T2V_14B, 1, 256, 64)[2]  # WAN_FACTS (a raw), 40 blocks


def test_verify_layers_exact_match(verify_layers):
    ref = make_reference()
    res = verify_layers(ref, "--all")
    assert res.rc == EXIT_OK, str(res)
    assert f"{len(ref['modules'])} modules compared, 0 failed" in res.stdout
    assert res.stdout.rstrip().endswith("PASS")
    assert "tolerance 0 " in res.stdout
    for m in ref["modules"]:
        row = row_of(res.stdout, m["id"])
        assert row.rstrip().endswith("pass") and row.count(f"{m['flops']:,}") == 2, row


def test_verify_layers_exact_match_without_all(verify_layers):
    res = verify_layers(make_reference())
    assert res.rc == EXIT_OK, str(res)
    assert ", 0 failed," in res.stdout


def test_verify_layers_one_flop_off_fails(verify_layers):
    ref = make_reference()
    target = "transformer.blocks.0.ffn.net.2"
    for m in ref["modules"]:
        if m["id"] == target:
            m["flops"] += 1
    res = verify_layers(ref)
    assert res.rc == EXIT_VERIFY, str(res)
    assert row_of(res.stdout, target).rstrip().endswith("FAIL")
    assert "1 failed" in res.stdout and res.stdout.rstrip().endswith("FAIL")
    assert res.stderr == ""


def test_verify_layers_tolerance_applies(workdir):
    """With the built-in 5% ceiling a one-FLOP difference passes and a 6% one does not."""
    loose = write(workdir / "loose.yaml", "model: {num_layers: 1}\n")
    target = "transformer.proj_out"
    for bump, code in ((1, EXIT_OK), (None, EXIT_VERIFY)):
        ref = make_reference()
        for m in ref["modules"]:
            if m["id"] == target:
                m["flops"] = m["flops"] + 1 if bump else m["flops"] * 100 // 106
        write(workdir / "r.json", json.dumps(ref))
        res = run("verify", "layers", "--config", str(loose), *REF_ARGS, "--reference",
                  str(workdir / "r.json"), cwd=workdir)
        assert res.rc == code, str(res)
        assert "tolerance 0.05" in res.stdout


def test_verify_layers_extra_reference_id_fails(verify_layers):
    ref = make_reference()
    extra = "transformer.blocks.0.attn1.to_qkv"
    ref["modules"].append({"id": extra, "flops": 123})
    res = verify_layers(ref, "--all")
    assert res.rc == EXIT_VERIFY, str(res)
    assert "no analytic module" in row_of(res.stdout, extra)
    assert res.stdout.rstrip().endswith("FAIL")


def test_verify_layers_id_missing_from_reference_fails(verify_layers):
    ref = make_reference()
    ref["modules"] = [m for m in ref["modules"] if m["id"] != "transformer.proj_out"]
    res = verify_layers(ref, "--all")
    assert res.rc == EXIT_VERIFY, str(res)
    assert "not in reference" in row_of(res.stdout, "transformer.proj_out")


@pytest.mark.parametrize("section,key,value", [
    ("geometry", "latent_frames", 2),
    ("geometry", "dit_seq_len", 512),
    ("geometry", "latent_width", 64),
    ("workload", "text_len", 512),
    ("workload", "batch_size", 2),
    ("model", "num_layers", 40),
    ("model", "ffn_dim", 8960),
])
def test_verify_layers_other_geometry_is_invalid_input(verify_layers, section, key, value):
    ref = make_reference()
    ref[section][key] = value
    res = verify_layers(ref)
    assert res.rc == EXIT_INPUT, str(res)
    line = res.error_line()
    assert key in line and "ref.json" in line
    assert res.stdout == ""


def test_verify_layers_reference_lacking_a_field(verify_layers):
    ref = make_reference()
    del ref["geometry"]["dit_seq_len"]
    res = verify_layers(ref)
    assert res.rc == EXIT_INPUT, str(res)
    assert "dit_seq_len" in res.error_line()


@pytest.mark.parametrize("text", [
    '{"schema_version": 1, "kind": "wanmeter-reference",',
    "",
    "[1, 2, 3]\n",
    '{"schema_version": 2, "kind": "wanmeter-reference"}\n',
    '{"schema_version": 1, "kind": "something-else"}\n',
], ids=["truncated", "empty", "array", "schema-2", "wrong-kind"])
def test_verify_layers_malformed_reference(verify_layers, text):
    res = verify_layers(text)
    assert res.rc == EXIT_INPUT, str(res)
    res.error_line()
    assert res.stdout == ""


def test_verify_layers_module_without_flops(verify_layers):
    ref = make_reference()
    ref["modules"][3] = {"id": ref["modules"][3]["id"], "flops": "12"}
    res = verify_layers(ref)
    assert res.rc == EXIT_INPUT, str(res)
    assert "modules[3]" in res.error_line()


def test_verify_layers_duplicate_module_id(verify_layers):
    ref = make_reference()
    ref["modules"].append(dict(ref["modules"][5]))
    res = verify_layers(ref)
    assert res.rc == EXIT_INPUT, str(res)
    assert ref["modules"][5]["id"] in res.error_line()


def test_verify_layers_missing_reference_file(verify_layers):
    res = verify_layers(None, name="does-not-exist.json")
    assert res.rc == EXIT_IO, str(res)
    assert "does-not-exist.json" in res.error_line()
    assert res.stdout == ""


def test_verify_layers_attention_mismatch(verify_layers):
    """A CPU reference (no attention) against mode torch is refused, naming --mode."""
    res = verify_layers(make_reference(attention=False, device="cpu"))
    assert res.rc == EXIT_INPUT, str(res)
    assert "--mode" in res.error_line()


def test_verify_layers_cpu_reference_matches_torch_cpu(verify_layers):
    ref = make_reference(attention=False, device="cpu")
    res = verify_layers(ref, "--device", "cpu")
    assert res.rc == EXIT_OK, str(res)
    assert "mode torch-cpu" in res.stdout and ", 0 failed," in res.stdout
    res2 = verify_layers(ref, "--mode", "torch-cpu")
    assert res2.rc == EXIT_OK, str(res2)


# ---- verify end2end --reference: the whole-generation total ---------------------------------


def with_end2end(ref: dict, flops: int, per_generation: int = 2, forwards_run: int = 2) -> dict:
    ref["end2end"] = {"method": "loop", "flops": flops, "forwards_run": forwards_run,
                      "forwards_per_generation": per_generation}
    return ref


def run_end2end(workdir: Path, ref: dict) -> Result:
    cfg = write(workdir / "one-layer.yaml", REF_CONFIG)
    write(workdir / "e2e.json", json.dumps(ref))
    return run("verify", "end2end", "--config", str(cfg), *REF_ARGS, "--reference",
               str(workdir / "e2e.json"), cwd=workdir)


def test_verify_end2end_exact(workdir):
    # ci-tiny: 1 step x 2 forwards (cfg) of the one-block model
    gen = 2 * closed_form(T2V_14B, 1, 256, 64, layers=1)[2]
    res = run_end2end(workdir, with_end2end(make_reference(), gen))
    assert res.rc == EXIT_OK, str(res)
    assert res.stdout.rstrip().endswith("PASS") and f"{gen:,}" in res.stdout


def test_verify_end2end_one_flop_off(workdir):
    gen = 2 * closed_form(T2V_14B, 1, 256, 64, layers=1)[2]
    res = run_end2end(workdir, with_end2end(make_reference(), gen + 1))
    assert res.rc == EXIT_VERIFY, str(res)
    assert res.stdout.rstrip().endswith("FAIL")
    # it fails by that one FLOP: the analytic side is the transformer's generation total
    row = next(ln for ln in res.stdout.splitlines() if f"{gen + 1:,}" in ln)
    assert f"{gen:,}" in row, row


def test_verify_end2end_other_forward_count(workdir):
    gen = 2 * closed_form(T2V_14B, 1, 256, 64, layers=1)[2]
    res = run_end2end(workdir, with_end2end(make_reference(), gen, per_generation=100))
    assert res.rc == EXIT_INPUT, str(res)
    assert "100" in res.error_line()


def test_verify_end2end_needs_a_measurement(workdir):
    res = run_end2end(workdir, make_reference())  # "end2end": null
    assert res.rc == EXIT_INPUT, str(res)
    assert "end2end" in res.error_line()


# =============================================================================================
# 10. Pipeline stages: --stages, native workloads, the other presets, --impl, --names
# =============================================================================================

T2V_STAGES = ("text_encoder", "transformer", "vae_decode")
TINY_STAGE_FLOPS = {s["id"]: s["flops"] for s in expected_t2v_stages_for("wan2.1-t2v-14b",
                                                                         "wan2-1-ci-tiny")}
STAGE_SUBSETS = [pytest.param(sub, id="+".join(sub)) for n in range(1, 4)
                 for sub in itertools.combinations(T2V_STAGES, n)]


@pytest.mark.parametrize("subset", STAGE_SUBSETS)
def test_stages_select_what_totals_flops_counts(subset):
    """--stages changes totals.flops (and the stages' `selected`) and nothing else: the modules,
    the per-stage numbers, the transformer totals and the parameters stay as they are."""
    full = report("--workload", "wan2-1-ci-tiny")
    rep = report("--workload", "wan2-1-ci-tiny", "--stages", ",".join(reversed(subset)))
    t = rep["totals"]
    assert t["flops"] == sum(TINY_STAGE_FLOPS[s] for s in subset)
    assert {s["id"]: s["selected"] for s in rep["stages"]} == {s: s in subset for s in T2V_STAGES}
    assert stage_rows(rep) == stage_rows(full)
    for key in ("transformer_flops", "flops_per_forward", "flops_per_step", "forwards", "params",
                "weight_bytes"):
        assert t[key] == full["totals"][key], key
    assert rep["modules"] == full["modules"]


@pytest.mark.parametrize("args", [
    pytest.param(("--workload", "wan2-1-720p-81f", "--stages", "transformer"), id="14b"),
    pytest.param(("--model", "wan2.1-t2v-1.3b", "--stages", "transformer", "--mode", "torch-cpu"),
                 id="1.3b-cpu"),
    pytest.param(("--model", "wan2.1-i2v-14b-480p", "--stages", "transformer"), id="i2v"),
    pytest.param(("--model", "wan2.2-t2v-a14b", "--stages", "transformer,transformer_2"), id="a14b"),
])
def test_stages_transformer_is_the_transformer_total(args):
    rep = report(*args)
    t = rep["totals"]
    assert t["flops"] == t["transformer_flops"]
    assert t["flops"] == sum(s["flops"] for s in rep["stages"] if s["selected"])
    assert {s["id"] for s in rep["stages"] if s["selected"]} <= set(DIT_STAGES)
    assert sum(m["calls"] * m["flops"] for st in DIT_STAGES for m in leaves(stage_modules(rep, st))) \
        == t["flops"]


def test_stages_a14b_one_expert():
    """Wan2.2 A14B: `--stages transformer` counts the high-noise expert alone, transformer_2 the
    low-noise one; transformer_flops is both either way."""
    a = report("--model", "wan2.2-t2v-a14b", "--stages", "transformer")
    b = report("--model", "wan2.2-t2v-a14b", "--stages", "transformer_2")
    fwd = 6_523_436_592_005_120  # WAN_FACTS §5.3: an A14B expert at 720p/81f, diffusers
    hi = high_noise_steps(50, 3.0, 0.875)
    assert hi == 16
    assert a["totals"]["flops"] == fwd * 2 * hi
    assert b["totals"]["flops"] == fwd * 2 * (50 - hi)
    assert a["totals"]["transformer_flops"] == b["totals"]["transformer_flops"] == fwd * 100


def test_stages_image_to_video_encoders():
    """I2V-14B at 480p: the image encoder (CLIP once) and the VAE encode (the F-frame
    conditioning video once, WAN_FACTS §7) selected alone."""
    rep = report("--model", "wan2.1-i2v-14b-480p", "--stages", "vae_encode,image_encoder")
    assert rep["totals"]["flops"] == clip_flops() + 163_749_702_205_440


# ---- native workloads and the other presets ---------------------------------------------------

def test_a_preset_alone_runs_its_native_workload():
    """`--model wan2.1-t2v-1.3b` alone runs its pipeline's defaults (480x832, 81 frames); the
    default model its own (720x1280); --workload still wins."""
    small = report("--model", "wan2.1-t2v-1.3b")
    assert small["workload"]["profile_id"] == "wan2-1-480p-81f"
    assert small["totals"]["flops_per_forward"] == 283_001_787_777_024  # WAN_FACTS §5.3
    assert stage_rows(small) == expected_t2v_stages_for("wan2.1-t2v-1.3b", "wan2-1-480p-81f")
    assert report()["workload"]["profile_id"] == "wan2-1-720p-81f"
    tiny = report("--model", "wan2.1-t2v-1.3b", "--workload", "wan2-1-ci-tiny")
    assert tiny["workload"]["profile_id"] == "wan2-1-ci-tiny"
    assert tiny["totals"]["flops_per_forward"] == closed_form(T2V_1_3B, 1, 256, 64)[2]


def dit_forward(d, F, N, L, Lt=512, Li=0, Cin=16, Cout=16, B=1, per_token_time=False,
                pos_embed=False) -> int:
    """WAN_FACTS §4 closed form with the I2V terms (Li image tokens through the image embedder
    and add_k/add_v + an image attention core in every block) and a per-token timestep (Lτ = L)."""
    Ltau = L if per_token_time else 1
    per_block = B * (12 * L * d * d + 4 * Lt * d * d + 4 * L * d * F + 4 * L * L * d + 4 * L * Lt * d)
    per_block += B * (4 * Li * d * d + 4 * L * Li * d)
    top = (2 * B * L * d * Cin * 4 + 2 * B * Ltau * (256 * d + 7 * d * d)
           + 2 * B * Lt * (4096 * d + d * d) + 2 * B * L * d * Cout * 4)
    if Li:
        top += 2 * B * Li * (1280 * 1280 + 1280 * d)
    return top + N * per_block


# Per preset on its native workload (mode torch): the transformer per forward and parameters
# (WAN_FACTS §2, §5.3), and each stage's (calls, flops per call). 720p/81f: L 75,600, latent
# 21x90x160; 480p/81f: L 32,760, latent 21x60x104.
VAE_ENC_480P, VAE_ENC_720P = 163_749_702_205_440, 381_674_137_190_400  # WAN_FACTS §7
VAE_DEC_480P, VAE_DEC_720P = VAE_DECODE_LITERALS[(21, 60, 104)][0], VAE_DECODE_LITERALS[(21, 90, 160)][0]
TE = umt5_flops(1, 512)
PRESETS = {
    "wan2.1-i2v-14b-480p": (1_686_376_373_944_320, 16_394_878_784, {
        "text_encoder": (2, TE), "image_encoder": (1, clip_flops()), "vae_encode": (1, VAE_ENC_480P),
        "transformer": (100, 1_686_376_373_944_320), "vae_decode": (1, VAE_DEC_480P)}),
    "wan2.1-i2v-14b-720p": (6_540_497_070_981_120, 16_394_878_784, {
        "text_encoder": (2, TE), "image_encoder": (1, clip_flops()), "vae_encode": (1, VAE_ENC_720P),
        "transformer": (100, 6_540_497_070_981_120), "vae_decode": (1, VAE_DEC_720P)}),
    # FLF2V: CLIP on the first and the last frame
    "wan2.1-flf2v-14b": (6_557_495_618_437_120, 16_395_536_704, {
        "text_encoder": (2, TE), "image_encoder": (1, clip_flops(images=2)),
        "vae_encode": (1, VAE_ENC_720P), "transformer": (100, 6_557_495_618_437_120),
        "vae_decode": (1, VAE_DEC_720P)}),
    "wan2.2-t2v-a14b": (6_523_436_592_005_120, 14_288_491_584, {
        "text_encoder": (2, TE), "transformer": (32, 6_523_436_592_005_120),
        "transformer_2": (68, 6_523_436_592_005_120), "vae_decode": (1, VAE_DEC_720P)}),
    # I2V-A14B: no CLIP (WAN_FACTS §2), 36 input channels
    "wan2.2-i2v-a14b": (dit_forward(5120, 13824, 40, 75600, Cin=36), 14_288_491_584 + 20 * 4 * 5120, {
        "text_encoder": (2, TE), "vae_encode": (1, VAE_ENC_720P),
        "transformer": (26, dit_forward(5120, 13824, 40, 75600, Cin=36)),
        "transformer_2": (74, dit_forward(5120, 13824, 40, 75600, Cin=36)),
        "vae_decode": (1, VAE_DEC_720P)}),
    # TI2V-5B: the Wan2.2 VAE decode (WAN_FACTS §7, derived) of a 121x704x1280 video
    "wan2.2-ti2v-5b": (520_654_782_726_144, 4_999_787_712, {
        "text_encoder": (2, TE), "transformer": (100, 520_654_782_726_144),
        "vae_decode": (1, 2_011_137_824_030_720)}),
}


def test_preset_formulas_reproduce_wan_facts():
    assert dit_forward(5120, 13824, 40, 32760, Li=257, Cin=36) == 1_686_376_373_944_320
    assert dit_forward(5120, 13824, 40, 75600, Li=257, Cin=36) == 6_540_497_070_981_120
    assert dit_forward(5120, 13824, 40, 75600) == 6_523_436_592_005_120
    assert dit_forward(5120, 13824, 40, 75600, Li=514, Cin=36) == 6_557_495_618_437_120  # FLF2V
    assert dit_forward(3072, 14336, 30, 27280, Cin=48, Cout=48, per_token_time=True) \
        == 520_654_782_726_144
    assert dit_forward(5120, 13824, 40, 75600, per_token_time=True) == 6_551_379_724_206_080
    # A14B at 50 steps: 16 high-noise steps (T2V, boundary 0.875), 13 (I2V, 0.9)
    assert (high_noise_steps(50, 3.0, 0.875), high_noise_steps(50, 3.0, 0.9)) == (16, 13)


@pytest.mark.parametrize("model", list(PRESETS))
def test_preset_native_generation(model):
    fwd, dit_params, stages = PRESETS[model]
    rep = report("--model", model)
    t = rep["totals"]
    assert t["flops_per_forward"] == fwd
    got = {s["id"]: (s["calls"], s["flops_per_call"]) for s in rep["stages"]}
    assert got == stages
    assert [s["id"] for s in rep["stages"]] == [s for s in STAGE_ORDER if s in stages]
    assert t["flops"] == sum(c * f for c, f in stages.values())
    st = stages_by_id(rep)
    for dit in DIT_STAGES:
        if dit in st:
            assert st[dit]["params"] == dit_params, dit
    other = {"text_encoder": UMT5_PARAMS, "vae_encode": VAE_ENCODE_PARAMS}
    if "wan2.2-ti2v" not in model:  # the Wan2.1 VAE
        other["vae_decode"] = VAE_DECODE_PARAMS
    assert {k: st[k]["params"] for k in other if k in st} == {k: v for k, v in other.items() if k in st}
    assert ("image_encoder" in rep["model"]) == ("image_encoder" in stages)
    if "image_encoder" in stages:  # CLIP ViT-H/14, WAN_FACTS §8
        ie = rep["model"]["image_encoder"]
        assert (ie["hidden_size"], ie["intermediate_size"], ie["num_hidden_layers"],
                ie["num_attention_heads"], ie["image_size"], ie["patch_size"]) == \
            (1280, 5120, 32, 16, 224, 14)
    if model in A14B_SCHEDULE:
        p = rep["model"]["pipeline"]
        assert (p["boundary_ratio"], p["flow_shift"]) == A14B_SCHEDULE[model]


# ---- --impl official ----------------------------------------------------------------------------

def test_impl_official_pads_the_text_to_512():
    """The official code pads every prompt to 512 tokens (WAN_FACTS §3, §9.2): the text encoder
    and the transformer's cross-attention see 512, whatever --text-len says."""
    dif = report("--workload", "wan2-1-ci-tiny")
    off = report("--workload", "wan2-1-ci-tiny", "--impl", "official")
    assert (dif["model"]["impl"], dif["workload"]["text_len"]) == ("diffusers", 64)
    assert (off["model"]["impl"], off["workload"]["text_len"]) == ("official", 512)
    assert off["totals"]["flops_per_forward"] == closed_form(T2V_14B, 1, 256, 512)[2]
    so, sd = stages_by_id(off), stages_by_id(dif)
    assert so["text_encoder"]["flops_per_call"] == umt5_flops(1, 512)
    assert so["vae_decode"] == sd["vae_decode"]
    assert report("--workload", "wan2-1-ci-tiny", "--impl", "official", "--text-len", "64") == off
    assert report("--workload", "wan2-1-ci-tiny", "--impl", "diffusers") == dif
    assert any("official" in n for n in off["notes"])


def test_impl_official_runs_31_clip_blocks():
    """The official I2V code runs CLIP's first 31 blocks (use_31_block, WAN_FACTS §9.5), diffusers
    all 32; nothing else of the image encoder changes."""
    dif = stages_by_id(report("--model", "wan2.1-i2v-14b-480p"))
    off = stages_by_id(report("--model", "wan2.1-i2v-14b-480p", "--impl", "official"))
    assert dif["image_encoder"]["flops_per_call"] == clip_flops(layers=32)
    assert off["image_encoder"]["flops_per_call"] == clip_flops(layers=31)


def test_impl_official_wan22_embeds_the_timestep_per_token():
    """Official Wan2.2 expands the timestep to every token (WAN_FACTS §9.4, §5.3): +27.9 TFLOP per
    A14B forward at 720p/81f; diffusers' A14B pipeline does not."""
    dif = report("--model", "wan2.2-t2v-a14b")
    off = report("--model", "wan2.2-t2v-a14b", "--impl", "official")
    assert dif["totals"]["flops_per_forward"] == 6_523_436_592_005_120
    assert off["totals"]["flops_per_forward"] == 6_551_379_724_206_080
    assert {s["id"]: s["flops_per_call"] for s in off["stages"] if s["id"] in DIT_STAGES} == \
        {"transformer": 6_551_379_724_206_080, "transformer_2": 6_551_379_724_206_080}


# ---- --names official ---------------------------------------------------------------------------

def official_ids(*args: str) -> dict[str, str]:
    rep = report(*args, "--names", "official")
    assert all("official_id" in m for m in rep["modules"])
    return {m["id"]: m["official_id"] for m in rep["modules"]}


def test_names_official_aliases_the_transformer():
    """WAN_FACTS §9.7: the official module names, as an alias next to the diffusers id."""
    base = report("--workload", "wan2-1-ci-tiny")
    named = report("--workload", "wan2-1-ci-tiny", "--names", "official")
    # ids, numbers and order do not change: official_id is only added
    assert [{k: v for k, v in m.items() if k != "official_id"} for m in named["modules"]] == base["modules"]
    assert named["totals"] == base["totals"] and named["stages"] == base["stages"]
    off = {m["id"]: m["official_id"] for m in named["modules"]}
    b, ce = "transformer.blocks.0", "transformer.condition_embedder"
    want = {
        "transformer": "model",
        f"{b}.attn1.to_q": "model.blocks.0.self_attn.q",
        f"{b}.attn1.to_k": "model.blocks.0.self_attn.k",
        f"{b}.attn1.to_v": "model.blocks.0.self_attn.v",
        f"{b}.attn1.to_out.0": "model.blocks.0.self_attn.o",
        f"{b}.attn1": "model.blocks.0.self_attn",
        f"{b}.attn2.to_q": "model.blocks.0.cross_attn.q",
        f"{b}.attn2.to_k": "model.blocks.0.cross_attn.k",
        f"{b}.attn2.to_out.0": "model.blocks.0.cross_attn.o",
        f"{b}.ffn.net.0.proj": "model.blocks.0.ffn.0",
        f"{b}.ffn.net.2": "model.blocks.0.ffn.2",
        "transformer.patch_embedding": "model.patch_embedding",
        "transformer.proj_out": "model.head.head",
        f"{ce}.time_embedder.linear_1": "model.time_embedding.0",
        f"{ce}.time_embedder.linear_2": "model.time_embedding.2",
        f"{ce}.time_proj": "model.time_projection.1",
        f"{ce}.text_embedder.linear_1": "model.text_embedding.0",
        f"{ce}.text_embedder.linear_2": "model.text_embedding.2",
    }
    assert {k: off.get(k) for k in want} == want
    # diffusers' norm2 (cross-attention LN) is the official norm3 and vice versa, in every block
    for i in range(40):
        assert off[f"transformer.blocks.{i}.norm2"] == f"model.blocks.{i}.norm3"
        assert off[f"transformer.blocks.{i}.norm3"] == f"model.blocks.{i}.norm2"
        assert off[f"transformer.blocks.{i}.norm1"] == f"model.blocks.{i}.norm1"
    # the table shows the official names
    res = run("report", "--workload", "wan2-1-ci-tiny", "--names", "official", "--depth", "3",
              "--no-artifacts")
    assert res.rc == EXIT_OK, str(res)
    assert re.search(r"^\s+self_attn\s", res.stdout, re.M) and not re.search(r"^\s+attn1\s", res.stdout, re.M)


def test_names_official_experts_and_image_embedder():
    a14b = official_ids("--model", "wan2.2-t2v-a14b")
    assert a14b["transformer.blocks.0.attn1.to_q"] == "high_noise_model.blocks.0.self_attn.q"
    assert a14b["transformer_2.blocks.39.attn2.to_out.0"] == "low_noise_model.blocks.39.cross_attn.o"
    assert a14b["transformer_2.blocks.5.norm2"] == "low_noise_model.blocks.5.norm3"
    i2v = official_ids("--model", "wan2.1-i2v-14b-480p")
    ie = "transformer.condition_embedder.image_embedder"
    want = {
        "transformer.blocks.0.attn2.add_k_proj": "model.blocks.0.cross_attn.k_img",
        "transformer.blocks.0.attn2.add_v_proj": "model.blocks.0.cross_attn.v_img",
        f"{ie}.norm1": "model.img_emb.proj.0", f"{ie}.ff.net.0.proj": "model.img_emb.proj.1",
        f"{ie}.ff.net.2": "model.img_emb.proj.3", f"{ie}.norm2": "model.img_emb.proj.4",
    }
    assert {k: i2v.get(k) for k in want} == want


@pytest.mark.parametrize("model", ["wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-vace-1.3b"])
def test_names_official_renames_only_what_the_official_code_names_differently(model):
    """The DiT's renames stay in the DiT: the VAE's and the encoders' norm2 are not the DiT's
    cross-attention norm, and only the transformer's own output projection is `head.head`."""
    rep = report("--model", model, "--names", "official")
    stage_of = module_stages(rep)
    swapped = [(m["id"], m["official_id"]) for m in rep["modules"]
               if stage_of[m["id"]] not in DIT_STAGES
               and m["id"].rsplit(".", 1)[-1] in ("norm2", "norm3")
               and m["official_id"].rsplit(".", 1)[-1] != m["id"].rsplit(".", 1)[-1]]
    assert not swapped, swapped[:4]
    heads = [m["id"] for m in rep["modules"] if m["official_id"].endswith("head.head")]
    assert heads == ["transformer.proj_out"], heads[:4]
