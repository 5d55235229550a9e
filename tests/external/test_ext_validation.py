"""Static validation of one model folder: one broken fixture per problem, asserting the message."""

from __future__ import annotations

import shutil
import sys

import pytest

from xlm.external.validation import inspect_model, model_package, validate_model_root

from .builders import make_flat_model, make_model, write


def test_a_valid_model_has_no_problems_and_is_not_imported(tmp_path):
    root = make_model(tmp_path, "my_model")
    assert validate_model_root(root, "my_model") == []
    assert "my_model" not in sys.modules  # its modules raise on import: validation only read them


def test_everything_wrong_is_reported_not_just_the_first(tmp_path):
    root = make_model(
        tmp_path,
        "my_model",
        files={
            "configs/model_type/my_model.yaml": None,
            "configs/experiment/broken.yaml": "a: [1, 2\n",
            "configs/model/my_model.yaml": "# @package _global_\nmodel:\n  _target_: my_model.model.Missing\n",
        },
    )
    info = inspect_model(root, "my_model")
    assert sorted(p.kind for p in info.problems) == ["invalid_config", "missing_configs"]
    assert [p.kind for p in info.warnings] == ["bad_target"]  # the model still loads: see test_broken_model


# (files to change, expected what, expected where relative to the root, fix fragment)
BROKEN = {
    "missing_model_type": (
        {"configs/model_type/my_model.yaml": None},
        "External model 'my_model' missing required config groups: ['model_type']",
        "configs/model_type",
        "create configs/model_type/my_model.yaml",
    ),
    "missing_model_group": (
        {"configs/model/my_model.yaml": None},
        "External model 'my_model' missing required config groups: ['model']",
        "configs/model",
        "create configs/model/my_model.yaml",
    ),
    "invalid_yaml": (
        {"configs/collator/default_my_model.yaml": "_target_: a\n  b: c: d\n"},
        "External model 'my_model' has a config file that does not parse: mapping values are not allowed",
        "configs/collator/default_my_model.yaml:2",
        "fix the YAML syntax",
    ),
    "target_class_missing": (
        {"configs/model_type/my_model.yaml": "# @package _global_\nloss:\n  _target_: my_model.loss.MyModelLos\nx: 1\n", "configs/model_type/other.yaml": "x: 1\n"},
        "External model 'my_model' has a bad target 'my_model.loss.MyModelLos': 'MyModelLos' is not defined in my_model/loss.py",
        "configs/model_type/my_model.yaml:3",
        "point it at a class or function that exists",
    ),
    "target_only_in_a_string": (
        {"my_model/extra.py": 'NOTE = """\nclass Ghost:\n    pass\n"""\n', "configs/model_type/x.yaml": "a:\n  _target_: my_model.extra.Ghost\n"},
        "External model 'my_model' has a bad target 'my_model.extra.Ghost': 'Ghost' is not defined in my_model/extra.py",
        "configs/model_type/x.yaml:2",
        "",
    ),
    "target_module_missing": (
        {"configs/collator/default_my_model.yaml": "_target_: my_model.collator.DefaultMyModelCollator\n"},
        "External model 'my_model' has a bad target 'my_model.collator.DefaultMyModelCollator': module my_model/collator.py does not exist",
        "configs/collator/default_my_model.yaml:1",
        "check spelling and module",
    ),
    "update_fn_missing": (
        {"configs/model_type/x.yaml": "# @package _global_\nreported_metrics:\n  val:\n    lm:\n      a:\n        update_fn: my_model.metrics.nope\n"},
        "External model 'my_model' has a bad target 'my_model.metrics.nope': 'nope' is not defined in my_model/metrics.py",
        "configs/model_type/x.yaml:6",
        "",
    ),
    "target_is_a_module": (
        {"configs/collator/default_my_model.yaml": "_target_: my_model.collators\n"},
        "External model 'my_model' has a bad target 'my_model.collators': it names the module my_model/collators.py, not a class or function in it",
        "configs/collator/default_my_model.yaml:1",
        "",
    ),
    "target_module_syntax_error": (  # one problem, the syntax error, not a second one about the target
        {"my_model/predictor.py": "from .base import (MyModelPredictor\n"},
        "External model 'my_model' has a Python file that does not compile: '(' was never closed",
        "my_model/predictor.py:1",
        "fix the syntax",
    ),
    "target_module_too_deep_to_read": (  # the compiler gives up: one problem, and no crash reading its names
        {"my_model/predictor.py": "class MyModelPredictor:\n    pass\nx = 1" + " + 1" * 100_000 + "\n"},
        "External model 'my_model' has a Python file that does not compile: maximum recursion depth exceeded",
        "my_model/predictor.py",
        "fix the syntax",
    ),
    "config_nested_absurdly_deep": (  # libyaml's time grows with the square of the depth: refused before parsing
        {"configs/experiment/deep.yaml": "a: 1\nb: " + "[" * 100_000 + "]" * 100_000 + "\n"},
        "External model 'my_model' has a config file that does not parse: collections nested more than 200 levels deep",
        "configs/experiment/deep.yaml:2",
        "flatten it",
    ),
    "syntax_error_in_an_unused_module": (
        {"my_model/scratch.py": "def f():\n    x = 1\n  y = 2\n"},
        "External model 'my_model' has a Python file that does not compile: unindent does not match any outer indentation level",
        "my_model/scratch.py:3",
        "",
    ),
    "unknown_coding_declaration": (  # the cookie's line, and a fix about it (fuzz_layouts L7)
        {"my_model/enc.py": "#!/usr/bin/env python\n# -*- coding: nosuchenc -*-\nx = 1\n"},
        "External model 'my_model' has a Python file that does not compile: unknown encoding: nosuchenc",
        "my_model/enc.py:2",
        "fix its coding declaration",
    ),
    "compiler_error_the_parser_accepts": (
        {"my_model/sub/__init__.py": "", "my_model/sub/deep.py": "x = 1\nreturn x\n"},
        "External model 'my_model' has a Python file that does not compile: 'return' outside function",
        "my_model/sub/deep.py:2",
        "",
    ),
    "xlm_target_missing": (
        {"configs/model_type/x.yaml": "# @package _global_\nlightning_module:\n  _target_: xlm.harness.Harnes\n"},
        "External model 'my_model' has a bad target 'xlm.harness.Harnes': 'Harnes' is not defined in xlm/harness.py",
        "configs/model_type/x.yaml:3",
        "exists in this xlm",
    ),
    "class_missing_before_a_method": (  # said "module my_model/model/Nope.py does not exist": model.py is there
        {"configs/model/x.yaml": "# @package _global_\nmodel:\n  _target_: my_model.model.Nope.create\n"},
        "External model 'my_model' has a bad target 'my_model.model.Nope.create': 'Nope' is not defined in my_model/model.py",
        "configs/model/x.yaml:3",
        "",
    ),
    "xlm_module_missing": (
        {"configs/collator/x.yaml": "_target_: xlm.collators.DefaultCollator\n"},
        "External model 'my_model' has a bad target 'xlm.collators.DefaultCollator': module xlm/collators.py does not exist",
        "configs/collator/x.yaml:1",
        "",
    ),
    "no_package": (
        {"my_model/__init__.py": None},
        "External model 'my_model' has no Python package (found no folder with an __init__.py)",
        "",
        "create ",
    ),
    "no_configs_folder": (
        {f"configs/{rel}": None for rel in ("model/my_model.yaml", "model_type/my_model.yaml", "collator/default_my_model.yaml", "experiment/my_model_debug.yaml")},
        "External model 'my_model' missing required config groups: ['model', 'model_type']",
        "configs",
        "create configs/model/my_model.yaml and configs/model_type/my_model.yaml",
    ),
    "commands_malformed": (
        {"configs/commands.yaml": "- not a mapping\n"},
        "External model 'my_model' has a malformed commands.yaml",
        "configs/commands.yaml",
        "map each command name to a function",
    ),
    "command_bad_name": (
        {"configs/commands.yaml": "Bad Name: my_model.metrics.mean_update_fn\n"},
        "External model 'my_model' has a malformed commands.yaml: command 'Bad Name'",
        "configs/commands.yaml:1",
        "names use a-z",
    ),
    "command_bad_target": (
        {"configs/commands.yaml": "my-cmd:\n  function: my_model.cli.main\n  help: does things\n"},
        "External model 'my_model' has a bad target 'my_model.cli.main': module my_model/cli.py does not exist",
        "configs/commands.yaml:1",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_model(tmp_path, case):
    files, what, where, fix = BROKEN[case]
    root = make_model(tmp_path, "my_model", files=files)
    info = inspect_model(root, "my_model")
    [problem] = info.problems + info.warnings
    assert problem.what.startswith(what)  # libyaml and PyYAML word the end of YAML errors differently
    assert problem.where == (str(root / where) if where else str(root))
    assert fix in problem.fix
    assert problem.model == "my_model"
    # A config's bad target is a warning: the model loads and only a job using it fails.
    # Everything else (a bad command included) is a problem that skips the model.
    warned = problem.kind == "bad_target" and "commands.yaml" not in where
    assert (info.warnings, info.problems) == (([problem], []) if warned else ([], [problem]))
    assert validate_model_root(root, "my_model") == info.problems
    assert "my_model" not in sys.modules


def test_an_unknown_key_of_a_command_is_a_warning_and_the_command_works(tmp_path):
    text = "my-cmd:\n  function: my_model.metrics.mean_update_fn\n  hlep: does things\n  help: ok\nother: my_model.metrics.mean_update_fn\n"
    root = make_model(tmp_path, "my_model", files={"configs/commands.yaml": text})
    info = inspect_model(root, "my_model")
    assert info.problems == [] and [c.name for c in info.commands] == ["my-cmd", "other"]
    [warning] = info.warnings
    assert (warning.kind, warning.where) == ("ignored_key", f"{root}/configs/commands.yaml:1")
    assert warning.what == ("External model 'my_model' has unknown keys ['hlep'] in command 'my-cmd' of commands.yaml, "
                            "which are ignored")


@pytest.mark.parametrize("name, message", [("My-Model", "'My-Model' is not a valid model name"), ("class", "'class' is a Python keyword")])
def test_invalid_names(tmp_path, name, message):
    root = make_model(tmp_path, name, package="pkg")
    [problem] = validate_model_root(root, name)
    assert problem.kind == "name" and message in problem.what


def test_missing_folder(tmp_path):
    [problem] = validate_model_root(tmp_path / "nope", "nope")
    assert problem.what == f"External model 'nope' not found: {tmp_path / 'nope'} is not a folder"


@pytest.mark.parametrize(
    "source",
    [
        "from .model import Thing\n",
        "import os\ntry:\n    from fast import Thing\nexcept ImportError:\n    Thing = None\n",
        "if True:\n    class Thing:\n        pass\n",
        "from .everything import *\n",
        "def __getattr__(name):\n    return name\n",
        "Thing: type = object\n",
        "async def Thing():\n    pass\n",
    ],
)
def test_targets_defined_in_other_ways(tmp_path, source):
    root = make_model(tmp_path, "my_model", files={"my_model/extra.py": source, "configs/collator/x.yaml": "_target_: my_model.extra.Thing\n"})
    assert validate_model_root(root, "my_model") == []


def test_targets_outside_the_package_are_not_checked(tmp_path):
    root = make_model(tmp_path, "my_model", files={"configs/collator/x.yaml": "_target_: torch.nn.DoesNotExist\n"})
    assert validate_model_root(root, "my_model") == []


def test_model_package_names(tmp_path):
    named = make_model(tmp_path, "my_model")
    other = make_model(tmp_path, "model_a", package="model")
    (other / "tests").mkdir()
    (other / "tests" / "__init__.py").write_text("")
    several = make_model(tmp_path, "model_b", package="one", files={"two/__init__.py": ""})
    assert model_package(named, "my_model") == "my_model"
    assert model_package(other, "model_a") == "model"  # the only package (tests/ does not count)
    assert model_package(several, "model_b") is None
    assert "found several packages: ['one', 'two']" in validate_model_root(several, "model_b")[0].what


def test_commands_are_read(tmp_path):
    root = make_model(tmp_path, "my_model", files={"configs/commands.yaml": "my-stats: my_model.metrics.mean_update_fn\nmy-other:\n  function: my_model.metrics.mean_update_fn\n  help: says hi\n"})
    info = inspect_model(root, "my_model")
    assert info.problems == []
    assert [(c.name, c.function, c.help) for c in info.commands] == [
        ("my-stats", "my_model.metrics.mean_update_fn", ""),
        ("my-other", "my_model.metrics.mean_update_fn", "says hi"),
    ]
    assert "commands.yaml" not in info.config_files


# ----------------------------------------------------------------------------- flat layout


def test_a_flat_model_is_its_own_package(tmp_path):
    """xlm-core's layout: ``fmdl/__init__.py`` and ``fmdl/configs/``, with no ``fmdl/fmdl/``."""
    root = make_flat_model(tmp_path / "xlm-models", "fmdl")
    info = inspect_model(root, "fmdl")
    assert (info.problems, info.warnings) == ([], [])
    assert (info.package, info.package_dir, info.flat, info.import_dir) == ("fmdl", root, True, None)
    assert info.configs_dir == root / "configs"
    assert model_package(root, "fmdl") == "fmdl"
    assert "fmdl" not in sys.modules


def test_a_flat_model_is_checked_like_a_nested_one(tmp_path):
    root = make_flat_model(
        tmp_path,
        "idlm",
        files={
            "configs/model/idlm.yaml": "# @package _global_\nmodel:\n  _target_: idlm.model.Nope\n",
            "sub/__init__.py": "",
            "sub/broken.py": "def (:\n",
            "tests/test_x.py": "this is not python\n",  # not a sub-package: not part of the model's code
        },
    )
    info = inspect_model(root, "idlm")
    assert [(p.kind, p.where) for p in info.problems] == [("syntax_error", f"{root / 'sub' / 'broken.py'}:1")]
    assert [p.what for p in info.warnings] == ["External model 'idlm' has a bad target 'idlm.model.Nope': 'Nope' is not defined in idlm/model.py"]


def test_a_flat_model_in_a_folder_of_another_name_is_imported_under_the_model_name(tmp_path):
    """xpm validates a fetched tree in a staging folder (``fmdl-1a2b3c4d``) before it becomes ``xlm_models/mdlm``."""
    root = make_flat_model(tmp_path, "fmdl", root=tmp_path / "fmdl-1a2b3c4d")
    info = inspect_model(root, "fmdl")
    assert (info.problems, info.package, info.flat) == ([], "fmdl", True)


def test_the_nested_package_wins_over_a_root_init(tmp_path):
    root = make_model(tmp_path, "my_model", files={"__init__.py": ""})
    info = inspect_model(root, "my_model")
    assert (info.problems, info.package_dir, info.flat, info.import_dir) == ([], root / "my_model", False, root)


def test_a_src_layout_is_named_with_where_to_move_the_package(tmp_path):
    root = make_model(tmp_path, "my_model", files={"my_model/__init__.py": None, "src/my_model/__init__.py": ""})
    [problem] = validate_model_root(root, "my_model")
    assert problem.kind == "no_package" and "found src/my_model/__init__.py: a src/ layout is not searched" in problem.what
    assert problem.fix.startswith(f"move {root / 'src' / 'my_model'} to {root / 'my_model'}")


def test_no_package_names_both_layouts_in_its_fix(tmp_path):
    root = make_model(tmp_path, "my_model", files={"my_model/__init__.py": None})
    [problem] = validate_model_root(root, "my_model")
    assert f"create {root / 'my_model' / '__init__.py'}" in problem.fix and f"or {root / '__init__.py'}" in problem.fix


def test_links_in_a_loop_or_to_nothing_are_problems_of_their_model_not_crashes(tmp_path):
    root = make_model(tmp_path, "my_model")
    package = root / "my_model"
    (package / "loop.py").symlink_to("loop.py")
    (package / "dangling.py").symlink_to("gone.py")
    write(package / "sub" / "__init__.py", "")
    (package / "sub" / "up").symlink_to("..")  # the package again, reached through a link: walked once
    info = inspect_model(root, "my_model")
    assert [(p.kind, p.what.split(": ", 1)[1], p.where) for p in info.problems] == [
        ("syntax_error", "cannot be read: No such file or directory", str(package / "dangling.py")),
        ("syntax_error", "cannot be read: Too many levels of symbolic links", str(package / "loop.py")),
    ]


def test_a_config_link_to_nothing_cannot_be_read_and_is_no_yaml_syntax_problem(tmp_path):
    """It said `does not parse: [Errno 2] No such file or directory: '<the staging path>'` and
    `fix the YAML syntax of this file` (fuzzing)."""
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "model" / "extra.yaml").symlink_to("gone.yaml")
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.what, problem.where, problem.fix) == (
        "External model 'my_model' has a config file that cannot be read: No such file or directory",
        str(root / "configs" / "model" / "extra.yaml"), "make it a readable file, or delete it (a symbolic link to nothing?)")


