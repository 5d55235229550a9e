"""The batch and output types of mlm, shared by its collator, loss, predictor and metrics."""

from __future__ import annotations

from typing import List, TypedDict

from torch import Tensor


class MLMBatch(TypedDict):
    input_ids: Tensor  # (batch, seq): <bos> prompt target, right-padded, nothing masked yet
    attention_mask: Tensor  # (batch, seq): 1 on real tokens
    loss_mask: Tensor  # (batch, seq) bool: positions the loss may mask and predict
    target_mask: Tensor  # (batch, seq) bool: positions of the target, which the predictor fills
    target_ids: Tensor  # (batch, target_len): the target, right-padded with <pad>


class MLMLossDict(TypedDict):
    loss: Tensor  # (): mean NLL over all masked tokens of the batch
    batch_loss: Tensor  # (batch,): mean NLL of each example's masked tokens
    num_masked: Tensor  # (batch,): masked tokens per example
    num_correct: Tensor  # (batch,): masked tokens whose argmax was right


class MLMPredictionDict(TypedDict):
    text: List[str]
    ids: Tensor  # (batch, target_len): the filled-in target, right-padded with <pad>
