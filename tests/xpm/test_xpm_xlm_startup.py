"""xlm's start-up check of what xpm vendored: missing, stale or edited models stop a job."""

import os

import pytest

from xlm.cli import main as xlm_main
from xlm.external_models import find_external_models
from xpm_cli import xpm

pytestmark = pytest.mark.slow  # builds repositories and runs git


@pytest.fixture
def installed(lab, project, monkeypatch):
    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    monkeypatch.chdir(project)
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    return project


def _problems(project):
    return [(p.model, p.kind, p.what) for p in find_external_models(project).problems]


def test_a_clean_install_has_no_problems(installed):
    assert _problems(installed) == []
    assert "zlm" in find_external_models(installed).names


def test_an_edited_vendored_file_refuses_to_train(installed, capsys):
    model_file = installed / "xlm_models" / "zlm" / "zlm" / "model.py"
    model_file.write_text(model_file.read_text() + "# local edit\n")
    (installed / "xlm_models" / "zlm" / "notes.txt").write_text("new file\n")
    [(name, kind, what)] = _problems(installed)
    assert (name, kind) == ("zlm", "modified")
    assert "changed files: notes.txt, zlm/model.py" in what
    assert xlm_main(["train", "experiment=star_easy_zlm"]) == 2
    err = capsys.readouterr().err
    assert "Vendored model 'zlm' differs from xlm.lock" in err and "fix: run: xpm install" in err
    assert "work in a clone of it: xpm develop zlm PATH" in err  # the way to edit a model, not "a local path"
    xpm(installed, "install")  # restores the locked files
    assert _problems(installed) == []


def test_a_listed_model_that_is_not_installed_says_run_xpm_install(installed, capsys):
    xpm(installed, "remove", "zlm")
    (installed / ".xlm_models").write_text((installed / ".xlm_models").read_text() + "github.com/lab/zlm@v1\n")
    assert xlm_main(["train", "experiment=star_easy_zlm"]) == 2
    err = capsys.readouterr().err
    assert "is not installed in xlm_models/" in err and "fix: run: xpm install" in err


def test_an_entry_changed_since_the_lock_says_run_xpm_install(installed, lab):
    text = (installed / ".xlm_models").read_text().replace("@v1.0.0", "@v1.1.0")
    (installed / ".xlm_models").write_text(text)
    [(name, kind, what)] = _problems(installed)
    assert (name, kind) == ("zlm", "not_installed") and "changed in .xlm_models since xlm.lock" in what
    xpm(installed, "install")
    assert _problems(installed) == []


def test_a_vendored_folder_that_cannot_be_read_is_a_problem_not_a_traceback(installed):
    deep = installed / "xlm_models" / "zlm" / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    try:  # a folder chain longer than PATH_MAX, made one level at a time (relative to the last)
        for _ in range(40):
            os.mkdir("d" * 200, dir_fd=fd)
            fd, old = os.open("d" * 200, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    [problem] = [p for p in find_external_models(installed).problems if p.model == "zlm"]
    assert problem.kind == "not_installed"
    assert problem.what.startswith(f"Vendored model 'zlm' cannot be checked: {deep}/") and "file name too long" in problem.what


def test_a_clone_linked_in_place_of_the_vendored_folder_is_named_as_a_link(installed, lab, tmp_path):
    """Every file of the clone's .git/ read as an edit; the way to use a clone is `xpm develop`."""
    import shutil
    import subprocess

    clone = tmp_path / "zlm-clone"
    subprocess.run(["git", "clone", "-q", lab.zlm.url, str(clone)], check=True)
    shutil.rmtree(installed / "xlm_models" / "zlm")
    (installed / "xlm_models" / "zlm").symlink_to(clone)
    [(name, kind, what)] = _problems(installed)
    assert (name, kind, what) == ("zlm", "modified", f"Vendored model 'zlm' is a symbolic link (to {clone}), not the folder xpm installed")
