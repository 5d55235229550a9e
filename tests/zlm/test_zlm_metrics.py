import torch
from zlm.metrics import mean_metric_update_fn, token_accuracy_update_fn


def test_token_accuracy_handles_widths_and_padding():
    batch = {"target_ids": torch.tensor([[8, 9, 10], [12, 0, 0]])}
    predictions = {"ids": torch.tensor([[8, 7, 10, 0, 0], [12, 13, 0, 0, 0]]), "text": []}
    out = token_accuracy_update_fn(batch, {}, predictions)
    torch.testing.assert_close(out["value"], torch.tensor([2 / 3, 1.0]))
    assert token_accuracy_update_fn(batch, {}, None) is None


def test_mean_metric_uses_per_example_loss():
    loss_dict = {"loss": torch.tensor(2.0), "batch_loss": torch.tensor([1.0, 3.0], requires_grad=True)}
    value = mean_metric_update_fn({}, loss_dict, None)["value"]
    assert value.tolist() == [1.0, 3.0] and not value.requires_grad
