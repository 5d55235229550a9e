"""Metric update functions named by ``reported_metrics`` in configs/model_type/{{name}}.yaml.

Contract: ``fn(batch, loss_dict, predictions) -> dict`` of keyword arguments for the metric's
``update`` (by default ``torchmetrics.MeanMetric.update(value, weight=1.0)``). ``predictions``
is None on steps that do not generate, so only use it in metrics of splits that predict.
xlm logs each metric as ``<split>/<group>/<name>``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional


def mean_metric_update_fn(batch: Dict[str, Any], loss_dict: Dict[str, Any], predictions: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Average of the per-example loss."""
    return {"value": loss_dict["batch_loss"]}


def token_accuracy_update_fn(batch: Dict[str, Any], loss_dict: Dict[str, Any], predictions: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Average teacher-forced next-token accuracy (cheap: no generation needed).

    TODO: add your model's own diagnostics here (e.g. loss per masking rate).
    """
    return {"value": loss_dict["token_accuracy"]}
