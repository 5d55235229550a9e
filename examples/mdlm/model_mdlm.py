"""MDLM's network: a small DDiT, a bidirectional transformer conditioned on the noise level.

Two things make it a masked-diffusion denoiser rather than a plain encoder:

- attention is bidirectional, so a masked position sees context on both sides and the
  sampler may fill the canvas in any order;
- every block is modulated by the total noise ``sigma`` through adaptive layer norm (DiT's
  adaLN-Zero, as in MDLM's DDiT): a shift, a scale and a gate per sub-layer, computed from an
  embedding of ``sigma``. The gates start at zero, so each block starts as the identity and
  a deep stack trains stably from the first step.

The xlm-core model takes ``(x_t, noise, attention_mask, positions)`` positionally. Here the
contract of ``xlm.api`` holds: ``forward(input_ids, attention_mask=None, noise=None)``; the
noise level is a keyword, and positions are plain ``0..L-1`` because rows are right-padded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class NoiseEmbedder(nn.Module):
    """sigma (B,) -> (B, d_cond): sinusoidal features, then an MLP (DiT's timestep embedder).

    Sinusoids at geometric frequencies let the MLP tell apart small differences in noise at
    every scale; sigma ranges from 0 to about ``-log(eps)`` (7 for eps = 1e-3).
    """

    def __init__(self, d_cond: int, num_frequencies: int = 64, max_period: float = 10_000.0) -> None:
        super().__init__()
        half = num_frequencies // 2
        self.register_buffer("frequencies", torch.exp(-math.log(max_period) * torch.arange(half) / half), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * half, d_cond), nn.SiLU(), nn.Linear(d_cond, d_cond))

    def forward(self, sigma: Tensor) -> Tensor:
        angles = sigma.float()[:, None] * self.frequencies[None, :]
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        assert d_model % num_heads == 0, "d_model must be divisible by num_heads"
        self.num_heads, self.dropout = num_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, key_padding: Tensor | None) -> Tensor:
        B, L, D = x.shape
        q, k, v = (t.view(B, L, self.num_heads, D // self.num_heads).transpose(1, 2) for t in self.qkv(x).split(D, dim=2))
        # key_padding (B, 1, 1, L) hides batch padding from every query; padded queries still
        # see the real keys, so no softmax row is all -inf (which would give NaN).
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_padding, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class DDiTBlock(nn.Module):
    """x + gate * attn(modulate(norm(x))), then the same around the MLP; all six from the noise."""

    def __init__(self, d_model: int, num_heads: int, d_cond: int, dropout: float) -> None:
        super().__init__()
        # No affine parameters: adaLN supplies the scale and shift.
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))
        self.adaln = nn.Linear(d_cond, 6 * d_model)  # zero-initialised by MDLMModel

    def forward(self, x: Tensor, c: Tensor, key_padding: Tensor | None) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaln(c).chunk(6, dim=-1)
        x = x + gate1[:, None, :] * self.attn(modulate(self.norm1(x), shift1, scale1), key_padding)
        return x + gate2[:, None, :] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class MDLMModel(nn.Module):
    """Noise-conditioned bidirectional transformer.

    Contract: ``forward(input_ids (B, L), attention_mask (B, L) | None, noise (B,) | None)
    -> logits (B, L, num_embeddings)``. ``noise`` is the total noise ``sigma(t)`` of each
    sequence; None means a clean input (sigma = 0), which is what a caller that knows
    nothing of diffusion (``Harness.forward``) gets. Rows may be at most ``max_length`` long.
    """

    def __init__(
        self,
        num_embeddings: int,
        d_model: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        d_cond: int = 64,
        max_length: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_length = max_length
        self.token_embedding = nn.Embedding(num_embeddings, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        self.noise_embedding = NoiseEmbedder(d_cond)
        self.blocks = nn.ModuleList(DDiTBlock(d_model, num_heads, d_cond, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model, elementwise_affine=False)
        self.final_adaln = nn.Linear(d_cond, 2 * d_model)
        self.lm_head = nn.Linear(d_model, num_embeddings)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)  # GPT-2's init: small, so logits start near uniform
        for adaln in (self.final_adaln, *(block.adaln for block in self.blocks)):
            nn.init.zeros_(adaln.weight)  # adaLN-Zero: gates start closed, every block starts as the identity
            nn.init.zeros_(adaln.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, noise: Tensor | None = None, **kwargs) -> Tensor:
        B, L = input_ids.shape
        if L > self.max_length:
            raise ValueError(f"row length {L} exceeds max_length {self.max_length}; raise model.max_length")
        if noise is None:
            noise = torch.zeros(B, device=input_ids.device)
        c = F.silu(self.noise_embedding(noise))
        x = self.token_embedding(input_ids) + self.position_embedding(torch.arange(L, device=input_ids.device))
        key_padding = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for block in self.blocks:
            x = block(x, c, key_padding)
        shift, scale = self.final_adaln(c).chunk(2, dim=-1)
        return self.lm_head(modulate(self.final_norm(x), shift, scale))
