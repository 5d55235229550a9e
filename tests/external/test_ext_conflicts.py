"""Rules between models, strict and non-strict modes: the seed documentation's messages."""

from __future__ import annotations

import os
import sys

import pytest

from xlm.external.errors import (
    CommandConflictError,
    ConfigConflictError,
    DuplicateModelNameError,
    ExternalModelConflictError,
    InvalidModelNameError,
    MissingConfigGroupError,
    PackageConflictError,
)
from xlm.external.registration import CONFIG_DIRS_ENV
from xlm.external_models import setup_external_models

from .builders import make_distribution, make_model, write


def strict_error(cls):
    with pytest.raises(cls) as info:
        setup_external_models(strict_validation=True)
    assert isinstance(info.value, ExternalModelConflictError)
    return info.value


def test_duplicate_names_in_the_models_file(project, caplog):
    project.model("my_model")
    file = project.models_file("my_model", "other", "./my_model")
    project.model("other")
    error = strict_error(DuplicateModelNameError)
    assert error.render() == (
        "Error: Duplicate model names found in .xlm_models: ['my_model']\n"
        f"  where: {file}:1, {file}:3\n"
        "  fix: give each model a unique name and list it once (a git source takes another name with #name=NAME)"
    )
    assert str(error).startswith("Duplicate model names found in .xlm_models: ['my_model']")
    found = setup_external_models()  # not strict: the first line wins, the second is skipped
    assert found.names.count("my_model") == 1 and "other" in found.names
    assert [m.where for m in found.skipped] == [f"{file}:3"]
    assert "Warning: Duplicate model names found in .xlm_models: ['my_model']" in caplog.text


@pytest.mark.parametrize("order", ["local first", "git first"])
def test_a_second_line_of_a_name_is_a_duplicate_not_a_model_to_install(project, order):
    """README's example once listed ./examples/zlm and github.com/lab/zlm@v1: xlm said to run
    `xpm install`, which refuses the file for its duplicate name."""
    project.model("zlm")
    lines = ["./zlm", "github.com/lab/zlm@v1"]
    file = project.models_file(*(lines if order == "local first" else lines[::-1]))
    found = setup_external_models()
    duplicate = [p for p in found.problems if p.kind == "duplicate"]
    assert [p.what for p in duplicate] == ["Duplicate model names found in .xlm_models: ['zlm']"]
    assert duplicate[0].where == f"{file}:1, {file}:2" and "#name=NAME" in duplicate[0].fix
    assert not [p for p in found.problems if p.kind == "not_installed"] and found.names.count("zlm") == (order == "local first")


def test_a_core_name_is_a_duplicate_across_sources(project):
    project.model("arlm")
    project.models_file("arlm")
    error = strict_error(DuplicateModelNameError)
    assert error.what == "Duplicate model names found across sources: ['arlm']"
    assert "arlm, mlm, ilm are reserved for core models" in error.fix
    assert setup_external_models().get("arlm").found.origin == "core"


def test_reserved_name_ilm(project):
    project.model("ilm")
    project.models_file("ilm")
    assert strict_error(InvalidModelNameError).what == "Model name 'ilm' is reserved for a core model"


def test_a_listed_model_wins_over_an_installed_one_of_its_name_with_a_note(project, tmp_path):
    """The author's `pip install -e` of a model a project vendors: an Error (exit 1) whose fix was
    to drop the project's declaration, though the declared model is what ran."""
    project.model("dup")
    project.models_file("dup")
    site = tmp_path / "site"
    make_model(site, "dup", configs="dup/configs", root=site)
    make_distribution(site, "xlmtest-dup", {"dup": "dup"}, ["dup"])
    sys.path.append(str(site))
    found = setup_external_models(strict_validation=True)  # no problem: its package shadowing the copy is not one either
    assert found.get("dup").found.origin == "local" and found.problems == []
    [note] = found.notes
    assert note.what == ("the installed model 'dup' (xlmtest-dup) is not used: the project's .xlm_models declares a model "
                         "of that name, which is what the project asked for")
    assert note.fix == "nothing to do; to use the installed one instead, remove its line from .xlm_models"
    assert [m.origin for m in found.skipped] == ["installed"]


def test_two_models_define_the_same_package(project):
    project.model("model_a", package="model")
    project.model("model_b", package="model")
    project.models_file("model_a", "model_b")
    error = strict_error(PackageConflictError)
    assert error.render() == (
        "Error: Python package conflict: Both 'model_a' and 'model_b' define package 'model'\n"
        f"  where: {project.root / 'model_a' / 'model'} and {project.root / 'model_b' / 'model'}\n"
        "  fix: rename the package to a model-specific name (such as 'model_b') and update its _target_ paths"
    )
    assert "model_a" in setup_external_models().names


@pytest.mark.parametrize("beside_b", ["common.py", "common/__init__.py", "model_a.py"])
def test_a_module_beside_a_models_package_that_another_model_also_brings(project, beside_b):
    """Both roots go on sys.path: model_b's `import common` got model_a's file, and the run
    recorded model_b's code (found by walking the seed's docs)."""
    root_a = project.model("model_a", files={"common.py": "WHO = 'a'\n", "setup.py": "", "conftest.py": ""})
    root_b = project.model("model_b", files={beside_b: "WHO = 'b'\n", "setup.py": "", "conftest.py": ""})
    project.models_file("model_a", "model_b")
    error = strict_error(PackageConflictError)
    module = beside_b.split(".")[0].split("/")[0]
    first = root_a / "common.py" if module == "common" else root_a / "model_a"
    entry = beside_b.split("/")[0]
    assert error.render() == (
        f"Error: Python module conflict: Both 'model_a' and 'model_b' put a top-level module '{module}' on sys.path\n"
        f"  where: {first} and {root_b / entry}\n"
        f"  fix: move {entry} into the package (model_b/{entry}, imported as model_b.{module}) or rename it"
    )
    assert setup_external_models().names[-1] == "model_a"  # the first declaration wins; tooling (setup.py) is no conflict


