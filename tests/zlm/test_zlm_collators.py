import pytest
import torch
from zlm.collators import ZLMCollator

BOS, EOS, PAD = 1, 2, 0


def test_seq2seq_layout_keeps_prompt_visible_and_fills_canvas_with_eos(tokenizer, examples):
    batch = ZLMCollator(tokenizer)(examples)
    # canvas = longest target (3) + 1
    assert batch["input_ids"].tolist() == [
        [BOS, 5, 6, 7, 4, 8, 9, 10, EOS],
        [BOS, 11, 4, 12, EOS, EOS, EOS, PAD, PAD],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 9, [1] * 7 + [0] * 2]
    assert batch["target_mask"].tolist() == [[False] * 5 + [True] * 4, [False] * 3 + [True] * 4 + [False] * 2]
    assert torch.equal(batch["loss_mask"], batch["target_mask"])
    assert batch["target_ids"].tolist() == [[8, 9, 10], [12, PAD, PAD]]
    assert batch["input_ids"].dtype == batch["target_ids"].dtype == torch.long
    assert batch["target_mask"].dtype == batch["loss_mask"].dtype == torch.bool


def test_loss_on_prompt_makes_every_real_token_after_bos_maskable(tokenizer, examples):
    batch = ZLMCollator(tokenizer, loss_on_prompt=True)(examples)
    assert batch["loss_mask"].tolist() == [[False] + [True] * 8, [False] + [True] * 6 + [False] * 2]
    # the predictor still generates only the canvas
    assert torch.equal(batch["target_mask"], ZLMCollator(tokenizer)(examples)["target_mask"])


def test_fixed_target_length(tokenizer, examples):
    batch = ZLMCollator(tokenizer, target_length=6)(examples)
    assert batch["target_mask"].sum(dim=1).tolist() == [6, 6]
    assert batch["input_ids"][1, 3:9].tolist() == [12] + [EOS] * 5
    with pytest.raises(ValueError, match="target_length=3"):
        ZLMCollator(tokenizer, target_length=3)(examples)
