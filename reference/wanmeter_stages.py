"""The pipeline stages the reference harness measures, and how each one is built and called.

A *stage* is one module of a diffusers Wan pipeline called the way the pipeline calls it:

=================  ======================================  ==========================================
stage              module (pipeline attribute)             the measured call
=================  ======================================  ==========================================
``transformer``    ``WanTransformer3DModel`` or            ``transformer(hidden_states, timestep,
                   ``WanVACETransformer3DModel``           encoder_hidden_states, ...)``
                   (``transformer``)
``transformer_2``  the second Wan2.2 A14B expert           as ``transformer``
                   (``transformer_2``)
``text_encoder``   transformers ``UMT5EncoderModel``       ``text_encoder(input_ids, attention_mask)``
``image_encoder``  transformers ``CLIPVisionModel``        ``image_encoder(pixel_values,
                                                           output_hidden_states=True)``
``vae_decode``     ``AutoencoderKLWan`` (``vae``)          ``vae.decode(z)``
``vae_encode``     ``AutoencoderKLWan`` (``vae``)          ``vae.encode(x)``
=================  ======================================  ==========================================

This file only describes stages (config validation, construction, inputs, the call); the
measurement itself is in wanmeter_reference.py. It contains no cost formulas. The error
helpers used by both files live here so the two modules do not import each other.
"""

import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch

STAGES = ("transformer", "transformer_2", "text_encoder", "image_encoder", "vae_encode", "vae_decode")
TRANSFORMER_STAGES = ("transformer", "transformer_2")

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

VENDOR_CLASS = "WanTransformer3DModel"
VACE_CLASS = "WanVACETransformer3DModel"
TRANSFORMER_CLASSES = (VENDOR_CLASS, VACE_CLASS)

# CLIP ViT-H/14 at 224x224 gives 16x16 patches + CLS = 257 tokens per image.
CLIP_IMAGE_TOKENS = 257
# diffusers' WanAttnProcessor takes the last 512 context tokens as text and the rest
# as image tokens, so image-conditioned models only work with 512 text tokens.
I2V_TEXT_TOKENS = 512

# The diffusers config.json fields of WanTransformer3DModel, all required in a request.
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
# WanVACETransformer3DModel has these two on top.
VACE_FIELDS = ("vace_layers", "vace_in_channels")

# AutoencoderKLWan: fields a request must give (those of the Wan2.1 Hub config.json); the
# other constructor arguments (decoder_base_dim, is_residual, in/out_channels, patch_size,
# scale factors, latents_mean/std, dropout) default to the class defaults.
VAE_REQUIRED = ("base_dim", "z_dim", "dim_mult", "num_res_blocks", "attn_scales", "temperal_downsample")

# transformers configs: the fields that set a shape, all required in a request. Any other
# field of the config class is accepted and passed on (e.g. layer_norm_epsilon).
UMT5_REQUIRED = (
    "vocab_size",
    "d_model",
    "d_kv",
    "d_ff",
    "num_layers",
    "num_heads",
    "relative_attention_num_buckets",
    "relative_attention_max_distance",
    "feed_forward_proj",
)
CLIP_REQUIRED = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "image_size",
    "patch_size",
    "num_channels",
)
CLIP_CLASSES = ("CLIPVisionModel", "CLIPVisionModelWithProjection")
# Keys of a Hub config.json that are bookkeeping, not model structure.
CONFIG_BOOKKEEPING = ("architectures", "model_type", "torch_dtype", "dtype", "transformers_version")
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


# ---------------------------------------------------------------------------
# Errors and request validation helpers


class HarnessError(Exception):
    """An error reported as one line ``wanmeter-reference: <what>: <why>`` with an exit code."""

    def __init__(self, code: int, what: str, why: str):
        super().__init__(f"{what}: {why}")
        self.code = code


def bad_input(what: str, why: str) -> HarnessError:
    return HarnessError(3, what, why)


