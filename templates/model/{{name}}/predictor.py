"""{{Name}}Predictor: greedy left-to-right decoding after the prompt.

Contract: the harness builds it from ``predictor:`` in ``configs/model_type/{{name}}.yaml``
with ``model=`` and ``tokenizer=``, and calls ``predict(batch)`` on the batches of the
splits that generate (seq2seq collators). It returns at least ``text`` (one string per
example) and ``ids`` (batch, generated_len), padded with the tokenizer's pad id, which the
exact-match metric compares with ``batch["target_ids"]``.
"""

from __future__ import annotations

from typing import Any

import torch

from xlm.api import Predictor

from .types import {{Name}}Batch, {{Name}}PredictionDict


class {{Name}}Predictor(Predictor[{{Name}}Batch, {{Name}}PredictionDict]):
    """TODO: change the decoding here (sampling, beam search, iterative unmasking)."""

    def __init__(self, model=None, tokenizer=None, max_new_tokens: int = 32, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.max_new_tokens = max_new_tokens

    @torch.no_grad()
    def predict(self, batch: {{Name}}Batch, **kwargs: Any) -> {{Name}}PredictionDict:
        ids, mask = batch["prompt_ids"], batch["prompt_attention_mask"].bool()
        prompt_len = ids.shape[1]
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(self.max_new_tokens):
            # No KV cache: the model is tiny and this keeps the loop easy to change.
            next_ids = self.model(ids, mask)[:, -1].argmax(-1)
            ids = torch.cat([ids, next_ids[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(next_ids[:, None], dtype=torch.bool)], dim=1)
            done |= next_ids == self.tokenizer.eos_token_id
            if done.all():
                break
        generated = ids[:, prompt_len:]
        # Everything from the first eos on is not part of the answer.
        after_eos = (generated == self.tokenizer.eos_token_id).long().cumsum(-1) > 0
        generated = generated.masked_fill(after_eos, self.tokenizer.pad_token_id)
        text = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return {"text": text, "ids": generated}
