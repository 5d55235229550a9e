"""The data that flows between the components of {{name}}: one TypedDict per hand-off.

Collators build a ``{{Name}}Batch``; the loss function reads it and returns a
``{{Name}}LossDict``; the predictor reads it and returns a ``{{Name}}PredictionDict``. When
you add a field (a noise level, a second mask), declare it here first so every component
agrees on its name and shape.
"""

from __future__ import annotations

from typing import List, NotRequired, TypedDict

from torch import Tensor


class {{Name}}Batch(TypedDict):
    """A padded batch for a causal (left-to-right) language model.

    ``input_ids`` is ``<bos> prompt target <eos>`` padded on the right; the model predicts
    token ``t + 1`` from tokens ``<= t``. ``loss_mask`` marks the tokens whose prediction
    counts in the loss. Seq2seq collators add what the predictor and the metrics need:
    the prompt alone (left-padded, so that generation appends on the right) and the target.
    """

    input_ids: Tensor  # (batch, seq_len) long
    attention_mask: Tensor  # (batch, seq_len) bool, True on real tokens
    loss_mask: Tensor  # (batch, seq_len) bool, True where input_ids[t] is predicted from input_ids[:t]
    prompt_ids: NotRequired[Tensor]  # (batch, prompt_len) long, <bos> prompt, left-padded
    prompt_attention_mask: NotRequired[Tensor]  # (batch, prompt_len) bool
    target_ids: NotRequired[Tensor]  # (batch, target_len) long, padded with the pad id


class {{Name}}LossDict(TypedDict):
    loss: Tensor  # () the mean loss over the batch's counted tokens
    batch_loss: Tensor  # (batch,) the mean loss of each example
    token_accuracy: Tensor  # (batch,) fraction of counted tokens predicted right (teacher forcing)


class {{Name}}PredictionDict(TypedDict):
    text: List[str]  # one decoded string per example
    ids: Tensor  # (batch, generated_len) generated ids, eos and after replaced by the pad id
