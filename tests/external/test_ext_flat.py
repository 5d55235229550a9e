"""xlm-core's flat layout: the model root is the package (``mdlm/__init__.py``, ``mdlm/configs/``).

Its parent folder (xlm-core's ``xlm-models/``) holds other packages, some named like xlm's
own core models: none of them may become importable because a flat model was registered.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xlm
from xlm.cli import main
from xlm.external.discovery import discover
from xlm.external_models import find_external_models, setup_external_models

from .builders import make_flat_model, write
from .test_ext_composition import ARLM_ROOT, compose
from .test_ext_discovery import EditableFinder
from .conftest import TEST_DIST_PREFIX

XLM_DIR = Path(xlm.__file__).resolve().parent


def xlm_models_folder(project) -> Path:
    """A folder like xlm-core's ``xlm-models/``: a flat model next to unrelated packages."""
    parent = project.root / "xlm-models"
    make_flat_model(parent, "flatm", files={"__init__.py": "LOADED = True\n"})
    write(parent / "mlm" / "__init__.py", "raise RuntimeError('xlm-core mlm must never be imported here')\n")
    write(parent / "utils.py", "raise RuntimeError('an unrelated module must never be imported')\n")
    return parent


def test_a_flat_model_loads_and_its_parent_folder_stays_off_the_import_path(project):
    parent = xlm_models_folder(project)
    project.models_file("./xlm-models/flatm")
    found = setup_external_models(strict_validation=True)
    model = found.get("flatm")
    assert (model.root, model.info.flat, model.configs_dir) == (parent / "flatm", True, parent / "flatm" / "configs")
    import flatm

    assert flatm.LOADED and flatm.__file__ == str(parent / "flatm" / "__init__.py")  # the real file, not a link
    assert str(parent) not in sys.path and str(parent) not in os.environ.get("PYTHONPATH", "")
    assert importlib.util.find_spec("utils") is None or "xlm-models" not in (importlib.util.find_spec("utils").origin or "")
    assert Path(importlib.util.find_spec("mlm").origin).is_relative_to(XLM_DIR)  # still xlm's core mlm
    assert compose("experiment=flatm_debug").model._target_ == "flatm.model.FlatmModel"


def test_a_child_process_imports_a_flat_model_through_pythonpath(project):
    """Spawned data-loader workers do not run xlm: the private folder on PYTHONPATH is what they see."""
    parent = xlm_models_folder(project)
    write(parent / "flatm" / "sub.py", "VALUE = 7\n")
    project.models_file("./xlm-models/flatm")
    setup_external_models(strict_validation=True)
    code = "import flatm.sub, importlib.util; print(flatm.sub.VALUE, importlib.util.find_spec('utils') is None)"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), cwd=project.root / "..", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["7", "True"]


def test_xlm_models_marks_flat_models(project, capsys):
    xlm_models_folder(project)
    project.models_file("./xlm-models/flatm")
    assert main(["models"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("flatm "))
    assert row.split()[:3] == ["flatm", "ok", "path"] and row.endswith(f"{project.root / 'xlm-models' / 'flatm'} (flat)")


def test_the_current_folder_is_a_flat_model(project, monkeypatch):
    root = make_flat_model(project.root, "solo_flat")
    monkeypatch.chdir(root)
    found = find_external_models()
    assert found.problems == [] and found.get("solo_flat").found.origin == "cwd" and found.get("solo_flat").info.flat
    monkeypatch.chdir(XLM_DIR)  # xlm's own package folder (a package with configs/) is never a model
    assert [m.name for m in discover().models if m.origin == "cwd"] == []


def test_a_package_with_configs_but_no_model_type_is_not_taken_for_a_model(project, monkeypatch):
    write(project.root / "app" / "__init__.py", "")
    write(project.root / "app" / "configs" / "db" / "local.yaml", "url: x\n")
    monkeypatch.chdir(project.root / "app")
    assert [m.name for m in discover().models if m.origin == "cwd"] == []


def test_a_listed_flat_model_that_is_also_editable_installed_is_one_model(project, tmp_path, monkeypatch):
    from .builders import make_distribution

    parent = xlm_models_folder(project)
    site = tmp_path / "site"
    make_distribution(site, f"{TEST_DIST_PREFIX}-flatm", {"flatm": "flatm"}, ["flatm"])
    sys.path.append(str(site))
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, EditableFinder({"flatm": parent / "flatm"})])
    project.models_file("./xlm-models/flatm")
    found = find_external_models()
    assert found.problems == []
    [flatm] = [m for m in found.models if m.name == "flatm"]
    assert (flatm.root, flatm.found.distribution, flatm.info.flat) == (parent / "flatm", f"{TEST_DIST_PREFIX}-flatm", True)


