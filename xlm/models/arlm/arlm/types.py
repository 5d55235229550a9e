"""The batch and output types of arlm, shared by its collator, loss, predictor and metrics."""

from __future__ import annotations

from typing import List, TypedDict

from torch import Tensor


class ARLMBatch(TypedDict):
    input_ids: Tensor  # (batch, seq): <bos> prompt target <eos>, right-padded
    attention_mask: Tensor  # (batch, seq): 1 on real tokens
    labels: Tensor  # (batch, seq): the token to predict at each position, -100 where no loss
    prompt_ids: Tensor  # (batch, prompt_len): <bos> prompt, left-padded so generation appends on the right
    prompt_attention_mask: Tensor  # (batch, prompt_len)
    target_ids: Tensor  # (batch, target_len): the target, right-padded with <pad>


class ARLMLossDict(TypedDict):
    loss: Tensor  # (): mean next-token NLL over all target tokens of the batch
    batch_loss: Tensor  # (batch,): mean next-token NLL of each example
    num_tokens: Tensor  # (batch,): tokens each example's NLL is averaged over (perplexity weights)


class ARLMPredictionDict(TypedDict):
    text: List[str]
    ids: Tensor  # (batch, generated_len): generated tokens before <eos>, right-padded with <pad>
    finished: Tensor  # (batch,): whether <eos> was generated within max_new_tokens
