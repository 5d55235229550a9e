"""arlm's collator, loss and predictor, on hand-made examples and a rigged model."""

from __future__ import annotations

import torch
from torch import nn

from arlm.collators import IGNORE_INDEX, ARLMCollator
from arlm.loss import ARLMLoss
from arlm.model import ARLMTransformer
from arlm.predictor import ARLMPredictor

EXAMPLES = [
    {"prompt_ids": [5, 6, 4], "target_ids": [7, 8]},
    {"prompt_ids": [9, 4], "target_ids": [10, 11, 12]},
]


def test_seq2seq_collator_puts_loss_on_target_and_eos_only(tokenizer):
    batch = ARLMCollator(tokenizer)(EXAMPLES)
    assert batch["input_ids"].tolist() == [[1, 5, 6, 4, 7, 8, 2], [1, 9, 4, 10, 11, 12, 2]]
    assert batch["attention_mask"].tolist() == [[1] * 7, [1] * 7]
    x = IGNORE_INDEX
    assert batch["labels"].tolist() == [[x, x, x, x, 7, 8, 2], [x, x, x, 10, 11, 12, 2]]
    # prompts are left-padded so that generation appends on the right
    assert batch["prompt_ids"].tolist() == [[1, 5, 6, 4], [0, 1, 9, 4]]
    assert batch["prompt_attention_mask"].tolist() == [[1, 1, 1, 1], [0, 1, 1, 1]]
    assert batch["target_ids"].tolist() == [[7, 8, 0], [10, 11, 12]]


def test_default_collator_trains_on_every_token_but_padding(tokenizer):
    batch = ARLMCollator(tokenizer, loss_on_prompt=True)([EXAMPLES[0], {"prompt_ids": [4], "target_ids": [5]}])
    assert batch["labels"].tolist() == [[1, 5, 6, 4, 7, 8, 2], [1, 4, 5, 2, x := IGNORE_INDEX, x, x]]


def test_model_positions_ignore_left_padding(tokenizer):
    torch.manual_seed(0)
    model = ARLMTransformer(tokenizer.full_vocab_size, d_model=32, num_layers=1, num_heads=2).eval()
    plain = model(torch.tensor([[1, 9, 4]]))
    padded = model(torch.tensor([[0, 0, 1, 9, 4]]), attention_mask=torch.tensor([[0, 0, 1, 1, 1]]))
    assert torch.allclose(plain, padded[:, 2:], atol=1e-5)
    assert torch.isfinite(padded).all()


def test_loss_is_per_example_next_token_nll_and_trains(tokenizer):
    torch.manual_seed(0)
    model = ARLMTransformer(tokenizer.full_vocab_size, d_model=32, num_layers=1, num_heads=2)
    loss_fn = ARLMLoss(model=model, tokenizer=tokenizer)
    batch = ARLMCollator(tokenizer)(EXAMPLES)
    out = loss_fn(batch)
    assert out["batch_loss"].shape == (2,)
    # the scalar is the token mean: example 0 has 3 target tokens (2 + eos), example 1 has 4
    assert torch.isclose(out["loss"], (3 * out["batch_loss"][0] + 4 * out["batch_loss"][1]) / 7)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = out["loss"].item()
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn(batch)["loss"].backward()
        optimizer.step()
    assert loss_fn(batch)["loss"].item() < first / 10


class CountingModel(nn.Module):
    """Predicts ``last token + 1`` and <eos> after token ``stop`` (ids, not numbers)."""

    def __init__(self, vocab: int, stop: int) -> None:
        super().__init__()
        self.vocab, self.stop = vocab, stop

    def forward(self, input_ids, attention_mask=None, **kw):
        nxt = torch.where(input_ids == self.stop, torch.full_like(input_ids, 2), (input_ids + 1) % self.vocab)
        return nn.functional.one_hot(nxt, self.vocab).float()


def test_predictor_generates_until_eos_and_pads_after(tokenizer):
    batch = ARLMCollator(tokenizer)([{"prompt_ids": [5], "target_ids": []}, {"prompt_ids": [6, 7], "target_ids": []}])
    predictor = ARLMPredictor(CountingModel(tokenizer.full_vocab_size, stop=9), tokenizer, max_new_tokens=10)
    out = predictor(batch)
    assert out["ids"].tolist() == [[6, 7, 8, 9], [8, 9, 0, 0]]
    assert out["text"] == ["1 2 3 4", "3 4"]
    assert out["finished"].tolist() == [True, True]


def test_predictor_stops_at_max_new_tokens(tokenizer):
    batch = ARLMCollator(tokenizer)([{"prompt_ids": [5], "target_ids": []}])
    out = ARLMPredictor(CountingModel(tokenizer.full_vocab_size, stop=99), tokenizer, max_new_tokens=6)(batch)
    assert out["ids"].tolist() == [[6, 7, 8, 9, 10, 11]] and out["finished"].tolist() == [False]


class SpecialLovingModel(nn.Module):
    """Prefers <mask> by far, then the number 2 (id 7)."""

    def forward(self, input_ids, attention_mask=None, **kw):
        logits = torch.zeros(*input_ids.shape, 25)
        logits[..., 3], logits[..., 7] = 10.0, 1.0
        return logits


def test_predictor_never_emits_special_tokens_other_than_eos(tokenizer):
    batch = ARLMCollator(tokenizer)([{"prompt_ids": [5], "target_ids": []}])
    out = ARLMPredictor(SpecialLovingModel(), tokenizer, max_new_tokens=3)(batch)
    assert out["ids"].tolist() == [[7, 7, 7]] and out["text"] == ["2 2 2"]


def test_a_misspelt_config_key_is_named_not_dropped(caplog):
    """The base classes took `**kwargs` and dropped them: `max_new_tokns: 6` ran with the default 32, unsaid."""
    with caplog.at_level("WARNING", logger="xlm.api"):
        predictor = ARLMPredictor(max_new_tokns=6)
    assert predictor.max_new_tokens == 32
    assert caplog.messages == ["Warning: ARLMPredictor ignores the config key(s) ['max_new_tokns']: neither it nor "
                               "xlm.api.Predictor takes them (misspelt? `--cfg job` prints the composed config)"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="xlm.api"):
        ARLMPredictor(max_new_tokens=6)
    assert caplog.messages == []
