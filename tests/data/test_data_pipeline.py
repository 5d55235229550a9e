"""The cached path end to end: a corpus -> a trained tokenizer -> packed blocks on disk -> a
second run that reuses them (nothing re-tokenized) -> an arlm whose loss falls on them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from data_helpers import write_corpus
from xlm.cli import main as xlm_main
from xlm.data.arrow_rows import PackedBlocks
from xlm.data.datamodule import TextDataModule
from xlm.data.prepare import bucket
from xlm.data.sources import TextSource
from xlm.data.text_tokenizer import TextTokenizer


def collator(tokenizer):
    from arlm.collators import ARLMCollator

    return ARLMCollator(tokenizer, loss_on_prompt=True)


def datamodule(corpus: Path, tokenizer, cache: Path, **kw) -> TextDataModule:
    kw = {"block_size": 32, "val_size": 0.1, "num_proc": 2, "batch_size": 16, **kw}
    return TextDataModule(tokenizer, collator(tokenizer), files=str(corpus), cache_dir=str(cache), **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    texts = write_corpus(folder / "texts", files=3, documents=400)  # 1200 documents, about 2400 lines
    assert sum(t.count("\n") + 1 for t in texts) > 2000
    assert xlm_main(["tokenizer", "train", str(folder / "texts"), "--vocab-size", "600", "--out", str(folder / "tok")]) == 0
    return folder, texts


def never_called(*args, **kwargs):
    raise AssertionError("the corpus was tokenized again")


def test_tokenizer_trained_on_the_corpus_round_trips_every_script(corpus):
    folder, texts = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    assert [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.mask_token_id] == [0, 1, 2, 3]
    assert tokenizer.added_tokens == []  # the trained tokenizer has every role already
    assert 300 < tokenizer.full_vocab_size <= 600
    for text in texts[:50]:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.decode(tokenizer.encode("ça 東京 🚀 — unseen: Ωmega")) == "ça 東京 🚀 — unseen: Ωmega"  # bytes: no <unk>


def test_packed_blocks_are_the_documents_joined_by_eos_without_padding(corpus, tmp_path):
    folder, texts = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    dm = datamodule(folder / "texts", tokenizer, tmp_path / "cache")
    dm.prepare_data()
    info = dm.prepared().info["splits"]
    train, val = PackedBlocks(dm.prepared().files["train"]), PackedBlocks(dm.prepared().files["val"])
    assert len(train) == info["train"]["blocks"] > 0 and len(val) == info["val"]["blocks"] > 0
    assert all(len(train[i]["target_ids"]) == 32 and train[i]["add_eos"] is False for i in range(len(train)))
    # Held out by the hash of each text: about 10%, and the train documents are the others, in order.
    documents = list(TextSource(str(folder / "texts")).iter_texts("train", ["text"]))  # as datasets reads them
    assert [d.rstrip("\n") for d in documents] == texts  # (a file's last paragraph keeps its final newline)
    held = [t for t in documents if bucket(t) < 0.1]
    kept = [t for t in documents if bucket(t) >= 0.1]
    assert 60 < len(held) < 180 and info["val"]["documents"] == len(held) and info["train"]["documents"] == len(kept)
    stream = [i for block in train[:] for i in block["target_ids"]]
    expected = [i for t in kept for i in (*tokenizer.encode(t), tokenizer.eos_token_id)]
    assert len(expected) - len(stream) == info["train"]["dropped_tokens"] < 32
    assert stream == expected[: len(stream)]
    assert dm.prepared().files["test"] == dm.prepared().files["val"]  # no test split: test is val
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == (16, 33) and bool(batch["attention_mask"].all())  # <bos> + block, no padding
    assert (batch["input_ids"][:, 0] == tokenizer.bos_token_id).all()


def test_second_run_reuses_the_cache_and_only_a_changed_input_re_tokenizes(corpus, tmp_path, monkeypatch):
    folder, _ = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    first = datamodule(folder / "texts", tokenizer, tmp_path / "cache")
    first.prepare_data()
    token_files = sorted(p for p in first.prepared().folder.parent.glob("tokens-*.arrow"))
    assert len(token_files) == 2  # num_proc=2: one file per process
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in token_files}

    monkeypatch.setattr(TextTokenizer, "encode_batch", never_called)
    second = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache")
    second.prepare_data()  # would raise if anything were tokenized
    assert second.prepared().files == first.prepared().files
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in token_files} == stamps
    # A new block size re-cuts the same tokens: still no tokenizing.
    other = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache", block_size=48)
    other.prepare_data()
    assert other.prepared().folder != first.prepared().folder and other.prepared().folder.parent == first.prepared().folder.parent
    assert len(PackedBlocks(other.prepared().files["train"])[0]["target_ids"]) == 48
    monkeypatch.undo()

    # A different tokenizer, or a changed file, is a new key: tokenized again, in a new folder.
    smaller = tmp_path / "tok_small"
    assert xlm_main(["tokenizer", "train", str(folder / "texts"), "--vocab-size", "400", "--out", str(smaller)]) == 0
    retokenized = datamodule(folder / "texts", TextTokenizer(str(smaller)), tmp_path / "cache")
    retokenized.prepare_data()
    assert retokenized.prepared().folder.parent != first.prepared().folder.parent
    edited = tmp_path / "edited"
    edited.mkdir()
    for path in sorted((folder / "texts").iterdir()):
        (edited / path.name).write_bytes(path.read_bytes())
    before = datamodule(edited, tokenizer, tmp_path / "cache")
    before.prepare_data()
    assert before.prepared().folder == first.prepared().folder  # same content elsewhere: same cache
    with open(edited / "part1.txt", "a", encoding="utf-8") as handle:
        handle.write("\ndoc99999 a new document.\n")
    after = datamodule(edited, tokenizer, tmp_path / "cache")
    after.prepare_data()
    assert after.prepared().folder.parent not in (first.prepared().folder.parent, retokenized.prepared().folder.parent)


def test_arlm_loss_falls_on_the_packed_corpus(corpus, compose):
    folder, _ = corpus
    cfg = compose("experiment=text_arlm", f"datamodule.files={folder / 'texts'}", "tokenizer=hf", f"tokenizer.path={folder / 'tok'}",
                  "datamodule.block_size=32", "datamodule.val_size=0.1", "datamodule.batch_size=16", "datamodule.num_proc=1",
                  "model.d_model=32", "model.num_layers=1", "model.num_heads=2", "model.dim_feedforward=64",
                  "optimizer.lr=3e-3", "trainer.max_steps=40", "trainer.val_check_interval=40", "trainer.log_every_n_steps=1",
                  "trainer_strategy=cpu", "callbacks=none", "+trainer.enable_progress_bar=false", "loggers=[]")
    from xlm import build

    torch.manual_seed(0)
    tokenizer = build.build_tokenizer(cfg)
    assert cfg.model.num_embeddings == tokenizer.full_vocab_size
    harness = build.build_harness(cfg, tokenizer)
    losses = []

    import lightning as L

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = build.build_trainer(cfg, enable_model_summary=False)
    trainer.callbacks.append(Record())
    trainer.fit(harness, datamodule=build.build_datamodule(cfg, tokenizer))
    assert len(losses) == 40
    start, end = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert start > 5.5 and end < start - 1.5, (start, end)  # from about ln(vocab) towards the corpus's entropy
    metrics = trainer.callback_metrics
    assert float(metrics["val/lm/perplexity"]) == pytest.approx(float(torch.exp(metrics["val/loss"])), rel=1e-4)
    assert (Path(cfg.paths.output_dir) / "tokenizer" / "tokenizer.json").is_file()  # the run keeps its tokenizer


def test_overfit_memorises_the_first_blocks_and_generation_continues_them(corpus, tmp_path):
    folder, _ = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    dm = datamodule(folder / "texts", tokenizer, tmp_path / "cache", batch_size=4, overfit_examples=4, overfit_repeats=3,
                    predict_examples=2, predict_prompt_tokens=8, predict_target_tokens=40)
    dm.prepare_data()
    train = list(dm.train_dataloader())
    assert len(train) == 3 and all(torch.equal(b["input_ids"], train[0]["input_ids"]) for b in train)
    assert torch.equal(next(iter(dm.val_dataloader()))["input_ids"], train[0]["input_ids"])
    first = [i for block in PackedBlocks(dm.prepared().files["train"])[:4] for i in block["target_ids"]]
    predict = next(iter(dm.predict_dataloader()))  # 8 + 40 tokens span two 32-token blocks: consecutive text
    assert predict["prompt_ids"][0, 1:].tolist() == first[:8] and predict["target_ids"][0].tolist() == first[8:48]
    assert predict["target_ids"][1].tolist() == first[72:112]


def test_a_split_smaller_than_one_block_is_a_two_line_error(corpus, tmp_path):
    from xlm.errors import UserError

    folder, _ = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    with pytest.raises(UserError) as caught:
        datamodule(folder / "texts", tokenizer, tmp_path / "cache", val_size=0.001, block_size=4096).prepare_data()
    assert "held out" in caught.value.what and "fewer than block_size=4096" in caught.value.what
    assert "datamodule.val_size" in caught.value.fix
    assert not [p for p in (tmp_path / "cache").glob("*/*blocks4096-*") if p.is_dir()]  # nothing half-made is left


def test_the_val_and_test_files_given_are_what_val_and_test_hold(corpus, tmp_path):
    """They were tokenized and then never used: val and test were copies of the train split, so
    `val/loss` was measured on training data (and a val split under one block was accepted)."""
    folder, texts = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    splits = {}
    parts = {"train": texts[:600], "val": texts[600:700], "test": texts[700:800]}
    for split, chosen in parts.items():
        (tmp_path / split).mkdir()
        (tmp_path / split / "a.txt").write_text("\n\n".join(chosen))
        splits[split] = str(tmp_path / split)
    dm = TextDataModule(tokenizer, collator(tokenizer), files=splits, cache_dir=str(tmp_path / "cache"), block_size=32,
                        val_size=0.1, num_proc=1, batch_size=16)
    dm.prepare_data()
    files = dm.prepared().files
    for split, chosen in parts.items():
        start = tokenizer.decode(PackedBlocks(files[split])[0]["target_ids"])  # the split's own first document
        assert start.startswith(chosen[0][:20]), (split, start[:40], chosen[0][:40])
    assert len(PackedBlocks(files["val"])) < len(PackedBlocks(files["train"]))
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "a.txt").write_text("hi")
    from xlm.errors import UserError

    for split in ("val", "test"):
        with pytest.raises(UserError, match=f"the {split} split of"):
            TextDataModule(tokenizer, collator(tokenizer), files={**splits, split: str(tiny)},
                           cache_dir=str(tmp_path / "cache"), block_size=32, val_size=0.1, num_proc=1, batch_size=16).prepare_data()


@pytest.mark.parametrize("num_proc", ["abc", -1, 0, 1.5, True])
def test_a_num_proc_that_is_no_number_of_processes_is_named(corpus, tmp_path, num_proc):
    """`abc` was a traceback; -1 and 1.5 silently meant one process."""
    from xlm.errors import UserError

    folder, _ = corpus
    with pytest.raises(UserError, match=f"datamodule.num_proc={num_proc!r} is not a number of processes"):
        datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache", num_proc=num_proc)



@pytest.mark.parametrize("block_size", [1.5, 16.9, "abc", True])
def test_a_block_size_that_is_no_whole_number_is_named(corpus, tmp_path, block_size):
    """1.5 was refused as `block_size=1 is too small`, a value nobody wrote; 16.9 ran as 16."""
    from xlm.errors import UserError

    folder, _ = corpus
    with pytest.raises(UserError, match=f"datamodule.block_size={block_size!r} is not a whole number of tokens"):
        datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache", block_size=block_size)


def test_a_killed_runs_staging_folder_is_deleted_by_the_next_build(tmp_path):
    """A SIGKILL or the OOM killer left `.lm-<key>.<random>/` (the raw text and partial tokens) for good."""
    from xlm.data.store import build_once

    leftover = tmp_path / ".lm-abc.x1y2z3"
    (leftover / "raw").mkdir(parents=True)
    (leftover / "raw" / "data.arrow").write_bytes(b"\0" * 1000)
    other = tmp_path / ".lm-abcd.keep"  # another key's: not this build's to delete
    other.mkdir()
    built = build_once(tmp_path / "lm-abc", lambda staging: (staging / "tokens.json").write_text("{}"), "test tokens")
    assert (built / "tokens.json").is_file() and not leftover.exists() and other.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lm-abcd.keep", "lm-abc", "lm-abc.lock"]


def test_a_damaged_cache_folder_is_built_again_or_named_with_the_folder_to_delete(corpus, tmp_path, monkeypatch, caplog):
    """A cleaner deleting old files, or a full disk, damages a ready folder: a lost or resized file
    is rebuilt (the tokens stay when only the layout lost one); damage of the same size is an
    error naming the folder to delete, never a traceback."""
    import logging

    from xlm.errors import UserError

    folder, _ = corpus
    first = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache")
    first.prepare_data()
    layout = first.prepared().folder
    expected = [PackedBlocks(layout / f"{s}.arrow")[0] for s in ("train", "val")]
    monkeypatch.setattr(TextTokenizer, "encode_batch", never_called)
    for damage in (lambda p: p.unlink(), lambda p: os.truncate(p, p.stat().st_size // 2)):
        damage(layout / "val.arrow")
        again = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache")
        with caplog.at_level(logging.WARNING, logger="xlm.data.store"):
            again.prepare_data()  # the layout is cut again from the tokens, which are intact
        assert f"{layout} is damaged (val.arrow " in caplog.text
        assert [PackedBlocks(layout / f"{s}.arrow")[0] for s in ("train", "val")] == expected
        caplog.clear()
    monkeypatch.undo()

    tokens = layout.parent
    token_file = next(tokens.glob("tokens-*.arrow"))
    os.truncate(token_file, token_file.stat().st_size - 1)  # the tokens are damaged: tokenized again
    again = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache")
    again.prepare_data()
    assert [PackedBlocks(layout / f"{s}.arrow")[0] for s in ("train", "val")] == expected

    train = layout / "train.arrow"
    train.write_bytes(b"\0" * train.stat().st_size)  # same size: only reading it finds the damage
    with pytest.raises(UserError) as raised:
        PackedBlocks(train)
    assert raised.value.what.startswith(f"the cache folder {layout} is damaged: train.arrow cannot be read")
    assert raised.value.fix == f"delete {layout}; the next run builds it again"
    (layout / "layout.json").write_text("{" + " " * (len((layout / "layout.json").read_bytes()) - 1))
    with pytest.raises(UserError, match="damaged: layout.json cannot be read"):
        datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache").prepare_data()


def test_token_ids_overwritten_inside_a_readable_file_are_named_as_damage(corpus, tmp_path):
    """The file still reads as Arrow, its layout is intact; the ids are not the tokenizer's: an
    IndexError in the model's embedding, mid-training (or silent training on them)."""
    from xlm.errors import UserError

    folder, _ = corpus
    dm = datamodule(folder / "texts", TextTokenizer(str(folder / "tok")), tmp_path / "cache")
    dm.prepare_data()
    train = dm.prepared().files["train"]
    ids = np.asarray(dm.examples_of("train")[3]["target_ids"], dtype=np.int32).tobytes()
    data = bytearray(train.read_bytes())
    at = data.find(ids)
    data[at + 8: at + 12] = b"\x7f" * 4
    train.write_bytes(bytes(data))
    rows = dm.examples_of("train")
    assert len(rows) > 3 and rows[2]["target_ids"]  # other rows read as before
    with pytest.raises(UserError) as raised:
        rows[3]
    assert raised.value.what == (f"the cache folder {train.parent} is damaged: train.arrow cannot be read (row 3 holds token id "
                                 f"2139062143 in input_ids, outside the tokenizer's {len(dm.tokenizer)} ids)")
    assert raised.value.fix == f"delete {train.parent}; the next run builds it again"


