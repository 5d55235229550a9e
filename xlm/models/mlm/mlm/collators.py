"""mlm collators: examples -> :class:`mlm.types.MLMBatch`, with nothing masked yet.

Masking is random, so it happens in the loss (fresh every step) and in the predictor (all of
the target), never here: the collator stays deterministic. The seq2seq collator lets the
loss mask only the target; the default collator lets it mask any real token after ``<bos>``.
"""

from __future__ import annotations

from typing import Any, List

import torch

from mlm.types import MLMBatch
from xlm.api import Collator, Example
from xlm.batching import pad_ids


class MLMCollator(Collator):
    def __init__(self, tokenizer: Any, loss_on_prompt: bool = False, **kwargs: Any) -> None:
        super().__init__(tokenizer, **kwargs)
        self.loss_on_prompt = loss_on_prompt

    def __call__(self, examples: List[Example]) -> MLMBatch:
        tok = self.tokenizer
        prompts = [[tok.bos_token_id, *ex["prompt_ids"]] for ex in examples]
        targets = [list(ex["target_ids"]) for ex in examples]
        input_ids, attention_mask = pad_ids([p + t for p, t in zip(prompts, targets)], tok.pad_token_id)
        column = torch.arange(input_ids.size(1))[None, :]
        prompt_len = torch.tensor([len(p) for p in prompts])[:, None]
        target_mask = (column >= prompt_len) & attention_mask.bool()
        loss_mask = (column >= 1) & attention_mask.bool() if self.loss_on_prompt else target_mask
        target_ids, _ = pad_ids(targets, tok.pad_token_id)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "loss_mask": loss_mask,
            "target_mask": target_mask,
            "target_ids": target_ids,
        }
