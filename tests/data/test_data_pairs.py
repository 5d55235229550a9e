"""Prompt/target pairs from jsonl: one example per record, for conditional models."""

from __future__ import annotations

import json

import pytest

from data_helpers import write_pairs
from xlm.cli import main as xlm_main
from xlm.data.datamodule import TextDataModule
from xlm.data.prepare import bucket
from xlm.data.text_tokenizer import TextTokenizer
from xlm.errors import UserError


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    rows = write_pairs(folder / "pairs.jsonl", count=400)
    assert xlm_main(["tokenizer", "train", str(folder / "pairs.jsonl"), "--field", "prompt", "--field", "target",
                     "--vocab-size", "300", "--out", str(folder / "tok")]) == 0
    return folder, rows, TextTokenizer(str(folder / "tok"))


def module(folder, tokenizer, tmp_path, files=None, **kw):
    from arlm.collators import ARLMCollator

    return TextDataModule(tokenizer, ARLMCollator(tokenizer, loss_on_prompt=False), files=str(files or folder / "pairs.jsonl"),
                          mode="pairs", val_size=0.25, num_proc=1, cache_dir=str(tmp_path / "cache"), batch_size=8, **kw)


def test_each_record_is_one_example_and_the_seq2seq_batch_trains_on_the_target(pairs, tmp_path):
    folder, rows, tokenizer = pairs
    dm = module(folder, tokenizer, tmp_path)
    dm.prepare_data()
    decoded = {split: [(tokenizer.decode(e["prompt_ids"]), tokenizer.decode(e["target_ids"])) for e in dm.examples(split)]
               for split in ("train", "val")}
    expected = {"train": [], "val": []}
    for row in rows:  # held out by the hash of prompt and target, order kept
        expected["val" if bucket(row["prompt"] + "\x00" + row["target"]) < 0.25 else "train"].append((row["prompt"], row["target"]))
    assert decoded == expected and 60 < len(decoded["val"]) < 140
    examples = dm.examples("train")[:8]
    assert all("add_eos" not in e for e in examples)  # complete targets: the collator ends each with <eos>
    batch = dm.collator(examples)
    assert int((batch["labels"] != -100).sum()) == sum(len(e["target_ids"]) + 1 for e in examples)  # the targets only
    assert next(iter(dm.train_dataloader()))["input_ids"].shape[0] == 8
    predict = next(iter(dm.predict_dataloader()))
    assert tokenizer.batch_decode(predict["target_ids"], skip_special_tokens=True)[0] == expected["val"][0][1]


def test_limits_cut_the_prompt_from_the_left_and_the_target_from_the_right(pairs, tmp_path, caplog):
    folder, rows, tokenizer = pairs
    dm = module(folder, tokenizer, tmp_path, max_prompt_tokens=2, max_target_tokens=1)
    dm.prepare_data()
    with caplog.at_level("INFO", logger="xlm.data.datamodule"):
        train = dm.examples("train")
    assert any("are longer than max_prompt_tokens=2" in r.getMessage() for r in caplog.records)
    full = module(folder, tokenizer, tmp_path).examples("train")
    for cut, whole in zip(train[:20], full[:20]):
        assert cut["prompt_ids"] == whole["prompt_ids"][-2:] and cut["target_ids"] == whole["target_ids"][:1]


def test_records_without_the_fields_and_text_files_are_refused(pairs, tmp_path):
    folder, _, tokenizer = pairs
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "a", "target": "b"}) + "\n")
    with pytest.raises(UserError, match="bad.jsonl:1: the record has no field 'prompt' \\(it has: question, target\\)"):
        module(folder, tokenizer, tmp_path, files=tmp_path / "bad.jsonl").prepare_data()
    (tmp_path / "typed.jsonl").write_text("".join(json.dumps({"prompt": p, "target": "b"}) + "\n" for p in ("ok", 7)))
    with pytest.raises(UserError, match="typed.jsonl:2: field 'prompt' is int, not text"):
        module(folder, tokenizer, tmp_path, files=tmp_path / "typed.jsonl").prepare_data()
    # In a second file of the split, `datasets` stored every record of that file as JSON text (`"caf\u00e9 ..."`).
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "a.jsonl").write_text("".join(json.dumps({"prompt": "café", "target": "b"}) + "\n" for _ in range(3)))
    (tmp_path / "two" / "b.jsonl").write_text(json.dumps({"prompt": "ok", "target": "b"}) + "\n"
                                              + json.dumps({"prompt": ["a", "b"], "target": "b"}) + "\n")
    with pytest.raises(UserError, match="b.jsonl:2: field 'prompt' is list, not text"):
        module(folder, tokenizer, tmp_path, files=tmp_path / "two").prepare_data()
    (tmp_path / "plain.txt").write_text("just text\n")
    with pytest.raises(UserError, match="prompt/target pairs need .jsonl or .parquet records"):
        module(folder, tokenizer, tmp_path, files=tmp_path / "plain.txt").prepare_data()
