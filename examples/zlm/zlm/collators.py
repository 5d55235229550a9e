"""ZLM's collator: ``Example``s -> :class:`~zlm.types.ZLMBatch`, nothing masked yet.

Every row is ``<bos> prompt canvas``, right-padded with ``<pad>`` (``attention_mask`` 0).
The *canvas* is the target followed by ``<eos>`` up to a fixed width: a diffusion sampler
fills a canvas of known width, so the model must learn where its answer ends, and filling
with ``<eos>`` (as LLaDA does) teaches exactly that while ``<pad>`` keeps meaning only "not
part of this row". Masking is random, so it happens in the loss (fresh every step) and in
the predictor (the whole canvas), never here: the collator stays deterministic.

``loss_on_prompt`` picks what the loss may mask: the canvas only (seq2seq, what star
experiments use) or every token after ``<bos>`` (plain language modelling of the row).
"""

from __future__ import annotations

from typing import Any, List

import torch

from xlm.api import Collator, Example
from xlm.batching import pad_ids

from .types import ZLMBatch


class ZLMCollator(Collator):
    """Batches ``<bos> prompt target <eos>...`` with the canvas ``target_length`` wide.

    ``target_length`` None: the batch's longest target plus one, so every target ends in at
    least one ``<eos>``; an example with ``add_eos: False`` (a block of packed text) gets no
    ``<eos>`` fill and its canvas is the target alone. ``target_ids`` carries the bare targets
    padded with ``<pad>``, for prediction metrics.
    """

    def __init__(self, tokenizer: Any, loss_on_prompt: bool = False, target_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(tokenizer, **kwargs)
        self.loss_on_prompt = loss_on_prompt
        self.target_length = target_length

    def __call__(self, examples: List[Example]) -> ZLMBatch:
        tok = self.tokenizer
        # A block cut from packed text (add_eos False) has no end to mark: its canvas is the block itself.
        ends = [bool(ex.get("add_eos", True)) for ex in examples]
        needed = max(len(ex["target_ids"]) + end for ex, end in zip(examples, ends))
        width = self.target_length if self.target_length is not None else needed
        if needed > width:
            raise ValueError(f"a target of {needed - 1} tokens (+ <eos>) does not fit target_length={width}")
        prompts = [[tok.bos_token_id, *ex["prompt_ids"]] for ex in examples]
        canvases = [[*ex["target_ids"]] + [tok.eos_token_id] * (width - len(ex["target_ids"])) * end
                    for ex, end in zip(examples, ends)]
        input_ids, attention_mask = pad_ids([p + c for p, c in zip(prompts, canvases)], tok.pad_token_id)

        column = torch.arange(input_ids.size(1))[None, :]
        prompt_len = torch.tensor([len(p) for p in prompts])[:, None]
        real = attention_mask.bool()
        target_mask = (column >= prompt_len) & real
        loss_mask = (column >= 1) & real if self.loss_on_prompt else target_mask
        target_ids, _ = pad_ids([ex["target_ids"] for ex in examples], tok.pad_token_id)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "loss_mask": loss_mask,
            "target_mask": target_mask,
            "target_ids": target_ids,
        }