@pytest.mark.parametrize(
    "package, shadowed",
    [
        ("yaml", "the installed module 'yaml' (from PyYAML)"),
        ("json", "the standard library module 'json'"),
        ("xpm", "xlm's package manager xpm"),
        ("arlm", "the core model 'arlm'"),
        ("ilm", "the core model 'ilm'"),
    ],
)
def test_shadowing(project, package, shadowed):
    project.model("my_model", package=package)
    project.models_file("my_model")
    error = strict_error(PackageConflictError)
    if package == "arlm":  # the core model is loaded: two models, one package
        assert error.what == "Python package conflict: Both 'arlm' and 'my_model' define package 'arlm'"
    else:
        assert error.what == f"Python package conflict: Model 'my_model' defines package '{package}', which would shadow {shadowed}"


def test_the_fix_never_suggests_the_name_in_conflict(project):
    project.model("yaml")
    project.models_file("yaml")
    error = strict_error(PackageConflictError)
    assert error.what == "Python package conflict: Model 'yaml' defines package 'yaml', which would shadow the installed module 'yaml' (from PyYAML)"
    assert error.fix == "rename the package to a model-specific name (such as 'yaml_model') and update its _target_ paths"


def test_two_models_with_the_same_config_file(project):
    project.model("m_a", files={"configs/experiment/debug.yaml": "# @package _global_\nx: 1\n"})
    project.model("m_b", files={"configs/experiment/debug.yaml": "# @package _global_\nx: 2\n", "configs/debug/overfit.yaml": "y: 1\n"})
    project.models_file("m_a", "m_b")
    error = strict_error(ConfigConflictError)
    assert [p.what for p in error.problems] == [
        "Config conflict: Both 'xlm' and 'm_b' define config files ['debug/overfit.yaml']",
        "Config conflict: Both 'm_a' and 'm_b' define config files ['experiment/debug.yaml']",
    ]


def test_command_named_like_a_builtin_or_another_models(project):
    project.model("m_a", files={"configs/commands.yaml": "shared: m_a.metrics.mean_update_fn\n"})
    project.model("m_b", files={"configs/commands.yaml": "train: m_b.metrics.mean_update_fn\nshared: m_b.metrics.mean_update_fn\n"})
    project.models_file("m_a", "m_b")
    error = strict_error(CommandConflictError)
    assert [p.what for p in error.problems] == [
        "Command conflict: 'train' of model 'm_b' is already a command of xlm",
        "Command conflict: 'shared' of model 'm_b' is already a command of 'm_a'",
    ]
    assert [c.name for c in setup_external_models().commands] == ["shared"]


def test_strict_raises_the_first_kind_with_every_problem_and_registers_nothing(project):
    project.model("no_type", files={"configs/model_type/no_type.yaml": None})
    project.model("dup")
    project.models_file("no_type", "dup", "dup")
    error = strict_error(DuplicateModelNameError)  # names are checked before folders
    assert [p.kind for p in error.problems] == ["duplicate", "missing_configs"]
    assert error.problems[1].what == "External model 'no_type' missing required config groups: ['model_type']"
    assert CONFIG_DIRS_ENV not in os.environ
    with pytest.raises(MissingConfigGroupError):
        project.models_file("no_type")
        setup_external_models(strict_validation=True)


def test_non_strict_skips_the_broken_and_registers_the_rest(project, caplog):
    good = project.model("good", files={"good/__init__.py": "VALUE = 1\n"})
    project.model("broken", files={"configs/model/broken.yaml": "model: [\n"})
    project.models_file("broken", "good")
    found = setup_external_models()
    assert "good" in found.names and "broken" not in found.names
    assert [m.name for m in found.skipped] == ["broken"]
    assert caplog.text.count("Warning: ") == 1
    assert sys.path[0] == str(good) or str(good) in sys.path
    assert str(good / "configs") in os.environ[CONFIG_DIRS_ENV].split(os.pathsep)
    assert str(project.root / "broken" / "configs") not in os.environ[CONFIG_DIRS_ENV]
    assert str(good) in os.environ["PYTHONPATH"].split(os.pathsep)  # for DDP and spawned workers
    import good as package  # the registered root makes the package importable

    assert package.__file__ == str(good / "good" / "__init__.py")


def test_broken_model_does_not_take_down_a_package_conflict_partner(project):
    project.model("model_a", package="model", files={"configs/model_type/model_a.yaml": None})
    project.model("model_b", package="model")
    project.models_file("model_a", "model_b")
    found = setup_external_models()
    assert "model_b" in found.names and [p.kind for p in found.problems] == ["missing_configs"]


def test_dangling_entry_point_is_skipped_and_listed_models_load(project, tmp_path):
    project.model("fine")
    project.models_file("fine")
    site = tmp_path / "site"
    make_distribution(site, "xlmtest-gone", {"gone": "gone_module_xyz"}, [])
    write(site / "unrelated.txt", "")
    sys.path.append(str(site))
    found = setup_external_models()
    assert "fine" in found.names and [p.kind for p in found.problems] == ["not_found"]
