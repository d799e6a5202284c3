"""Mirror reference: the Wan DiT written from scratch in plain PyTorch.

These modules recompute what diffusers' ``WanTransformer3DModel`` computes, from
the published math (WAN_FACTS.md section 4), without importing diffusers. Module
attribute names, registration order and parameter names follow diffusers, so that

* ``FlopCounterMode`` produces the same module ids (``<root>.blocks.0.attn1.to_q``),
* ``named_modules()`` lists the modules in the same order,
* a diffusers ``state_dict()`` loads into the mirror unchanged (the tests use this
  to check that the mirror really computes the same function).

Only counted work matters to the harness, but the uncounted math (norms, RoPE,
modulation, dtype casts) is reproduced too, so the mirror is a real second
implementation and not a shape-only stub.

Standalone pieces: ``MirrorFeedForward`` (MLP), ``MirrorSelfAttention``,
``MirrorCrossAttention``, ``MirrorBlock``; the whole model is ``WanMirrorDiT``.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Parameters that diffusers keeps in float32 when a model is loaded in bf16/fp16
# (``_keep_in_fp32_modules``): a parameter stays fp32 if any component of its
# dotted name is one of these.
KEEP_IN_FP32 = ["rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"]


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype; returns the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class GELUProjection(nn.Module):
    """``proj`` Linear followed by GELU (diffusers' ``GELU`` wrapper, module id ``net.0``)."""

    def __init__(self, dim_in: int, dim_out: int, approximate: str):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate=self.approximate)


