"""Tests of the PyTorch reference harness (wanmeter_reference.py) and the mirror model.

Most runs call the harness's ``main()`` in-process (importing torch and diffusers once);
a few go through the real CLI as a subprocess to check exit codes and stderr.
"""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

REFERENCE_DIR = Path(__file__).resolve().parents[1]
SCRIPT = REFERENCE_DIR / "wanmeter_reference.py"
sys.path.insert(0, str(REFERENCE_DIR))

import wanmeter_mirrors as mirrors  # noqa: E402
import wanmeter_reference as harness  # noqa: E402

# A tiny T2V config: d = 2 heads x 32 = 64. The workload is deliberately non-square and
# batched: 9 frames -> T = 3 latent frames, 64x48 px -> 8x6 latent -> 4x3 tokens per frame.
TINY_MODEL = {
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
TINY_REQUEST = {
    "schema_version": 1,
    "reference": "vendor",
    "device": "meta",
    "model_id": "tiny",
    "model": TINY_MODEL,
    "pipeline": {"vae_scale_factor_temporal": 4, "vae_scale_factor_spatial": 8},
    "workload": {
        "profile_id": "tiny",
        "batch_size": 2,
        "num_frames": 9,
        "height": 64,
        "width": 48,
        "num_inference_steps": 2,
        "text_len": 7,
        "cfg": True,
        "forwards_per_step": 2,
        "dtype": "bf16",
    },
    "end2end": {"loop_max_forwards": 4},
}
B, D, F_FFN, LT = 2, 64, 128, 7
L = 3 * 4 * 3  # video tokens


def tiny_request(**model_changes) -> dict:
    request = copy.deepcopy(TINY_REQUEST)
    request["model"].update(model_changes)
    return request


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """run(request, *cli_args) -> parsed output of the harness; identical runs are done once."""
    cache = {}

    def _run(request: dict, *args: str) -> dict:
        key = (json.dumps(request, sort_keys=True), args)
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


# (a) vendor on meta ---------------------------------------------------------


def test_vendor_meta_counts(run):
    out = run(TINY_REQUEST)
    modules = by_id(out)
    assert out["kind"] == "wanmeter-reference" and out["device"] == "meta" and out["reference"] == "vendor"
    assert out["geometry"] == {"latent_frames": 3, "latent_height": 8, "latent_width": 6, "dit_seq_len": L,
                               "image_tokens": 0, "timestep_tokens": 1}
    assert out["output_shape"] == [B, 4, 3, 8, 6]

    root = out["modules"][0]
    assert root["id"] == "transformer"
    assert root["flops"] == out["flops_per_forward"] == sum(root["ops"].values())
    assert modules["transformer.blocks.0.attn1.to_q"]["ops"] == {"aten.addmm": 2 * B * L * D * D}
    assert modules["transformer.blocks.1.attn2.to_k"]["ops"] == {"aten.addmm": 2 * B * LT * D * D}
    assert modules["transformer.blocks.0.ffn.net.0.proj"]["flops"] == 2 * B * L * D * F_FFN
    assert modules["transformer.patch_embedding"]["ops"] == {"aten.convolution": 2 * B * L * D * 4 * 4}
    # Attention cores run as two bmm on meta: QK^T and PV, 2*B*Lq*Lk*d each.
    assert modules["transformer.blocks.0.attn1"]["ops"]["aten.bmm"] == 4 * B * L * L * D
    assert modules["transformer.blocks.0.attn2"]["ops"]["aten.bmm"] == 4 * B * L * LT * D
    assert out["attention_counted"] is True
    assert out["params"] == 145104

    # Every number is an exact JSON integer and every module's flops is the sum of its ops.
    for m in out["modules"]:
        assert all(type(v) is int for v in m["ops"].values()) and m["flops"] == sum(m["ops"].values())


def test_module_order_follows_the_model(run):
    ids = [m["id"] for m in run(TINY_REQUEST)["modules"]]
    assert len(ids) == len(set(ids))
    expected_order = ["transformer", "transformer.patch_embedding", "transformer.condition_embedder",
                      "transformer.blocks.0", "transformer.blocks.0.attn1.to_q", "transformer.blocks.1",
                      "transformer.proj_out"]
    assert [ids.index(i) for i in expected_order] == sorted(ids.index(i) for i in expected_order)
    # Containers that never run an op of their own are absent, as are parameter-free pieces.
    assert "transformer.blocks" not in ids and "transformer.blocks.0.attn1.to_out" not in ids
    assert not any(i.endswith((".norm1", ".norm_q", ".rope")) for i in ids)


# (b) mirror == vendor ---------------------------------------------------------


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_mirror_matches_vendor_t2v(run, device):
    vendor = run(TINY_REQUEST, "--device", device)
    mirror = run(TINY_REQUEST, "--device", device, "--reference", "mirror")
    assert mirror["reference"] == "mirror"
    assert [m["id"] for m in mirror["modules"]] == [m["id"] for m in vendor["modules"]]
    assert mirror["modules"] == vendor["modules"]  # same flops and same op keys per module
    assert mirror["params"] == vendor["params"]
    assert mirror["output_shape"] == vendor["output_shape"]


@pytest.mark.parametrize("flf2v", [False, True], ids=["i2v", "flf2v"])
def test_mirror_matches_vendor_image_conditioned(run, flf2v):
    request = tiny_request(image_dim=40, added_kv_proj_dim=64, in_channels=9,
                           pos_embed_seq_len=514 if flf2v else None)
    request["workload"]["text_len"] = 512
    vendor, mirror = run(request), run(request, "--reference", "mirror")
    assert vendor["geometry"]["image_tokens"] == (514 if flf2v else 257)
    assert {m["id"]: m["flops"] for m in mirror["modules"]} == {m["id"]: m["flops"] for m in vendor["modules"]}
    li = vendor["geometry"]["image_tokens"]
    assert by_id(vendor)["transformer.blocks.0.attn2.add_k_proj"]["flops"] == 2 * B * li * D * D
    # diffusers slices image/text tokens out of one context tensor; with B > 1 the slices
    # are not contiguous, so its linears show up as aten.mm (the mirror's as aten.addmm).
    assert by_id(vendor)["transformer.blocks.0.attn2.to_k"]["ops"] == {"aten.mm": 2 * B * 512 * D * D}


@pytest.mark.parametrize("variant", ["t2v", "i2v", "flf2v"])
def test_mirror_computes_the_same_function(variant):
    """Load a randomly initialised diffusers model's weights into the mirror: same outputs."""
    from diffusers import WanTransformer3DModel

    config = {k: v for k, v in TINY_MODEL.items() if not k.startswith("_")}
    images = {"t2v": 0, "i2v": 1, "flf2v": 2}[variant]
    if images:
        config.update(image_dim=40, added_kv_proj_dim=64, in_channels=9, pos_embed_seq_len=514 if images == 2 else None)
    torch.manual_seed(0)
    vendor = WanTransformer3DModel(**config).eval()
    with torch.no_grad():  # perturb everything: zero-initialised biases/embeddings would hide errors
        for p in vendor.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    mirror = mirrors.WanMirrorDiT(**config).eval()
    mirror.load_state_dict(vendor.state_dict(), strict=True)

    inputs = {
        "hidden_states": torch.randn(B, config["in_channels"], 3, 8, 6),
        "timestep": torch.tensor([999.0, 17.5]),
        "encoder_hidden_states": torch.randn(B, 512 if images else LT, 96),
    }
    if images:
        inputs["encoder_hidden_states_image"] = torch.randn(B * images, 257, 40)
    with torch.no_grad():
        expected = vendor(**inputs, return_dict=False)[0]
        actual = mirror(**inputs, return_dict=False)[0]
    assert actual.shape == expected.shape == (B, 4, 3, 8, 6)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_mirror_pieces_standalone():
    """Each mirror piece counts what its shapes say, under its own class name."""
    with torch.device("meta"):
        x = torch.empty(B, L, D)
        context = torch.empty(B, LT, D)
        rope = mirrors.MirrorRotaryEmbedding(D // 2, 1024)(3, 4, 3, torch.device("meta"))
        time6 = torch.empty(B, 6, D)
        pieces = {
            "MirrorFeedForward": (mirrors.MirrorFeedForward(D, F_FFN), (x,)),
            "MirrorSelfAttention": (mirrors.MirrorSelfAttention(D, 2, 1e-6), (x, rope)),
            "MirrorCrossAttention": (mirrors.MirrorCrossAttention(D, 2, 1e-6), (x, context)),
            "MirrorBlock": (mirrors.MirrorBlock(D, F_FFN, 2, True, 1e-6), (x, context, time6, rope)),
        }
    mlp = {"aten.addmm": 4 * B * L * D * F_FFN}
    self_attn = {"aten.addmm": 8 * B * L * D * D, "aten.bmm": 4 * B * L * L * D}
    cross_attn = {"aten.addmm": 4 * B * L * D * D + 4 * B * LT * D * D, "aten.bmm": 4 * B * L * LT * D}
    expected = {
        "MirrorFeedForward": mlp,
        "MirrorSelfAttention": self_attn,
        "MirrorCrossAttention": cross_attn,
        "MirrorBlock": {op: mlp.get(op, 0) + self_attn[op] + cross_attn[op] for op in self_attn},
    }
    for name, (module, args) in pieces.items():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = module(*args)
        assert out.shape == x.shape
        counts = {k: {str(op): n for op, n in v.items()} for k, v in counter.get_flop_counts().items()}
        assert counts[name] == expected[name], name
    assert counts["MirrorBlock.ffn.net.0.proj"] == {"aten.addmm": 2 * B * L * D * F_FFN}
    assert counts["MirrorBlock.attn1.to_out.0"] == {"aten.addmm": 2 * B * L * D * D}


# (c) cpu: attention is not counted --------------------------------------------


def test_cpu_misses_exactly_the_attention_cores(run):
    meta = run(TINY_REQUEST)
    cpu = run(TINY_REQUEST, "--device", "cpu")
    assert cpu["device"] == "cpu" and cpu["attention_counted"] is False
    assert cpu["output_shape"] == meta["output_shape"] and cpu["params"] == meta["params"]
    meta_bmm = meta["modules"][0]["ops"]["aten.bmm"]
    assert meta["flops_per_forward"] - cpu["flops_per_forward"] == meta_bmm > 0
    cpu_modules = by_id(cpu)
    for m in meta["modules"]:
        assert cpu_modules[m["id"]]["flops"] == m["flops"] - m["ops"].get("aten.bmm", 0), m["id"]
        assert "aten.bmm" not in cpu_modules[m["id"]]["ops"]
    # Linears keep aten.addmm on the CPU too.
    assert cpu_modules["transformer.blocks.0.attn1.to_q"]["ops"] == {"aten.addmm": 2 * B * L * D * D}


def test_cpu_refuses_models_that_do_not_fit(tmp_path, capsys):
    request = tiny_request(num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40,
                           text_dim=4096, freq_dim=256, in_channels=16, out_channels=16)
    (tmp_path / "req.json").write_text(json.dumps(request))
    code = harness.main(["--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json"),
                         "--device", "cpu"])
    assert code == 3
    assert "14,288,491,584 parameters" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "req.json"]


