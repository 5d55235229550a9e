"""The dicts that flow between zlm's collators, loss, predictor and metrics.

Shapes are written in comments: ``B`` batch, ``L`` sequence length, ``T`` target length.
"""

from __future__ import annotations

from typing import List, TypedDict

from torch import Tensor


class ZLMBatch(TypedDict, total=False):
    """What the collators produce and the loss and predictor consume.

    ``input_ids`` holds the clean sequence; the loss corrupts it and the predictor rebuilds
    it. ``target_mask`` marks the positions that diffusion may mask (and so the predictor
    generates); everything else is visible context. ``target_ids`` is only in seq2seq
    batches: the reference target, right-padded with the pad id, for prediction metrics.
    """

    input_ids: Tensor  # (B, L) long
    attention_mask: Tensor  # (B, L) long, 1 = real token, 0 = batch padding
    target_mask: Tensor  # (B, L) bool, True = position to corrupt / generate
    target_ids: Tensor  # (B, T) long, seq2seq only


class ZLMLossDict(TypedDict):
    loss: Tensor  # () mean of batch_loss
    batch_loss: Tensor  # (B,) 1/t-weighted cross entropy per target token of each sequence
    mask_rate: Tensor  # (B,) the masking rate t sampled for each sequence


class ZLMPredictionDict(TypedDict):
    text: List[str]  # the generated target of each example, decoded
    ids: Tensor  # (B, T) generated target ids, cut at eos, right-padded with the pad id
