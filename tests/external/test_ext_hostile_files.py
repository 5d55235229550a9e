"""A local model's files as hostile input to xlm's validation: a fifo or a device where a config
or a module belongs is reported, never read (a fifo hung every xlm command, `--help` too; a
module linked to /dev/zero was read until memory ran out); a module too large to be code is
refused; a folder where a file belongs, or a file where a folder belongs, is named as such;
each config problem gets its own fix; a loop of links in a model's path is "not found"."""

from __future__ import annotations

import os

import pytest

from xlm.external import pysource
from xlm.external.discovery import discover
from xlm.external.validation import inspect_model

from .builders import make_model

NOT_REGULAR = "it is not a regular file (a fifo, a device or a socket?)"


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_a_config_that_is_no_regular_file_is_reported_not_read(tmp_path, kind):
    root = make_model(tmp_path, "my_model")
    path = root / "configs" / "model" / "x.yaml"
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.what, problem.where) == (f"External model 'my_model' has a config file that cannot be read: {NOT_REGULAR}", str(path))


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_a_module_that_is_no_regular_file_is_reported_not_read(tmp_path, kind):
    root = make_model(tmp_path, "my_model")
    path = root / "my_model" / "zero.py"
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    (root / "configs" / "model_type" / "t.yaml").write_text("# @package _global_\nloss:\n  _target_: my_model.zero.Loss\n")
    info = inspect_model(root, "my_model")
    assert [(p.what, p.where, p.fix) for p in info.problems] == [(
        f"External model 'my_model' has a Python file that does not compile: cannot be read: {NOT_REGULAR}", str(path),
        "make it a readable file of Python source, or delete it")]


def test_a_module_too_large_to_be_code_is_refused_and_a_memory_error_is_not_remembered(tmp_path, monkeypatch):
    root = make_model(tmp_path, "my_model")
    monkeypatch.setattr(pysource, "MAX_SOURCE_BYTES", 1000)
    (root / "my_model" / "table.py").write_text("x = 1\n" * 200)
    [problem] = inspect_model(root, "my_model").problems
    assert problem.what.endswith("cannot be read: it is larger than 0 MiB, which is data, not code")
    monkeypatch.undo()
    (root / "my_model" / "table.py").unlink()

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pysource, "compile", out_of_memory, raising=False)  # the module's name for the builtin
    problems = inspect_model(root, "my_model").problems
    assert problems and all(p.what.endswith("does not compile: compiling it ran out of memory") for p in problems)
    monkeypatch.undo()
    assert inspect_model(root, "my_model").problems == []  # judged again: a limit of that run, not the file's verdict


@pytest.mark.parametrize("shape, what, fix", [
    ("a file", "configs/model_type is not a folder", "make configs/model_type a folder that holds my_model.yaml"),
    ("a loop of links", "configs/model_type is not a folder", "make configs/model_type a folder that holds my_model.yaml"),
])
def test_a_required_group_that_is_no_folder_is_named_as_such(tmp_path, shape, what, fix):
    root = make_model(tmp_path, "my_model")
    group = root / "configs" / "model_type"
    for child in group.iterdir():
        child.unlink()
    group.rmdir()
    group.write_text("hi\n") if shape == "a file" else group.symlink_to("model_type")
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.what, problem.fix) == (f"External model 'my_model' missing required config groups: ['model_type']: {what}", fix)


def test_configs_that_is_no_folder_is_named_as_such(tmp_path):
    root = make_model(tmp_path, "my_model")
    configs = root / "configs"
    os.rename(configs, tmp_path / "old_configs")
    configs.symlink_to("configs")
    [problem] = inspect_model(root, "my_model").problems
    assert problem.what.endswith(": configs is not a folder")
    assert problem.fix == "make configs a folder that holds model/ and model_type/"


@pytest.mark.parametrize("text, fix", [
    ("x: " + "[" * 40 + "]" * 40 + "\n", "flatten it"),
    ("# @package _global_ # note\nx: 1\n", "write the header as `# @package _global_`: two words separated by spaces, nothing after them"),
    ("a: 1\na: 2\n", "keep one of the two keys"),
    ("a: [\n", "fix the YAML syntax of this file"),
])
def test_each_config_problem_has_its_own_fix(tmp_path, text, fix):
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "model" / "odd.yaml").write_text(text)
    [problem] = inspect_model(root, "my_model").problems
    assert problem.fix == fix


