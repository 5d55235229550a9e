import pytest
import torch
from zlm.model import ZLMModel


def _model(**kw):
    torch.manual_seed(0)
    return ZLMModel(num_embeddings=25, d_model=32, num_layers=2, num_heads=4, max_length=16, **kw).eval()


def test_forward_shape():
    ids = torch.randint(0, 25, (3, 10))
    assert _model()(ids, torch.ones_like(ids)).shape == (3, 10, 25)
    assert _model()(ids).shape == (3, 10, 25)


def test_padding_is_not_attended():
    model = _model()
    ids = torch.randint(5, 25, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    torch.testing.assert_close(model(padded, mask)[:, :6], model(ids, torch.ones_like(ids)))


def test_attention_is_bidirectional():
    model = _model()
    ids = torch.randint(5, 25, (1, 6))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1 - 5) % 20 + 5  # a different non-special token, last position
    assert not torch.allclose(model(ids)[0, 0], model(changed)[0, 0])


def test_too_long_input_is_rejected():
    with pytest.raises(ValueError, match="max_length"):
        _model()(torch.zeros(1, 17, dtype=torch.long))
