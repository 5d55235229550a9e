"""Where texts come from, and the two-line errors for every way a corpus can be wrong."""

from __future__ import annotations

import json
import os
import time

import pytest

from data_helpers import cache_hub_dataset, write_corpus
from xlm.data.sources import TextSource
from xlm.errors import UserError


def error_of(call) -> UserError:
    with pytest.raises(UserError) as caught:
        call()
    return caught.value


def test_a_folder_a_glob_a_list_and_split_mappings_resolve_in_order(tmp_path):
    write_corpus(tmp_path / "a", files=2, documents=3)
    (tmp_path / "a" / "README").write_text("no suffix: skipped in a folder")
    (tmp_path / "a" / ".hidden.txt").write_text("hidden: skipped")
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "more.txt").write_text("doc\n")
    assert [p.name for p in TextSource(str(tmp_path / "a")).split_files("train")] == ["part0.txt", "part1.txt", "more.txt"]
    assert [p.name for p in TextSource(str(tmp_path / "a" / "*.txt")).split_files("train")] == ["part0.txt", "part1.txt"]
    source = TextSource({"train": [str(tmp_path / "a" / "part1.txt")], "val": str(tmp_path / "a" / "part0.txt")})
    assert source.splits() == ("train", "val") and [p.name for p in source.split_files("val")] == ["part0.txt"]


def test_a_file_reached_by_several_paths_is_read_once(tmp_path):
    """`**` follows a symlink to a folder above it until the link limit: 41 paths to one file
    (the folder form read it once); a folder and a file in it, both given, named it twice."""
    (tmp_path / "corpus" / "sub").mkdir(parents=True)
    (tmp_path / "corpus" / "a.txt").write_text("the cat sat\n")
    (tmp_path / "corpus" / "sub" / "up").symlink_to("..")
    glob = TextSource(str(tmp_path / "corpus" / "**" / "*.txt")).split_files("train")
    assert glob == [tmp_path / "corpus" / "a.txt"]
    both = TextSource([str(tmp_path / "corpus"), str(tmp_path / "corpus" / "a.txt")]).split_files("train")
    assert both == [tmp_path / "corpus" / "a.txt"]
    for name in ("s1", "s2"):  # two links to a folder above: Python's glob walk grew exponentially (23 GB, then the OOM killer)
        (tmp_path / "corpus" / name).symlink_to(".")
    start = time.monotonic()
    assert TextSource(str(tmp_path / "corpus" / "**" / "*.txt")).split_files("train") == [tmp_path / "corpus" / "a.txt"]
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("files, what", [
    ("{tmp}/void.txt", "the train split ({tmp}/void.txt) is empty (0 bytes)"),  # `datasets` raised a traceback
    ("{tmp}/none/*.txt", "matches no file"),
    ("{tmp}/missing.txt", "does not exist"),
    ("/dev/zero", "is not a regular file (a fifo, a device or a socket?)"),  # was "does not exist"
    ("{tmp}/data.csv", "is not a format xlm reads"),
    ("{tmp}/mixed", "mixes json and text files"),
    ("{tmp}/empty", "has no"),
])
def test_bad_file_specs_are_two_line_errors(tmp_path, files, what):
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.txt").write_text("x\n")
    (tmp_path / "mixed" / "b.jsonl").write_text('{"text": "y"}\n')
    (tmp_path / "empty").mkdir()
    (tmp_path / "void.txt").write_text("")
    error = error_of(lambda: TextSource(files.format(tmp=tmp_path)).split_files("train"))
    assert what.format(tmp=tmp_path) in error.what and error.render().count("\n") == 1


def test_a_source_needs_exactly_one_of_files_and_hub_and_known_splits(tmp_path):
    assert "exactly one source" in error_of(lambda: TextSource(None, None)).what
    assert "exactly one source" in error_of(lambda: TextSource("x", {"name": "a/b"})).what
    assert "needs train" in error_of(lambda: TextSource({"validation": "x"})).what
    assert "sample_by" in error_of(lambda: TextSource("x", sample_by="sentence")).what


def test_non_utf8_text_names_the_file_and_byte(tmp_path):
    (tmp_path / "good.txt").write_text("fine\n", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes("caf\u00e9 ok\n".encode("utf-8") + "na\u00efve".encode("latin-1"))
    source = TextSource(str(tmp_path))
    error = error_of(lambda: list(source.iter_texts("train", ["text"])))
    assert error.what == f"{tmp_path / 'bad.txt'}, byte 11 is not UTF-8 text" and "iconv" in error.fix
    error = error_of(lambda: source.load("train", cache_dir=tmp_path / "hf"))  # the datasets reader says the same
    assert "bad.txt" in error.what and "not UTF-8" in error.what



@pytest.mark.parametrize("pack, what, command", [
    (lambda b: __import__("gzip").compress(b), "gzip-compressed", "gunzip -k"),
    (lambda b: __import__("bz2").compress(b), "bzip2-compressed", "bunzip2 -k"),
    (lambda b: __import__("lzma").compress(b), "xz-compressed", "unxz -k"),
    (lambda b: b.decode().encode("utf-16"), "UTF-16 text (it starts with a byte order mark)", "iconv -f utf-16 -t utf-8"),
    (lambda b: b.decode().encode("utf-32"), "UTF-32 text (it starts with a byte order mark)", "iconv -f utf-32 -t utf-8"),
])
def test_a_compressed_or_utf16_file_named_txt_is_said_to_be_one(tmp_path, pack, what, command):
    """`byte 1 is not UTF-8 text` with `iconv -f <encoding>` for what gunzip fixes."""
    path = tmp_path / "a.txt"
    path.write_bytes(pack("some text\n".encode() * 50))
    for read in (lambda source: list(source.iter_texts("train", ["text"])), lambda source: source.load("train", cache_dir=tmp_path / "hf")):
        error = error_of(lambda: read(TextSource(str(tmp_path))))
        assert error.what.startswith(f"{path}") and error.what.endswith(f"is {what}, not UTF-8 text")
        assert error.fix == f"convert it ({command} {path}) or leave it out of datamodule.files"


def test_jsonl_records_must_have_the_field(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"body": "x"}) + "\n" + "not json\n")
    source = TextSource(str(tmp_path / "a.jsonl"))
    error = error_of(lambda: list(source.iter_texts("train", ["text"])))
    assert error.what == f"{tmp_path / 'a.jsonl'}:1: the record has no field 'text' (it has: body)"
    assert next(source.iter_texts("train", ["body"])) == "x"  # read record by record: line 1 comes before line 2 fails
    error = error_of(lambda: list(source.iter_texts("train", ["body"])))
    assert error.what.startswith(f"{tmp_path / 'a.jsonl'}:2: not a JSON object")