def inconsistent(what: str, why: str) -> HarnessError:
    return HarnessError(5, what, why)


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


def _optional_bool(section: dict, key: str, where: str) -> bool | None:
    return _bool(section, key, where) if section.get(key) is not None else None


def _object(section: dict, key: str, where: str) -> dict:
    value = _require(section, key, where)
    if not isinstance(value, dict):
        raise bad_input(f"{where}.{key}", "expected a JSON object")
    return value


def _int_list(section: dict, key: str, where: str, minimum: int = 0) -> list:
    value = _require(section, key, where)
    if not (isinstance(value, list) and all(_is_int(v) and v >= minimum for v in value)):
        raise bad_input(f"{where}.{key}", f"expected a list of integers >= {minimum}, got {value!r}")
    return value


# ---------------------------------------------------------------------------
# The stage description shared by all stages


@dataclass
class Stage:
    """Everything wanmeter_reference.py needs to build, call and describe one stage."""

    name: str
    attr: str  # the diffusers pipeline attribute: module ids start with it
    request_config: dict  # the config as given in the request (echoed in the output)
    factory: Callable[[], torch.nn.Module]  # builds the module (called under torch.device("meta"))
    dtype: torch.dtype
    geometry: dict
    # make_inputs(device) -> dict of tensors; call(module, inputs) -> output tensor
    make_inputs: Callable[[str], dict]
    call: Callable[[torch.nn.Module, dict], torch.Tensor]
    expected_output_shape: list
    call_text: str  # how the pipeline calls the module, for the output
    # True when the module's own forward runs (so it has a FlopCounterMode entry of its own);
    # False for the VAE, which the pipeline uses through decode()/encode().
    module_is_called: bool = True
    calls_per_generation: int = 1  # default number of stage calls per generation (end2end)
    extra: dict = field(default_factory=dict)  # stage-specific output fields
    after_build: Callable[[torch.nn.Module], None] | None = None

    def input_shapes(self, inputs: dict) -> dict:
        return {k: list(v.shape) for k, v in inputs.items() if isinstance(v, torch.Tensor)}


# ---------------------------------------------------------------------------
# Transformer (WanTransformer3DModel, WanVACETransformer3DModel)


def validate_transformer(model: dict, where: str) -> dict:
    """Check the diffusers config; return the constructor kwargs (keys starting with '_' dropped)."""
    class_name = model.get("_class_name", VENDOR_CLASS)
    if class_name not in TRANSFORMER_CLASSES:
        raise bad_input(f"{where}._class_name", f"expected one of {', '.join(TRANSFORMER_CLASSES)}, got {class_name!r}")
    fields = MODEL_FIELDS + (VACE_FIELDS if class_name == VACE_CLASS else ())
    unknown = sorted(k for k in model if not k.startswith("_") and k not in fields)
    if unknown:
        raise bad_input(f"{where}.{unknown[0]}", f"not a {class_name} config field")

    patch = _require(model, "patch_size", where)
    if not (isinstance(patch, list) and len(patch) == 3 and all(_is_int(p) and p >= 1 for p in patch)):
        raise bad_input(f"{where}.patch_size", f"expected 3 positive integers, got {patch!r}")
    for key in ("num_attention_heads", "attention_head_dim", "in_channels", "text_dim", "freq_dim", "ffn_dim",
                "rope_max_seq_len"):
        _int(model, key, where)
    _int(model, "num_layers", where, minimum=0)
    for key in ("out_channels", "image_dim", "added_kv_proj_dim", "pos_embed_seq_len"):
        _int(model, key, where, nullable=True)
    _bool(model, "cross_attn_norm", where)
    qk_norm = _require(model, "qk_norm", where)
    if qk_norm is not None and not isinstance(qk_norm, str):
        raise bad_input(f"{where}.qk_norm", f"expected a string or null, got {qk_norm!r}")
    eps = _require(model, "eps", where)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise bad_input(f"{where}.eps", f"expected a positive number, got {eps!r}")
    if model["attention_head_dim"] % 2:
        raise bad_input(f"{where}.attention_head_dim", "RoPE needs an even head dimension")
    if (model["image_dim"] is None) != (model["added_kv_proj_dim"] is None):
        raise bad_input(f"{where}.added_kv_proj_dim",
                        "image_dim and added_kv_proj_dim must both be set or both be null")
    if model["pos_embed_seq_len"] is not None:
        if model["image_dim"] is None:
            raise bad_input(f"{where}.pos_embed_seq_len", "only meaningful with image_dim")
        if model["pos_embed_seq_len"] != 2 * CLIP_IMAGE_TOKENS:
            raise bad_input(f"{where}.pos_embed_seq_len", f"expected {2 * CLIP_IMAGE_TOKENS} (two CLIP images)")
    if class_name == VACE_CLASS:
        layers = _int_list(model, "vace_layers", where)
        _int(model, "vace_in_channels", where)
        if not layers or 0 not in layers or max(layers) >= model["num_layers"] or len(set(layers)) != len(layers):
            raise bad_input(f"{where}.vace_layers", f"must be distinct block indices < num_layers including 0, "
                                                    f"got {layers!r}")
    return {k: v for k, v in model.items() if not k.startswith("_")}


