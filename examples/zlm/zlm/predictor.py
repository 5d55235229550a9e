"""ZLM's sampler: start from an all-``<mask>`` target and unmask it over ``num_steps`` steps.

Each step runs the denoiser on the current sequence, proposes a token for every still
masked position, and commits some of them; committed tokens are never revisited (the
absorbing process has no way back to ``<mask>``). How many to commit follows the linear
schedule of training: after step ``s`` of ``S`` a fraction ``1 - s/S`` of the target is
still masked, so the sampler sees the same noise levels the loss trained on. Which ones to
commit is the ``unmasking`` choice:

- ``confidence``: the positions whose proposal has the highest probability (MaskGIT,
  LLaDA's low-confidence remasking): easy tokens first, so hard ones see more context;
- ``random``: a uniformly random subset, which is the ancestral sampler of the ELBO the
  loss optimises (MDLM).
"""

from __future__ import annotations

from typing import Any, List

import torch
from torch import Tensor

from xlm.api import Predictor

from .types import ZLMBatch, ZLMPredictionDict

UNMASKING = ("confidence", "random")


def num_to_commit(num_targets: Tensor, num_still_masked: Tensor, step: int, num_steps: int) -> Tensor:
    """How many positions each row commits at ``step`` (0-based) so the linear schedule holds.

    After the last step nothing stays masked, so every row ends fully unmasked whatever its
    length.
    """
    keep_masked = torch.floor(num_targets.float() * (1.0 - (step + 1) / num_steps)).long()
    return (num_still_masked - keep_masked).clamp(min=0)


def top_k_per_row(scores: Tensor, k: Tensor) -> Tensor:
    """Bool mask of the ``k[b]`` highest ``scores[b]`` in each row (-inf scores are never chosen
    as long as k does not exceed the number of finite ones)."""
    order = scores.argsort(dim=1, descending=True)
    ranks = order.argsort(dim=1)
    return ranks < k[:, None]


class ZLMPredictor(Predictor[ZLMBatch, ZLMPredictionDict]):
    """Iterative unmasking sampler.

    Contract: ``predict(batch)`` regenerates every position of ``batch["target_mask"]`` (the
    canvas) from ``<mask>``, all other tokens being visible context, and returns ``ids``
    (B, T): each row's generated canvas cut at the first eos and right-padded with the pad
    id, and ``text``: those ids decoded. ``temperature`` 0 picks the argmax token; above 0 it samples.
    """

    def __init__(
        self,
        model=None,
        tokenizer=None,
        num_steps: int = 8,
        unmasking: str = "confidence",
        temperature: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        if unmasking not in UNMASKING:
            raise ValueError(f"unmasking must be one of {UNMASKING}, got {unmasking!r}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        self.num_steps = num_steps
        self.unmasking = unmasking
        self.temperature = temperature

    def _propose(self, logits: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """A token and its probability for every position."""
        logits[..., self.tokenizer.mask_token_id] = float("-inf")  # never propose <mask>
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            tokens = torch.multinomial(probs.flatten(0, 1), 1, generator=generator).view(probs.shape[:2])
            return tokens, probs.gather(-1, tokens[..., None]).squeeze(-1)
        probs, tokens = torch.softmax(logits, dim=-1).max(dim=-1)
        return tokens, probs

    @torch.no_grad()
    def generate(self, batch: ZLMBatch, generator: torch.Generator | None = None) -> Tensor:
        """The full sequences (B, L) after unmasking every target position."""
        mask_id = self.tokenizer.mask_token_id
        target_mask = batch["target_mask"].bool()
        attention_mask = batch.get("attention_mask")
        x = torch.where(target_mask, torch.full_like(batch["input_ids"], mask_id), batch["input_ids"])
        num_targets = target_mask.sum(dim=1)
        for step in range(self.num_steps):
            still_masked = x == mask_id
            k = num_to_commit(num_targets, still_masked.sum(dim=1), step, self.num_steps)
            if not k.any():
                continue
            tokens, confidence = self._propose(self.model(x, attention_mask).float(), generator)
            if self.unmasking == "random":
                confidence = torch.rand(x.shape, device=x.device, generator=generator)
            scores = torch.where(still_masked, confidence, torch.full_like(confidence, float("-inf")))
            commit = top_k_per_row(scores, k) & still_masked
            x = torch.where(commit, tokens, x)
        return x

    def predict(self, batch: ZLMBatch, generator: torch.Generator | None = None, **kwargs: Any) -> ZLMPredictionDict:
        sequences = self.generate(batch, generator)
        targets = self._cut_targets(sequences, batch["target_mask"].bool())
        return {"text": self.tokenizer.batch_decode(targets, skip_special_tokens=True), "ids": targets}

    def _cut_targets(self, sequences: Tensor, target_mask: Tensor) -> Tensor:
        """Each row's target positions, up to (not including) the first eos, padded to (B, T)."""
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        rows: List[Tensor] = []
        for seq, where in zip(sequences, target_mask):
            row = seq[where]
            ends = (row == eos).nonzero()
            rows.append(row[: ends[0, 0]] if len(ends) else row)
        width = max(int(target_mask.sum(dim=1).max()), 1) if len(rows) else 1
        out = torch.full((len(rows), width), pad, dtype=sequences.dtype, device=sequences.device)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out
