import pytest
import torch
from mdlm.model_mdlm import MDLMModel


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MDLMModel(num_embeddings=25, d_model=32, num_layers=2, num_heads=4, d_cond=16, max_length=16).eval()


def test_logits_have_the_vocabulary_at_every_position(model):
    ids = torch.randint(0, 25, (3, 10))
    assert model(ids, torch.ones(3, 10), noise=torch.rand(3)).shape == (3, 10, 25)
    assert model(ids).shape == (3, 10, 25)  # no mask, no noise: a clean input


def test_batch_padding_does_not_change_the_real_positions(model):
    ids = torch.randint(5, 25, (1, 6))
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    other = ids.clone()
    other[0, 4:] = torch.tensor([7, 9])
    noise = torch.tensor([0.7])
    torch.testing.assert_close(model(ids, mask, noise=noise)[0, :4], model(other, mask, noise=noise)[0, :4])


def test_noise_conditioning_starts_closed_and_opens_with_training(model):
    ids = torch.randint(5, 25, (2, 6))
    # adaLN-Zero: at initialisation every block is the identity and the noise changes nothing
    torch.testing.assert_close(model(ids, noise=torch.zeros(2)), model(ids, noise=torch.full((2,), 5.0)))
    with torch.no_grad():
        for block in model.blocks:
            block.adaln.weight.normal_(std=0.1)
    assert not torch.allclose(model(ids, noise=torch.zeros(2)), model(ids, noise=torch.full((2,), 5.0)))


def test_rows_longer_than_max_length_are_refused(model):
    with pytest.raises(ValueError, match="exceeds max_length 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