def transformer_geometry(model: dict, pipeline: dict, workload: dict, per_token: bool) -> dict:
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
    seq_len = grid[0] * grid[1] * grid[2]
    geometry = {
        "latent_frames": frames,
        "latent_height": height,
        "latent_width": width,
        "dit_seq_len": seq_len,
        "image_tokens": image_tokens,
        "timestep_tokens": seq_len if per_token else 1,
    }
    if "vace_in_channels" in model:
        geometry["control_channels"] = model["vace_in_channels"]
    return geometry


def transformer_stage(name: str, model: dict, config: dict, pipeline: dict, workload: dict, dtype: torch.dtype,
                      cls: type, per_token: bool) -> Stage:
    geo = transformer_geometry(model, pipeline, workload, per_token)
    batch = workload["batch_size"]

    def make_inputs(device: str) -> dict:
        """Model inputs as the diffusers pipelines pass them (latents and embeddings in the model dtype)."""
        inputs = {
            "hidden_states": torch.zeros(
                batch, config["in_channels"], geo["latent_frames"], geo["latent_height"], geo["latent_width"],
                device=device, dtype=dtype,
            ),
            # WanPipeline: t.expand(B), or with expand_timesteps (Wan2.2 TI2V-5B) one timestep per
            # video token, [B, L] (the pipeline's mask[0][0][:, ::2, ::2] * t, flattened).
            "timestep": torch.zeros(batch, geo["dit_seq_len"], device=device) if per_token
            else torch.zeros(batch, device=device),
            "encoder_hidden_states": torch.zeros(batch, workload["text_len"], config["text_dim"], device=device,
                                                 dtype=dtype),
        }
        if config["image_dim"] is not None:
            # I2V: one CLIP image per sample, [B, 257, image_dim]. FLF2V (pos_embed_seq_len):
            # first and last frame, laid out [2B, 257, image_dim] as WanImageToVideoPipeline does.
            images = 2 if config["pos_embed_seq_len"] else 1
            inputs["encoder_hidden_states_image"] = torch.zeros(
                images * batch, CLIP_IMAGE_TOKENS, config["image_dim"], device=device, dtype=dtype
            )
        if "vace_in_channels" in config:
            # WanVACEPipeline: conditioning latents = [inactive z, reactive z, 8x8 mask] = 96 channels on
            # the latent grid, and one scale per VACE layer (conditioning_scale, default 1.0).
            inputs["control_hidden_states"] = torch.zeros(
                batch, config["vace_in_channels"], geo["latent_frames"], geo["latent_height"], geo["latent_width"],
                device=device, dtype=dtype,
            )
            inputs["control_hidden_states_scale"] = torch.ones(len(config["vace_layers"]), device=device)
        return inputs

    def call(module: torch.nn.Module, inputs: dict) -> torch.Tensor:
        return module(**inputs, return_dict=False)[0]

    out_channels = config["out_channels"] or config["in_channels"]
    expected = [batch, out_channels] + [
        n // p * p for n, p in zip((geo["latent_frames"], geo["latent_height"], geo["latent_width"]),
                                   config["patch_size"])
    ]
    return Stage(
        name=name, attr=name, request_config=model, factory=lambda: cls(**config), dtype=dtype, geometry=geo,
        make_inputs=make_inputs, call=call, expected_output_shape=expected,
        call_text=f"{name}(hidden_states, timestep, encoder_hidden_states, ..., return_dict=False)",
    )