def test_a_model_path_that_is_a_loop_of_links_is_not_found_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    (tmp_path / "loopy").symlink_to("loopy")
    (tmp_path / ".xlm_models").write_text("./loopy\n")
    monkeypatch.setenv("XLM_MODELS_PATH", str(tmp_path / "loopy"))
    found = discover(tmp_path)
    assert [p.what for p in found.problems] == ["External model 'loopy' not found at ./loopy"]


def test_a_model_listed_three_times_is_one_problem_in_the_report(tmp_path, monkeypatch):
    """Each later line is a reason to skip it; `xlm models` printed the same problem twice."""
    from xlm.external.report import format_models
    from xlm.external_models import find_external_models

    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    monkeypatch.delenv("XLM_MODELS_PATH", raising=False)
    make_model(tmp_path, "my_model")
    (tmp_path / ".xlm_models").write_text("my_model\nmy_model\n./my_model\n")
    monkeypatch.chdir(tmp_path)
    text = format_models(find_external_models())
    assert "problems (1):" in text and text.count("Duplicate model names found in .xlm_models: ['my_model']") == 1


def test_the_report_header_shows_odd_paths_escaped_and_a_long_path_list_cut(tmp_path, monkeypatch):
    """A newline in XLM_MODELS_FILE broke the report's lines; 5,000 XLM_MODELS_PATH folders made one line."""
    from xlm.external.report import format_models
    from xlm.external_models import find_external_models

    odd = tmp_path / "odd\nname"
    odd.mkdir()
    (odd / ".xlm_models").write_text("missing_model\n")
    monkeypatch.setenv("XLM_MODELS_FILE", str(odd / ".xlm_models"))
    monkeypatch.setenv("XLM_MODELS_PATH", ":".join(str(tmp_path / f"lib{i}") for i in range(5000)))
    text = format_models(find_external_models())
    lines = text.splitlines()
    assert lines[0] == f"models file: {tmp_path}/odd\\u000aname/.xlm_models"
    assert lines[1].startswith(f"names are looked up in: {tmp_path}/odd\\u000aname, {tmp_path}/lib0, ")
    assert lines[1].endswith(" and 4982 more") and len(lines[1]) < 4000  # the project, 5,000 folders, xlm_models
    assert all("\n" not in line for line in lines) and "where: " in text and "odd\\u000aname" in text.split("where: ")[1]


def test_a_problem_prints_invisible_characters_as_escapes(tmp_path):
    """A right-to-left override in a file name reversed the rest of the error line on a terminal."""
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "model_type" / "\u202elmay.evil.yaml").write_text("a: [\n")
    [problem] = inspect_model(root, "my_model").problems
    rendered = problem.render()
    assert "\u202e" not in rendered and "\\u202elmay.evil.yaml" in rendered


@pytest.mark.parametrize("text, problem, line", [
    ("a: 1\nx: \0\n", "unacceptable character #x0000: control characters are not allowed", 2),  # had no line
    ("# @package _global_\nmodel:\n\td_model: 1\n", "found character that cannot start any token (a tab: YAML indents with spaces only)", 3),
])
def test_a_nul_has_its_line_and_a_tab_in_the_indentation_is_named(tmp_path, text, problem, line):
    root = make_model(tmp_path, "my_model")
    path = root / "configs" / "model" / "odd.yaml"
    path.write_text(text)
    [found] = inspect_model(root, "my_model").problems
    assert (found.what, found.where) == (f"External model 'my_model' has a config file that does not parse: {problem}", f"{path}:{line}")


def test_unlisted_folders_are_only_those_one_could_list(tmp_path, monkeypatch):
    """`xlm models` suggested listing `__main__/` (a name xlm refuses) and a second copy of a model
    the project already declares."""
    from xlm.external.diagnose import unlisted_models
    from xlm.external_models import find_external_models

    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    monkeypatch.delenv("XLM_MODELS_PATH", raising=False)
    make_model(tmp_path / "models", "my_model")
    for name in ("my_model", "__main__", "other_model"):
        make_model(tmp_path, name)
    (tmp_path / ".xlm_models").write_text("./models/my_model\n")
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in unlisted_models(find_external_models())] == ["other_model"]
