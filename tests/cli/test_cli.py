"""Black-box tests of the wanmeter command line (DESIGN.md §4 CLI contract, §5 report.json).

Expected numbers never come from wanmeter itself. They are either the independently derived
values of /work/shared/WAN_FACTS.md (§2 parameters, §5.1/§5.3 FLOPs, copied below as literals)
or computed here from the closed forms of WAN_FACTS §4, written out in this file
(`closed_form`, `expected_module_flops`). `test_closed_forms_reproduce_wan_facts` ties the two
together, so a slip in either is caught without running the binary.

Sections:
  1. the independent model (formulas + WAN_FACTS literals)
  2. golden numbers per standard workload and mode
  3. report invariants seen from the outside
  4. frame counts that are not 4n+1
  5. determinism and artifacts
  6. bad inputs: exact exit code, one `wanmeter: <what>: <why> (<fix>)` line, nothing written
  7. config overrides (--config YAML)
  8. verify core, list, --help
  9. verify layers --reference with hand-built reference JSON
"""

from __future__ import annotations

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


# =============================================================================================
# 2. Golden numbers
# =============================================================================================


@pytest.mark.parametrize("model,workload,mode", GOLDEN_CASES)
def test_golden_totals(model, workload, mode):
    w = WORKLOADS[workload]
    rep = report(*wl_args(model, workload, mode))
    t = rep["totals"]
    fwd = golden(model, workload, mode)
    assert t["flops_per_forward"] == fwd
    assert t["forwards"] == w.steps * 2
    assert t["flops_per_step"] == fwd * 2
    assert t["flops"] == fwd * w.steps * 2
    assert t["params"] == MODELS[model].params
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
    """Every module of the report against the formula tree: counted modules (and #sdpa) equal
    their formula, everything else (norms, activations, RoPE, residuals) counts 0, and every
    module FlopCounterMode would report is present."""
    exp = expected_for(model, workload, mode)
    mods = modules_by_id(report(*wl_args(model, workload, mode)))
    missing = sorted(set(exp) - set(mods))
    assert not missing, f"modules missing from the report: {missing[:10]}"
    wrong = {i: (m["flops"], exp.get(i, 0)) for i, m in mods.items() if m["flops"] != exp.get(i, 0)}
    assert not wrong, f"(report, expected) differ for {len(wrong)} modules, e.g. {list(wrong.items())[:5]}"


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
    }
    assert {k: mods[k]["flops"] for k in want} == want


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
    }
    assert {k: mods[k]["flops"] for k in want} == want


@pytest.mark.parametrize("model", list(MODELS))
def test_params_per_module(model):
    m = MODELS[model]
    rep = report("--model", model, "--workload", "wan2-1-ci-tiny")
    mods = modules_by_id(rep)
    d, F = m.d, m.F
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
    }
    assert {k: mods[k]["params"] for k in want} == want
    assert rep["totals"]["params"] == m.params


@pytest.mark.parametrize("model", list(MODELS))
def test_module_ids_follow_diffusers_paths(model):
    m = MODELS[model]
    rep = report("--model", model, "--workload", "wan2-1-ci-tiny")
    ids = [x["id"] for x in rep["modules"]]
    mods = modules_by_id(rep)
    assert ids[0] == "transformer"
    assert rep["modules"][0]["parent"] is None
    for i in range(m.N):
        for sub in ("", ".attn1.to_out.0", ".attn2.to_out.0", ".ffn.net.0.proj", ".ffn.net.2",
                    ".attn1#sdpa", ".attn2#sdpa"):
            assert f"transformer.blocks.{i}{sub}" in mods
    assert f"transformer.blocks.{m.N}" not in mods
    # containers FlopCounterMode never sees (ModuleLists) and the class-name root are absent
    for absent in ("transformer.blocks", "transformer.blocks.0.attn1.to_out", "WanTransformer3DModel"):
        assert absent not in mods
    assert all(i == "transformer" or i.startswith(("transformer.", "transformer#")) for i in ids)
    # every parent is an earlier module, and a child's id extends its parent's id
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
    for key in ("id", "variant", "source"):
        assert key in rep["model"]
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
    for key in ("flops", "flops_per_forward", "params", "weight_bytes", "peak_activation_bytes"):
        assert isinstance(rep["totals"][key], int), key
    assert "modules" in rep["hotspots"] and "categories" in rep["hotspots"]
    assert any("kv_cache" in n for n in rep["notes"])
    w = rep["workload"]
    assert (w["batch_size"], w["num_frames"], w["height"], w["width"], w["num_inference_steps"],
            w["text_len"], w["cfg"], w["forwards_per_step"], w["dtype"]) == \
        (1, 4, 256, 256, 1, 64, True, 2, "bf16")


