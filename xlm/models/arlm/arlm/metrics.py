"""arlm-specific metric update functions (generic ones live in :mod:`xlm.metrics`)."""

from __future__ import annotations

from typing import Any


def finished_update_fn(batch: Any, loss_dict: Any, predictions: Any) -> dict | None:
    """Fraction of generations that ended with ``<eos>`` within ``max_new_tokens``."""
    if predictions is None:
        return None
    return {"value": predictions["finished"].float()}
