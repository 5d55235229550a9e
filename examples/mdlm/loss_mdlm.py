"""MDLM's training loss: the continuous-time ELBO of absorbing (masked) diffusion.

Per sequence: draw ``t`` (``noise_schedule.sample_t``), mask each maskable token with
probability ``move_chance(t)``, run the network on the noisy row conditioned on
``sigma(t)``, and take the cross entropy of the clean token at masked positions only,
weighted by ``loss_weight(t)`` (``1/t`` for the log-linear schedule). Unmasked positions
carry no loss: MDLM's SUBS parameterisation copies them through unchanged at sampling
time, and it also forbids predicting ``<mask>`` (its logit is set to -inf).

xlm-core samples ``t`` and masks the batch in the collator and hands the loss
``noise_rate``, ``total_noise`` and ``t``; here the loss does it, because the same batch
also feeds the predictor and the harness gives the loss the model to run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xlm.api import LossFunction

from .noise_mdlm import LogLinearSchedule
from .types_mdlm import MDLMBatch, MDLMLossDict


class MDLMLoss(LossFunction[MDLMBatch, MDLMLossDict]):
    """``loss_fn(batch)`` -> ``loss``, ``batch_loss`` (per maskable token, per sequence) and ``t``.

    ``t`` and ``generator`` may be passed to make a call deterministic (tests do).
    """

    def __init__(self, model=None, tokenizer=None, noise_schedule: LogLinearSchedule | None = None, **kwargs: Any) -> None:
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.noise_schedule = noise_schedule if noise_schedule is not None else LogLinearSchedule()

    def loss_fn(self, batch: MDLMBatch, t: Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any) -> MDLMLossDict:
        clean, maskable = batch["input_ids"], batch["loss_mask"].bool()
        mask_id = self.tokenizer.mask_token_id
        schedule = self.noise_schedule
        if t is None:
            t = schedule.sample_t(clean.size(0), clean.device, generator)
        t = t.to(clean.device)

        draw = torch.rand(clean.shape, device=clean.device, generator=generator)
        masked = (draw < schedule.move_chance(t)[:, None]) & maskable
        noisy = torch.where(masked, torch.full_like(clean, mask_id), clean)

        logits = self.model(noisy, batch.get("attention_mask"), noise=schedule.total_noise(t)).float()
        logits[..., mask_id] = float("-inf")  # SUBS: the clean token is never <mask>
        ce = F.cross_entropy(logits.transpose(1, 2), clean, reduction="none")  # (B, L)
        weighted = torch.where(masked, ce, torch.zeros_like(ce)) * schedule.loss_weight(t)[:, None]
        # Per maskable token, so rows with longer targets do not dominate the mean.
        batch_loss = weighted.sum(dim=1) / maskable.sum(dim=1).clamp(min=1)
        return {"loss": batch_loss.mean(), "batch_loss": batch_loss, "t": t}
