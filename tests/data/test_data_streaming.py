"""Streaming: every document read exactly once across DDP processes and dataloader workers,
and the same blocks as the cached path when there is one reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from data_helpers import write_corpus
from xlm.cli import main as xlm_main
from xlm.data.arrow_rows import PackedBlocks
from xlm.data.datamodule import TextDataModule
from xlm.data.sources import TextSource
from xlm.data.streaming import StreamedExamples
from xlm.data.text_tokenizer import TextTokenizer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    write_corpus(folder / "texts", files=5, documents=120, seed=3)  # 5 files: not a multiple of 4 readers
    assert xlm_main(["tokenizer", "train", str(folder / "texts"), "--vocab-size", "500", "--out", str(folder / "tok")]) == 0
    documents = list(TextSource(str(folder / "texts")).iter_texts("train", ["text"]))
    return folder, documents


def split_documents(ids: list[int], eos: int) -> list[list[int]]:
    documents, current = [], []
    for token in ids:
        if token == eos:
            documents.append(current)
            current = []
        else:
            current.append(token)
    assert current == [], "a reader's stream ends with the <eos> of its last document"
    return documents


@pytest.mark.slow
@pytest.mark.parametrize("files", [4, 5])  # whole files per reader (4 readers), or every 4th record
def test_two_ddp_processes_with_two_workers_each_read_every_document_exactly_once(files, corpus, tmp_path):
    folder, _ = corpus
    write_corpus(tmp_path / "texts", files=files, documents=100, seed=files)
    documents = list(TextSource(str(tmp_path / "texts")).iter_texts("train", ["text"]))
    tokenizer = TextTokenizer(str(folder / "tok"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(HERE / "streaming_reader.py"), str(rank), "2", str(tmp_path / "init"),
                               str(tmp_path / "texts"), str(folder / "tok"), str(tmp_path / f"rank{rank}.json"), "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in range(2)]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
    blocks = [b for rank in range(2) for b in json.loads((tmp_path / f"rank{rank}.json").read_text())]
    readers = sorted({b["reader"] for b in blocks})
    assert readers == [0, 1, 2, 3]  # rank * workers + worker: all four read something
    seen: list[str] = []
    for reader in readers:
        own = [b["ids"] for b in blocks if b["reader"] == reader]
        assert all(len(ids) == 32 for ids in own[:-1]) and 0 < len(own[-1]) <= 32  # full blocks, one shorter tail
        stream = [i for ids in own for i in ids]
        seen += [tokenizer.decode(ids) for ids in split_documents(stream, tokenizer.eos_token_id)]
    assert len(seen) == len(documents)
    assert Counter(seen) == Counter(documents)  # every document once: none twice, none skipped


def test_one_reader_streams_exactly_the_cached_blocks(corpus, tmp_path):
    from arlm.collators import ARLMCollator

    folder, documents = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    dm = TextDataModule(tokenizer, ARLMCollator(tokenizer, loss_on_prompt=True), files=str(folder / "texts"), block_size=32,
                        val_size=0.2, num_proc=1, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    for split, keep in (("train", "above"), ("val", "below")):
        cached = [b["target_ids"] for b in PackedBlocks(dm.prepared().files[split])]
        stream = StreamedExamples(TextSource(str(folder / "texts")), tokenizer, origin="train", keep=keep, val_size=0.2,
                                  mode="lm", columns=["text"], block_size=32, repeat=False, rank=0, world_size=1)
        streamed = [b["target_ids"] for b in stream]
        assert streamed[: len(cached)] == cached  # the same documents held out, packed the same way
        assert len(streamed) == len(cached) + 1 and len(streamed[-1]) == dm.prepared().info["splits"][split]["dropped_tokens"]


def test_a_repeating_stream_carries_its_rest_into_the_next_epoch(corpus):
    folder, documents = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    stream = StreamedExamples(TextSource(str(folder / "texts")), tokenizer, origin="train", keep=None, val_size=0.0, mode="lm",
                              columns=["text"], block_size=32, repeat=True, shuffle_buffer=16, rank=0, world_size=1)
    total = sum(len(tokenizer.encode(d)) + 1 for d in documents)
    blocks = []
    for example in stream:
        blocks.append(example["target_ids"])
        if len(blocks) * 32 > 2 * total + 64:
            break
    assert all(len(b) == 32 for b in blocks)  # no short block between epochs
    first, second = blocks[: total // 32], blocks[total // 32 + 1: 2 * (total // 32)]
    assert first[:3] != second[:3]  # each epoch is shuffled anew (seed + epoch)


def test_streamed_pairs_are_the_cached_records(corpus, tmp_path):
    from arlm.collators import ARLMCollator

    from data_helpers import write_pairs

    folder, _ = corpus
    tokenizer = TextTokenizer(str(folder / "tok"))
    write_pairs(tmp_path / "pairs.jsonl", count=120)
    dm = TextDataModule(tokenizer, ARLMCollator(tokenizer), files=str(tmp_path / "pairs.jsonl"), mode="pairs", val_size=0.2,
                        num_proc=1, cache_dir=str(tmp_path / "cache"), max_prompt_tokens=4)
    for split, keep in (("train", "above"), ("val", "below")):
        cached = [(e["prompt_ids"], e["target_ids"]) for e in dm.examples(split)]
        stream = StreamedExamples(TextSource(str(tmp_path / "pairs.jsonl")), tokenizer, origin="train", keep=keep, val_size=0.2,
                                  mode="pairs", columns=["prompt", "target"], block_size=32, repeat=False, rank=0, world_size=1,
                                  max_prompt_tokens=4)
        assert [(e["prompt_ids"], e["target_ids"]) for e in stream] == cached and cached


def test_a_text_too_long_to_tokenize_as_one_is_named_on_every_path(corpus, tmp_path, monkeypatch):
    """A 50 MB line was tokenized whole: 11.5 GB, an out-of-memory kill without a word.
    The limit is 10 M characters; here it is lowered, so the test writes no such file."""
    from arlm.collators import ARLMCollator

    from xlm.data import sources
    from xlm.errors import UserError

    folder, _ = corpus
    monkeypatch.setattr(sources, "MAX_TEXT_CHARS", 3000)
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("short one\n\n" + " ".join(["word"] * 1000) + "\n")  # 5,000 characters, one paragraph
    with pytest.raises(UserError) as trained:  # the tokenizer's training reads the texts first
        list(TextSource(str(texts)).iter_texts("train", ["text"]))
    assert trained.value.what == (f"{texts / 'a.txt'} (train): a text of 5,000 characters, over the 3,000 xlm tokenizes as one "
                                  "(tokenizing it takes about a hundred times its size in memory)")
    assert "datamodule.sample_by=paragraph" in trained.value.fix
    tokenizer = TextTokenizer(str(folder / "tok"))
    dm = TextDataModule(tokenizer, ARLMCollator(tokenizer, loss_on_prompt=True), files=str(texts), block_size=8,
                        val_size=0.0, num_proc=1, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"\(train\): record 1: field 'text' holds a text of 5,000 characters") as cached:
        dm.prepare_data()
    assert cached.value.fix == trained.value.fix
    stream = StreamedExamples(TextSource(str(texts)), tokenizer, origin="train", keep=None, val_size=0.0, mode="lm",
                              columns=["text"], block_size=8, repeat=False, rank=0, world_size=1)
    with pytest.raises(UserError, match="a text of 5,000 characters"):
        list(stream)


def test_a_jsonl_record_too_long_to_tokenize_is_named_by_file_and_line(corpus, tmp_path, monkeypatch):
    import json

    from xlm.data import sources
    from xlm.errors import UserError

    monkeypatch.setattr(sources, "MAX_TEXT_CHARS", 3000)
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "short"}) + "\n" + json.dumps({"text": "w" * 4000}) + "\n")
    source = TextSource(str(tmp_path / "a.jsonl"))
    for read in (lambda: source.check_records("train", ["text"]), lambda: list(source.iter_texts("train", ["text"]))):
        with pytest.raises(UserError) as refused:
            read()
        assert refused.value.what.startswith(f"{tmp_path / 'a.jsonl'}:2: field 'text' holds a text of 4,000 characters")
