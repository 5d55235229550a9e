"""The dicts that flow between zlm's collator, loss, predictor and metrics.

Shapes are in comments: ``B`` batch, ``L`` sequence length, ``T`` target length.
"""

from __future__ import annotations

from typing import List, TypedDict

from torch import Tensor


class ZLMBatch(TypedDict):
    """What the collator produces and the loss and predictor consume.

    ``input_ids`` is the clean row ``<bos> prompt target <eos>...``: the loss corrupts it,
    the predictor rebuilds its canvas.
    """

    input_ids: Tensor  # (B, L) long, right-padded with <pad>
    attention_mask: Tensor  # (B, L) long: 1 on real tokens, 0 on batch padding
    loss_mask: Tensor  # (B, L) bool: positions the loss may mask and predict
    target_mask: Tensor  # (B, L) bool: the canvas (target then <eos> fill), which the predictor generates
    target_ids: Tensor  # (B, T) long: the bare target, right-padded with <pad>


class ZLMLossDict(TypedDict):
    loss: Tensor  # () mean of batch_loss
    batch_loss: Tensor  # (B,) 1/t-weighted masked cross entropy per maskable token, per sequence
    mask_rate: Tensor  # (B,) the masking rate t sampled for each sequence


class ZLMPredictionDict(TypedDict):
    text: List[str]  # the generated target of each example, decoded
    ids: Tensor  # (B, T') generated canvas cut at the first <eos>, right-padded with <pad>