@pytest.mark.parametrize("name, text, line", [
    ("arr.json", '[{"text": "a b c"}, {"text": "d e f"}]\n', 1),  # one JSON array: said to have no field 'text' (it has: list)
    ("b.jsonl", '{"text": "a b c"}\n[1, 2]\n', 2),
])
def test_a_record_that_is_no_json_object_is_said_so(tmp_path, name, text, line):
    (tmp_path / name).write_text(text)
    error = error_of(lambda: list(TextSource(str(tmp_path / name)).iter_texts("train", ["text"])))
    assert (error.what, error.fix) == (f"{tmp_path / name}:{line}: not a JSON object (a JSON list)",
                                       "xlm reads .json and .jsonl files as JSON Lines: one JSON object per line")


def test_parquet_and_jsonl_read_their_text_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"content": ["first doc", "  ", "second doc"], "n": [1, 2, 3]}), tmp_path / "a.parquet")
    assert list(TextSource(str(tmp_path / "a.parquet")).iter_texts("train", ["content"])) == ["first doc", "second doc"]
    dataset = TextSource(str(tmp_path / "a.parquet")).load("train", cache_dir=tmp_path / "hf")
    assert dataset["content"] == ["first doc", "  ", "second doc"]


def test_a_hub_dataset_in_the_cache_loads_offline(tmp_path):
    cache_hub_dataset("lab/tiny_corpus", {"train": [{"text": "hello world"}, {"text": "more text"}],
                                          "validation": [{"text": "held out"}]}, tmp_path)
    source = TextSource(None, {"name": "lab/tiny_corpus"})
    assert source.splits() == ("train", "val")
    assert source.load("val")["text"] == ["held out"]
    assert list(source.iter_texts("train", ["text"])) == ["hello world", "more text"]
    assert source.identity("train", None)["fingerprint"]
    error = error_of(lambda: TextSource(None, {"name": "lab/tiny_corpus", "splits": {"val": "dev"}}).load("val"))
    assert "has no split 'dev'" in error.what


def test_a_hub_dataset_missing_offline_is_a_two_line_error_naming_it(hf_home):
    error = error_of(lambda: TextSource(None, {"name": "nobody/missing_corpus"}).load("train"))
    assert error.render().count("\n") == 1
    assert error.what.startswith("hub dataset 'nobody/missing_corpus' is not in the Hugging Face cache (")
    assert str(hf_home) in error.what and "offline" in error.what
    assert "datasets.load_dataset('nobody/missing_corpus')" in error.fix


def test_a_same_size_edit_whose_mtime_was_put_back_is_read_again(tmp_path, monkeypatch):
    """Size, mtime and inode vouched for the old digest: a run trained on the old text, silently."""
    import os
    import time

    from xlm.data import fingerprint
    from xlm.data.fingerprint import file_digests, sha256_file

    path, memo = tmp_path / "a.txt", tmp_path / "memo"
    memo.mkdir()
    path.write_bytes(b"the cat sat\n")
    monkeypatch.setattr(fingerprint, "_RACY_NS", 0)  # remember it at once (else only files unchanged for 2 s are)
    assert file_digests([path], memo) == [sha256_file(path)]
    assert (memo / "file-digests.json").is_file()
    time.sleep(0.02)  # past the file system's clock tick: the write below moves the ctime
    before = path.stat()
    with open(path, "r+b") as handle:  # in place: the same inode
        handle.write(b"the XYZ sat\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert file_digests([path], memo) == [sha256_file(path)]
    os.utime(path)  # touched, content unchanged: the same digest, read again
    assert file_digests([path], memo) == [sha256_file(path)]


@pytest.mark.parametrize("pattern", ["**/*.txt", "*.txt", "a/*.txt", "a/**/*.txt", "**/b/*.txt", "a/b/*.json", "*/y.txt",
                                     ".*.txt", "**/k[12].txt", "**/k?.txt", "a/b/k[!1].txt", "**", "a/**", "*", "**/*"])
def test_a_glob_names_the_files_pythons_glob_names(tmp_path, pattern):
    """The walker that visits each folder once matches as `glob.glob(recursive=True)`: `**`, `*`,
    `?`, classes and negated classes, hidden names only for a pattern that names them."""
    import glob

    from xlm.data.patterns import glob_files

    for rel in ["x.txt", "a/y.txt", "a/b/z.txt", "a/b/w.json", ".h.txt", ".hid/q.txt", "a/b/k1.txt", "a/b/k2.txt", "é/ü.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1")
    expected = sorted(p for p in glob.glob(str(tmp_path / pattern), recursive=True) if os.path.isfile(p))
    assert sorted(str(p) for p in glob_files(str(tmp_path / pattern))) == expected
