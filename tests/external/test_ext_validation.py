"""Static validation of one model folder: one broken fixture per problem, asserting the message."""

from __future__ import annotations

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
        "fix the YAML syntax",
    ),
    "syntax_error_in_an_unused_module": (
        {"my_model/scratch.py": "def f():\n    x = 1\n  y = 2\n"},
        "External model 'my_model' has a Python file that does not compile: unindent does not match any outer indentation level",
        "my_model/scratch.py:3",
        "",
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


@pytest.mark.parametrize("text, line", [
    ("a: " + "[" * 200 + "]" * 200 + "\n", None),  # the limit itself is fine
    ("a: " + "{x: " * 201 + "1" + "}" * 201 + "\n", 1),
    ("a: 1\nb:\n  - " + "[" * 201 + "]" * 201 + "\n", 3),
    ("a: '" + "[" * 5000 + "'\nb: \"" + "{" * 5000 + "\"\n", None),  # quoted: text, not collections
    ("# " + "[" * 5000 + "\nc: 1  # " + "{" * 5000 + "\n", None),  # comments
    ("a: [" + "[], " * 5000 + "[]]\n", None),  # many collections, none deep
])
def test_flow_depth_is_bounded_and_only_real_collections_count(text, line):
    from xlm.external.configs import YamlSyntaxError, check_syntax

    if line is None:
        check_syntax(text)
    else:
        with pytest.raises(YamlSyntaxError, match="nested more than 200 levels deep") as info:
            check_syntax(text)
        assert info.value.line == line


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


def test_a_yml_config_is_named_as_one_hydra_never_reads(tmp_path):
    root = make_model(tmp_path, "my_model")
    model = root / "configs" / "model"
    (model / "my_model.yaml").rename(model / "my_model.yml")
    info = inspect_model(root, "my_model")
    assert [(p.kind, p.what) for p in info.problems] == [
        ("missing_configs", "External model 'my_model' missing required config groups: ['model']")]
    assert [(p.kind, p.where, p.fix) for p in info.warnings] == [("ignored_config", str(model / "my_model.yml"), "rename it to my_model.yaml")]


@pytest.mark.parametrize("data, what, line", [
    (b"a: 1\nname: caf\xe9\n", "it is not valid UTF-8 (byte 0xe9); Hydra reads configs as UTF-8", 2),
    ("\ufeff# @package _global_\nmodel:\n  x: 1\n".encode(), "it starts with a byte order mark, which hides its `# @package` header from Hydra", 1),
])
def test_a_config_hydra_would_misread_is_a_problem(tmp_path, data, what, line):
    root = make_model(tmp_path, "my_model")
    path = root / "configs" / "experiment" / "odd.yaml"
    path.write_bytes(data)
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.kind, problem.what, problem.where) == (
        "invalid_config", f"External model 'my_model' has a config file that does not parse: {what}", f"{path}:{line}")


def test_a_byte_order_mark_without_a_header_is_fine(tmp_path):
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "experiment" / "plain.yaml").write_bytes("\ufeffa: 1\n".encode())
    assert inspect_model(root, "my_model").problems == []


def test_an_empty_configs_folder_in_the_package_does_not_hide_the_roots(tmp_path):
    root = make_model(tmp_path, "my_model")
    (root / "my_model" / "configs").mkdir()
    info = inspect_model(root, "my_model")
    assert info.problems == [] and info.configs_dir == root / "configs"


_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize("text, what, line", [
    ("model:\n  x: 1\nother: 2\nmodel:\n  d: 3\n", "the key 'model' appears twice in one mapping", 4),  # a block appended
    ("a:\n  b: 1\n  c: [1, {d: 2, d: 3}]\n", "the key 'd' appears twice in one mapping", 3),
    ("x: !!python/object/apply:os.system ['echo hi']\n", "the tag 'python/object/apply:os.system' is not one a safe YAML loader knows", 1),
    ("x: !custom 1\n", "the tag '!custom' is not one a safe YAML loader knows", 1),
    (_LAUGHS, "its aliases expand to more than 1,000,000 values", 7),  # composing it would never end
    ("a: &a [1, *a]\n", "an alias refers to a node that holds it (the value would be infinite)", 1),
    ("a: 1\n---\nb: 2\n", "expected a single document in the stream, but found another document", 2),
])
def test_yaml_that_omegaconf_refuses_or_never_finishes_is_a_syntax_problem(text, what, line):
    from xlm.external.configs import YamlSyntaxError, check_syntax

    with pytest.raises(YamlSyntaxError) as info:
        check_syntax(text)
    assert (info.value.problem, info.value.line) == (what, line)


