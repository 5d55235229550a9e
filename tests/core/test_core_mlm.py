"""mlm's collator, loss and predictor, on hand-made examples and a rigged model."""

from __future__ import annotations

import torch
from torch import nn

from mlm.collators import MLMCollator
from mlm.loss import MLMLoss
from mlm.model import MLMTransformer
from mlm.predictor import MLMPredictor

EXAMPLES = [
    {"prompt_ids": [5, 6, 4], "target_ids": [7, 8]},
    {"prompt_ids": [9, 4], "target_ids": [10, 11, 12]},
]


def test_seq2seq_collator_marks_the_target_and_masks_nothing(tokenizer):
    batch = MLMCollator(tokenizer)(EXAMPLES)
    assert batch["input_ids"].tolist() == [[1, 5, 6, 4, 7, 8], [1, 9, 4, 10, 11, 12]]
    assert batch["target_mask"].tolist() == [[False] * 4 + [True] * 2, [False] * 3 + [True] * 3]
    assert torch.equal(batch["loss_mask"], batch["target_mask"])
    assert batch["target_ids"].tolist() == [[7, 8, 0], [10, 11, 12]]


def test_default_collator_lets_the_loss_mask_any_real_token_after_bos(tokenizer):
    batch = MLMCollator(tokenizer, loss_on_prompt=True)([EXAMPLES[0], {"prompt_ids": [4], "target_ids": [5]}])
    assert batch["loss_mask"].tolist() == [[False] + [True] * 5, [False, True, True, False, False, False]]


def test_loss_masks_only_candidates_and_at_least_one(tokenizer):
    torch.manual_seed(0)
    model = MLMTransformer(tokenizer.full_vocab_size, d_model=32, num_layers=1, num_heads=2)
    seen = []
    original_forward = model.forward

    def spy(input_ids, attention_mask=None, **kw):
        seen.append(input_ids.clone())
        return original_forward(input_ids, attention_mask=attention_mask)

    model.forward = spy
    loss_fn = MLMLoss(model=model, tokenizer=tokenizer)
    batch = MLMCollator(tokenizer)(EXAMPLES * 20)
    for _ in range(5):
        out = loss_fn(batch)
        masked = seen[-1] == tokenizer.mask_token_id
        assert not (masked & ~batch["target_mask"]).any()
        assert (masked.sum(dim=1) >= 1).all()
        assert torch.equal(out["num_masked"], masked.sum(dim=1))
        assert out["batch_loss"].shape == (40,) and torch.isfinite(out["loss"])


def test_loss_trains(tokenizer):
    torch.manual_seed(0)
    model = MLMTransformer(tokenizer.full_vocab_size, d_model=32, num_layers=1, num_heads=2)
    loss_fn = MLMLoss(model=model, tokenizer=tokenizer)
    batch = MLMCollator(tokenizer)(EXAMPLES)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = sum(loss_fn(batch)["loss"].item() for _ in range(5)) / 5
    for _ in range(80):
        optimizer.zero_grad()
        loss_fn(batch)["loss"].backward()
        optimizer.step()
    assert sum(loss_fn(batch)["loss"].item() for _ in range(5)) / 5 < first / 10


class AnswerModel(nn.Module):
    """Knows the answer (``answer[i]`` at position i), surer of later positions; records inputs."""

    def __init__(self, vocab: int, answer: torch.Tensor) -> None:
        super().__init__()
        self.vocab, self.answer, self.calls = vocab, answer, []

    def forward(self, input_ids, attention_mask=None, **kw):
        self.calls.append(input_ids.clone())
        confidence = torch.arange(1, input_ids.size(1) + 1, dtype=torch.float)[None, :, None]
        return nn.functional.one_hot(self.answer, self.vocab).float() * confidence


def test_predictor_fills_every_target_position_one_per_step(tokenizer):
    batch = MLMCollator(tokenizer)(EXAMPLES)
    model = AnswerModel(tokenizer.full_vocab_size, batch["input_ids"])
    out = MLMPredictor(model, tokenizer)(batch)
    assert out["ids"].tolist() == [[7, 8, 0], [10, 11, 12]]
    assert out["text"] == ["2 3", "5 6 7"]
    first = model.calls[0]
    assert (first[batch["target_mask"]] == tokenizer.mask_token_id).all()  # the answer never leaks in
    assert len(model.calls) == 3  # the longest target, one token per step
    # most confident (rightmost) position first: after step 1 only the last target token is known
    assert model.calls[1][1].tolist() == [1, 9, 4, 3, 3, 12]


def test_one_step_prediction_fills_everything_at_once(tokenizer):
    batch = MLMCollator(tokenizer)(EXAMPLES)
    model = AnswerModel(tokenizer.full_vocab_size, batch["input_ids"])
    out = MLMPredictor(model, tokenizer, num_steps=1)(batch)
    assert len(model.calls) == 1 and out["ids"].tolist() == [[7, 8, 0], [10, 11, 12]]
