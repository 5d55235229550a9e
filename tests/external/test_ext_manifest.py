"""The `.xlm_models` grammar (xlm.manifest, shared with xpm): entries, comments, errors, edits."""

from __future__ import annotations

import os

import pytest

from xlm.manifest import GitSource, LocalSource, ManifestError, parse_line, parse_text, replace_entry_text, write_atomic

# (line as written, model name, source)
ENTRIES = [
    ("my_model", "my_model", LocalSource()),
    ("  my_model  ", "my_model", LocalSource()),
    ("my_model  # after an entry", "my_model", LocalSource()),
    ("my_model\t# after a tab", "my_model", LocalSource()),
    ("./examples/zlm", "zlm", LocalSource("./examples/zlm")),
    ("./examples/zlm/  # trailing slash", "zlm", LocalSource("./examples/zlm/")),
    ("../models/zlm", "zlm", LocalSource("../models/zlm")),
    ("/abs/zlm", "zlm", LocalSource("/abs/zlm")),
    ("~/zlm", "zlm", LocalSource("~/zlm")),
    ("github.com/lab/zlm", "zlm", GitSource("https://github.com/lab/zlm")),
    ("github.com/lab/zlm@v1  # pinned", "zlm", GitSource("https://github.com/lab/zlm", "v1")),
    ("github.com/lab/mono@>=1.2,<2#subdir=models/zlm", "zlm", GitSource("https://github.com/lab/mono", ">=1.2,<2", "models/zlm")),
    ("https://host/g/m.git", "m", GitSource("https://host/g/m.git")),
    ("ssh://git@host/lab/m.git@main", "m", GitSource("ssh://git@host/lab/m.git", "main")),
    ("git@host:lab/m.git", "m", GitSource("git@host:lab/m.git")),
    ("file:///abs/repo.git", "repo", GitSource("file:///abs/repo.git")),
    ("file:///abs/zlm/.git@v1", "zlm", GitSource("file:///abs/zlm/.git", "v1")),
]


@pytest.mark.parametrize("text, name, source", ENTRIES)
def test_entries(text, name, source):
    entry = parse_line(text)
    assert (entry.name, entry.source) == (name, source)


@pytest.mark.parametrize("text", ["", "   ", "# a comment", "   # indented comment", "#my_model"])
def test_blank_and_comment_lines_are_not_entries(text):
    assert parse_line(text) is None


# (line, message after "FILE:LINE: ", fix)
ERRORS = [
    ("my_model other", "expected one model per line, found 'my_model other'", "put each model on its own line"),
    ("My-Model", "'My-Model' is not a valid model name (use a lowercase identifier such as my_model)", "write a model name"),
    ("class", "'class' is a Python keyword and cannot be a model name", "write a model name"),
    ("./models/My-Model", "'My-Model' is not a valid model name (use a lowercase identifier such as my_model)", "write a model name"),
    ("my_model#note", "'#' starts a comment only after white space, found 'my_model#note'", "write 'my_model  #note'"),
    ("./examples/zlm#x", "'#' starts a comment only after white space, found './examples/zlm#x'", "write './examples/zlm  #x'"),
    ("github.com/lab/zlm#v1", "unknown fragment '#v1' (only '#subdir=path/in/repo' is supported)", "host/repo[@ref][#subdir=dir]"),
    ("github.com/lab/zlm@", "'@' must be followed by a tag, branch, commit or version query", "host/repo[@ref][#subdir=dir]"),
]


@pytest.mark.parametrize("text, what, fix", ERRORS)
def test_errors_name_the_file_and_line(text, what, fix, tmp_path):
    file = tmp_path / ".xlm_models"
    with pytest.raises(ManifestError) as info:
        parse_text(f"# models\n\n{text}\n", file)
    assert str(info.value) == f"{file}:3: {what}"
    assert (info.value.what, info.value.line) == (what, 3)
    assert fix in info.value.fix


def test_entries_keep_file_order_and_their_line_numbers(tmp_path):
    file = tmp_path / ".xlm_models"
    entries = parse_text("# models\nb\n\na  # why\n./x/c\n", file)
    assert [(e.name, e.text, e.where()) for e in entries] == [("b", "b", f"{file}:2"), ("a", "a", f"{file}:4"), ("c", "./x/c", f"{file}:5")]


def test_replacing_an_entry_keeps_every_other_line_and_its_comment():
    text = "# models\nzlm  # the example\nother\n"
    assert replace_entry_text(text, "zlm", "github.com/lab/zlm@v1") == "# models\ngithub.com/lab/zlm@v1  # the example\nother\n"
    assert replace_entry_text(text, "zlm", None) == "# models\nother\n"


def test_atomic_writes_keep_the_files_mode(tmp_path):
    new = tmp_path / ".xlm_models"
    write_atomic(new, "a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600
    new.chmod(0o640)
    write_atomic(new, "b\n")
    assert new.read_text() == "b\n" and new.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [".xlm_models"]  # no temporary file left
