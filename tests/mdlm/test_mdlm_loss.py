import math

import torch
import torch.nn.functional as F
from mdlm.datamodule_mdlm import DefaultMDLMCollator, MDLMSeq2SeqCollator
from mdlm.loss_mdlm import MDLMLoss
from mdlm.noise_mdlm import LogLinearSchedule
from mdlm_fakes import SpyModel

MASK = 3


def _loss(batch, tokenizer, **kwargs):
    model = SpyModel(batch["input_ids"].shape, tokenizer.full_vocab_size)
    return MDLMLoss(model=model, tokenizer=tokenizer, **kwargs), model


def test_only_canvas_positions_are_masked_and_the_model_sees_sigma(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples * 4)
    loss, model = _loss(batch, tokenizer)
    out = loss.loss_fn(batch, generator=torch.Generator().manual_seed(0))
    masked = model.seen == MASK
    assert masked.any()
    assert not (masked & ~batch["loss_mask"]).any(), "a prompt, <bos> or batch-padding token was masked"
    assert torch.equal(model.seen[~masked], batch["input_ids"][~masked])
    torch.testing.assert_close(model.noise, loss.noise_schedule.total_noise(out["t"]))
    assert out["batch_loss"].shape == (8,) and out["loss"].ndim == 0


def test_masking_rate_follows_the_schedule(tokenizer):
    rows = [{"prompt_ids": [5, 4], "target_ids": list(range(5, 25)) * 10}] * 2
    batch = MDLMSeq2SeqCollator(tokenizer)(rows)
    loss, model = _loss(batch, tokenizer)
    loss.loss_fn(batch, t=torch.tensor([0.25, 0.75]), generator=torch.Generator().manual_seed(0))
    rate = (model.seen == MASK).sum(1).float() / batch["loss_mask"].sum(1)
    torch.testing.assert_close(rate, torch.tensor([0.25, 0.75]) * (1 - 1e-3), atol=0.06, rtol=0)


def test_loss_is_masked_cross_entropy_times_the_elbo_weight(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples * 4)
    loss, model = _loss(batch, tokenizer)
    t = torch.linspace(0.2, 0.9, 8)
    out = loss.loss_fn(batch, t=t, generator=torch.Generator().manual_seed(1))

    masked = model.seen == MASK
    logits = model.logits.detach().clone()
    logits[..., MASK] = float("-inf")
    ce = F.cross_entropy(logits.transpose(1, 2), batch["input_ids"], reduction="none")
    expected = (ce * masked).sum(1) / t / batch["loss_mask"].sum(1)  # weight 1/t for log-linear
    torch.testing.assert_close(out["batch_loss"], expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out["loss"], expected.mean(), rtol=1e-4, atol=1e-6)
    out["loss"].backward()
    assert model.logits.grad[~masked].abs().sum() == 0, "an unmasked position received gradient"
    assert model.logits.grad[masked].abs().sum() > 0


def test_uniform_model_at_t_one_costs_log_of_the_vocabulary_without_mask(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples * 4)
    loss, model = _loss(batch, tokenizer, noise_schedule=LogLinearSchedule(eps=1e-6))
    with torch.no_grad():
        model.logits.zero_()
    out = loss.loss_fn(batch, t=torch.ones(8), generator=torch.Generator().manual_seed(0))
    assert torch.equal(model.seen == MASK, batch["loss_mask"])  # move chance 1 - 1e-6: all masked
    torch.testing.assert_close(out["batch_loss"], torch.full((8,), math.log(tokenizer.full_vocab_size - 1)), rtol=1e-4, atol=1e-6)


def test_default_collator_batches_let_the_prompt_be_masked(tokenizer, examples):
    batch = DefaultMDLMCollator(tokenizer)(examples)
    loss, model = _loss(batch, tokenizer, noise_schedule=LogLinearSchedule(eps=1e-6))
    out = loss.loss_fn(batch, t=torch.ones(2), generator=torch.Generator().manual_seed(0))
    assert (model.seen[:, 1:3] == MASK).all() and torch.isfinite(out["loss"])
