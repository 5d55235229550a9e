"""mdlm's collators: ``Example``s -> a clean :class:`~mdlm.types_mdlm.MDLMBatch`.

A row is ``<bos> prompt canvas``; the *canvas* is the target, ``<eos>``, then ``<pad>`` up to
``block_size`` (xlm-core's name for it). As in xlm-core's ``loss_on_padding: true``, the
``<pad>``s inside the canvas are ordinary tokens: attended to, maskable and predicted, so
the model learns to close its answer and leave the rest of a fixed-width canvas empty.
Rows of a batch are then right-padded to one length; only that batch padding has
``attention_mask`` 0.

xlm-core reads ``prompt_ids`` and ``input_ids`` (its target) and puts ``[BOS]`` between
them; here an ``Example`` is ``{"prompt_ids", "target_ids"}`` and the star prompt already
ends in ``<sep>``, so ``<bos>`` opens the row instead. The file keeps xlm-core's name so the
``_target_``s of a ported config stay ``mdlm.datamodule_mdlm.*``.
"""

from __future__ import annotations

from typing import Any, List

import torch

from xlm.api import Collator, Example
from xlm.batching import pad_ids

from .types_mdlm import MDLMBatch


class MDLMSeq2SeqCollator(Collator):
    """Prompt -> target: the prompt stays visible, the forward process masks only the canvas.

    ``block_size`` None: the batch's longest target plus one (room for ``<eos>``).
    """

    loss_on_prompt = False

    def __init__(self, tokenizer: Any, block_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(tokenizer, **kwargs)
        self.block_size = block_size

    def __call__(self, examples: List[Example]) -> MDLMBatch:
        tok = self.tokenizer
        longest = max(len(ex["target_ids"]) for ex in examples)
        width = self.block_size if self.block_size is not None else longest + 1
        if longest + 1 > width:
            raise ValueError(f"a target of {longest} tokens plus <eos> does not fit block_size={width}")
        prompts = [[tok.bos_token_id, *ex["prompt_ids"]] for ex in examples]
        canvases = [[*ex["target_ids"], tok.eos_token_id] + [tok.pad_token_id] * (width - len(ex["target_ids"]) - 1) for ex in examples]
        input_ids, attention_mask = pad_ids([p + c for p, c in zip(prompts, canvases)], tok.pad_token_id)

        column = torch.arange(input_ids.size(1))[None, :]
        real = attention_mask.bool()
        target_mask = (column >= torch.tensor([len(p) for p in prompts])[:, None]) & real
        loss_mask = (column >= 1) & real if self.loss_on_prompt else target_mask  # <bos> is never masked
        target_ids, _ = pad_ids([ex["target_ids"] for ex in examples], tok.pad_token_id)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "loss_mask": loss_mask,
            "target_mask": target_mask,
            "target_ids": target_ids,
        }


class DefaultMDLMCollator(MDLMSeq2SeqCollator):
    """Language modelling of the whole row: the forward process may mask prompt tokens too.

    The predictor still regenerates only the canvas, so prediction metrics stay comparable.
    """

    loss_on_prompt = True
