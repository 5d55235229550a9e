import pytest
import torch
from zlm.collators import DefaultZLMCollator, Seq2SeqZLMCollator

BOS, EOS, PAD = 1, 2, 0


def test_default_collator_layout_and_masks(tokenizer, examples):
    batch = DefaultZLMCollator(tokenizer)(examples)
    assert batch["input_ids"].tolist() == [
        [BOS, 5, 6, 7, 4, 8, 9, 10, EOS],
        [BOS, 11, 4, 12, EOS, PAD, PAD, PAD, PAD],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 9, [1] * 5 + [0] * 4]
    # everything but <bos> and padding may be masked
    assert batch["target_mask"].tolist() == [[False] + [True] * 8, [False] + [True] * 4 + [False] * 4]
    assert "target_ids" not in batch


def test_seq2seq_collator_keeps_prompt_visible_and_fills_canvas_with_eos(tokenizer, examples):
    batch = Seq2SeqZLMCollator(tokenizer)(examples)
    # canvas = longest target (3) + 1
    assert batch["input_ids"].tolist() == [
        [BOS, 5, 6, 7, 4, 8, 9, 10, EOS],
        [BOS, 11, 4, 12, EOS, EOS, EOS, PAD, PAD],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 9, [1] * 7 + [0] * 2]
    assert batch["target_mask"].tolist() == [[False] * 5 + [True] * 4, [False] * 3 + [True] * 4 + [False] * 2]
    assert batch["target_ids"].tolist() == [[8, 9, 10], [12, PAD, PAD]]
    assert batch["input_ids"].dtype == batch["target_ids"].dtype == torch.long
    assert batch["target_mask"].dtype == torch.bool


def test_seq2seq_fixed_target_length(tokenizer, examples):
    batch = Seq2SeqZLMCollator(tokenizer, target_length=6)(examples)
    assert batch["target_mask"].sum(dim=1).tolist() == [6, 6]
    assert batch["input_ids"][1, 3:9].tolist() == [12] + [EOS] * 5
    with pytest.raises(ValueError, match="target_length=3"):
        Seq2SeqZLMCollator(tokenizer, target_length=3)(examples)
