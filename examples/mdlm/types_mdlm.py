"""The dicts that flow between mdlm's collators, loss, predictor and metrics.

Shapes are in comments (``B`` batch, ``L`` row length, ``T`` target length) instead of
xlm-core's jaxtyping annotations: jaxtyping is not a dependency of xlm, and a comment costs
no import.
"""

from __future__ import annotations

from typing import List, TypedDict

from torch import Tensor


class MDLMBatch(TypedDict):
    """What a collator produces; the loss and the predictor both read it.

    Unlike xlm-core's ``MDLMBatch`` the rows are *clean*: the same batch reaches the loss and
    the predictor, so masking happens in the loss (fresh noise every step) and the
    predictor (the whole canvas), never in the collator.
    """

    input_ids: Tensor  # (B, L) long: <bos> prompt target <eos> <pad>..., right-padded with <pad>
    attention_mask: Tensor  # (B, L) long: 1 on the row (canvas pads included), 0 on batch padding
    loss_mask: Tensor  # (B, L) bool: positions the forward process may mask
    target_mask: Tensor  # (B, L) bool: the canvas (target, <eos>, fill) the predictor regenerates
    target_ids: Tensor  # (B, T) long: the bare target, right-padded with <pad> (for metrics)


class MDLMLossDict(TypedDict):
    loss: Tensor  # () mean of batch_loss
    batch_loss: Tensor  # (B,) weighted masked cross entropy per maskable token, per sequence
    t: Tensor  # (B,) the diffusion time sampled for each sequence


class MDLMPredictionDict(TypedDict):
    text: List[str]  # each generated target, decoded without special tokens
    ids: Tensor  # (B, T') each generated canvas cut at its first <eos>, right-padded with <pad>
