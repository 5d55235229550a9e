"""The mlm network: a small pre-norm bidirectional transformer encoder.

Every token sees every real token (a key-padding mask hides only padding), which is what lets
it fill masked positions from both sides. Batches are right-padded, so plain positions work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MLMTransformer(nn.Module):
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
        self.max_length = max_length
        self.token_embedding = nn.Embedding(num_embeddings, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward or 4 * d_model, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, num_embeddings, bias=False)
        self.output.weight = self.token_embedding.weight
        # Small embeddings: with tied weights, unit-variance rows would start the logits (and
        # the loss) far too large.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs) -> Tensor:
        length = input_ids.size(1)
        if length > self.max_length:
            raise ValueError(f"sequence of {length} tokens is longer than max_length={self.max_length}")
        positions = torch.arange(length, device=input_ids.device)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)[None]
        padding = None if attention_mask is None else ~attention_mask.bool()
        return self.output(self.norm(self.layers(x, src_key_padding_mask=padding)))