def test_a_ready_folder_from_before_the_file_list_is_taken_as_it_is(tmp_path):
    from xlm.data.store import READY, build_once, is_ready

    old = tmp_path / "lm-old"
    old.mkdir()
    (old / READY).write_text("")  # the marker's old form: it lists no files
    assert is_ready(old) and build_once(old, never_called, "old tokens") == old


_PREPARE = """
import sys
from pathlib import Path
from xlm.data.prepare import prepare
from xlm.data.sources import TextSource
from xlm.data.text_tokenizer import TextTokenizer
try:
    prepare(TextSource(sys.argv[1]), TextTokenizer(sys.argv[2]), block_size=32, num_proc=2, root=Path(sys.argv[3]))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_while_processes_tokenize_is_a_keyboard_interrupt_without_tracebacks(corpus, tmp_path):
    """The pool of `datasets` turned Ctrl-C into a TimeoutError traceback, and every worker printed its own."""
    import signal
    import subprocess
    import sys
    import time

    folder, _ = corpus
    write_corpus(tmp_path / "big", files=1, documents=40000)
    log = tmp_path / "log"

    def as_a_terminal_does():  # Ctrl-C reaches the whole process group
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _PREPARE, str(tmp_path / "big"), str(folder / "tok"), str(tmp_path / "cache")],
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=as_a_terminal_does)
    try:
        deadline = time.monotonic() + 120
        while b"tokenizing train (2 processes)" not in log.read_bytes() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 130, log.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in log.read_text(errors="replace")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir() and not p.name.startswith(".")]  # nothing ready


def test_a_data_folder_that_cannot_be_written_is_two_lines(tmp_path):
    """XLM_DATA_DIR naming a file: NotADirectoryError from deep in the job, exit 1."""
    from xlm.data.store import build_once
    from xlm.errors import UserError

    (tmp_path / "afile").write_text("mine\n")
    with pytest.raises(UserError) as raised:
        build_once(tmp_path / "afile" / "text" / "lm-abc", never_called, "the tokens of x")
    assert raised.value.what.startswith(f"cannot write the tokens of x into {tmp_path / 'afile' / 'text'}: {tmp_path / 'afile'}: ")
    assert raised.value.fix == "point XLM_DATA_DIR (or paths.data_dir=) at a folder you can write"
    assert (tmp_path / "afile").read_text() == "mine\n"
