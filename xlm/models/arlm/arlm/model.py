"""The arlm network: a small pre-norm decoder-only transformer.

Built from ``torch.nn.TransformerEncoderLayer`` with a causal mask rather than hand-written
attention, so the interesting parts are only the masks and the positions:

- positions count real tokens (``cumsum`` of the attention mask), so a left-padded prompt
  gets the same positions as an unpadded one; training batches are right-padded and
  generation batches left-padded, and both must look alike to the model;
- every token may attend to itself even when it is padding, so no attention row is fully
  masked (a fully masked row would turn the softmax into NaN).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ARLMTransformer(nn.Module):
    """``forward(input_ids, attention_mask=None) -> logits`` of shape (batch, seq, num_embeddings)."""

    def __init__(
        self,
        num_embeddings: int,
        d_model: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        max_length: int = 256,
    ) -> None:
        super().__init__()
        self.num_heads, self.max_length = num_heads, max_length
        self.token_embedding = nn.Embedding(num_embeddings, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward or 4 * d_model, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, num_embeddings, bias=False)
        self.output.weight = self.token_embedding.weight  # tied: fewer parameters to fit on small tasks
        # Small embeddings: with tied weights, unit-variance rows would start the logits (and
        # the loss) far too large.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs) -> Tensor:
        batch, length = input_ids.shape
        if length > self.max_length:
            raise ValueError(f"sequence of {length} tokens is longer than max_length={self.max_length}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        real = attention_mask.bool()
        positions = (real.long().cumsum(-1) - 1).clamp(min=0)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)
        future = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).triu(1)
        blocked = future | ~real[:, None, :]  # True = may not attend
        blocked &= ~torch.eye(length, dtype=torch.bool, device=input_ids.device)
        mask = blocked.repeat_interleave(self.num_heads, dim=0)  # (batch * heads, seq, seq)
        return self.output(self.norm(self.layers(x, mask=mask)))
