#!/usr/bin/env python3
"""wanmeter reference harness: measure the Wan DiT with torch's FlopCounterMode.

The C cost model (wanmeter) runs this script as a subprocess, then compares its own
per-module numbers with the measured ones by module id. This file only measures: it
builds the model from its config (no weights), runs forward passes under
``torch.utils.flop_counter.FlopCounterMode`` and writes what the counter reports.
It contains no cost formulas.

    python reference/wanmeter_reference.py --request REQ.json --out OUT.json \
        [--device meta|cpu|cuda] [--reference vendor|mirror] [--end2end]

References: ``vendor`` is diffusers' ``WanTransformer3DModel``; ``mirror`` is our own
re-implementation (wanmeter_mirrors.py) with the same module names.

What FlopCounterMode counts (torch 2.13.0): only ops in its registry - mm, addmm,
bmm, baddbmm, convolution and the CUDA SDPA kernels - using their argument shapes
(2 FLOPs per multiply-add). Everything else (norms, activations, softmax, RoPE,
elementwise math) counts 0. Each counted op is charged to every module whose
forward is running, so a parent's count includes its children. How attention shows
up depends on the device:

* meta: SDPA has no fused kernel for meta tensors, so it runs the math path, which
  the counter sees as two ``aten.bmm`` (scores and weighted sum).
* cuda: a fused SDPA kernel, counted under its ``aten._scaled_dot_product_*`` key.
* cpu: ``aten._scaled_dot_product_flash_attention_for_cpu``, which is not in the
  torch 2.13.0 registry, so attention counts 0. The output records this as
  ``attention_counted`` (measured from the op keys, not assumed).

Exit codes: 0 success; 3 bad input (one line ``wanmeter-reference: <what>: <why>``
on stderr, no output written); 4 device unavailable; 5 the measurement is not
self-consistent (e.g. the root module's total differs from the global total).
"""

import time

_T_START = time.perf_counter()  # "total" wall time includes importing torch

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# diffusers dispatches attention through DIFFUSERS_ATTN_BACKEND; only the default "native"
# backend calls F.scaled_dot_product_attention, whose counting this harness documents. Pin it
# so a setting in the caller's environment cannot change what is measured.
ATTENTION_BACKEND = "native"
os.environ["DIFFUSERS_ATTN_BACKEND"] = ATTENTION_BACKEND

SCHEMA_VERSION = 1
DEVICES = ("meta", "cpu", "cuda")
REFERENCES = ("vendor", "mirror")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
VENDOR_CLASS = "WanTransformer3DModel"

# CLIP ViT-H/14 at 224x224 gives 16x16 patches + CLS = 257 tokens per image.
CLIP_IMAGE_TOKENS = 257
# diffusers' WanAttnProcessor takes the last 512 context tokens as text and the rest
# as image tokens, so image-conditioned models only work with 512 text tokens.
I2V_TEXT_TOKENS = 512
# Largest parameter memory this harness materialises on the CPU (the machine has 24 GB).
CPU_PARAM_BYTES_LIMIT = 12 * 10**9
DEFAULT_LOOP_MAX_FORWARDS = 4

# The diffusers config.json fields of the transformer, all required in a request.
MODEL_FIELDS = (
    "patch_size",
    "num_attention_heads",
    "attention_head_dim",
    "in_channels",
    "out_channels",
    "text_dim",
    "freq_dim",
    "ffn_dim",
    "num_layers",
    "cross_attn_norm",
    "qk_norm",
    "eps",
    "image_dim",
    "added_kv_proj_dim",
    "rope_max_seq_len",
    "pos_embed_seq_len",
)


class HarnessError(Exception):
    """An error reported as one line ``wanmeter-reference: <what>: <why>`` with an exit code."""

    def __init__(self, code: int, what: str, why: str):
        super().__init__(f"{what}: {why}")
        self.code = code


def bad_input(what: str, why: str) -> HarnessError:
    return HarnessError(3, what, why)


def inconsistent(what: str, why: str) -> HarnessError:
    return HarnessError(5, what, why)


# ---------------------------------------------------------------------------
# Request validation


def _require(section: dict, key: str, where: str):
    if key not in section:
        raise bad_input(f"{where}.{key}", "missing")
    return section[key]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true/false are not integers