def transformer_class(reference: str, config_class: str) -> type:
    if reference == "mirror":
        from wanmeter_mirrors import WanMirrorDiT

        return WanMirrorDiT
    import diffusers

    return getattr(diffusers, config_class)


# ---------------------------------------------------------------------------
# transformers configs (umT5, CLIP)


def _transformers_config(cls: type, raw: dict, required: tuple, where: str) -> tuple[dict, str | None]:
    """Validate a transformers config dict; return (constructor kwargs, attn_implementation or None)."""
    defaults = cls()
    kwargs = {}
    for key in required:
        _require(raw, key, where)
    for key, value in raw.items():
        if key.startswith("_") or key in CONFIG_BOOKKEEPING or key == "attn_implementation":
            continue
        if not hasattr(defaults, key):
            raise bad_input(f"{where}.{key}", f"not a {cls.__name__} field")
        kwargs[key] = value
    for key in required:
        value = raw[key]
        if key == "feed_forward_proj":
            if value not in ("gated-gelu", "relu", "gated-relu", "gelu"):
                raise bad_input(f"{where}.{key}", f"unsupported value {value!r}")
        else:
            _int(raw, key, where)
    impl = raw.get("attn_implementation")
    if impl is not None and impl not in ATTN_IMPLEMENTATIONS:
        raise bad_input(f"{where}.attn_implementation", f"expected one of {', '.join(ATTN_IMPLEMENTATIONS)}, "
                                                        f"got {impl!r}")
    return kwargs, impl


def _from_config(cls: type, config, impl: str | None) -> torch.nn.Module:
    # Like from_pretrained, let transformers pick the attention implementation unless the
    # request names one (transformers 5 picks "sdpa" for models that support it).
    if impl is None:
        return cls._from_config(config)
    return cls._from_config(config, attn_implementation=impl)