@pytest.mark.parametrize("text", [
    "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n",  # merge keys and shared anchors are fine
    "a: &v [1, 2]\nb: *v\nc: *v\n",
    "# @package _global_\n", "", "n: null\nt: true\nf: 1.5e-3\nd: 2024-01-01\ns: !!str 12\n",
    "".join(" " * i + "k:\n" for i in range(300)) + " " * 300 + "v: 1\n",  # deep block nesting
])
def test_ordinary_yaml_passes(text):
    from xlm.external.configs import check_syntax

    check_syntax(text)


@pytest.mark.parametrize("collator, shown, line", [
    ('_target_: ""\n', "''", 1),
    ("_target_: 42\n", "'42'", 1),
    ("_target_: [a, b]\n", "'[a, b]'", 1),
    ("_target_: >-\n  my_model.collators.\n  Nope\n", None, 1),  # folded: YAML reads 'my_model.collators. Nope'
    ("name: &t my_model.collators.Gone\n_target_: *t\n", "'my_model.collators.Gone'", 1),  # through an anchor
    ('"_target_": my_model.collators.Gone\n', "'my_model.collators.Gone'", 1),  # a quoted key
    ("_target_: ${oc.env:X}\n", "", None),  # an interpolation is Hydra's to resolve
])
def test_every_target_is_read_as_yaml_reads_it(tmp_path, collator, shown, line):
    """Targets come from the composed YAML nodes, not from a scan of lines."""
    root = make_model(tmp_path, "my_model", files={"configs/collator/default_my_model.yaml": collator})
    info = inspect_model(root, "my_model")
    assert info.problems == []
    if line is None:
        assert info.warnings == []
        return
    [warning] = info.warnings
    assert warning.where == f"{root / 'configs' / 'collator' / 'default_my_model.yaml'}:{line}"
    if shown is not None:
        assert warning.what.startswith(f"External model 'my_model' has a bad target {shown}: ")
    assert "not a dotted Python path" in warning.what or "is not defined" in warning.what


@pytest.mark.parametrize("rel, text, key", [
    ("configs/model/my_model.yaml", "model:\n  _target_: my_model.model.MyModelModel\n", "model"),  # becomes model.model
    ("configs/model_type/my_model.yaml", "loss:\n  _target_: my_model.loss.MyModelLoss\n", "loss"),
    ("configs/model/my_model.yaml", "\ufeff# @package _global_\nmodel:\n  d: 1\n", None),  # a BOM hides it: a problem, above
    ("configs/model/other.yaml", "_target_: my_model.model.MyModelModel\nd_model: 8\n", None),  # meant to sit under `model`
    ("configs/model/other.yaml", "# @package _global_\nmodel:\n  d_model: 8\n", None),
])
def test_a_config_hydra_would_nest_under_its_group_is_a_warning(tmp_path, rel, text, key):
    """Without `# @package _global_`, `model:` in configs/model/x.yaml is `model.model`: the job fails far from the cause."""
    root = make_model(tmp_path, "my_model", files={rel: text})
    info = inspect_model(root, "my_model")
    unplaced = [w for w in info.warnings if w.kind == "unplaced_config"]
    if key is None:
        assert unplaced == []
        return
    group = rel.split("/")[1]
    [warning] = unplaced
    assert warning.what == (f"External model 'my_model' has a config without a `# @package _global_` line: Hydra puts it under "
                            f"`{group}`, so its `{key}` becomes `{group}.{key}`, which xlm never reads")
    assert warning.where == f"{root / rel}:1" and warning.fix.startswith("make `# @package _global_` its first line")
