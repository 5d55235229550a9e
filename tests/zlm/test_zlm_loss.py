import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zlm.collators import ZLMCollator
from zlm.loss import ZLMLoss, sample_mask_rate

MASK = 3


class SpyModel(nn.Module):
    """Returns fixed (learnable) logits and remembers the noisy input it was given."""

    def __init__(self, shape, vocab):
        super().__init__()
        torch.manual_seed(0)
        self.logits = nn.Parameter(torch.randn(*shape, vocab))
        self.seen = None

    def forward(self, input_ids, attention_mask=None):
        self.seen = input_ids.clone()
        return self.logits.clone()


@pytest.fixture
def batch(tokenizer, examples):
    return ZLMCollator(tokenizer, target_length=8)(examples * 4)  # 8 rows


def _loss(batch, tokenizer):
    model = SpyModel(batch["input_ids"].shape, tokenizer.full_vocab_size)
    return ZLMLoss(model=model, tokenizer=tokenizer), model


def test_masks_only_target_positions(batch, tokenizer):
    loss, model = _loss(batch, tokenizer)
    out = loss.loss_fn(batch, generator=torch.Generator().manual_seed(0))
    masked = model.seen == MASK
    assert masked.any()
    assert not (masked & ~batch["loss_mask"]).any(), "a prompt, bos or pad token was masked"
    unmasked = ~masked
    assert torch.equal(model.seen[unmasked], batch["input_ids"][unmasked])
    assert out["mask_rate"].shape == (8,)


def test_t_one_masks_every_target(batch, tokenizer):
    loss, model = _loss(batch, tokenizer)
    loss.loss_fn(batch, t=torch.ones(8))
    assert torch.equal(model.seen == MASK, batch["loss_mask"])


def test_loss_on_prompt_masks_the_prompt_too(tokenizer, examples):
    batch = ZLMCollator(tokenizer, loss_on_prompt=True)(examples)
    loss, model = _loss(batch, tokenizer)
    out = loss.loss_fn(batch, t=torch.ones(2))
    assert torch.equal(model.seen == MASK, batch["loss_mask"])
    assert (model.seen[:, 1:3] == MASK).all()  # prompt tokens
    assert torch.isfinite(out["loss"])


def test_weighting_is_masked_cross_entropy_over_t(batch, tokenizer):
    loss, model = _loss(batch, tokenizer)
    t = torch.linspace(0.2, 0.9, 8)
    out = loss.loss_fn(batch, t=t, generator=torch.Generator().manual_seed(1))

    masked = model.seen == MASK
    logits = model.logits.detach().clone()
    logits[..., MASK] = float("-inf")
    ce = F.cross_entropy(logits.transpose(1, 2), batch["input_ids"], reduction="none")
    expected = (ce * masked).sum(1) / t / batch["loss_mask"].sum(1)
    torch.testing.assert_close(out["batch_loss"], expected)
    torch.testing.assert_close(out["loss"], expected.mean())
    out["loss"].backward()
    assert model.logits.grad is not None
    # no gradient reaches positions that were not masked: they carry no loss
    assert model.logits.grad[~masked].abs().sum() == 0


def test_uniform_model_loss_at_t_one_is_log_vocab(batch, tokenizer):
    """With every target masked and uniform logits, each masked token costs log(V - 1)
    (<mask> is excluded from the softmax) and the 1/t weight is 1."""
    loss, model = _loss(batch, tokenizer)
    with torch.no_grad():
        model.logits.zero_()
    out = loss.loss_fn(batch, t=torch.ones(8))
    torch.testing.assert_close(out["batch_loss"], torch.full((8,), math.log(tokenizer.full_vocab_size - 1)))


def test_empirical_masking_rate_follows_t(tokenizer):
    rows = [{"prompt_ids": [5, 4], "target_ids": list(range(5, 25)) * 10}] * 2
    batch = ZLMCollator(tokenizer)(rows)
    loss, model = _loss(batch, tokenizer)
    loss.loss_fn(batch, t=torch.tensor([0.25, 0.75]), generator=torch.Generator().manual_seed(0))
    rate = (model.seen == MASK).sum(1).float() / batch["loss_mask"].sum(1)
    torch.testing.assert_close(rate, torch.tensor([0.25, 0.75]), atol=0.06, rtol=0)


def test_sample_mask_rate_is_stratified_and_bounded():
    t = sample_mask_rate(64, eps=1e-3, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    assert t.min() >= 1e-3 and t.max() < 1
    # one draw per 1/64-wide stratum
    strata = ((t - 1e-3) / (1 - 1e-3) * 64).floor().long()
    assert sorted(strata.tolist()) == list(range(64))