def test_a_config_group_folder_may_be_a_link_as_hydra_follows_it(tmp_path):
    """`configs/model -> shared` was "missing required config groups: ['model']", with a fix
    asking for a file that was there (fuzzing): Hydra lists a group through a link."""
    from xlm.config_groups import config_groups

    root = make_model(tmp_path, "my_model")
    (root / "configs" / "model").rename(root / "configs" / "shared")
    (root / "configs" / "model").symlink_to("shared")
    info = inspect_model(root, "my_model")
    assert info.problems == [] and "model/my_model.yaml" in info.config_files
    assert config_groups([root / "configs"])["model"] == ["my_model"]


def test_config_links_in_a_loop_or_fanning_out_end_the_walk(tmp_path):
    from xlm import config_groups as groups

    root = make_model(tmp_path, "my_model")
    (root / "configs" / "model" / "again").symlink_to("..")  # configs/ from inside itself
    fan = root / "configs" / "fan"
    for level in range(16):  # each folder links to the next twice: 2**17 paths to walk
        write(fan / str(level) / "x.yaml", "a: 1\n")
        for link in ("l", "r"):
            (fan / str(level) / link).symlink_to(f"../{level + 1}")
    write(fan / "16" / "x.yaml", "a: 1\n")
    folders = []
    with pytest.raises(groups.TooManyFolders):
        for folder, _, _ in groups.walk_config_tree(str(root / "configs")):
            folders.append(folder)
    assert len(folders) == groups.MAX_CONFIG_FOLDERS  # bounded
    [problem] = inspect_model(root, "my_model").problems
    assert problem.what == (f"External model 'my_model' has more than {groups.MAX_CONFIG_FOLDERS} folders under its configs/, "
                            "counted through its links to folders")
    assert problem.where == str(root / "configs") and "links that lead into each other" in problem.fix
    assert list(groups.yaml_files(root / "configs"))  # a listing stops where the walk did

    shutil.rmtree(fan)  # the loop alone: configs/ is walked once
    folders = [folder for folder, _, _ in groups.walk_config_tree(str(root / "configs"))]
    assert folders == [str(root / "configs"), *(str(root / "configs" / group) for group in ("collator", "experiment", "model", "model_type"))]
    assert inspect_model(root, "my_model").problems == []


def test_a_target_into_a_broken_module_no_compile_check_reached_is_a_bad_target(tmp_path):
    """A sub-folder without __init__.py is not one of the package's modules to compile, but
    Python imports it as a namespace package: a target into its broken module names why."""
    root = make_model(tmp_path, "my_model", files={
        "my_model/extra/bad.py": "class Thing:\n    pass\nx = = 1\n",
        "configs/collator/default_my_model.yaml": "_target_: my_model.extra.bad.Thing\n",
    })
    info = inspect_model(root, "my_model")
    assert info.problems == []
    [warning] = info.warnings
    assert warning.what == ("External model 'my_model' has a bad target 'my_model.extra.bad.Thing': "
                            "module my_model/extra/bad.py does not compile: invalid syntax")
