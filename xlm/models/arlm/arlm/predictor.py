"""arlm predictor: greedy (or sampled) left-to-right decoding from the left-padded prompt.

No key-value cache: the star task's outputs are a handful of tokens, so recomputing the
prefix keeps the code short at little cost. Special tokens other than ``<eos>`` can never be
generated, so the output always decodes to numbers.
"""

from __future__ import annotations

from typing import Any

import torch

from arlm.types import ARLMBatch, ARLMPredictionDict
from xlm.api import Predictor


class ARLMPredictor(Predictor[ARLMBatch, ARLMPredictionDict]):
    def __init__(self, model: Any = None, tokenizer: Any = None, max_new_tokens: int = 32, temperature: float = 0.0, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.max_new_tokens, self.temperature = int(max_new_tokens), float(temperature)

    @torch.no_grad()
    def predict(self, batch: ARLMBatch, **kwargs: Any) -> ARLMPredictionDict:
        tok = self.tokenizer
        ids, mask = batch["prompt_ids"], batch["prompt_attention_mask"]
        banned = [t for t in tok.special_token_ids if t != tok.eos_token_id]
        finished = torch.zeros(ids.size(0), dtype=torch.bool, device=ids.device)
        generated = []
        for _ in range(self.max_new_tokens):
            logits = self.model(ids, attention_mask=mask)[:, -1].float()
            logits[:, banned] = float("-inf")
            if self.temperature > 0:
                step = torch.multinomial((logits / self.temperature).softmax(-1), 1).squeeze(1)
            else:
                step = logits.argmax(-1)
            step = step.masked_fill(finished, tok.pad_token_id)
            generated.append(step)
            ids = torch.cat([ids, step[:, None]], dim=1)
            mask = torch.cat([mask, (~finished).long()[:, None]], dim=1)
            finished |= step == tok.eos_token_id
            if finished.all():
                break
        out = torch.stack(generated, dim=1) if generated else ids[:, :0]
        out = out.masked_fill(out == tok.eos_token_id, tok.pad_token_id)
        width = int((out != tok.pad_token_id).sum(dim=1).max().item()) if out.numel() else 0
        out = out[:, :width]  # drop the columns that held only <eos> and padding
        return {"text": tok.batch_decode(out, skip_special_tokens=True), "ids": out, "finished": finished}
