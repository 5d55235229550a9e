"""arlm loss: next-token cross-entropy on the positions the collator labelled."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from arlm.collators import IGNORE_INDEX
from arlm.types import ARLMBatch, ARLMLossDict
from xlm.api import LossFunction


class ARLMLoss(LossFunction[ARLMBatch, ARLMLossDict]):
    def loss_fn(self, batch: ARLMBatch, **kwargs: Any) -> ARLMLossDict:
        logits = self.model(batch["input_ids"], attention_mask=batch["attention_mask"])
        labels = batch["labels"][:, 1:]  # the logits at position i predict the token at i+1
        nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")
        counted = (labels != IGNORE_INDEX).sum(dim=1)
        return {
            "loss": nll.sum() / counted.sum().clamp(min=1),
            "batch_loss": nll.sum(dim=1) / counted.clamp(min=1),
            "num_tokens": counted,
        }
