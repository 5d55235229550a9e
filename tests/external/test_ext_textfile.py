"""`.xlm_models` read as hostile input (xlm.textfile): bytes, UTF-8, lines end at "\\n" only, limits.

The same reader serves xlm (discovery, `xlm models`) and xpm (tests/xpm/test_xpm_hostile_files.py),
so both report the same problem at the same file:line.
"""

from __future__ import annotations

import os

import pytest

from xlm.cli import main
from xlm.external.discovery import read_models_file
from xlm.manifest import add_entry_text, parse_text, replace_entry_text
from xlm.textfile import MAX_FILE_BYTES, MAX_LINE_BYTES, TextFileError, decode, lines, read_text

# Every break `str.splitlines` knows but "\n" (and "\r\n"): each must stay inside its line.
OTHER_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r"]


@pytest.mark.parametrize("brk", OTHER_BREAKS, ids=[f"U+{ord(c):04X}" for c in OTHER_BREAKS])
def test_only_newline_ends_a_line(brk):
    assert len(f"zlm{brk}other".splitlines()) == 2  # what the reader must not do
    assert lines(f"# models\nzlm{brk}other\n") == ["# models", f"zlm{brk}other"]


@pytest.mark.parametrize("brk", OTHER_BREAKS, ids=[f"U+{ord(c):04X}" for c in OTHER_BREAKS])
def test_another_break_inside_a_line_is_an_error_never_a_second_entry(brk, tmp_path):
    file = tmp_path / ".xlm_models"
    for text in (f"zlm{brk}other\n", f"# a comment{brk}github.com/evil/x\n", f"zlm  # note{brk}x\n"):
        file.write_bytes(text.encode())
        entries, [problem] = read_models_file(file)
        assert entries == []
        assert problem.what.startswith(f"Invalid line in .xlm_models: control character U+{ord(brk):04X} at column ")
        assert problem.where == f"{file}:1"


def test_crlf_and_a_bom_are_tolerated(tmp_path):
    file = tmp_path / ".xlm_models"
    file.write_bytes("\ufeff# models\r\nzlm\r\n./x/other  # note\r\n".encode())
    entries, problems = read_models_file(file)
    assert problems == [] and [(e.name, e.text, e.line) for e in entries] == [("zlm", "zlm", 2), ("other", "./x/other", 3)]


def test_edits_keep_crlf_the_bom_and_every_other_byte():
    text = "\ufeffzlm\r\n# keep me\r\nother  # note\r\n"
    added = add_entry_text(text, "github.com/lab/new")
    assert added == text + "github.com/lab/new\r\n"
    assert add_entry_text("zlm\r\nother", "x") == "zlm\r\nother\r\nx\r\n"  # no final newline: one is added, the file's kind
    assert replace_entry_text(text, "zlm", "./models/zlm") == "\ufeff./models/zlm\r\n# keep me\r\nother  # note\r\n"
    assert replace_entry_text(text, "zlm", None) == "\ufeff# keep me\r\nother  # note\r\n"
    assert replace_entry_text(text, "other", "./o/other") == "\ufeffzlm\r\n# keep me\r\n./o/other  # note\r\n"
    assert [e.name for e in parse_text(added)] == ["zlm", "other", "new"]


@pytest.mark.parametrize(
    "data, line, what",
    [
        (b"zlm\n\xff\xfeother\n", 2, "not valid UTF-8 (byte 0xff at column 1)"),
        (b"# models\nzl\xc3m\n", 2, "not valid UTF-8 (byte 0xc3 at column 3)"),
        ("# models\nz\u00e9\n".encode("latin-1"), 2, "not valid UTF-8 (byte 0xe9 at column 2)"),
        ("zlm\n".encode("utf-16"), 1, "not valid UTF-8 (byte 0xff at column 1)"),
        (b"zlm\n# " + b"x" * MAX_LINE_BYTES + b"\n", 2, f"line is {MAX_LINE_BYTES + 2} bytes long, more than the {MAX_LINE_BYTES} allowed"),
    ],
)
def test_bad_bytes_are_an_error_with_file_and_line(data, line, what, tmp_path):
    file = tmp_path / ".xlm_models"
    file.write_bytes(data)
    with pytest.raises(TextFileError) as info:
        read_text(file)
    assert (str(info.value), info.value.line) == (f"{file}:{line}: {what}", line)
    assert info.value.fix
    _, [problem] = read_models_file(file)
    assert (problem.what, problem.where) == (f"Cannot read the models file: {what}", f"{file}:{line}")


def test_a_line_of_exactly_the_limit_is_read():
    assert decode(b"# " + b"x" * (MAX_LINE_BYTES - 2) + b"\r\n") == "# " + "x" * (MAX_LINE_BYTES - 2) + "\r\n"
    with pytest.raises(TextFileError, match="larger than 4 MiB"):
        decode(b"#\n" * (MAX_FILE_BYTES // 2 + 1))


def test_a_folder_a_fifo_or_a_missing_file(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(TextFileError, match=f"^{folder} is a folder, not a file$") as info:
        read_text(folder)
    assert "move the folder away" in info.value.fix
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(TextFileError, match="is not a regular file"):  # and never waits for a writer
        read_text(fifo)
    assert read_text(tmp_path / "absent") is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(TextFileError, match="a file is where a folder is expected"):
        read_text(tmp_path / "file" / ".xlm_models")


def test_xlm_models_reports_the_problem_xpm_reports(project, capsys):
    (project.root / ".xlm_models").write_bytes(b"# models\n\xe9lm\n")
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    assert "Error: Cannot read the models file: not valid UTF-8 (byte 0xe9 at column 1)" in out
    assert f"where: {project.root / '.xlm_models'}:2" in out and "fix: save the file as UTF-8" in out


def test_a_models_file_that_is_a_folder_is_reported_not_skipped(project, capsys, tmp_path):
    (project.root / ".xlm_models").mkdir()
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    assert f"Error: Cannot read the models file: {project.root / '.xlm_models'} is a folder, not a file" in out

