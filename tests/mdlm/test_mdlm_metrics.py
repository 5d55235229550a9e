import torch
from mdlm.metrics_mdlm import seq2seq_token_accuracy_update_fn


def test_token_accuracy_counts_reference_tokens_only():
    batch = {"target_ids": torch.tensor([[8, 9, 10], [12, 0, 0]])}
    predictions = {"ids": torch.tensor([[8, 7, 10, 0], [12, 5, 0, 0]]), "text": ["", ""]}
    out = seq2seq_token_accuracy_update_fn(batch, {}, predictions)
    torch.testing.assert_close(out["value"], torch.tensor([2 / 3, 1.0]))


def test_short_answers_lose_the_missing_tokens_and_training_steps_are_skipped():
    batch = {"target_ids": torch.tensor([[8, 9, 10]])}
    out = seq2seq_token_accuracy_update_fn(batch, {}, {"ids": torch.tensor([[8]]), "text": [""]})
    torch.testing.assert_close(out["value"], torch.tensor([1 / 3]))
    assert seq2seq_token_accuracy_update_fn(batch, {}, None) is None