# (d) end2end ------------------------------------------------------------------


def test_end2end_loop_and_scaled_step_agree(run):
    loop = run(TINY_REQUEST, "--end2end")["end2end"]
    scaled_request = copy.deepcopy(TINY_REQUEST)
    scaled_request["end2end"]["loop_max_forwards"] = 0
    scaled = run(scaled_request, "--end2end")
    per_forward = scaled["flops_per_forward"]

    assert loop["method"] == "loop" and loop["forwards_run"] == 4
    assert scaled["end2end"]["method"] == "scaled_step" and scaled["end2end"]["forwards_run"] == 2
    for e2e in (loop, scaled["end2end"]):
        assert e2e["forwards_per_generation"] == 4
        assert e2e["flops"] == 4 * per_forward and e2e["flops_per_forward"] == per_forward
    assert run(TINY_REQUEST)["end2end"] is None  # only with --end2end


# (e) CLI: success and bad input -------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_cli_success_writes_only_the_output(tmp_path):
    (tmp_path / "req.json").write_text(json.dumps(TINY_REQUEST))
    result = cli("--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "req.json"]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["flops_per_forward"] == out["modules"][0]["flops"]
    assert out["torch_version"] == torch.__version__
    assert set(out["wall_seconds"]) == {"build", "forward", "end2end", "total"}


def _without(section: str, key: str) -> dict:
    request = copy.deepcopy(TINY_REQUEST)
    del request[section][key]
    return request


def _with(section: str, key: str, value) -> dict:
    request = copy.deepcopy(TINY_REQUEST)
    request[section][key] = value
    return request


BAD_REQUESTS = {
    "unknown-device": ({**TINY_REQUEST, "device": "tpu"}, "device"),
    "missing-model-field": (_without("model", "ffn_dim"), "model.ffn_dim"),
    "negative-frames": (_with("workload", "num_frames", -4), "workload.num_frames"),
    "unknown-model-field": (_with("model", "window_size", [-1, -1]), "model.window_size"),
    "bool-as-int": (_with("workload", "batch_size", True), "workload.batch_size"),
    "bad-dtype": (_with("workload", "dtype", "int8"), "workload.dtype"),
    "i2v-short-text": (tiny_request(image_dim=40, added_kv_proj_dim=64), "workload.text_len"),
}


@pytest.mark.parametrize("name", ["unknown-device", "missing-model-field", "negative-frames"])
def test_cli_bad_request(tmp_path, name):
    request, what = BAD_REQUESTS[name]
    (tmp_path / "req.json").write_text(json.dumps(request))
    result = cli("--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json"))
    assert result.returncode == 3
    assert result.stderr.startswith(f"wanmeter-reference: {what}: ") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "req.json"]


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_request_in_process(tmp_path, capsys, name):
    request, what = BAD_REQUESTS[name]
    (tmp_path / "req.json").write_text(json.dumps(request))
    assert harness.main(["--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json")]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"wanmeter-reference: {what}: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "req.json"]


@pytest.mark.parametrize(
    "args, what",
    [
        (["--device", "gpu"], "device"),
        (["--reference", "official"], "reference"),
        (["--bogus"], "usage"),
    ],
)
def test_bad_command_line(tmp_path, capsys, args, what):
    (tmp_path / "req.json").write_text(json.dumps(TINY_REQUEST))
    code = harness.main(["--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json"), *args])
    assert code == 3
    assert capsys.readouterr().err.startswith(f"wanmeter-reference: {what}: ")


def test_unreadable_requests(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    for path in (tmp_path / "broken.json", tmp_path / "missing.json"):
        assert harness.main(["--request", str(path), "--out", str(tmp_path / "out.json")]) == 3
        assert capsys.readouterr().err.startswith("wanmeter-reference: --request: ")
    assert not (tmp_path / "out.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_unavailable_exits_4(tmp_path):
    (tmp_path / "req.json").write_text(json.dumps(TINY_REQUEST))
    result = cli("--request", str(tmp_path / "req.json"), "--out", str(tmp_path / "out.json"), "--device", "cuda")
    assert result.returncode == 4
    assert result.stderr.startswith("wanmeter-reference: device: cuda")
    assert not (tmp_path / "out.json").exists()
