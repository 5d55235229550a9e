"""Unit tests of {{name}}'s components: the contracts in their docstrings, on tiny inputs.

TODO: when you change a component, change its test here; keep them small and fast.
"""

import torch

from {{name}} import Default{{Name}}Collator, Seq2Seq{{Name}}Collator, {{Name}}, {{Name}}Loss, {{Name}}Predictor
from {{name}}.metrics import mean_metric_update_fn, token_accuracy_update_fn


def tiny_model(tokenizer):
    torch.manual_seed(0)
    return {{Name}}(num_embeddings=tokenizer.full_vocab_size, d_model=32, num_layers=2, num_heads=2, max_length=32)


def test_default_collator_learns_every_token_after_bos(tokenizer, examples):
    batch = Default{{Name}}Collator(tokenizer)(examples)
    assert batch["input_ids"].tolist()[1] == [1, 11, 4, 12, 2, 0, 0, 0, 0]
    assert batch["attention_mask"].sum(-1).tolist() == [9, 5]
    assert batch["loss_mask"].sum(-1).tolist() == [8, 4]


def test_seq2seq_collator_learns_the_target_and_hands_over_prompt_and_target(tokenizer, examples):
    batch = Seq2Seq{{Name}}Collator(tokenizer)(examples)
    row = batch["input_ids"][1][batch["loss_mask"][1]].tolist()
    assert row == [12, tokenizer.eos_token_id]
    assert batch["prompt_ids"].tolist() == [[1, 5, 6, 7, 4], [0, 0, 1, 11, 4]]
    assert batch["prompt_attention_mask"].sum(-1).tolist() == [5, 3]
    assert batch["target_ids"].tolist() == [[8, 9, 10], [12, 0, 0]]


def test_model_is_causal(tokenizer):
    model = tiny_model(tokenizer).eval()
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    changed = ids.clone()
    changed[0, -1] = 9
    logits, logits_changed = model(ids), model(changed)
    assert logits.shape == (1, 5, tokenizer.full_vocab_size)
    assert torch.allclose(logits[:, :-1], logits_changed[:, :-1], atol=1e-6)


def test_left_padding_does_not_change_the_prediction(tokenizer):
    model = tiny_model(tokenizer).eval()
    ids, padded = torch.tensor([[1, 5, 6]]), torch.tensor([[0, 0, 1, 5, 6]])
    mask = padded != tokenizer.pad_token_id
    assert torch.allclose(model(ids)[:, -1], model(padded, mask)[:, -1], atol=1e-5)


def test_loss_contract_and_overfitting_one_batch(tokenizer, examples):
    model = tiny_model(tokenizer)
    loss_fn = {{Name}}Loss(model=model, tokenizer=tokenizer)
    batch = Seq2Seq{{Name}}Collator(tokenizer)(examples)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = loss_fn(batch)
    assert first["loss"].shape == () and first["batch_loss"].shape == (2,)
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn(batch)["loss"].backward()
        optimizer.step()
    last = loss_fn(batch)
    assert last["loss"] < first["loss"] / 4
    assert mean_metric_update_fn(batch, last, None)["value"].shape == (2,)
    assert token_accuracy_update_fn(batch, last, None)["value"].tolist() == [1.0, 1.0]

    predictions = {{Name}}Predictor(model=model.eval(), tokenizer=tokenizer, max_new_tokens=5)(batch)
    assert predictions["text"] == ["3 4 5", "7"]
    ids = predictions["ids"]  # eos and what follows it are padding
    assert ids[:, :3].tolist() == [[8, 9, 10], [12, 0, 0]] and (ids[:, 3:] == 0).all()