def flat_copy_of_arlm(dest: Path, new: str) -> Path:
    """xlm's core arlm rewritten in xlm-core's layout: package files and configs/ in one folder."""
    word = re.compile(r"(?<![A-Za-z0-9])arlm(?![A-Za-z0-9])")
    for path in sorted(ARLM_ROOT.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.name == "README.md":
            continue
        parts = path.relative_to(ARLM_ROOT).parts
        parts = parts[1:] if parts[0] == "arlm" else parts  # the package's files go to the root
        write(dest / Path(*[word.sub(new, p) for p in parts]), word.sub(new, path.read_text(encoding="utf-8")))
    return dest


@pytest.mark.slow
def test_a_flat_model_trains_through_xlm_train(project, tmp_path, capsys):
    """`xlm train` end to end on a flat model whose parent folder holds a package named mlm."""
    parent = xlm_models_folder(project)
    flat_copy_of_arlm(parent / "flat_arlm", "flat_arlm")
    assert (parent / "flat_arlm" / "__init__.py").is_file() and not (parent / "flat_arlm" / "flat_arlm").exists()
    project.models_file("./xlm-models/flat_arlm")
    code = main(
        [
            "train",
            "experiment=star_easy_flat_arlm",
            "debug=overfit",
            "trainer.max_steps=4",
            "trainer.val_check_interval=4",
            "loggers=csv",
            "model.d_model=16",
            "model.dim_feedforward=32",
            "model.num_layers=1",
            f"paths.output_dir={tmp_path / 'run'}",
            f"paths.data_dir={tmp_path / 'data'}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "train.json").is_file()
    assert sys.modules["flat_arlm"].__file__ == str(parent / "flat_arlm" / "__init__.py")


def test_a_package_missing_inside_a_flat_model_is_named_with_file_and_line(project, tmp_path, capsys):
    """`xlm train` on a model whose code imports a package that is not installed: two lines, no traceback."""
    parent = xlm_models_folder(project)
    root = flat_copy_of_arlm(parent / "flat_arlm", "flat_arlm")
    collators = root / "collators.py"
    text = collators.read_text()
    collators.write_text(text + "import not_installed_xyz  # the model's dependency\n")
    line = text.count("\n") + 1
    project.models_file("./xlm-models/flat_arlm")
    run = ["trainer.max_steps=1", f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}"]
    with pytest.raises(SystemExit) as exited:  # raised inside the Hydra job, as for every job's user error
        main(["train", "experiment=star_easy_flat_arlm", *run])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert (
        f"error: model 'flat_arlm' needs the Python package 'not_installed_xyz', which is not installed "
        f"(imported at {collators}:{line})\n  fix: if 'not_installed_xyz' is another xlm model, add it to the project"
    ) in err
    assert "Traceback" not in err and "no model provides it" not in err


def test_a_flat_models_own_modules_and_its_parent_folder_shadow_nothing(project):
    """The shadowing rule is about the folder that goes on sys.path: for a flat model only its package does."""
    parent = xlm_models_folder(project)
    write(parent / "flatm" / "typing.py", "X = 1\n")  # imported as flatm.typing, never as typing
    write(parent / "yaml" / "__init__.py", "")  # next to the model, and never on sys.path
    write(parent / "os.py", "")
    project.models_file("./xlm-models/flatm")
    found = find_external_models()
    assert found.problems == [] and found.get("flatm").info.flat
    nested = project.model("nest", files={"typing.py": "X = 1\n"})  # a nested root does go on sys.path
    project.models_file("./xlm-models/flatm", "nest")
    [problem] = find_external_models().problems
    assert problem.where == str(nested / "typing.py") and "would shadow the standard library module 'typing'" in problem.what


def test_a_link_in_the_cache_that_points_elsewhere_is_replaced(project, monkeypatch, tmp_path):
    """The cache is input like any other: a link left pointing at another folder is made right again."""
    from xlm.external import registration

    parent = xlm_models_folder(project)
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    home = Path(registration._link_folder("flatm", str(parent / "flatm")))
    (home / "flatm").unlink()
    (home / "flatm").symlink_to(project.root)  # tampered with, or a leftover
    assert registration._link_folder("flatm", str(parent / "flatm")) == str(home)
    assert os.readlink(home / "flatm") == str(parent / "flatm")


def test_without_a_writable_cache_this_process_still_imports_a_flat_model(project, monkeypatch, tmp_path, caplog):
    parent = xlm_models_folder(project)
    (tmp_path / "not_a_folder").write_text("")
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "not_a_folder"))
    project.models_file("./xlm-models/flatm")
    setup_external_models(strict_validation=True)
    import flatm

    assert flatm.__file__ == str(parent / "flatm" / "__init__.py")
    assert "cannot link the flat model package 'flatm'" in caplog.text and "spawned data-loader workers" in caplog.text