class MirrorFeedForward(nn.Module):
    """Two-layer MLP ``net.0.proj -> gelu -> net.1 (dropout) -> net.2``."""

    def __init__(self, dim: int, inner_dim: int, dim_out: int | None = None, approximate: str = "tanh"):
        super().__init__()
        self.net = nn.ModuleList(
            [GELUProjection(dim, inner_dim, approximate), nn.Dropout(0.0), nn.Linear(inner_dim, dim_out or dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


def _axis_rope(positions: int, dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [positions, dim/2] of one RoPE axis (angles in float64, tables in float32)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return angles.cos().float(), angles.sin().float()


class MirrorRotaryEmbedding(nn.Module):
    """3-D RoPE over (frame, row, column) token positions; the head dim is split t/h/w.

    Tables are built on the fly for the positions in use (no buffers): the values equal
    rows 0..n-1 of diffusers' precomputed ``rope_max_seq_len`` tables.
    """

    def __init__(self, head_dim: int, max_seq_len: int, theta: float = 10000.0):
        super().__init__()
        self.h_dim = self.w_dim = 2 * (head_dim // 6)
        self.t_dim = head_dim - self.h_dim - self.w_dim
        self.max_seq_len = max_seq_len
        self.theta = theta

    def forward(self, frames: int, rows: int, cols: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (cos, sin), each [1, frames*rows*cols, 1, head_dim/2], one entry per rotated pair."""
        if max(frames, rows, cols) > self.max_seq_len:
            raise ValueError(f"token grid {frames}x{rows}x{cols} exceeds rope_max_seq_len {self.max_seq_len}")
        grid = (frames, rows, cols)
        parts_cos, parts_sin = [], []
        for axis, (n, dim) in enumerate(zip(grid, (self.t_dim, self.h_dim, self.w_dim))):
            cos, sin = _axis_rope(n, dim, self.theta)
            shape = [1, 1, 1, dim // 2]
            shape[axis] = n
            parts_cos.append(cos.view(shape).expand(*grid, dim // 2))
            parts_sin.append(sin.view(shape).expand(*grid, dim // 2))
        tokens = frames * rows * cols
        cos = torch.cat(parts_cos, dim=-1).reshape(1, tokens, 1, -1).to(device)
        sin = torch.cat(parts_sin, dim=-1).reshape(1, tokens, 1, -1).to(device)
        return cos, sin


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs (x[2i], x[2i+1]) of x [B, L, H, hd] by the RoPE angles."""
    even, odd = x.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Multi-head attention on [B, L, H, hd] tensors via SDPA on [B, H, L, hd]; returns [B, Lq, H*hd].

    FlopCounterMode sees SDPA as two bmm on meta (math backend), as a registered SDPA
    op on CUDA, and as the unregistered CPU flash kernel (0 FLOPs) on CPU.
    """
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2).flatten(2).type_as(q)


class MirrorSelfAttention(nn.Module):
    """Self-attention with RMS-normalised q/k (across all heads) and RoPE (module id ``attn1``)."""

    def __init__(self, dim: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q = self.norm_q(self.to_q(x)).unflatten(2, (self.heads, -1))
        k = self.norm_k(self.to_k(x)).unflatten(2, (self.heads, -1))
        v = self.to_v(x).unflatten(2, (self.heads, -1))
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = _attend(q, k, v)
        return self.to_out[1](self.to_out[0](out))


class MirrorCrossAttention(nn.Module):
    """Cross-attention from video tokens to text tokens (module id ``attn2``).

    With ``added_kv_proj_dim`` (I2V) the queries also attend separately to image tokens
    through ``add_k_proj``/``add_v_proj``; the two attention outputs are summed.
    """

    def __init__(self, dim: int, heads: int, eps: float, added_kv_proj_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.add_k_proj = self.add_v_proj = None
        if added_kv_proj_dim is not None:
            self.add_k_proj = nn.Linear(added_kv_proj_dim, dim)
            self.add_v_proj = nn.Linear(added_kv_proj_dim, dim)
            self.norm_added_k = nn.RMSNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_img: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_q(self.to_q(x)).unflatten(2, (self.heads, -1))
        k = self.norm_k(self.to_k(context)).unflatten(2, (self.heads, -1))
        v = self.to_v(context).unflatten(2, (self.heads, -1))
        out = _attend(q, k, v)
        if self.add_k_proj is not None:
            k_img = self.norm_added_k(self.add_k_proj(context_img)).unflatten(2, (self.heads, -1))
            v_img = self.add_v_proj(context_img).unflatten(2, (self.heads, -1))
            out = _attend(q, k_img, v_img) + out
        return self.to_out[1](self.to_out[0](out))


class MirrorBlock(nn.Module):
    """One DiT block: adaLN-modulated self-attention, cross-attention, adaLN-modulated FFN."""

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        heads: int,
        cross_attn_norm: bool,
        eps: float,
        added_kv_proj_dim: int | None = None,
    ):
        super().__init__()
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.attn1 = MirrorSelfAttention(dim, heads, eps)
        self.attn2 = MirrorCrossAttention(dim, heads, eps, added_kv_proj_dim)
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.ffn = MirrorFeedForward(dim, ffn_dim, approximate="tanh")
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        time6: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        context_img: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B, L, d]; context [B, Lt, d]; time6 [B, 6, d] (projected timestep embedding)."""
        shift, scale, gate, c_shift, c_scale, c_gate = (self.scale_shift_table + time6.float()).chunk(6, dim=1)
        h = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x)
        x = (x.float() + self.attn1(h, rope) * gate).type_as(x)
        h = self.norm2(x.float()).type_as(x)
        x = x + self.attn2(h, context, context_img)
        h = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        return (x.float() + self.ffn(h).float() * c_gate).type_as(x)


def sinusoidal_timestep(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[B] timesteps -> [B, dim] float32 embedding laid out as (cos | sin)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t[:, None].float() * freqs[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class TimestepMLP(nn.Module):
    """``linear_1 -> SiLU -> linear_2`` (module id ``time_embedder``)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class TextProjection(nn.Module):
    """``linear_1 -> GELU(tanh) -> linear_2`` (module id ``text_embedder``)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.act_1 = nn.GELU(approximate="tanh")
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act_1(self.linear_1(x)))


class ImageEmbedding(nn.Module):
    """CLIP image tokens -> model dim: LayerNorm, MLP (exact GELU), LayerNorm (id ``image_embedder``).

    With ``pos_embed_seq_len`` (FLF2V) the input holds two images per sample,
    [2B, n, image_dim]; they are joined to [B, 2n, image_dim] and a learned position
    embedding is added.
    """

    def __init__(self, image_dim: int, dim: int, pos_embed_seq_len: int | None):
        super().__init__()
        self.norm1 = FP32LayerNorm(image_dim)
        self.ff = MirrorFeedForward(image_dim, image_dim, dim_out=dim, approximate="none")
        self.norm2 = FP32LayerNorm(dim)
        self.pos_embed = None
        if pos_embed_seq_len is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, pos_embed_seq_len, image_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pos_embed is not None:
            x = x.reshape(-1, 2 * x.shape[1], x.shape[2]) + self.pos_embed
        return self.norm2(self.ff(self.norm1(x)))


class ConditionEmbedder(nn.Module):
    """Timestep, text (and image) conditioning (module id ``condition_embedder``)."""

    def __init__(self, dim: int, freq_dim: int, text_dim: int, image_dim: int | None, pos_embed_seq_len: int | None):
        super().__init__()
        self.freq_dim = freq_dim
        self.time_embedder = TimestepMLP(freq_dim, dim)
        self.act_fn = nn.SiLU()
        self.time_proj = nn.Linear(dim, 6 * dim)
        self.text_embedder = TextProjection(text_dim, dim)
        self.image_embedder = None
        if image_dim is not None:
            self.image_embedder = ImageEmbedding(image_dim, dim, pos_embed_seq_len)

    def forward(self, timestep: torch.Tensor, text: torch.Tensor, image: torch.Tensor | None):
        """Return (temb [B, d], time6 [B, 6d], text [B, Lt, d], image [B, Li, d] or None)."""
        t = sinusoidal_timestep(timestep, self.freq_dim).to(self.time_embedder.linear_1.weight.dtype)
        temb = self.time_embedder(t).type_as(text)
        time6 = self.time_proj(self.act_fn(temb))
        text = self.text_embedder(text)
        if self.image_embedder is not None:
            image = self.image_embedder(image)
        return temb, time6, text, image


class WanMirrorDiT(nn.Module):
    """The whole Wan DiT. Constructor arguments are the diffusers ``config.json`` fields."""

    _keep_in_fp32_modules = KEEP_IN_FP32

    def __init__(
        self,
        patch_size=(1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int | None = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
    ):
        super().__init__()
        # qk_norm is accepted for config compatibility only: like diffusers, q and k are
        # always RMS-normalised across all heads, whatever its value.
        del qk_norm
        dim = num_attention_heads * attention_head_dim
        self.patch_size = tuple(patch_size)
        self.out_channels = out_channels or in_channels

        self.rope = MirrorRotaryEmbedding(attention_head_dim, rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.condition_embedder = ConditionEmbedder(dim, freq_dim, text_dim, image_dim, pos_embed_seq_len)
        self.blocks = nn.ModuleList(
            [
                MirrorBlock(dim, ffn_dim, num_attention_heads, cross_attn_norm, eps, added_kv_proj_dim)
                for _ in range(num_layers)
            ]
        )
        self.norm_out = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, self.out_channels * math.prod(self.patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = False,
    ) -> tuple[torch.Tensor]:
        """Same call convention as diffusers; only ``return_dict=False`` (a 1-tuple) is supported.

        hidden_states [B, Cin, T, h, w]; timestep [B]; encoder_hidden_states [B, Lt, text_dim];
        returns ([B, Cout, T'*pt, H'*ph, W'*pw],) with T' = T//pt etc.
        """
        if return_dict:
            raise ValueError("WanMirrorDiT only supports return_dict=False")
        batch = hidden_states.shape[0]
        pt, ph, pw = self.patch_size
        frames, rows, cols = (n // p for n, p in zip(hidden_states.shape[2:], self.patch_size))
        rope = self.rope(frames, rows, cols, hidden_states.device)

        x = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()
        temb, time6, context, context_img = self.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image
        )
        time6 = time6.unflatten(1, (6, -1))
        for block in self.blocks:
            x = block(x, context, time6, rope, context_img)

        shift, scale = (self.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
        x = (self.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        x = self.proj_out(x)
        # Unpatchify: [B, T'H'W', pt*ph*pw*Cout] -> [B, Cout, T'*pt, H'*ph, W'*pw].
        x = x.reshape(batch, frames, rows, cols, pt, ph, pw, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return (x.flatten(6, 7).flatten(4, 5).flatten(2, 3),)
