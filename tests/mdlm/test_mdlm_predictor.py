import pytest
import torch
from mdlm.datamodule_mdlm import MDLMSeq2SeqCollator
from mdlm.model_mdlm import MDLMModel
from mdlm.noise_mdlm import LogLinearSchedule
from mdlm.predictor_mdlm import MDLMPredictor
from mdlm_fakes import OracleModel

MASK, EOS, PAD = 3, 2, 0


def test_an_oracle_network_is_sampled_back_to_the_targets(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples)
    oracle = OracleModel(batch["input_ids"], tokenizer.full_vocab_size)
    out = MDLMPredictor(model=oracle, tokenizer=tokenizer, num_steps=4)(batch, generator=torch.Generator().manual_seed(0))
    assert out["ids"].tolist() == [[8, 9, 10, PAD, PAD, PAD], [12, PAD, PAD, PAD, PAD, PAD]]  # cut at <eos>
    assert out["text"] == ["3 4 5", "7"]
    # the first call sees the whole canvas masked and the prompt untouched; sigma(1) conditions it
    first = oracle.inputs[0]
    assert torch.equal(first == MASK, batch["target_mask"])
    torch.testing.assert_close(oracle.noises[0], LogLinearSchedule().total_noise(torch.ones(2)))
    assert len(oracle.inputs) <= 4


def test_revealed_share_per_step_is_the_exact_posterior(tokenizer):
    rows = [{"prompt_ids": [5, 4], "target_ids": [6] * 400}]
    batch = MDLMSeq2SeqCollator(tokenizer)(rows)
    oracle = OracleModel(batch["input_ids"], tokenizer.full_vocab_size)
    MDLMPredictor(model=oracle, tokenizer=tokenizer, num_steps=4)(batch, generator=torch.Generator().manual_seed(0))
    schedule, canvas = LogLinearSchedule(), batch["target_mask"].sum().item()
    still_masked = [(x == MASK).sum().item() / canvas for x in oracle.inputs]
    # before step k (k = 0..3) the masked share is move_chance(t_k) / move_chance(1), t_k = 1 - k/4
    expected = [(schedule.move_chance(torch.tensor(1 - k / 4)) / schedule.move_chance(torch.tensor(1.0))).item() for k in range(4)]
    assert still_masked == pytest.approx(expected, abs=0.07)


def test_prompt_is_never_changed_and_no_mask_is_left(tokenizer, examples):
    torch.manual_seed(0)
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples)
    model = MDLMModel(tokenizer.full_vocab_size, d_model=32, num_layers=1, d_cond=16).eval()
    for top_k in (1, 3, None):
        predictor = MDLMPredictor(model=model, tokenizer=tokenizer, num_steps=3, top_k=top_k)
        rows = predictor.generate(batch, generator=torch.Generator().manual_seed(1))
        assert torch.equal(rows[~batch["target_mask"]], batch["input_ids"][~batch["target_mask"]])
        assert not (rows == MASK).any()


def test_sampling_is_reproducible_with_a_generator(tokenizer, examples):
    batch = MDLMSeq2SeqCollator(tokenizer, block_size=6)(examples)
    torch.manual_seed(0)
    predictor = MDLMPredictor(model=MDLMModel(tokenizer.full_vocab_size, d_model=32, num_layers=1, d_cond=16), tokenizer=tokenizer, top_k=None)
    first = predictor(batch, generator=torch.Generator().manual_seed(3))["ids"]
    assert torch.equal(first, predictor(batch, generator=torch.Generator().manual_seed(3))["ids"])


@pytest.mark.parametrize("kwargs, message", [({"num_steps": 0}, "num_steps"), ({"top_k": 0}, "top_k")])
def test_bad_sampler_settings_are_refused(tokenizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MDLMPredictor(tokenizer=tokenizer, **kwargs)
