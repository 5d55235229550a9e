"""mlm loss: mask a random fraction of the candidate positions, predict them.

Each example draws its own masking rate in (0, 1], so the model sees everything from one
masked token to a fully masked target, which is what iterative decoding asks of it. At least
one position is always masked, so every example contributes to the loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mlm.types import MLMBatch, MLMLossDict
from xlm.api import LossFunction


class MLMLoss(LossFunction[MLMBatch, MLMLossDict]):
    def loss_fn(self, batch: MLMBatch, **kwargs: Any) -> MLMLossDict:
        input_ids, candidates = batch["input_ids"], batch["loss_mask"]
        rate = torch.rand(input_ids.size(0), 1, device=input_ids.device).clamp(min=1e-3)
        score = torch.rand(input_ids.shape, device=input_ids.device).masked_fill(~candidates, -1.0)
        masked = (score > 1.0 - rate) & candidates
        masked |= (score == score.max(dim=1, keepdim=True).values) & candidates  # at least one
        noisy = input_ids.masked_fill(masked, self.tokenizer.mask_token_id)
        logits = self.model(noisy, attention_mask=batch["attention_mask"])
        nll = F.cross_entropy(logits.transpose(1, 2), input_ids, reduction="none") * masked
        num_masked = masked.sum(dim=1)
        correct = ((logits.detach().argmax(-1) == input_ids) & masked).sum(dim=1)
        return {
            "loss": nll.sum() / num_masked.sum().clamp(min=1),
            "batch_loss": nll.sum(dim=1) / num_masked.clamp(min=1),
            "num_masked": num_masked,
            "num_correct": correct,
        }
