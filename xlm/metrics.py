"""Metric update functions named by ``reported_metrics.<split>.<group>.<name>.update_fn``.

Each is ``fn(batch, loss_dict, predictions) -> dict | None``: the keyword arguments for the
metric's ``update`` (a ``torchmetrics.MeanMetric`` unless the config names another), or None
to skip this step (e.g. a prediction metric on a step that did not predict). They are generic
over models: they read only the contract keys (``loss``, ``batch_loss``, ``ids``,
``target_ids``), so any model's config can use them.
"""

from __future__ import annotations

from typing import Any

import torch
import torchmetrics
from torch import Tensor


def mean_loss_update_fn(batch: Any, loss_dict: dict, predictions: Any) -> dict:
    """Average of the per-example losses (``batch_loss``)."""
    return {"value": loss_dict["batch_loss"].detach()}


def token_nll_update_fn(batch: Any, loss_dict: dict, predictions: Any) -> dict:
    """Per-token NLL of each example, weighted by its tokens (``num_tokens`` when the loss gives
    it; blocks of packed text are all the same length, so the weights are then equal)."""
    value = loss_dict["batch_loss"].detach()
    weight = loss_dict.get("num_tokens")
    return {"value": value, "weight": weight.detach().to(value.dtype)} if weight is not None else {"value": value}


class Perplexity(torchmetrics.MeanMetric):
    """exp of the token-weighted mean NLL: perplexity for a causal model's loss, and an upper
    bound on it for a diffusion model's NELBO (``metric: {_target_: xlm.metrics.Perplexity}``)."""

    def compute(self) -> Tensor:
        return torch.exp(super().compute())


def _pad_to(ids: Tensor, width: int, pad_id: int) -> Tensor:
    if ids.size(1) >= width:
        return ids[:, :width]
    return torch.nn.functional.pad(ids, (0, width - ids.size(1)), value=pad_id)


def exact_match(predicted: Tensor, target: Tensor, pad_id: int = 0) -> Tensor:
    """1.0 per example when the predicted ids equal the target ids (both padded with ``pad_id``)."""
    width = max(predicted.size(1), target.size(1))
    predicted = _pad_to(predicted.to(target.device), width, pad_id)
    return (predicted == _pad_to(target, width, pad_id)).all(dim=1).float()


def exact_match_update_fn(batch: Any, loss_dict: Any, predictions: Any) -> dict | None:
    """Exact match of ``predictions["ids"]`` against ``batch["target_ids"]`` (the path, on star)."""
    if predictions is None:
        return None
    return {"value": exact_match(predictions["ids"], batch["target_ids"])}
