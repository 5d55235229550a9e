"""{{Name}}Loss: next-token cross-entropy on the tokens the collator marked.

Contract: the harness builds it from ``loss:`` in ``configs/model_type/{{name}}.yaml`` with
``model=`` and ``tokenizer=``, and calls ``loss_fn(batch)`` on every training, validation
and test batch. It returns at least ``loss`` (a scalar, what the optimiser minimises) and
``batch_loss`` (one value per example, what the loss metrics average).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from xlm.api import LossFunction

from .types import {{Name}}Batch, {{Name}}LossDict


class {{Name}}Loss(LossFunction[{{Name}}Batch, {{Name}}LossDict]):
    """TODO: change the objective here (e.g. sample a masking rate and weight by it)."""

    def loss_fn(self, batch: {{Name}}Batch, **kwargs: Any) -> {{Name}}LossDict:
        logits = self.model(batch["input_ids"], batch["attention_mask"])
        # Position t predicts token t + 1: drop the last logit and the first token.
        logits, targets = logits[:, :-1], batch["input_ids"][:, 1:]
        mask = batch["loss_mask"][:, 1:].float()
        token_loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        counts = mask.sum(-1).clamp(min=1.0)
        correct = (logits.argmax(-1) == targets).float() * mask
        return {
            # Mean over all counted tokens, so long and short examples weigh by their length.
            "loss": (token_loss * mask).sum() / mask.sum().clamp(min=1.0),
            "batch_loss": ((token_loss * mask).sum(-1) / counts).detach(),
            "token_accuracy": (correct.sum(-1) / counts).detach(),
        }
