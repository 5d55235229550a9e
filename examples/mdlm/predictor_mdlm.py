"""MDLM's sampler: ancestral sampling of the reverse process, from an all-``<mask>`` canvas.

Time runs from 1 to 0 in ``num_steps`` equal steps. From ``t`` to ``s < t`` a still-masked
position is revealed with probability ``(move_chance(t) - move_chance(s)) / move_chance(t)``
(the exact posterior of the absorbing process), and then takes a token drawn from the
network's prediction. Revealed tokens are never masked again (SUBS carry-over). At the last
step ``move_chance(0) = 0``, so every position is revealed and no separate final pass is
needed. With ``top_k: 1`` the token is the argmax; which positions are revealed when stays
random, as in MDLM (xlm-core's ``MDLMPredictor`` with ``top_k``).

xlm-core's predictor takes ``(batch, batch_idx, dataloader_idx, dataloader_name)``, reads a
prompt-only batch and returns prompt + output with ``output_start_idx``; here it reads the
same batch as the loss, regenerates ``target_mask`` and returns only the output.
"""

from __future__ import annotations

from typing import Any, List

import torch
from torch import Tensor

from xlm.api import Predictor

from .noise_mdlm import LogLinearSchedule
from .types_mdlm import MDLMBatch, MDLMPredictionDict


class MDLMPredictor(Predictor[MDLMBatch, MDLMPredictionDict]):
    """``predict(batch)`` -> ``text`` and ``ids``: each canvas cut at its first ``<eos>``.

    ``top_k`` None samples from the full distribution; k samples among the k likeliest.
    """

    def __init__(
        self,
        model=None,
        tokenizer=None,
        noise_schedule: LogLinearSchedule | None = None,
        num_steps: int = 8,
        top_k: int | None = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1 or null, got {top_k}")
        self.noise_schedule = noise_schedule if noise_schedule is not None else LogLinearSchedule()
        self.num_steps = num_steps
        self.top_k = top_k

    def _sample_tokens(self, logits: Tensor, generator: torch.Generator | None) -> Tensor:
        logits[..., self.tokenizer.mask_token_id] = float("-inf")  # SUBS: never propose <mask>
        if self.top_k == 1:
            return logits.argmax(dim=-1)
        if self.top_k is not None:
            kth = logits.topk(self.top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs.flatten(0, 1), 1, generator=generator).view(probs.shape[:2])

    @torch.no_grad()
    def generate(self, batch: MDLMBatch, generator: torch.Generator | None = None) -> Tensor:
        """The full rows (B, L) after the canvas (``target_mask``) has been regenerated."""
        mask_id, schedule = self.tokenizer.mask_token_id, self.noise_schedule
        canvas = batch["target_mask"].bool()
        x = torch.where(canvas, torch.full_like(batch["input_ids"], mask_id), batch["input_ids"])
        times = torch.linspace(1.0, 0.0, self.num_steps + 1, device=x.device)
        for t, s in zip(times[:-1], times[1:]):
            masked = x == mask_id
            if not masked.any():
                break
            t_batch = t.expand(x.size(0))
            tokens = self._sample_tokens(self.model(x, batch.get("attention_mask"), noise=schedule.total_noise(t_batch)).float(), generator)
            chance_t, chance_s = schedule.move_chance(t), schedule.move_chance(s)
            reveal = masked & (torch.rand(x.shape, device=x.device, generator=generator) < (chance_t - chance_s) / chance_t)
            x = torch.where(reveal, tokens, x)
        return x

    def predict(self, batch: MDLMBatch, generator: torch.Generator | None = None, **kwargs: Any) -> MDLMPredictionDict:
        ids = self.cut_canvases(self.generate(batch, generator), batch["target_mask"].bool())
        return {"text": self.tokenizer.batch_decode(ids, skip_special_tokens=True), "ids": ids}

    def cut_canvases(self, rows: Tensor, canvas: Tensor) -> Tensor:
        """Each row's canvas up to (not including) its first ``<eos>``, right-padded to (B, T)."""
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        outputs: List[Tensor] = []
        for row, where in zip(rows, canvas):
            out = row[where]
            ends = (out == eos).nonzero()
            outputs.append(out[: ends[0, 0]] if len(ends) else out)
        width = max(int(canvas.sum(dim=1).max()) if len(outputs) else 0, 1)
        ids = torch.full((len(outputs), width), pad, dtype=rows.dtype, device=rows.device)
        for i, out in enumerate(outputs):
            ids[i, : len(out)] = out
        return ids
