import pytest
import torch
from torch import nn
from zlm.collators import ZLMCollator
from zlm.predictor import ZLMPredictor, num_to_commit

MASK, EOS, PAD = 3, 2, 0


class OracleModel(nn.Module):
    """Knows the clean sequence; its confidence in each position is set by ``certainty``.

    Records every input so tests can follow the unmasking order.
    """

    def __init__(self, clean, vocab, certainty=None):
        super().__init__()
        self.clean, self.vocab = clean, vocab
        self.certainty = certainty if certainty is not None else torch.full(clean.shape, 10.0)
        self.inputs = []

    def forward(self, input_ids, attention_mask=None):
        self.inputs.append(input_ids.clone())
        return nn.functional.one_hot(self.clean, self.vocab).float() * self.certainty[..., None]


def _predict(batch, tokenizer, model=None, **kw):
    model = model or OracleModel(batch["input_ids"], tokenizer.full_vocab_size)
    predictor = ZLMPredictor(model=model, tokenizer=tokenizer, **kw)
    return predictor, predictor.predict(batch, generator=torch.Generator().manual_seed(0)), model


@pytest.mark.parametrize("unmasking", ["confidence", "random"])
@pytest.mark.parametrize("num_steps", [1, 3, 10])
def test_oracle_reproduces_targets(tokenizer, examples, unmasking, num_steps):
    batch = ZLMCollator(tokenizer, target_length=5)(examples)
    _, out, model = _predict(batch, tokenizer, num_steps=num_steps, unmasking=unmasking)
    # contract: text per example, ids (B, T) cut at eos and padded with pad
    assert out["text"] == ["3 4 5", "7"]
    assert out["ids"].dtype == torch.long and out["ids"].shape == (2, 5)
    assert out["ids"].tolist() == [[8, 9, 10, PAD, PAD], [12, PAD, PAD, PAD, PAD]]
    # the sampler started from an all-mask target and never showed the model the answer
    first = model.inputs[0]
    assert torch.equal(first == MASK, batch["target_mask"])


def test_generate_unmasks_everything_and_keeps_the_prompt(tokenizer, examples):
    batch = ZLMCollator(tokenizer, loss_on_prompt=True)(examples)
    torch.manual_seed(0)
    noise_model = lambda ids, mask=None: torch.randn(*ids.shape, tokenizer.full_vocab_size)  # noqa: E731
    predictor = ZLMPredictor(model=noise_model, tokenizer=tokenizer, num_steps=4, temperature=1.0)
    out = predictor.generate(batch, generator=torch.Generator().manual_seed(0))
    assert not (out == MASK).any()
    visible = ~batch["target_mask"]
    assert torch.equal(out[visible], batch["input_ids"][visible])


def test_confidence_unmasking_commits_most_confident_first(tokenizer):
    batch = ZLMCollator(tokenizer, target_length=4)([{"prompt_ids": [5, 4], "target_ids": [6, 7, 8]}])
    certainty = torch.ones(batch["input_ids"].shape)
    certainty[0, 3:7] = torch.tensor([1.0, 4.0, 2.0, 3.0])  # canvas positions 3..6
    model = OracleModel(batch["input_ids"], tokenizer.full_vocab_size, certainty)
    _predict(batch, tokenizer, model=model, num_steps=4)
    still_masked = [(x[0, 3:7] == MASK).tolist() for x in model.inputs]
    assert still_masked == [
        [True, True, True, True],
        [True, False, True, True],  # position 4 (certainty 4) first
        [True, False, True, False],  # then 6 (3)
        [True, False, False, False],  # then 5 (2), and 3 at the last step
    ]


def test_schedule_commits_all_targets_linearly():
    num_targets = torch.tensor([10, 3, 0])
    still = num_targets.clone()
    counts = []
    for step in range(4):
        k = num_to_commit(num_targets, still, step, 4)
        counts.append(k.tolist())
        still -= k
    assert still.tolist() == [0, 0, 0]
    assert [c[0] for c in counts] == [3, 2, 3, 2]  # 10 * (1 - s/4) left masked: 7, 5, 2, 0


def test_rejects_bad_settings(tokenizer):
    with pytest.raises(ValueError, match="unmasking"):
        ZLMPredictor(tokenizer=tokenizer, unmasking="left_to_right")
    with pytest.raises(ValueError, match="num_steps"):
        ZLMPredictor(tokenizer=tokenizer, num_steps=0)
