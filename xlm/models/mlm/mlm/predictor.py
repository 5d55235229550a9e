"""mlm predictor: start from a fully masked target, unmask the most confident positions.

With ``num_steps`` steps each step commits about ``remaining / steps_left`` positions per
example (the ones the model is surest of), so ``num_steps=1`` is one-shot prediction and
``num_steps=None`` commits one token per step. The target length comes from the batch's
``target_mask``: mlm predicts outputs of known length, like the star task's paths.
"""

from __future__ import annotations

from typing import Any

import torch

from mlm.types import MLMBatch, MLMPredictionDict
from xlm.api import Predictor
from xlm.batching import pad_ids


class MLMPredictor(Predictor[MLMBatch, MLMPredictionDict]):
    def __init__(self, model: Any = None, tokenizer: Any = None, num_steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.num_steps = num_steps

    @torch.no_grad()
    def predict(self, batch: MLMBatch, **kwargs: Any) -> MLMPredictionDict:
        tok = self.tokenizer
        target_mask, attention_mask = batch["target_mask"], batch["attention_mask"]
        ids = batch["input_ids"].masked_fill(target_mask, tok.mask_token_id)
        remaining = target_mask.clone()
        steps = int(self.num_steps or target_mask.sum(dim=1).max().item() or 1)
        for step in range(steps):
            if not remaining.any():
                break
            logits = self.model(ids, attention_mask=attention_mask).float()
            logits[..., tok.special_token_ids] = float("-inf")
            confidence, token = logits.softmax(-1).max(-1)
            confidence = confidence.masked_fill(~remaining, -1.0)
            quota = torch.ceil(remaining.sum(dim=1, keepdim=True) / (steps - step))
            rank = confidence.argsort(dim=1, descending=True).argsort(dim=1)
            commit = (rank < quota) & remaining
            ids = torch.where(commit, token, ids)
            remaining &= ~commit
        rows = [row[mask].tolist() for row, mask in zip(ids, target_mask)]
        out, _ = pad_ids(rows, tok.pad_token_id)
        out = out.to(ids.device)
        return {"text": tok.batch_decode(out, skip_special_tokens=True), "ids": out}
