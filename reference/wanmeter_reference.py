#!/usr/bin/env python3
"""wanmeter reference harness: measure Wan pipeline stages with torch's FlopCounterMode.

The C cost model (wanmeter) runs this script as a subprocess, then compares its own
per-module numbers with the measured ones by module id. This file only measures: it
builds a model from its config (no weights), runs it under
``torch.utils.flop_counter.FlopCounterMode`` the way the diffusers pipeline calls it and
writes what the counter reports. It contains no cost formulas.

    python reference/wanmeter_reference.py --request REQ.json --out OUT.json \
        [--device meta|cpu|cuda] [--reference vendor|mirror] [--end2end]

The request's ``stage`` picks what is measured (default ``transformer``): ``transformer``,
``transformer_2`` (diffusers' WanTransformer3DModel or WanVACETransformer3DModel),
``text_encoder`` (transformers' UMT5EncoderModel), ``image_encoder`` (CLIPVisionModel),
``vae_decode`` / ``vae_encode`` (AutoencoderKLWan.decode / .encode); see wanmeter_stages.py
and docs/reference-stages.md. Module ids are the pipeline's attribute paths
(``transformer.blocks.0.attn1.to_q``, ``vae.decoder.conv_in``, ...).

References: ``vendor`` is the real diffusers/transformers class; ``mirror`` is our own
re-implementation of the DiT (wanmeter_mirrors.py) with the same module names, for the
transformer stages only.

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
  ``attention_counted`` (measured from the op keys, not assumed). This holds for every
  stage that uses SDPA: the DiT, the VAE's mid-block attention, and umT5 and CLIP, which
  transformers 5 runs through SDPA by default.

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

# diffusers dispatches attention through DIFFUSERS_ATTN_BACKEND; only the default "native"
# backend calls F.scaled_dot_product_attention, whose counting this harness documents. Pin it
# so a setting in the caller's environment cannot change what is measured.
ATTENTION_BACKEND = "native"
os.environ["DIFFUSERS_ATTN_BACKEND"] = ATTENTION_BACKEND

from collections import Counter  # noqa: E402
from typing import Callable  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from wanmeter_stages import (  # noqa: E402
    DTYPES,
    STAGES,
    TRANSFORMER_STAGES,
    VENDOR_CLASS,
    HarnessError,
    Stage,
    _bool,
    _int,
    _object,
    _require,
    bad_input,
    image_encoder_stage,
    inconsistent,
    per_token_timestep,
    text_encoder_stage,
    transformer_class,
    transformer_stage,
    vae_stage,
    validate_transformer,
)

SCHEMA_VERSION = 1
DEVICES = ("meta", "cpu", "cuda")
REFERENCES = ("vendor", "mirror")

# Largest parameter memory this harness materialises on the CPU (the machine has 24 GB).
CPU_PARAM_BYTES_LIMIT = 12 * 10**9
DEFAULT_LOOP_MAX_FORWARDS = 4


# ---------------------------------------------------------------------------
# Request validation


def validate_workload(workload: dict) -> None:
    where = "workload"
    for key in ("batch_size", "num_frames", "height", "width", "num_inference_steps", "text_len", "forwards_per_step"):
        _int(workload, key, where)
    _bool(workload, "cfg", where)
    dtype = _require(workload, "dtype", where)
    if dtype not in DTYPES:
        raise bad_input("workload.dtype", f"expected one of {', '.join(DTYPES)}, got {dtype!r}")


def stage_config(request: dict, stage: str) -> tuple[dict, str]:
    """The config dict a stage needs and where it came from (for error messages).

    ``configs.<key>`` is the new place; the top-level ``model`` stays accepted as the transformer
    config. ``transformer_2`` falls back to the transformer config (the two A14B experts have
    identical configs).
    """
    configs = request.get("configs")
    if configs is not None and not isinstance(configs, dict):
        raise bad_input("request.configs", "expected a JSON object")
    configs = configs or {}
    for key, value in configs.items():
        if not isinstance(value, dict):
            raise bad_input(f"configs.{key}", "expected a JSON object")
    if stage in TRANSFORMER_STAGES:
        legacy = request.get("model")
        if legacy is not None and not isinstance(legacy, dict):
            raise bad_input("request.model", "expected a JSON object")
        if stage == "transformer_2" and "transformer_2" in configs:
            return configs["transformer_2"], "configs.transformer_2"
        if "transformer" in configs:
            if legacy is not None and legacy != configs["transformer"]:
                raise bad_input("request.model", "differs from configs.transformer (give one of them)")
            return configs["transformer"], "configs.transformer"
        if legacy is None:
            raise bad_input("configs.transformer", "missing (or give the transformer config as request.model)")
        return legacy, "model"
    key = "vae" if stage.startswith("vae_") else stage
    if key not in configs:
        raise bad_input(f"configs.{key}", "missing")
    return configs[key], f"configs.{key}"


def build_stage(request: dict, stage_name: str, reference: str, workload: dict) -> Stage:
    raw, where = stage_config(request, stage_name)
    dtype = DTYPES[workload["dtype"]]
    if stage_name in TRANSFORMER_STAGES:
        config = validate_transformer(raw, where)
        pipeline = _object(request, "pipeline", "request")
        per_token = per_token_timestep(pipeline, workload)
        class_name = raw.get("_class_name", VENDOR_CLASS)
        if reference == "mirror" and (class_name != VENDOR_CLASS or per_token):
            raise bad_input("reference", f"the mirror models {VENDOR_CLASS} with one timestep per sample only; "
                                         "use the vendor reference")
        cls = transformer_class(reference, class_name)  # importing diffusers takes seconds: not part of "build"
        return transformer_stage(stage_name, raw, config, pipeline, workload, dtype, cls, per_token)
    if reference == "mirror":
        raise bad_input("reference", f"the mirror covers only the transformer stages, not {stage_name}; "
                                     "use the vendor reference")
    if stage_name == "text_encoder":
        return text_encoder_stage(raw, workload, dtype)
    if stage_name == "image_encoder":
        transformer = (request.get("configs") or {}).get("transformer") or request.get("model")
        return image_encoder_stage(raw, workload, transformer if isinstance(transformer, dict) else None)
    pipeline = request.get("pipeline")
    if pipeline is not None and not isinstance(pipeline, dict):
        raise bad_input("request.pipeline", "expected a JSON object")
    return vae_stage(stage_name, raw, pipeline, workload)


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

    stage_name = request.get("stage", "transformer")
    if stage_name not in STAGES:
        raise bad_input("request.stage", f"expected one of {', '.join(STAGES)}, got {stage_name!r}")
    device = device or request.get("device")
    if device not in DEVICES:
        raise bad_input("device", f"expected one of {', '.join(DEVICES)}, got {device!r}")
    reference = reference or request.get("reference")
    if reference not in REFERENCES:
        raise bad_input("reference", f"expected one of {', '.join(REFERENCES)}, got {reference!r}")
    model_id = _require(request, "model_id", "request")
    if not isinstance(model_id, str):
        raise bad_input("request.model_id", "expected a string")

    workload = _object(request, "workload", "request")
    validate_workload(workload)
    stage = build_stage(request, stage_name, reference, workload)

    e2e_request = request.get("end2end")
    if e2e_request is not None and not isinstance(e2e_request, dict):
        raise bad_input("request.end2end", "expected a JSON object or null")
    e2e_request = e2e_request or {}
    loop_max = DEFAULT_LOOP_MAX_FORWARDS
    if "loop_max_forwards" in e2e_request:
        loop_max = _int(e2e_request, "loop_max_forwards", "end2end", minimum=0)
    calls_per_generation = stage.calls_per_generation
    if e2e_request.get("calls_per_generation") is not None:
        if stage_name in TRANSFORMER_STAGES:
            raise bad_input("end2end.calls_per_generation", "the transformer's calls are steps x forwards_per_step")
        calls_per_generation = _int(e2e_request, "calls_per_generation", "end2end")

    return {
        "reference": reference,
        "device": device,
        "model_id": model_id,
        "stage": stage,
        "workload": workload,
        "end2end": end2end,
        "loop_max_forwards": loop_max,
        "calls_per_generation": calls_per_generation,
    }


# ---------------------------------------------------------------------------
# Model


def build_model(stage: Stage, device: str) -> tuple[torch.nn.Module, dict]:
    """Build on meta, cast like ``from_pretrained(torch_dtype=dtype)``, then materialise on device.

    Weights are never initialised (meta) or are zero-filled (cpu/cuda): counts depend only
    on shapes, and zeros keep real runs free of NaN/denormal surprises. Also returns the
    parameter counts ``{"params": n, "params_by_child": {id: n}}``.
    """
    try:
        with torch.device("meta"):
            model = stage.factory()
    except (TypeError, ValueError, AssertionError, RuntimeError, KeyError) as e:
        raise bad_input(f"configs.{stage.attr}", f"the model rejected the config: {e}") from None
    model.eval()

    # diffusers and transformers keep some parameters in fp32 when loading in half precision;
    # mimic that per parameter (calling model.to(dtype) would cast them too).
    keep_fp32 = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, param in model.named_parameters():
        if param.is_floating_point():
            param.data = param.data.to(torch.float32 if keep_fp32 & set(name.split(".")) else stage.dtype)
    if stage.after_build:
        stage.after_build(model)
    # Count parameters before materialising: to_empty() unties tied weights (umT5's shared
    # embedding and encoder.embed_tokens), which would change the count.
    params = {"params": param_count(model),
              "params_by_child": {f"{stage.attr}.{name}": param_count(child) for name, child in model.named_children()}}

    if device == "meta":
        return model, params
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
    return model, params


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class PipelineRoot(torch.nn.Module):
    """The module the measured call goes through: it holds the stage's module(s) under their
    diffusers pipeline attribute names.

    FlopCounterMode names the first module it sees by its class (``PipelineRoot``) and every
    other module by its attribute path below it, so ``PipelineRoot.vae.decoder.conv_in`` is the
    pipeline's ``vae.decoder.conv_in`` even though ``vae.decode()`` never runs a forward of the
    VAE itself. Two experts held as ``transformer`` and ``transformer_2`` keep apart names, where
    calling each as its own root would merge both under ``WanTransformer3DModel``.
    """

    def __init__(self, modules: dict, call: Callable):
        super().__init__()
        for attr, module in modules.items():
            self.add_module(attr, module)
        self._stage_call = call

    def forward(self, inputs: dict):
        return self._stage_call(self, inputs)


def stage_root(stage: Stage, module: torch.nn.Module) -> PipelineRoot:
    return PipelineRoot({stage.attr: module}, lambda root, inputs: stage.call(getattr(root, stage.attr), inputs))


# ---------------------------------------------------------------------------
# Measurement


def counted_calls(root: torch.nn.Module, inputs: dict, calls: int) -> tuple[FlopCounterMode, object, Counter]:
    """Run the stage ``calls`` times inside one FlopCounterMode.

    Returns the counter, the last output and how often each module's forward ran (by module).
    """
    module_calls = Counter()
    hook = torch.nn.modules.module.register_module_forward_pre_hook(lambda mod, args: module_calls.update((mod,)))
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            for _ in range(calls):
                output = root(inputs)
    finally:
        hook.remove()
    return counter, output, module_calls


def flop_counts_by_id(root: torch.nn.Module, counter: FlopCounterMode) -> dict:
    """FlopCounterMode's counts keyed by pipeline path: ``{id: {op: flops}}`` without the root."""
    root_name = type(root).__name__
    counts = counter.get_flop_counts()
    total = counter.get_total_flops()
    if root_name not in counts:
        raise inconsistent("flop counts", f"no entry for the root module {root_name}")
    root_total = sum(counts[root_name].values())
    if root_total != total:
        raise inconsistent("flop counts", f"root module total {root_total} != global total {total}")
    by_id = {}
    for key, ops in counts.items():
        if key in ("Global", root_name):
            continue
        if not key.startswith(root_name + "."):
            raise inconsistent("flop counts", f"module key {key!r} is not under the root {root_name}")
        by_id[key[len(root_name) + 1:]] = {str(op): int(n) for op, n in ops.items()}
    return by_id