def test_torch_cpu_mode_says_attention_is_omitted():
    rep = report("--workload", "wan2-1-ci-tiny", "--mode", "torch-cpu")
    assert any("attention" in n.lower() for n in rep["notes"])
    assert modules_by_id(rep)["transformer.blocks.0.attn1#sdpa"]["flops"] == 0


# =============================================================================================
# 3. Report invariants
# =============================================================================================

INVARIANT_CASES = [
    pytest.param(("--workload", "wan2-1-ci-tiny"), id="14b-ci-tiny"),
    pytest.param(("--workload", "wan2-1-720p-81f"), id="14b-720p-81f"),
    pytest.param(("--workload", "wan2-1-ci-tiny", "--mode", "full"), id="14b-ci-tiny-full"),
    pytest.param(("--workload", "wan2-1-512p", "--mode", "torch-cpu", "--batch", "2"),
                 id="14b-512p-cpu-b2"),
    pytest.param(("--model", "wan2.1-t2v-1.3b", "--workload", "wan2-1-480p-81f"), id="1.3b-480p"),
]


def children_of(rep: dict) -> dict[str, list[dict]]:
    kids: dict[str, list[dict]] = {}
    for m in rep["modules"]:
        if m["parent"] is not None:
            kids.setdefault(m["parent"], []).append(m)
    return kids


@pytest.mark.parametrize("args", INVARIANT_CASES)
def test_leaf_sum_equals_flops_per_forward(args):
    rep = report(*args)
    parents = {m["parent"] for m in rep["modules"]}
    leaves = [m for m in rep["modules"] if m["id"] not in parents]
    assert len(leaves) > 100
    assert sum(m["flops"] for m in leaves) == rep["totals"]["flops_per_forward"]
    roots = [m for m in rep["modules"] if m["parent"] is None]
    assert [r["flops"] for r in roots] == [rep["totals"]["flops_per_forward"]]


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
def test_calls_are_forwards_per_generation(args):
    """In T2V every module runs once per forward: calls = steps x forwards per step."""
    rep = report(*args)
    w = rep["workload"]
    forwards = w["num_inference_steps"] * (2 if w["cfg"] else 1)
    assert rep["totals"]["forwards"] == forwards
    assert {m["calls"] for m in rep["modules"]} == {forwards}


def test_totals_linear_in_batch():
    one = report("--workload", "wan2-1-480p-81f")
    three = report("--workload", "wan2-1-480p-81f", "--batch", "3")
    assert three["workload"]["batch_size"] == 3
    assert three["totals"]["flops_per_forward"] == 3 * 1_678_370_283_192_320
    assert three["totals"]["flops"] == 3 * one["totals"]["flops"]
    assert three["totals"]["params"] == one["totals"]["params"]
    m1, m3 = modules_by_id(one), modules_by_id(three)
    assert all(m3[i]["flops"] == 3 * m1[i]["flops"] for i in m1)


def test_totals_linear_in_steps():
    fwd = 6_462_617_681_920
    for steps in (1, 7, 50):
        rep = report("--workload", "wan2-1-ci-tiny", "--steps", str(steps))
        assert rep["totals"]["flops_per_forward"] == fwd
        assert rep["totals"]["flops"] == fwd * steps * 2
        assert rep["workload"]["num_inference_steps"] == steps


def test_no_cfg_halves_generation_and_keeps_forward():
    cfg = report("--workload", "wan2-1-720p-81f")
    nocfg = report("--workload", "wan2-1-720p-81f", "--no-cfg")
    assert nocfg["totals"]["flops_per_forward"] == cfg["totals"]["flops_per_forward"]
    assert 2 * nocfg["totals"]["flops"] == cfg["totals"]["flops"]
    assert nocfg["totals"]["flops"] == 6_523_436_592_005_120 * 50
    assert (nocfg["workload"]["cfg"], nocfg["workload"]["forwards_per_step"]) == (False, 1)
    # --cfg after --no-cfg turns it back on (last flag wins)
    again = report("--workload", "wan2-1-720p-81f", "--no-cfg", "--cfg")
    assert again["totals"]["flops"] == cfg["totals"]["flops"]


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
    assert rep["totals"]["params"] == T2V_14B.params_top + 2 * T2V_14B.params_per_block
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
    assert rep["totals"]["params"] == T2V_1_3B.params_top + 4 * T2V_1_3B.params_per_block
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
                "--run-id", "--out-dir", "--no-artifacts"]),
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


def test_verify_end2end_other_forward_count(workdir):
    gen = 2 * closed_form(T2V_14B, 1, 256, 64, layers=1)[2]
    res = run_end2end(workdir, with_end2end(make_reference(), gen, per_generation=100))
    assert res.rc == EXIT_INPUT, str(res)
    assert "100" in res.error_line()


def test_verify_end2end_needs_a_measurement(workdir):
    res = run_end2end(workdir, make_reference())  # "end2end": null
    assert res.rc == EXIT_INPUT, str(res)
    assert "end2end" in res.error_line()