def text_encoder_stage(raw: dict, workload: dict, dtype: torch.dtype) -> Stage:
    from transformers import UMT5Config, UMT5EncoderModel

    where = "configs.text_encoder"
    class_name = raw.get("_class_name", "UMT5EncoderModel")
    if class_name != "UMT5EncoderModel":
        raise bad_input(f"{where}._class_name", f"only UMT5EncoderModel is supported, got {class_name!r}")
    kwargs, impl = _transformers_config(UMT5Config, raw, UMT5_REQUIRED, where)
    if raw["d_kv"] * raw["num_heads"] <= 0:
        raise bad_input(f"{where}.d_kv", "d_kv * num_heads must be positive")
    batch, text_len = workload["batch_size"], workload["text_len"]

    def factory():
        return _from_config(UMT5EncoderModel, UMT5Config(**kwargs), impl)

    def make_inputs(dev: str) -> dict:
        # WanPipeline._get_t5_prompt_embeds: the tokenizer pads every prompt to max_sequence_length
        # (= text_len) and passes input_ids and the 0/1 attention mask positionally. Token ids and
        # the number of real tokens change no counted FLOP.
        input_ids = torch.zeros(batch, text_len, dtype=torch.long, device=dev)
        if dev == "meta":
            # Turning a 2-D padding mask into the 4-D attention mask reads its values, which meta
            # tensors do not have. Pass the 4-D boolean mask transformers would build from it
            # ([B, 1, L, L], True = attend); transformers takes a 4-D mask as is.
            mask = torch.ones(batch, 1, text_len, text_len, dtype=torch.bool, device=dev)
        else:
            mask = torch.zeros(batch, text_len, dtype=torch.long, device=dev)
            mask[:, : max(1, text_len // 2)] = 1  # a prompt of half the length, the rest padding
        return {"input_ids": input_ids, "attention_mask": mask}

    def call(module, inputs):
        return module(inputs["input_ids"], inputs["attention_mask"]).last_hidden_state

    stage = Stage(
        name="text_encoder", attr="text_encoder", request_config=raw, factory=factory, dtype=dtype,
        geometry={"text_len": text_len, "batch": batch},
        make_inputs=make_inputs, call=call, expected_output_shape=[batch, text_len, raw["d_model"]],
        call_text="text_encoder(input_ids, attention_mask).last_hidden_state",
        calls_per_generation=2 if workload["cfg"] else 1,
    )
    stage.after_build = lambda m: stage.extra.update(attn_implementation=m.config._attn_implementation)
    return stage


def image_encoder_stage(raw: dict, workload: dict, transformer: dict | None) -> Stage:
    import transformers
    from transformers import CLIPVisionConfig

    where = "configs.image_encoder"
    # The class: the diffusers-style "_class_name" the request writer uses, or a Hub
    # config.json's "architectures"; default CLIPVisionModel (what WanImageToVideoPipeline loads).
    class_name = raw.get("_class_name")
    architectures = raw.get("architectures")
    if class_name is not None and class_name not in CLIP_CLASSES:
        raise bad_input(f"{where}._class_name", f"expected one of {', '.join(CLIP_CLASSES)}, got {class_name!r}")
    if architectures is not None and not (isinstance(architectures, list) and len(architectures) == 1
                                          and architectures[0] in CLIP_CLASSES):
        raise bad_input(f"{where}.architectures", f"expected [\"CLIPVisionModel\"] or "
                                                  f"[\"CLIPVisionModelWithProjection\"], got {architectures!r}")
    if class_name is not None and architectures is not None and architectures[0] != class_name:
        raise bad_input(f"{where}.architectures", f"contradicts _class_name {class_name!r}")
    cls = getattr(transformers, class_name or (architectures or ["CLIPVisionModel"])[0])
    kwargs, impl = _transformers_config(CLIPVisionConfig, raw, CLIP_REQUIRED, where)
    if raw["image_size"] % raw["patch_size"]:
        raise bad_input(f"{where}.image_size", "must be a multiple of patch_size")

    # Images per prompt: 1 (I2V), 2 (FLF2V: first and last frame). Default: 2 if the
    # transformer config in the request has pos_embed_seq_len, else 1.
    default_images = 2 if (transformer or {}).get("pos_embed_seq_len") else 1
    images = workload.get("num_images", default_images)
    if not (_is_int(images) and images in (1, 2)):
        raise bad_input("workload.num_images", f"expected 1 or 2, got {images!r}")
    batch = workload["batch_size"] * images
    size, channels = raw["image_size"], raw["num_channels"]
    tokens = (size // raw["patch_size"]) ** 2 + 1

    def make_inputs(dev: str) -> dict:
        # WanImageToVideoPipeline.encode_image: CLIPImageProcessor resizes and crops to image_size.
        return {"pixel_values": torch.zeros(batch, channels, size, size, device=dev)}

    def call(module, inputs):
        # encode_image: image_encoder(**image, output_hidden_states=True).hidden_states[-2]
        return module(pixel_values=inputs["pixel_values"], output_hidden_states=True).hidden_states[-2]

    stage = Stage(
        name="image_encoder", attr="image_encoder", request_config=raw,
        factory=lambda: _from_config(cls, CLIPVisionConfig(**kwargs), impl),
        # The diffusers I2V examples load the image encoder in float32.
        dtype=torch.float32,
        geometry={"images": images, "batch": batch, "image_size": size, "image_tokens": tokens},
        make_inputs=make_inputs, call=call, expected_output_shape=[batch, tokens, raw["hidden_size"]],
        call_text="image_encoder(pixel_values, output_hidden_states=True).hidden_states[-2]",
    )
    stage.after_build = lambda m: stage.extra.update(attn_implementation=m.config._attn_implementation,
                                                     image_encoder_class=type(m).__name__)
    return stage


# ---------------------------------------------------------------------------
# VAE (AutoencoderKLWan)


def validate_vae(raw: dict) -> dict:
    from diffusers import AutoencoderKLWan

    where = "configs.vae"
    class_name = raw.get("_class_name", "AutoencoderKLWan")
    if class_name != "AutoencoderKLWan":
        raise bad_input(f"{where}._class_name", f"only AutoencoderKLWan is supported, got {class_name!r}")
    allowed = [p for p in inspect.signature(AutoencoderKLWan.__init__).parameters if p != "self"]
    unknown = sorted(k for k in raw if not k.startswith("_") and k not in allowed)
    if unknown:
        raise bad_input(f"{where}.{unknown[0]}", "not an AutoencoderKLWan config field")
    for key in VAE_REQUIRED:
        _require(raw, key, where)
    for key in ("base_dim", "z_dim", "num_res_blocks"):
        _int(raw, key, where)
    for key in ("decoder_base_dim", "patch_size"):
        if raw.get(key) is not None:
            _int(raw, key, where)
    for key in ("in_channels", "out_channels", "scale_factor_temporal", "scale_factor_spatial"):
        if key in raw:
            _int(raw, key, where)
    _int_list(raw, "dim_mult", where, minimum=1)
    downsample = _require(raw, "temperal_downsample", where)
    if not (isinstance(downsample, list) and all(isinstance(v, bool) for v in downsample)
            and len(downsample) == len(raw["dim_mult"]) - 1):
        raise bad_input(f"{where}.temperal_downsample", "expected len(dim_mult) - 1 booleans")
    if not (isinstance(raw["attn_scales"], list)):
        raise bad_input(f"{where}.attn_scales", "expected a list")
    if "is_residual" in raw:
        _bool(raw, "is_residual", where)
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def _vae_factors(config: dict) -> tuple[int, int, int]:
    """(temporal factor, spatial factor of the encoder/decoder network, patch size) of the built model."""
    temporal = 2 ** sum(config["temperal_downsample"])
    spatial = 2 ** (len(config["dim_mult"]) - 1)
    return temporal, spatial, config.get("patch_size") or 1


def vae_stage(name: str, raw: dict, pipeline: dict | None, workload: dict) -> Stage:
    from diffusers import AutoencoderKLWan

    config = validate_vae(raw)
    temporal, spatial, patch = _vae_factors(config)
    # The pipelines use the config's scale factors (WanPipeline, WanImageToVideoPipeline); check
    # they describe the network that gets built.
    for key, default, actual in (("scale_factor_temporal", 4, temporal), ("scale_factor_spatial", 8, spatial * patch)):
        declared = config.get(key, default)
        if declared != actual:
            raise bad_input(f"configs.vae.{key}", f"is {declared} but the network scales by {actual}")
        pipe_key = "vae_" + key
        if pipeline and pipeline.get(pipe_key) is not None and pipeline[pipe_key] != actual:
            raise bad_input(f"pipeline.{pipe_key}", f"is {pipeline[pipe_key]} but configs.vae scales by {actual}")
    z_dim = config["z_dim"]
    in_ch = config.get("in_channels", 3)
    out_ch = config.get("out_channels", 3)
    if in_ch % (patch * patch) or out_ch % (patch * patch):
        raise bad_input("configs.vae.in_channels",
                        f"in/out channels must be multiples of patch_size^2 = {patch * patch}")
    pixel_in, pixel_out = in_ch // (patch * patch), out_ch // (patch * patch)
    batch, frames, height, width = (workload[k] for k in ("batch_size", "num_frames", "height", "width"))
    s = spatial * patch
    latent_frames = (frames - 1) // temporal + 1
    latent_h, latent_w = height // s, width // s
    if latent_h < 1 or latent_w < 1:
        raise bad_input("workload", f"{height}x{width} is smaller than the VAE's spatial factor {s}")
    if height % patch or width % patch:
        raise bad_input("workload", f"height and width must be multiples of the VAE patch_size {patch}")
    if name == "vae_encode" and config.get("is_residual") and (height % s or width % s):
        # AvgDown3D (the residual encoder's shortcut) reshapes by 2 at every level.
        raise bad_input("workload", f"the residual VAE encoder needs height and width that are multiples of {s}")

    if name == "vae_decode":
        geometry = {
            "latent_frames": latent_frames, "latent_height": latent_h, "latent_width": latent_w,
            "decoder_calls": latent_frames,
            "output_frames": 1 + temporal * (latent_frames - 1), "output_height": latent_h * s,
            "output_width": latent_w * s,
        }
        expected = [batch, pixel_out, geometry["output_frames"], latent_h * s, latent_w * s]

        def make_inputs(dev):
            # WanPipeline: latents / latents_std + latents_mean, then vae.decode(latents) (vae dtype).
            return {"z": torch.zeros(batch, z_dim, latent_frames, latent_h, latent_w, device=dev)}

        def call(vae, inputs):
            return vae.decode(inputs["z"], return_dict=False)[0]

        call_text = "vae.decode(z, return_dict=False)[0]"
    else:
        encoded_frames = 1 + (frames - 1) // temporal  # AutoencoderKLWan._encode: chunks of 1, 4, 4, ...
        h, w = height // patch, width // patch
        for _ in range(len(config["dim_mult"]) - 1):  # each 2-D downsample: ZeroPad2d(0,1,0,1) + 3x3 stride 2
            h, w = h // 2, w // 2
        geometry = {
            "frames": frames, "height": height, "width": width, "encoder_calls": encoded_frames,
            "latent_frames": encoded_frames, "latent_height": h, "latent_width": w,
        }
        expected = [batch, z_dim, encoded_frames, h, w]

        def make_inputs(dev):
            # WanImageToVideoPipeline.prepare_latents: video_condition = [image, zeros(F-1)] (FLF2V:
            # [image, zeros(F-2), last_image]), [B, 3, F, H, W] in the vae dtype.
            return {"x": torch.zeros(batch, pixel_in, frames, height, width, device=dev)}

        def call(vae, inputs):
            # retrieve_latents(vae.encode(x), sample_mode="argmax") = latent_dist.mode()
            return vae.encode(inputs["x"], return_dict=False)[0].mode()

        call_text = "vae.encode(x, return_dict=False)[0].mode()"

    return Stage(
        name=name, attr="vae", request_config=raw, factory=lambda: AutoencoderKLWan(**config),
        # The diffusers Wan examples load the VAE in float32.
        dtype=torch.float32, geometry=geometry, make_inputs=make_inputs, call=call,
        expected_output_shape=expected, call_text=call_text, module_is_called=False,
    )


def per_token_timestep(pipeline: dict, workload: dict) -> bool:
    """Wan2.2 TI2V-5B: diffusers' pipelines with expand_timesteps=True pass a timestep per token."""
    expand = _optional_bool(pipeline, "expand_timesteps", "pipeline")
    per_token = _optional_bool(workload, "timestep_per_token", "workload")
    if expand is not None and per_token is not None and expand != per_token:
        raise bad_input("workload.timestep_per_token", "contradicts pipeline.expand_timesteps")
    return bool(per_token if per_token is not None else expand)