def module_entries(root: torch.nn.Module, stage: Stage, counter: FlopCounterMode, calls: Counter) -> list[dict]:
    """Per-module counts with ids ``<pipeline attribute>.<path>``, in named_modules order.

    Only modules that were running while a counted op ran appear (containers such as
    ``blocks`` or norms never do). ``calls`` is how many times the module's forward ran.
    """
    named = dict(root.named_modules(remove_duplicate=False))
    order = {name: i for i, name in enumerate(named)}
    total = counter.get_total_flops()
    entries = []
    for mod_id, ops in flop_counts_by_id(root, counter).items():
        if mod_id != stage.attr and not mod_id.startswith(stage.attr + "."):
            raise inconsistent("flop counts", f"module {mod_id!r} is not under {stage.attr}")
        module = named.get(mod_id)
        entries.append({"id": mod_id, "flops": sum(ops.values()), "ops": ops,
                        "calls": calls.get(module, 0) if module is not None else 0})
    entries.sort(key=lambda e: (0, order[e["id"]], "") if e["id"] in order else (1, 0, e["id"]))

    by_id = {e["id"]: e for e in entries}
    if stage.module_is_called:
        if stage.attr not in by_id or by_id[stage.attr]["flops"] != total:
            raise inconsistent("flop counts", f"{stage.attr} does not hold the global total {total}")
    else:
        # vae.decode()/encode() are not forward: the VAE has no entry of its own, and its direct
        # children (decoder, post_quant_conv, ...) must add up to the total.
        children = sum(e["flops"] for e in entries if e["id"].count(".") == stage.attr.count(".") + 1)
        if stage.attr in by_id or children != total:
            raise inconsistent("flop counts", f"the children of {stage.attr} add up to {children}, not {total}")
    return entries


