"""Padding lists of token ids into tensors: the one chore every collator shares."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def pad_ids(seqs: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[Tensor, Tensor]:
    """Stack ``seqs`` into ``(ids, mask)`` of shape (batch, longest), padding on the right or left.

    Left padding keeps the last real token of every row in the last column, which is where a
    causal model generates from.
    """
    width = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        if not seq:
            continue
        span = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, span] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask
