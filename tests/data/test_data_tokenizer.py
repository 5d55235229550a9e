"""Text tokenizers: any tokenizer.json by path or hub name (from the cache), the roles xlm's
models need (added when missing, and said), `${tokenizer:...}`, and `xlm tokenizer train`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from data_helpers import cache_hub_tokenizer, write_corpus, write_pairs
from xlm.cli import main as xlm_main
from xlm.data.text_tokenizer import TextTokenizer
from xlm.errors import UserError


def gpt2_like(folder: Path) -> Path:
    """A byte-level BPE whose only special token is <|endoftext|>, declared bos and eos, as GPT-2's is."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(["hello world, the cat sat on the mat"] * 20, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>", "special": True}, "model_max_length": 1024}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_missing_roles_are_added_as_special_tokens_and_a_line_says_so(tmp_path, caplog):
    folder = gpt2_like(tmp_path / "gpt2_like")
    base = json.loads((folder / "tokenizer.json").read_text())
    size = max(base["model"]["vocab"].values()) + 1
    with caplog.at_level(logging.INFO, logger="xlm.data.text_tokenizer"):
        tokenizer = TextTokenizer(str(folder))
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>" and tokenizer.bos_token_id == tokenizer.eos_token_id
    assert (tokenizer.pad_token, tokenizer.mask_token) == ("<pad>", "<mask>")
    assert {tokenizer.pad_token_id, tokenizer.mask_token_id} == {size, size + 1} and tokenizer.full_vocab_size == size + 2
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "had no pad, mask token: added pad <pad>" in lines[0] and f"now {size + 2}" in lines[0]
    assert set(tokenizer.special_token_ids) == {tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id}
    assert tokenizer.decode(tokenizer.encode("hello world")) == "hello world"
    assert tokenizer.decode([tokenizer.pad_token_id, *tokenizer.encode("cat")], skip_special_tokens=True) == "cat"
    # A role named in the config wins; a name the vocabulary lacks is added.
    named = TextTokenizer(str(folder), pad_token="<|endoftext|>", mask_token="[MASK]")
    assert named.pad_token_id == named.eos_token_id and named.mask_token == "[MASK]" and named.full_vocab_size == size + 1


def test_a_hub_name_loads_from_the_cache_offline_and_a_missing_one_is_two_lines(tmp_path, hf_home):
    cache_hub_tokenizer(hf_home, "lab/tiny-gpt", gpt2_like(tmp_path / "files"))
    tokenizer = TextTokenizer("lab/tiny-gpt")
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.decode(tokenizer.encode("the mat")) == "the mat"
    with pytest.raises(UserError) as caught:
        TextTokenizer("lab/not-cached")
    assert caught.value.what.startswith("tokenizer 'lab/not-cached' is not in the Hugging Face cache")
    assert "hf download lab/not-cached tokenizer.json" in caught.value.fix


@pytest.mark.parametrize("make, what", [
    (lambda p: p.mkdir(), "has no tokenizer.json"),
    (lambda p: (p.mkdir(), (p / "tokenizer.json").write_text("{not json")), "is not a tokenizer.json the tokenizers library can load"),
    (lambda p: None, "does not exist"),
])
def test_bad_tokenizer_paths_are_user_errors(tmp_path, make, what):
    path = tmp_path / "tok"
    make(path)
    with pytest.raises(UserError, match=what):
        TextTokenizer(str(path) if path.exists() else "./missing/tok")


def test_the_resolver_sizes_the_model_from_a_text_tokenizer(tmp_path, compose):
    folder = gpt2_like(tmp_path / "gpt2_like")
    write_corpus(tmp_path / "texts", files=1, documents=5)
    cfg = compose("experiment=text_arlm", f"datamodule.files={tmp_path / 'texts'}", "tokenizer=hf", f"tokenizer.path={folder}")
    assert cfg.model.num_embeddings == TextTokenizer(str(folder)).full_vocab_size
    cfg = compose("experiment=text_zlm", f"datamodule.files={tmp_path / 'texts'}", "tokenizer=hf", f"tokenizer.path={folder}")
    assert cfg.model.num_embeddings == TextTokenizer(str(folder)).full_vocab_size


def test_tokenizer_train_reads_jsonl_fields_and_saves_a_folder_transformers_understands(tmp_path, capsys):
    rows = write_pairs(tmp_path / "pairs.jsonl", count=50)
    assert xlm_main(["tokenizer", "train", str(tmp_path / "pairs.jsonl"), "--field", "prompt", "--field", "target",
                     "--vocab-size", "300", "--out", str(tmp_path / "tok")]) == 0
    out = capsys.readouterr().out
    assert "100 documents" in out and f"tokenizer.path={tmp_path / 'tok'}" in out
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert config == {"bos_token": "<bos>", "eos_token": "<eos>", "mask_token": "<mask>", "pad_token": "<pad>",
                      "tokenizer_class": "PreTrainedTokenizerFast"}
    tokenizer = TextTokenizer(str(tmp_path / "tok"))
    assert tokenizer.decode(tokenizer.encode(rows[0]["prompt"])) == rows[0]["prompt"]


def test_tokenizer_train_mistakes_are_two_lines(tmp_path, capsys):
    assert xlm_main(["tokenizer", "train"]) == 2
    assert capsys.readouterr().err.startswith("error: xlm tokenizer train needs text files or --hub NAME")
    write_corpus(tmp_path / "texts", files=1, documents=5)
    assert xlm_main(["tokenizer", "train", str(tmp_path / "texts"), "--vocab-size", "100"]) == 2
    assert "vocab_size=100 is too small" in capsys.readouterr().err
    # 2**31 made `tokenizers` ask for 141 GB and abort the process; 2**64 was an OverflowError traceback
    for size in (2**31, 2**64):
        assert xlm_main(["tokenizer", "train", str(tmp_path / "texts"), "--vocab-size", str(size)]) == 2
        assert f"vocab_size={size} is larger than xlm trains (1,000,000)" in capsys.readouterr().err
    assert xlm_main(["tokenizer", "train", str(tmp_path / "texts"), "--vocab-size", "300", "--min-frequency", "-1"]) == 2
    assert "min_frequency=-1 is negative" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert xlm_main(["tokenizer", "train", str(tmp_path / "texts"), "--vocab-size", "300", "--out", str(tmp_path / "a_file" / "tok")]) == 2
    assert f"cannot write the tokenizer into {tmp_path / 'a_file' / 'tok'}: Not a directory" in capsys.readouterr().err


def test_tokenizer_train_on_local_files_imports_neither_torch_nor_datasets(tmp_path):
    write_corpus(tmp_path / "texts", files=1, documents=20)
    code = ("import sys; from xlm.cli import main; rc = main(['tokenizer', 'train', sys.argv[1], '--vocab-size', '300', '--out', sys.argv[2]]); "
            "print('HEAVY', rc, [m for m in ('torch', 'datasets', 'transformers', 'lightning') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "texts"), str(tmp_path / "tok")], capture_output=True,
                         text=True, check=True).stdout
    assert "HEAVY 0 []" in out


@pytest.mark.parametrize("overrides, key", [
    ((), "datamodule.files"),
    (("datamodule.files=corpus", "tokenizer=hf"), "tokenizer.path"),
    (("datamodule=text_hub",), "datamodule.hub.name"),
])
def test_a_value_the_tokenizer_needs_but_nobody_set_is_named(compose, overrides, key):
    from omegaconf import OmegaConf

    from xlm.config_errors import explain

    cfg = compose("experiment=text_arlm", *overrides)
    with pytest.raises(Exception) as caught:
        OmegaConf.resolve(cfg)  # what a job does first
    error = explain(caught.value)
    assert (error.what, error.fix) == (f"{key} has no value (???), and the tokenizer needs it", f"give it one: {key}=VALUE")


def test_a_corpus_tokenizer_whose_cache_lost_its_file_is_trained_again_and_a_damaged_one_named(tmp_path):
    """`tokenizer=corpus_bpe` caches its tokenizer: a lost tokenizer.json is trained again (the
    error said to train one by hand); one damaged in place says to delete the cache folder."""
    from xlm.data.bpe import corpus_tokenizer

    write_corpus(tmp_path / "texts", files=1, documents=60)
    first = corpus_tokenizer(files=str(tmp_path / "texts"), vocab_size=300, cache_dir=str(tmp_path / "cache"))
    (folder,) = [p for p in (tmp_path / "cache").glob("bpe300-*") if p.is_dir()]
    (folder / "tokenizer.json").unlink()
    again = corpus_tokenizer(files=str(tmp_path / "texts"), vocab_size=300, cache_dir=str(tmp_path / "cache"))
    assert again.encode("the cat sat") == first.encode("the cat sat")
    size = (folder / "tokenizer.json").stat().st_size
    (folder / "tokenizer.json").write_text("x" * size)
    with pytest.raises(UserError) as raised:
        corpus_tokenizer(files=str(tmp_path / "texts"), vocab_size=300, cache_dir=str(tmp_path / "cache"))
    assert "is not a tokenizer.json the tokenizers library can load" in raised.value.what
    assert raised.value.fix == f"delete {folder}; the next run trains it again"


def test_a_block_longer_than_the_model_takes_is_two_lines_before_anything_is_built(compose):
    """`block_size + 1 <= model.max_length` (docs/data.md): it ended in a traceback from the model's first batch."""
    from xlm import build

    cfg = compose("experiment=text_arlm", "datamodule.files=/nowhere", "datamodule.block_size=400")
    with pytest.raises(UserError) as raised:
        build.build_datamodule(cfg, tokenizer=None)
    longest = cfg.model.max_length
    assert raised.value.what == (f"datamodule.block_size=400 does not fit model.max_length={longest}: the model sees <bos> "
                                 "and the block, 401 tokens")
    assert raised.value.fix == f"use datamodule.block_size={longest - 1} or less, or raise model.max_length"
    build._check_block_fits(compose("experiment=text_arlm", "datamodule.files=/nowhere", f"datamodule.block_size={longest - 1}"))


def test_a_run_without_spaces_is_cut_into_pieces_bpe_can_learn_from_and_decodes_back():
    """A 5 MB line without a space (DNA, base64) was one piece: BPE training ran for minutes.
    Ordinary text keeps the byte-level pieces it had, and every text decodes back exactly."""
    from tokenizers import pre_tokenizers

    from xlm.data.bpe import LONGEST_PIECE, train_bpe

    run = "acgt" * 1000
    text = f"the cat sat on the mat, 12345 times\n{run} é 中文"
    trained = train_bpe([text] * 3, vocab_size=300, name="test")
    split, byte_level = trained._tokenizer.pre_tokenizer.pre_tokenize_str, pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str
    pieces = [piece for piece, _ in split(text)]
    assert max(map(len, pieces)) == LONGEST_PIECE and "".join(pieces) == "".join(piece for piece, _ in byte_level(text))
    ordinary = "the cat sat on the mat, 12345 times\n"
    assert split(ordinary) == byte_level(ordinary)
    assert trained.decode(trained.encode(text)) == text
