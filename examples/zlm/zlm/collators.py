"""ZLM's collators: ``Example``s -> :class:`~zlm.types.ZLMBatch`.

Both lay a row out as ``<bos> context target`` and right-pad the batch with ``<pad>``
(``attention_mask`` 0). They differ in what diffusion may mask (``target_mask``):

- :class:`DefaultZLMCollator` (language modelling): ``<bos> prompt target <eos>``, and every
  token after ``<bos>`` is a target: the model learns the joint distribution.
- :class:`Seq2SeqZLMCollator` (conditional generation, star tasks): the prompt stays visible
  and only a fixed-width *canvas* after it is a target: the target, then ``<eos>`` filling
  the canvas to ``target_length``. A diffusion sampler fills a canvas of known width, so
  the model must learn where the answer ends; filling with ``<eos>`` (as LLaDA does)
  teaches exactly that, and keeps ``<pad>`` meaning only "not part of this row".
"""

from __future__ import annotations

from typing import Any, List

import torch

from xlm.api import Collator, Example

from .types import ZLMBatch


def _stack(rows: List[List[int]], targets: List[List[bool]], pad_id: int) -> ZLMBatch:
    """Right-pad ``rows`` into (B, L) tensors; padding is neither attended to nor a target."""
    length = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    target_mask = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, (row, is_target) in enumerate(zip(rows, targets)):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
        target_mask[i, : len(row)] = torch.tensor(is_target, dtype=torch.bool)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "target_mask": target_mask}


class DefaultZLMCollator(Collator):
    """Unconditional batches: ``<bos> prompt target <eos>``, all but ``<bos>`` maskable."""

    def __call__(self, examples: List[Example]) -> ZLMBatch:
        tok = self.tokenizer
        rows = [[tok.bos_token_id, *ex["prompt_ids"], *ex["target_ids"], tok.eos_token_id] for ex in examples]
        targets = [[False] + [True] * (len(row) - 1) for row in rows]
        return _stack(rows, targets, tok.pad_token_id)


class Seq2SeqZLMCollator(Collator):
    """Conditional batches: visible ``<bos> prompt``, then a target canvas of ``<eos>``-filled width.

    The canvas is ``target_length`` wide (None: the longest target in the batch plus one, so
    every target ends in at least one ``<eos>``). ``target_ids`` (B, T) carries the bare
    targets padded with ``<pad>``, for prediction metrics.
    """

    def __init__(self, tokenizer: Any, target_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(tokenizer)
        self.target_length = target_length

    def __call__(self, examples: List[Example]) -> ZLMBatch:
        tok = self.tokenizer
        longest = max(len(ex["target_ids"]) for ex in examples)
        width = self.target_length if self.target_length is not None else longest + 1
        if longest + 1 > width:
            raise ValueError(f"a target of {longest} tokens (+ <eos>) does not fit target_length={width}")
        rows, targets = [], []
        for ex in examples:
            context = [tok.bos_token_id, *ex["prompt_ids"]]
            canvas = [*ex["target_ids"]] + [tok.eos_token_id] * (width - len(ex["target_ids"]))
            rows.append(context + canvas)
            targets.append([False] * len(context) + [True] * width)
        batch = _stack(rows, targets, tok.pad_token_id)
        batch["target_ids"] = torch.full((len(examples), longest), tok.pad_token_id, dtype=torch.long)
        for i, ex in enumerate(examples):
            batch["target_ids"][i, : len(ex["target_ids"])] = torch.tensor(ex["target_ids"], dtype=torch.long)
        return batch
