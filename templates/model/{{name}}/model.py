"""{{Name}}: the network. A small decoder-only transformer, as a baseline to change.

Contract (what xlm relies on): an ``nn.Module`` built from ``configs/model/{{name}}.yaml``
whose ``forward(input_ids, attention_mask=None, **kwargs)`` returns logits of shape
``(batch, seq_len, num_embeddings)``. Nothing else in xlm calls the model directly: the
loss function and the predictor (which you also own) do, so extra inputs are yours to add.
"""

from __future__ import annotations

import torch
from torch import nn

# Only lowercase names at module level: the model class takes its name from the model's, so
# an import such as `Tensor` or `F` could collide with a model called `tensor` or `f`.


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        batch, seq_len, d_model = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d_model, dim=-1)
        # (batch, heads, seq_len, head_dim): the layout scaled_dot_product_attention expects.
        q, k, v = (t.view(batch, seq_len, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = x + self.dropout(self.proj(attn.transpose(1, 2).reshape(batch, seq_len, d_model)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class {{Name}}(nn.Module):
    """Token + learned position embeddings, ``num_layers`` causal blocks, a tied output head.

    TODO: this is where most models differ: change the attention pattern (bidirectional for
    a masked or diffusion model), add inputs (a time step, a noise level), or swap the
    blocks for your architecture. Keep the forward contract above.
    """

    def __init__(
        self,
        num_embeddings: int,
        d_model: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        max_length: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of num_heads ({num_heads})")
        self.max_length = max_length
        self.token_embedding = nn.Embedding(num_embeddings, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, num_heads, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_embeddings, bias=False)
        self.head.weight = self.token_embedding.weight  # tying: fewer parameters, trains faster when small

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        batch, seq_len = input_ids.shape
        if seq_len > self.max_length:
            raise ValueError(f"sequence of {seq_len} tokens is longer than max_length={self.max_length}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        attention_mask = attention_mask.bool()
        # Positions count real tokens only, so a left-padded prompt (generation) gets the same
        # positions as the unpadded sequence it stands for.
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=input_ids.device).tril()
        allowed = causal & attention_mask[:, None, :]  # (batch, query, key)
        # Every query may see itself: a padding row with no visible key would give NaN.
        allowed = allowed | torch.eye(seq_len, dtype=torch.bool, device=input_ids.device)
        for block in self.blocks:
            x = block(x, allowed[:, None])
        return self.head(self.norm(x))
