"""mdlm's metric update functions, named by ``reported_metrics.<split>.<group>.<name>.update_fn``.

Here an update function is ``fn(batch, loss_dict, predictions) -> dict | None``: keyword
arguments for the metric's ``update`` (a ``torchmetrics.MeanMetric`` unless the config names
another), None to skip the step. xlm-core's is ``fn(batch, loss_dict, tokenizer=None)``,
with the predictor's output arriving *as* ``loss_dict`` on prediction dataloaders and the
prediction holding prompt + output (sliced with ``output_start_idx``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch.nn.functional as F
from torch import Tensor

from xlm.tokenizer import NumberTokenizer

from .types_mdlm import MDLMBatch, MDLMPredictionDict

PAD = NumberTokenizer.pad_token_id


def seq2seq_token_accuracy_update_fn(
    batch: MDLMBatch, loss_dict: Any, predictions: MDLMPredictionDict | None
) -> Optional[Dict[str, Tensor]]:
    """Per example, the fraction of target tokens generated correctly at their position.

    Partial credit that exact match does not give. Padding of the reference never counts; a
    generated answer shorter than the reference loses the missing tokens. An update function
    gets no tokenizer here, but xlm's special ids are fixed, so the pad id is a constant.
    """
    if predictions is None:
        return None
    target = batch["target_ids"]
    generated = predictions["ids"].to(target.device)
    width = max(target.size(1), generated.size(1))
    target = F.pad(target, (0, width - target.size(1)), value=PAD)
    generated = F.pad(generated, (0, width - generated.size(1)), value=PAD)
    real = target != PAD
    correct = ((generated == target) & real).sum(dim=1).float()
    return {"value": correct / real.sum(dim=1).clamp(min=1)}