def _int(section: dict, key: str, where: str, minimum: int = 1, nullable: bool = False):
    value = _require(section, key, where)
    if value is None and nullable:
        return None
    if not _is_int(value):
        raise bad_input(f"{where}.{key}", f"expected an integer{' or null' if nullable else ''}, got {value!r}")
    if value < minimum:
        raise bad_input(f"{where}.{key}", f"must be >= {minimum}, got {value}")
    return value


def _bool(section: dict, key: str, where: str) -> bool:
    value = _require(section, key, where)
    if not isinstance(value, bool):
        raise bad_input(f"{where}.{key}", f"expected true or false, got {value!r}")
    return value


def _object(section: dict, key: str, where: str) -> dict:
    value = _require(section, key, where)
    if not isinstance(value, dict):
        raise bad_input(f"{where}.{key}", "expected a JSON object")
    return value


def validate_model(model: dict) -> dict:
    """Check the diffusers config; return the constructor kwargs (keys starting with '_' dropped)."""
    where = "model"
    class_name = model.get("_class_name", VENDOR_CLASS)
    if class_name != VENDOR_CLASS:
        raise bad_input("model._class_name", f"only {VENDOR_CLASS} is supported, got {class_name!r}")
    unknown = sorted(k for k in model if not k.startswith("_") and k not in MODEL_FIELDS)
    if unknown:
        raise bad_input(f"model.{unknown[0]}", "not a WanTransformer3DModel config field")

    patch = _require(model, "patch_size", where)
    if not (isinstance(patch, list) and len(patch) == 3 and all(_is_int(p) and p >= 1 for p in patch)):
        raise bad_input("model.patch_size", f"expected 3 positive integers, got {patch!r}")
    for key in ("num_attention_heads", "attention_head_dim", "in_channels", "text_dim", "freq_dim", "ffn_dim",
                "rope_max_seq_len"):
        _int(model, key, where)
    _int(model, "num_layers", where, minimum=0)
    for key in ("out_channels", "image_dim", "added_kv_proj_dim", "pos_embed_seq_len"):
        _int(model, key, where, nullable=True)
    _bool(model, "cross_attn_norm", where)
    qk_norm = _require(model, "qk_norm", where)
    if qk_norm is not None and not isinstance(qk_norm, str):
        raise bad_input("model.qk_norm", f"expected a string or null, got {qk_norm!r}")
    eps = _require(model, "eps", where)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise bad_input("model.eps", f"expected a positive number, got {eps!r}")
    if model["attention_head_dim"] % 2:
        raise bad_input("model.attention_head_dim", "RoPE needs an even head dimension")
    if (model["image_dim"] is None) != (model["added_kv_proj_dim"] is None):
        raise bad_input("model.added_kv_proj_dim", "image_dim and added_kv_proj_dim must both be set or both be null")
    if model["pos_embed_seq_len"] is not None:
        if model["image_dim"] is None:
            raise bad_input("model.pos_embed_seq_len", "only meaningful with image_dim")
        if model["pos_embed_seq_len"] != 2 * CLIP_IMAGE_TOKENS:
            raise bad_input("model.pos_embed_seq_len", f"expected {2 * CLIP_IMAGE_TOKENS} (two CLIP images)")
    return {k: v for k, v in model.items() if not k.startswith("_")}


def validate_workload(workload: dict) -> None:
    where = "workload"
    for key in ("batch_size", "num_frames", "height", "width", "num_inference_steps", "text_len", "forwards_per_step"):
        _int(workload, key, where)
    _bool(workload, "cfg", where)
    dtype = _require(workload, "dtype", where)
    if dtype not in DTYPES:
        raise bad_input("workload.dtype", f"expected one of {', '.join(DTYPES)}, got {dtype!r}")


