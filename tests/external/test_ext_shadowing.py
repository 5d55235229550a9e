"""A model root goes on sys.path: it may not hold a top-level module that hides the standard
library or an installed distribution's module (xlm.external.shadowing, checked by validation)."""

from __future__ import annotations

import sys
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from xlm.cli import main
from xlm.external.shadowing import shadowing
from xlm.external.validation import inspect_model, validate_model_root
from xlm.external_models import find_external_models

from .builders import make_distribution, make_flat_model, make_model, write

INSTALLED = {"torch": ("torch",), "yaml": ("PyYAML",), "examples": ("badly-packaged",)}
STDLIB = "the standard library module"


# (files in the folder, what shadowing() reports: entry -> start of what it hides)
CASES = [
    ({"os.py": ""}, {"os.py": f"{STDLIB} 'os'"}),
    ({"typing.pyc": ""}, {"typing.pyc": f"{STDLIB} 'typing'"}),
    ({"json/__init__.py": ""}, {"json": f"{STDLIB} 'json'"}),
    ({"torch/__init__.py": ""}, {"torch": "the installed module 'torch' (from torch)"}),
    ({f"yaml{EXTENSION_SUFFIXES[0]}": ""}, {f"yaml{EXTENSION_SUFFIXES[0]}": "the installed module 'yaml' (from PyYAML)"}),
    ({"yaml.cp39-win_amd64.pyd": ""}, {"yaml.cp39-win_amd64.pyd": "the installed module 'yaml' (from PyYAML)"}),
    ({"select.so": ""}, {"select.so": f"{STDLIB} 'select'"}),
    ({"examples/__init__.py": ""}, {"examples": "the installed module 'examples' (from badly-packaged)"}),
    # the core models' packages: their folders are on sys.path in every run
    ({"arlm.py": ""}, {"arlm.py": "the core model 'arlm'"}),
    ({"mlm/__init__.py": ""}, {"mlm": "the core model 'mlm'"}),
    ({"ilm.py": ""}, {"ilm.py": "the core model 'ilm'"}),
    # run without being imported by name: Python's start-up hooks, Hydra's plugin namespace (even a namespace portion)
    ({"sitecustomize.py": ""}, {"sitecustomize.py": "Python's start-up hook 'sitecustomize'"}),
    ({"usercustomize/__init__.py": ""}, {"usercustomize": "Python's start-up hook 'usercustomize'"}),
    ({"hydra_plugins/m_plugin/__init__.py": ""}, {"hydra_plugins": "Hydra's plugin namespace 'hydra_plugins'"}),
    ({"hydra_plugins.txt": "", "sitecustomize.py.bak": ""}, {}),
    # not importable, or not hiding anything
    ({"collections/helpers.py": ""}, {}),  # a namespace portion loses to the real package
    ({"os.py.bak": "", "typing.pyi": "", "json.txt": "", "Os.py": ""}, {}),
    ({"my_helpers.py": "", "setup.py": "", "conftest.py": "", "README.md": ""}, {}),
    ({"tests/__init__.py": "", "test/__init__.py": ""}, {}),  # the model's own tests
    ({"zlm/__init__.py": ""}, {}),  # its own package (named like the model; conflicts are checked elsewhere)
]


@pytest.mark.parametrize("files, expected", CASES)
def test_what_shadows(files, expected, tmp_path):
    for rel, text in files.items():
        write(tmp_path / rel, text)
    found = dict(shadowing(tmp_path, "zlm", INSTALLED))
    assert found.keys() == expected.keys() and all(found[k].startswith(v) for k, v in expected.items())


def test_a_link_to_a_package_shadows_as_the_package_would(tmp_path):
    write(tmp_path / "real" / "logging" / "__init__.py", "")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "logging").symlink_to(tmp_path / "real" / "logging")
    assert shadowing(tmp_path / "root", "zlm", {}) == [("logging", f"{STDLIB} 'logging'")]


