"""ZLM's training loss: the masked-diffusion ELBO with a linear masking schedule.

Forward process: each maskable token (the target; in plain language modelling also the
prompt) is independently replaced by ``<mask>`` with
probability ``t``, where ``t ~ U(eps, 1)`` is drawn once per sequence. For the linear
schedule (keep probability ``alpha_t = 1 - t``) the continuous-time ELBO of MDLM/SEDD/LLaDA
reduces to

    E_t [ (1/t) * sum over masked positions of -log p(x_clean | x_noisy) ]

so the loss is cross entropy on masked positions only, weighted by ``1/t``. The weight
matters: lightly masked inputs (small t) are the ones the sampler meets at its last steps,
and each of their few masks carries more of the likelihood.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xlm.api import LossFunction

from .types import ZLMBatch, ZLMLossDict


def sample_mask_rate(batch_size: int, eps: float, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
    """t in [eps, 1) per sequence, stratified over the batch (MDLM's low-discrepancy sampler).

    One uniform offset shifted by i/B covers [0, 1) evenly, so every batch sees both light
    and heavy masking; the estimate stays unbiased but its variance drops. ``eps`` keeps
    ``1/t`` bounded.
    """
    u = torch.rand((), device=device, generator=generator)
    u = (u + torch.arange(batch_size, device=device) / batch_size) % 1.0
    return eps + (1.0 - eps) * u


def corrupt(input_ids: Tensor, maskable: Tensor, t: Tensor, mask_token_id: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Mask each ``maskable`` position with probability ``t`` of its row.

    Returns ``(noisy_ids, masked)``: ``masked`` (B, L) bool is True exactly where ``noisy_ids``
    holds ``<mask>``; other positions (the prompt in seq2seq, bos, padding) are never masked.
    """
    draws = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    masked = (draws < t[:, None]) & maskable
    return torch.where(masked, torch.full_like(input_ids, mask_token_id), input_ids), masked


class ZLMLoss(LossFunction[ZLMBatch, ZLMLossDict]):
    """Masked-diffusion loss.

    Contract: ``loss_fn(batch)`` -> ``loss`` (scalar, mean over the batch), ``batch_loss`` (B,):
    per sequence, the ``1/t``-weighted cross entropy summed over masked positions, divided by
    the number of ``loss_mask`` positions (a per-token NELBO), and ``mask_rate`` (B,), the ``t``
    used. ``t`` may be given (tests, analysis); it is sampled otherwise.
    """

    def __init__(self, model=None, tokenizer=None, eps: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.eps = eps

    def loss_fn(self, batch: ZLMBatch, t: Tensor | None = None, generator: torch.Generator | None = None, **kwargs: Any) -> ZLMLossDict:
        input_ids, maskable = batch["input_ids"], batch["loss_mask"].bool()
        if t is None:
            t = sample_mask_rate(input_ids.shape[0], self.eps, input_ids.device, generator)
        mask_id = self.tokenizer.mask_token_id
        noisy, masked = corrupt(input_ids, maskable, t, mask_id, generator)

        logits = self.model(noisy, batch.get("attention_mask"))
        # The clean data never contains <mask>, so the model must never predict it (MDLM's
        # "zero masking probability"); removing it from the softmax is exact, not a hack.
        logits[..., mask_id] = float("-inf")
        ce = F.cross_entropy(logits.transpose(1, 2).float(), input_ids, reduction="none")  # (B, L)

        # Visible positions are copied through unchanged by the sampler, so they carry no
        # loss: only masked positions count, each weighted by 1/t.
        weighted = torch.where(masked, ce, torch.zeros_like(ce)) / t[:, None]
        batch_loss = weighted.sum(dim=1) / maskable.sum(dim=1).clamp(min=1)
        return {"loss": batch_loss.mean(), "batch_loss": batch_loss, "mask_rate": t}
