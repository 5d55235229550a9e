"""Collators: turn the datamodule's ``Example``s into a ``{{Name}}Batch``.

Contract: the datamodule builds the collator named by ``collator:`` (configs/collator/) with
``tokenizer=`` and calls it on a list of ``Example`` (``prompt_ids``, ``target_ids``: plain
token ids, no special tokens). Two flavours, as in the core models:

- ``Default{{Name}}Collator``: language modelling on the whole sequence (pre-training style).
- ``Seq2Seq{{Name}}Collator``: learn the target given the prompt, and add what generation and
  the exact-match metric need (the prompt alone, the target alone).
"""

from __future__ import annotations

from typing import List

import torch

from xlm.api import Collator, Example
from xlm.batching import pad_ids

from .types import {{Name}}Batch


class Default{{Name}}Collator(Collator):
    """``<bos> prompt target <eos>``, right-padded; every token after ``<bos>`` is learned."""

    def sequences(self, examples: List[Example]) -> List[List[int]]:
        tok = self.tokenizer
        return [[tok.bos_token_id, *ex["prompt_ids"], *ex["target_ids"], tok.eos_token_id] for ex in examples]

    def loss_mask(self, examples: List[Example], attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.clone()
        mask[:, 0] = False  # nothing predicts <bos>
        return mask

    def __call__(self, examples: List[Example]) -> {{Name}}Batch:
        input_ids, attention_mask = pad_ids(self.sequences(examples), self.tokenizer.pad_token_id)
        attention_mask = attention_mask.bool()
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "loss_mask": self.loss_mask(examples, attention_mask),
        }


class Seq2Seq{{Name}}Collator(Default{{Name}}Collator):
    """Learn only ``target <eos>`` given ``<bos> prompt``; also hand over prompt and target.

    TODO: if your model is not left-to-right, this is where its inputs change (e.g. mask the
    target and let the model fill it in).
    """

    def loss_mask(self, examples: List[Example], attention_mask: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(attention_mask)
        for row, ex in enumerate(examples):
            start = 1 + len(ex["prompt_ids"])  # first target token, after <bos> and the prompt
            mask[row, start : start + len(ex["target_ids"]) + 1] = True  # the target and <eos>
        return mask

    def __call__(self, examples: List[Example]) -> {{Name}}Batch:
        batch = super().__call__(examples)
        tok = self.tokenizer
        prompts = [[tok.bos_token_id, *ex["prompt_ids"]] for ex in examples]
        prompt_ids, prompt_attention_mask = pad_ids(prompts, tok.pad_token_id, left=True)
        batch["prompt_ids"], batch["prompt_attention_mask"] = prompt_ids, prompt_attention_mask.bool()
        batch["target_ids"], _ = pad_ids([ex["target_ids"] for ex in examples], tok.pad_token_id)
        return batch


__all__ = ["Default{{Name}}Collator", "Seq2Seq{{Name}}Collator"]