def test_validation_refuses_it_naming_the_file(tmp_path):
    root = make_model(tmp_path, "my_model", files={"typing.py": "x = 1\n", "torch/__init__.py": ""})
    problems = validate_model_root(root, "my_model")
    assert [(p.kind, p.where) for p in problems] == [("package_conflict", str(root / "torch")), ("package_conflict", str(root / "typing.py"))]
    assert problems[1].what == ("External model 'my_model' has a top-level module 'typing.py' that would shadow "
                                f"{STDLIB} 'typing' (its folder goes on sys.path)")
    assert problems[1].fix == "move it into the package (my_model/typing.py, imported as my_model.typing), rename it, or delete it"
    assert "the installed module 'torch' (from torch)" in problems[0].what  # torch is installed here


def test_a_root_that_does_not_go_on_sys_path_is_not_checked(tmp_path):
    site = make_model(tmp_path, "inst", root=tmp_path / "site", files={"os.py": ""})  # site-packages holds anything
    assert inspect_model(site, "inst", "inst", on_path=False).problems == []
    flat = make_flat_model(tmp_path, "flat", files={"os.py": "", "json/__init__.py": ""})  # its parent never goes on sys.path
    assert validate_model_root(flat, "flat") == []


def test_xlm_models_reports_it_and_skips_the_model(project, capsys):
    project.model("good")
    project.model("bad", files={"os.py": "raise SystemExit('never imported')\n"})
    project.models_file("good", "bad")
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    assert "Error: External model 'bad' has a top-level module 'os.py' that would shadow the standard library module 'os'" in out
    assert f"where: {project.root / 'bad' / 'os.py'}" in out
    assert "good  ok" in out and "bad   skipped" in out


def test_an_editable_install_of_the_model_itself_does_not_count(project, tmp_path):
    root = project.model("twin", files={"twin_helpers.py": ""})
    site = tmp_path / "site"
    make_distribution(site, "xlmtest-twin", {"twin": "twin"}, ["twin", "twin_helpers"])
    write(site / "twin.pth", f"{root}\n")
    sys.path += [str(site), str(root)]
    make_distribution(site, "xlmtest-other", {}, ["other_helpers"])
    write(root / "other_helpers.py", "")
    project.models_file("twin")
    [problem] = find_external_models().problems  # twin_helpers.py is its own; other_helpers.py is not
    assert "'other_helpers.py' that would shadow the installed module 'other_helpers' (from xlmtest-other)" in problem.what



@pytest.mark.parametrize("files, expected", CASES)
def test_a_table_given_as_a_function_gives_the_same_answers(files, expected, tmp_path):
    for rel, text in files.items():
        write(tmp_path / rel, text)
    assert shadowing(tmp_path, "zlm", lambda: INSTALLED) == shadowing(tmp_path, "zlm", INSTALLED)
    assert {entry for entry, _ in shadowing(tmp_path, "zlm", INSTALLED)} == expected.keys()


def test_the_installed_distributions_are_read_only_when_a_module_could_hide_one(tmp_path, monkeypatch):
    """xpm validates fetched trees without xlm's cache of installed metadata (0.1-0.3 s to
    build): a root holding only its package, configs and data never needs it, and a root
    with candidates needs it once."""
    calls = []

    def table():
        calls.append(1)
        return INSTALLED

    for rel in ("zlm/__init__.py", "configs/model/zlm.yaml", "weights.bin", "assets/t.txt", "pyproject.toml",
                "README.md", "tests/__init__.py", "json.txt", "os.py"):  # os.py: the standard library, known without it
        write(tmp_path / rel, "")
    assert shadowing(tmp_path, "zlm", table) == [("os.py", f"{STDLIB} 'os'")] and calls == []
    write(tmp_path / "torch" / "__init__.py", "")
    write(tmp_path / "helpers.py", "")
    assert dict(shadowing(tmp_path, "zlm", table)) == {"os.py": f"{STDLIB} 'os'", "torch": "the installed module 'torch' (from torch)"}
    assert calls == [1]
    import xlm.external.installed as installed_module

    def refuse():
        raise AssertionError("installed metadata read for a root that hides nothing")

    monkeypatch.setattr(installed_module, "installed", refuse)
    root = make_model(tmp_path / "other", "plain", files={"data/x.bin": ""})
    assert validate_model_root(root, "plain") == []
    assert inspect_model(str(root), "plain").problems == []  # a str root, as validate_model_root takes (was AttributeError)