def latent_geometry(model: dict, pipeline: dict, workload: dict) -> dict:
    """Latent shape as diffusers WanPipeline.prepare_latents makes it (no frame rounding)."""
    temporal = _int(pipeline, "vae_scale_factor_temporal", "pipeline")
    spatial = _int(pipeline, "vae_scale_factor_spatial", "pipeline")
    frames = (workload["num_frames"] - 1) // temporal + 1
    height = workload["height"] // spatial
    width = workload["width"] // spatial
    grid = [n // p for n, p in zip((frames, height, width), model["patch_size"])]
    for name, n, size in zip(("frames", "height", "width"), (frames, height, width), grid):
        if size < 1:
            raise bad_input("workload", f"latent {name} {n} is smaller than the patch size {model['patch_size']}")
    if max(grid) > model["rope_max_seq_len"]:
        raise bad_input("workload", f"token grid {grid} exceeds model.rope_max_seq_len {model['rope_max_seq_len']}")
    image_tokens = 0
    if model["image_dim"] is not None:
        if workload["text_len"] != I2V_TEXT_TOKENS:
            raise bad_input("workload.text_len", f"image-conditioned models need exactly {I2V_TEXT_TOKENS} text tokens")
        image_tokens = model["pos_embed_seq_len"] or CLIP_IMAGE_TOKENS
    return {
        "latent_frames": frames,
        "latent_height": height,
        "latent_width": width,
        "dit_seq_len": grid[0] * grid[1] * grid[2],
        "image_tokens": image_tokens,
    }


def load_request(path: str, device: str | None, reference: str | None, end2end: bool) -> dict:
    """Read and validate the request; return everything the run needs."""
    try:
        with open(path, encoding="utf-8") as f:
            request = json.load(f)
    except OSError as e:
        raise bad_input("--request", e.strerror or str(e)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad_input("--request", f"not valid JSON ({e})") from None
    if not isinstance(request, dict):
        raise bad_input("request", "expected a JSON object")
    if request.get("schema_version") != SCHEMA_VERSION:
        raise bad_input("request.schema_version", f"expected {SCHEMA_VERSION}, got {request.get('schema_version')!r}")

    device = device or request.get("device")
    if device not in DEVICES:
        raise bad_input("device", f"expected one of {', '.join(DEVICES)}, got {device!r}")
    reference = reference or request.get("reference")
    if reference not in REFERENCES:
        raise bad_input("reference", f"expected one of {', '.join(REFERENCES)}, got {reference!r}")
    model_id = _require(request, "model_id", "request")
    if not isinstance(model_id, str):
        raise bad_input("request.model_id", "expected a string")

    model = _object(request, "model", "request")
    config = validate_model(model)
    workload = _object(request, "workload", "request")
    validate_workload(workload)
    pipeline = _object(request, "pipeline", "request")
    geometry = latent_geometry(model, pipeline, workload)

    e2e_request = request.get("end2end")
    if e2e_request is not None and not isinstance(e2e_request, dict):
        raise bad_input("request.end2end", "expected a JSON object or null")
    loop_max = DEFAULT_LOOP_MAX_FORWARDS
    if e2e_request is not None and "loop_max_forwards" in e2e_request:
        loop_max = _int(e2e_request, "loop_max_forwards", "end2end", minimum=0)

    return {
        "reference": reference,
        "device": device,
        "model_id": model_id,
        "model": model,
        "config": config,
        "workload": workload,
        "geometry": geometry,
        "end2end": end2end,
        "loop_max_forwards": loop_max,
    }


# ---------------------------------------------------------------------------
# Model and inputs


def model_class(reference: str) -> type:
    if reference == "vendor":
        from diffusers import WanTransformer3DModel

        return WanTransformer3DModel
    from wanmeter_mirrors import WanMirrorDiT

    return WanMirrorDiT


def build_model(cls: type, config: dict, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """Build on meta, cast like ``from_pretrained(torch_dtype=dtype)``, then materialise on device.

    Weights are never initialised (meta) or are zero-filled (cpu/cuda): counts depend only
    on shapes, and zeros keep real runs free of NaN/denormal surprises.
    """
    try:
        with torch.device("meta"):
            model = cls(**config)
    except (TypeError, ValueError, AssertionError, RuntimeError) as e:
        raise bad_input("model", f"{cls.__name__} rejected the config: {e}") from None
    model.eval()

    # diffusers keeps some parameters in fp32 when loading in half precision; mimic that
    # per parameter (calling model.to(dtype) would cast them too and diffusers warns).
    keep_fp32 = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, param in model.named_parameters():
        if param.is_floating_point():
            param.data = param.data.to(torch.float32 if keep_fp32 & set(name.split(".")) else dtype)

    if device == "meta":
        return model
    nbytes = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    limit = CPU_PARAM_BYTES_LIMIT if device == "cpu" else torch.cuda.get_device_properties(0).total_memory
    if nbytes > limit:
        raise bad_input(
            "model",
            f"{param_count(model):,} parameters need {nbytes / 1e9:.1f} GB on {device}, above the limit of "
            f"{limit / 1e9:.1f} GB; use a smaller config or --device meta",
        )
    model = model.to_empty(device=device)
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.zero_()
    return model


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_inputs(run: dict, device: str, dtype: torch.dtype) -> dict:
    """Model inputs as WanPipeline passes them (latents and embeddings in the model dtype)."""
    cfg, wl, geo = run["config"], run["workload"], run["geometry"]
    batch = wl["batch_size"]
    inputs = {
        "hidden_states": torch.zeros(
            batch, cfg["in_channels"], geo["latent_frames"], geo["latent_height"], geo["latent_width"],
            device=device, dtype=dtype,
        ),
        "timestep": torch.zeros(batch, device=device),
        "encoder_hidden_states": torch.zeros(batch, wl["text_len"], cfg["text_dim"], device=device, dtype=dtype),
    }
    if cfg["image_dim"] is not None:
        # I2V: one CLIP image per sample, [B, 257, image_dim]. FLF2V (pos_embed_seq_len):
        # first and last frame, laid out [2B, 257, image_dim] as WanImageToVideoPipeline does.
        images = 2 if cfg["pos_embed_seq_len"] else 1
        inputs["encoder_hidden_states_image"] = torch.zeros(
            images * batch, CLIP_IMAGE_TOKENS, cfg["image_dim"], device=device, dtype=dtype
        )
    return inputs


# ---------------------------------------------------------------------------
# Measurement


def counted_forwards(model: torch.nn.Module, inputs: dict, calls: int) -> tuple[FlopCounterMode, torch.Tensor]:
    """Run ``calls`` forwards inside one FlopCounterMode; return the counter and the last output."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for _ in range(calls):
            output = model(**inputs, return_dict=False)[0]
    return counter, output


def module_entries(model: torch.nn.Module, counter: FlopCounterMode) -> list[dict]:
    """Per-module counts with ids ``transformer[.<path>]``, in forward (named_modules) order.

    The counter names the root module by its class name and its descendants by
    ``<class>.<attribute path>``; only modules that were running while a counted op
    ran appear (containers such as ``blocks`` or norms never do).
    """
    root = type(model).__name__
    counts = counter.get_flop_counts()
    total = counter.get_total_flops()
    if root not in counts:
        raise inconsistent("flop counts", f"no entry for the root module {root}")
    root_total = sum(counts[root].values())
    if root_total != total:
        raise inconsistent("flop counts", f"root module total {root_total} != global total {total}")

    order = {("transformer." + name if name else "transformer"): i for i, (name, _) in enumerate(model.named_modules())}
    entries = []
    for key, ops in counts.items():
        if key == "Global":
            continue
        first, _, rest = key.partition(".")
        if first != root:
            raise inconsistent("flop counts", f"module key {key!r} is not under the root {root}")
        ops = {str(op): int(n) for op, n in ops.items()}
        entries.append({"id": "transformer." + rest if rest else "transformer", "flops": sum(ops.values()), "ops": ops})
    entries.sort(key=lambda e: (0, order[e["id"]], "") if e["id"] in order else (1, 0, e["id"]))
    return entries


def attention_counted(entries: list[dict]) -> bool:
    """True if some attention module's count includes an attention-core op (bmm or SDPA)."""
    return any(
        op == "aten.bmm" or op.startswith("aten._scaled_dot_product")
        for e in entries
        if e["id"].rsplit(".", 1)[-1] in ("attn1", "attn2")
        for op in e["ops"]
    )


def measure_end2end(model: torch.nn.Module, inputs: dict, run: dict) -> dict:
    """FLOPs of all transformer calls of one generation.

    A step is ``forwards_per_step`` separate calls with batch B (with CFG: cond, then
    uncond, as WanPipeline does). Counts depend only on shapes, so every call reuses
    the same inputs. Up to ``loop_max_forwards`` calls are run in full; beyond that one
    step is run and multiplied by the number of steps.
    """
    steps = run["workload"]["num_inference_steps"]
    per_step = run["workload"]["forwards_per_step"]
    total_forwards = steps * per_step
    if total_forwards <= run["loop_max_forwards"]:
        method, forwards_run = "loop", total_forwards
        counter, _ = counted_forwards(model, inputs, forwards_run)
        flops = counter.get_total_flops()
    else:
        method, forwards_run = "scaled_step", per_step
        counter, _ = counted_forwards(model, inputs, forwards_run)
        flops = counter.get_total_flops() * steps
    if flops % total_forwards:
        raise inconsistent("end2end", f"{flops} FLOPs do not split evenly over {total_forwards} forwards")
    return {
        "method": method,
        "forwards_run": forwards_run,
        "forwards_per_generation": total_forwards,
        "flops": flops,
        "flops_per_forward": flops // total_forwards,
    }


def measure(run: dict) -> dict:
    device, dtype = run["device"], DTYPES[run["workload"]["dtype"]]
    if device == "cuda" and not torch.cuda.is_available():
        raise HarnessError(4, "device", "cuda requested but torch.cuda.is_available() is false")

    cls = model_class(run["reference"])  # importing diffusers takes seconds: not part of "build"
    t0 = time.perf_counter()
    model = build_model(cls, run["config"], device, dtype)
    inputs = make_inputs(run, device, dtype)
    t1 = time.perf_counter()
    counter, output = counted_forwards(model, inputs, 1)
    t2 = time.perf_counter()
    entries = module_entries(model, counter)

    geo, cfg = run["geometry"], run["config"]
    out_channels = cfg["out_channels"] or cfg["in_channels"]
    expected = [run["workload"]["batch_size"], out_channels] + [
        n // p * p for n, p in zip((geo["latent_frames"], geo["latent_height"], geo["latent_width"]), cfg["patch_size"])
    ]
    if list(output.shape) != expected:
        raise inconsistent("output", f"shape {list(output.shape)}, expected {expected}")

    end2end, t3 = None, t2
    if run["end2end"]:
        end2end = measure_end2end(model, inputs, run)
        t3 = time.perf_counter()

    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "wanmeter-reference",
        "reference": run["reference"],
        "device": device,
        "attention_counted": attention_counted(entries),
        "torch_version": torch.__version__,
        "diffusers_version": importlib.metadata.version("diffusers"),
        "python_version": platform.python_version(),
        "attention_backend": ATTENTION_BACKEND,
        "model_id": run["model_id"],
        "model": run["model"],
        "workload": run["workload"],
        "geometry": geo,
        "output_shape": list(output.shape),
        "params": param_count(model),
        "flops_per_forward": counter.get_total_flops(),
        "modules": entries,
        "end2end": end2end,
        "wall_seconds": {
            "build": round(t1 - t0, 3),
            "forward": round(t2 - t1, 3),
            "end2end": round(t3 - t2, 3) if end2end else None,
            "total": round(time.perf_counter() - _T_START, 3),
        },
    }


# ---------------------------------------------------------------------------
# CLI


def write_atomically(path: str, document: dict) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode 0666 minus umask, like open()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise bad_input("usage", message)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(description="Measure the Wan DiT's FLOPs per module with torch FlopCounterMode.")
    parser.add_argument("--request", required=True, help="request JSON written by wanmeter")
    parser.add_argument("--out", required=True, help="output JSON (written atomically)")
    parser.add_argument("--device", help="meta | cpu | cuda (overrides the request)")
    parser.add_argument("--reference", help="vendor | mirror (overrides the request)")
    parser.add_argument(
        "--end2end",
        action="store_true",
        help="also count one whole generation (loop up to the request's end2end.loop_max_forwards, "
        f"default {DEFAULT_LOOP_MAX_FORWARDS}, else scale one step)",
    )
    try:
        args = parser.parse_args(argv)
        out_dir = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(out_dir):
            raise bad_input("--out", f"directory {out_dir} does not exist")
        run = load_request(args.request, args.device, args.reference, args.end2end)
        document = measure(run)
        write_atomically(args.out, document)
    except HarnessError as e:
        message = str(e).replace("\n", " ")
        print(f"wanmeter-reference: {message}", file=sys.stderr)
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
