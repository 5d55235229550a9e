"""ZLM's network: a small bidirectional transformer that predicts the clean token at every position.

It is nanoGPT's transformer with two changes that make it a masked-diffusion denoiser:

- attention is bidirectional (no causal mask): a masked position may depend on tokens on
  both sides of it, which is what lets the sampler fill the target in any order;
- there is no timestep input. With the absorbing (``<mask>``) forward process the number of
  masks in the input already tells the network how noisy it is, and MDLM (Sahoo et al.,
  2024) found time conditioning unnecessary; leaving it out keeps the network a plain
  ``forward(input_ids, attention_mask) -> logits`` that any xlm loss or predictor can call.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        assert d_model % num_heads == 0, "d_model must be divisible by num_heads"
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: Tensor, key_padding: Tensor | None) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        # (B, L, D) -> (B, heads, L, head_dim)
        q, k, v = (t.view(B, L, self.num_heads, D // self.num_heads).transpose(1, 2) for t in (q, k, v))
        # key_padding is (B, 1, 1, L) bool, True where a key may be attended to. Queries at
        # padding still attend to the real keys, so no row is all -inf (which would give NaN).
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_padding, dropout_p=self.dropout if self.training else 0.0, is_causal=False
        )
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor, key_padding: Tensor | None) -> Tensor:
        x = x + self.attn(self.ln1(x), key_padding)
        return x + self.mlp(self.ln2(x))


class ZLMModel(nn.Module):
    """Bidirectional transformer denoiser.

    Contract: ``forward(input_ids (B, L) long, attention_mask (B, L) | None) -> logits (B, L, V)``
    with ``V = num_embeddings``. Positions where ``attention_mask`` is 0 are never attended to;
    their logits are computed but meaningless. Sequences may be at most ``max_length`` long.
    """

    def __init__(
        self,
        num_embeddings: int,
        d_model: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        max_length: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_length = max_length
        self.token_embedding = nn.Embedding(num_embeddings, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, num_heads, dropout) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, num_embeddings, bias=False)
        # Weight tying (as in GPT-2/nanoGPT): fewer parameters, and the output space shares
        # the geometry of the input embeddings, which helps a small model learn quickly.
        self.lm_head.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections keeps the residual stream's
        # variance from growing with depth.
        for name, p in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * num_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs) -> Tensor:
        B, L = input_ids.shape
        if L > self.max_length:
            raise ValueError(f"sequence length {L} exceeds max_length {self.max_length}; raise model.max_length")
        positions = torch.arange(L, device=input_ids.device)
        x = self.drop(self.token_embedding(input_ids) + self.position_embedding(positions))
        key_padding = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for block in self.blocks:
            x = block(x, key_padding)
        return self.lm_head(self.ln_f(x))
