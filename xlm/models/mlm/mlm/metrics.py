"""mlm-specific metric update functions (generic ones live in :mod:`xlm.metrics`)."""

from __future__ import annotations

from typing import Any


def masked_accuracy_update_fn(batch: Any, loss_dict: Any, predictions: Any) -> dict:
    """Teacher-forced accuracy on the masked positions, weighted by how many were masked."""
    masked = loss_dict["num_masked"].float()
    return {"value": loss_dict["num_correct"].float() / masked.clamp(min=1), "weight": masked}
