import pytest
import torch
from mdlm.datamodule_mdlm import DefaultMDLMCollator, MDLMSeq2SeqCollator

BOS, EOS, PAD = 1, 2, 0


def test_rows_are_bos_prompt_target_eos_then_canvas_pads(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples)
    assert batch["input_ids"].tolist() == [
        [BOS, 5, 6, 7, 4, 8, 9, 10, EOS, PAD, PAD],
        [BOS, 11, 4, 12, EOS, PAD, PAD, PAD, PAD, PAD, PAD],
    ]
    # canvas pads are part of the row (attended, predicted); only batch padding is 0
    assert batch["attention_mask"].tolist() == [[1] * 11, [1] * 9 + [0, 0]]
    assert batch["target_mask"].sum(dim=1).tolist() == [6, 6]
    assert batch["target_mask"][0, 5:].all() and not batch["target_mask"][0, :5].any()
    assert batch["target_mask"][1, 3:9].all() and not batch["target_mask"][1, 9:].any()
    assert torch.equal(batch["loss_mask"], batch["target_mask"])
    assert batch["target_ids"].tolist() == [[8, 9, 10], [12, PAD, PAD]]


def test_no_block_size_makes_the_canvas_the_longest_target_plus_eos(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer)(examples)
    assert batch["target_mask"].sum(dim=1).tolist() == [4, 4]
    assert batch["input_ids"][1, 3:7].tolist() == [12, EOS, PAD, PAD]


def test_a_target_longer_than_the_canvas_is_refused(tokenizer, examples):
    with pytest.raises(ValueError, match="does not fit block_size=3"):
        MDLMSeq2SeqCollator(tokenizer, block_size=3)(examples)


def test_default_collator_lets_the_loss_mask_the_prompt_but_not_bos(tokenizer, examples):
    batch = DefaultMDLMCollator(tokenizer, block_size=6)(examples)
    assert batch["loss_mask"].tolist()[1] == [False] + [True] * 8 + [False, False]
    # the predictor still regenerates only the canvas
    assert torch.equal(batch["target_mask"], MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples)["target_mask"])


def test_collating_is_deterministic(tokenizer, examples):
    collate = MDLMSeq2SeqCollator(tokenizer, block_size=6)
    first, second = collate(examples), collate(examples)
    assert all(torch.equal(first[k], second[k]) for k in first)