def attention_counted(entries: list[dict]) -> bool:
    """True if some module's count includes an attention-core op (bmm or SDPA)."""
    return any(op == "aten.bmm" or op.startswith("aten._scaled_dot_product") for e in entries for op in e["ops"])


def measure_end2end(root: torch.nn.Module, inputs: dict, run: dict) -> dict:
    """FLOPs of all calls of this stage in one generation.

    Transformer stages: a step is ``forwards_per_step`` separate calls with batch B (with CFG:
    cond, then uncond, as the pipelines do); up to ``loop_max_forwards`` calls are run in full,
    beyond that one step is run and multiplied by the number of steps. Other stages: the
    request's ``end2end.calls_per_generation`` calls (default: text_encoder 2 with CFG - prompt
    and negative prompt - else 1), run in a loop up to ``loop_max_forwards``, else one call
    scaled. Counts depend only on shapes, so every call reuses the same inputs.
    """
    stage = run["stage"]
    if stage.name in TRANSFORMER_STAGES:
        steps = run["workload"]["num_inference_steps"]
        per_step = run["workload"]["forwards_per_step"]
    else:
        steps, per_step = run["calls_per_generation"], 1
    total_forwards = steps * per_step
    if total_forwards <= run["loop_max_forwards"]:
        method, forwards_run = "loop", total_forwards
        counter, _, _ = counted_calls(root, inputs, forwards_run)
        flops = counter.get_total_flops()
    else:
        method, forwards_run = "scaled_step", per_step
        counter, _, _ = counted_calls(root, inputs, forwards_run)
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


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def measure(run: dict) -> dict:
    device, stage = run["device"], run["stage"]
    if device == "cuda" and not torch.cuda.is_available():
        raise HarnessError(4, "device", "cuda requested but torch.cuda.is_available() is false")

    t0 = time.perf_counter()
    module, params = build_model(stage, device)
    root = stage_root(stage, module)
    inputs = stage.make_inputs(device)
    t1 = time.perf_counter()
    counter, output, calls = counted_calls(root, inputs, 1)
    t2 = time.perf_counter()
    entries = module_entries(root, stage, counter, calls)

    if list(output.shape) != stage.expected_output_shape:
        raise inconsistent("output", f"shape {list(output.shape)}, expected {stage.expected_output_shape}")

    end2end, t3 = None, t2
    if run["end2end"]:
        end2end = measure_end2end(root, inputs, run)
        t3 = time.perf_counter()

    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "wanmeter-reference",
        "stage": stage.name,
        "reference": run["reference"],
        "device": device,
        "attention_counted": attention_counted(entries),
        "torch_version": torch.__version__,
        "diffusers_version": _version("diffusers"),
        "transformers_version": _version("transformers"),
        "python_version": platform.python_version(),
        "attention_backend": ATTENTION_BACKEND,
        **stage.extra,
        "model_id": run["model_id"],
        "model": stage.request_config,
        "workload": run["workload"],
        "geometry": stage.geometry,
        "call": stage.call_text,
        "inputs": stage.input_shapes(inputs),
        "dtype": str(stage.dtype).removeprefix("torch."),
        "output_shape": list(output.shape),
        **params,
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
    parser = _Parser(description="Measure a Wan pipeline stage's FLOPs per module with torch FlopCounterMode.")
    parser.add_argument("--request", required=True, help="request JSON written by wanmeter")
    parser.add_argument("--out", required=True, help="output JSON (written atomically)")
    parser.add_argument("--device", help="meta | cpu | cuda (overrides the request)")
    parser.add_argument("--reference", help="vendor | mirror (overrides the request)")
    parser.add_argument(
        "--end2end",
        action="store_true",
        help="also count one whole generation: all calls of the stage (loop up to the request's "
        f"end2end.loop_max_forwards, default {DEFAULT_LOOP_MAX_FORWARDS}, else scale one step)",
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
