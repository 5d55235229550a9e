"""arlm collators: examples -> :class:`arlm.types.ARLMBatch`.

The sequence a causal model trains on is ``<bos> prompt target <eos>`` (no ``<eos>`` after a
block of packed text, whose example says ``add_eos: False``); the labels say which
positions carry loss. The seq2seq collator (star experiments) puts loss on the target and
``<eos>`` only, since the prompt is given; the default collator trains on every token, as a
plain language model does.
"""

from __future__ import annotations

from typing import Any, List

import torch

from arlm.types import ARLMBatch
from xlm.api import Collator, Example
from xlm.batching import pad_ids

IGNORE_INDEX = -100


class ARLMCollator(Collator):
    def __init__(self, tokenizer: Any, loss_on_prompt: bool = False, **kwargs: Any) -> None:
        super().__init__(tokenizer, **kwargs)
        self.loss_on_prompt = loss_on_prompt

    def __call__(self, examples: List[Example]) -> ARLMBatch:
        tok = self.tokenizer
        prompts = [[tok.bos_token_id, *ex["prompt_ids"]] for ex in examples]
        targets = [list(ex["target_ids"]) for ex in examples]
        # A block cut from packed text (add_eos False) carries its own <eos> between documents.
        ends = [[tok.eos_token_id] if ex.get("add_eos", True) else [] for ex in examples]
        input_ids, attention_mask = pad_ids([p + t + e for p, t, e in zip(prompts, targets, ends)], tok.pad_token_id)
        labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
        if not self.loss_on_prompt:
            # Position i of the labels is predicted from position i-1, so masking the prompt
            # positions leaves exactly the target and <eos> as training signal.
            prompt_len = torch.tensor([len(p) for p in prompts])
            labels[torch.arange(labels.size(1))[None, :] < prompt_len[:, None]] = IGNORE_INDEX
        prompt_ids, prompt_attention_mask = pad_ids(prompts, tok.pad_token_id, left=True)
        target_ids, _ = pad_ids(targets, tok.pad_token_id)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "prompt_ids": prompt_ids,
            "prompt_attention_mask": prompt_attention_mask,
            "target_ids": target_ids,
        }
