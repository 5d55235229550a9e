"""ZLM's metric update functions, named by ``reported_metrics.<split>.<group>.<name>.update_fn``.

Each is ``fn(batch, loss_dict, predictions) -> dict`` of keyword arguments for the metric's
``update`` (``torchmetrics.MeanMetric``: ``value``, optionally ``weight``), or None to skip
the step. ``predictions`` is None on steps that do not predict.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch.nn.functional as F
from torch import Tensor

from .types import ZLMBatch, ZLMLossDict, ZLMPredictionDict


def mean_metric_update_fn(batch: ZLMBatch, loss_dict: ZLMLossDict, predictions: Any = None) -> Dict[str, Tensor]:
    """The loss, averaged over examples (so batches of different sizes weigh correctly)."""
    return {"value": loss_dict["batch_loss"].detach()}


def _pad_to(ids: Tensor, width: int, pad_id: int) -> Tensor:
    return F.pad(ids, (0, width - ids.shape[1]), value=pad_id) if ids.shape[1] < width else ids


def token_accuracy_update_fn(
    batch: ZLMBatch, loss_dict: ZLMLossDict, predictions: ZLMPredictionDict | None, pad_token_id: int = 0
) -> Optional[Dict[str, Tensor]]:
    """Per example, the fraction of reference target tokens generated correctly at their position.

    Partial credit that exact match does not give: it shows the sampler getting closer before
    whole paths come out right. Needs seq2seq batches (``target_ids``) and predictions.
    """
    if predictions is None:
        return None
    target, generated = batch["target_ids"], predictions["ids"].to(batch["target_ids"].device)
    width = max(target.shape[1], generated.shape[1])
    target, generated = _pad_to(target, width, pad_token_id), _pad_to(generated, width, pad_token_id)
    real = target != pad_token_id
    correct = ((generated == target) & real).sum(dim=1).float()
    return {"value": correct / real.sum(dim=1).clamp(min=1)}
