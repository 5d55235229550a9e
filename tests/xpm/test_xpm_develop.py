"""`xpm develop`: a working copy instead of a vendored model, recorded in xlm.overrides.toml.

Real repositories (the `lab` upstream), a real clone as the working copy, xlm's real discovery
and start-up checks; one real training run shows which code a job imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from xlm.cli import main as xlm_main
from xlm.external_models import find_external_models
from xlm.overrides import OVERRIDES_NAME, Override, overrides_text, parse_overrides
from xlm.textfile import TextFileError
from xpm_cli import xpm
from xpm_repos import Repo, git, model_files, read_tree

pytestmark = pytest.mark.slow  # builds repositories and runs git

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zlm"


@pytest.fixture
def installed(lab, project, monkeypatch):
    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    monkeypatch.chdir(project)
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    return project


@pytest.fixture
def working_copy(lab, tmp_path) -> Path:
    """A clone of zlm, at v1.0.0, with an uncommitted edit."""
    wc = tmp_path / "src" / "zlm-dev"
    git(tmp_path, "clone", "-q", lab.zlm.url, str(wc))
    git(wc, "checkout", "-q", "v1.0.0")
    (wc / "zlm" / "model.py").write_text((wc / "zlm" / "model.py").read_text() + "# working on it\n")
    return wc


def _found(project: Path, name: str):
    found = find_external_models(project)
    model = next((m for m in found.models if m.name == name), None)
    return model, [p for p in found.problems if p.model == name]


def _bytes(project: Path) -> dict[str, bytes]:
    return {n: (project / n).read_bytes() for n in (".xlm_models", "xlm.lock")}


def test_an_override_is_used_listed_ignored_by_frozen_and_ended(installed, working_copy):
    before = _bytes(installed)
    out = xpm(installed, "develop", "zlm", str(working_copy)).output
    assert f"zlm: xlm uses {working_copy} instead of {installed / 'xlm_models' / 'zlm'}" in out
    assert f"added /{OVERRIDES_NAME} to {installed / '.gitignore'}" in out
    assert _bytes(installed) == before  # neither .xlm_models nor xlm.lock changes
    assert (installed / ".gitignore").read_text().splitlines()[-1] == f"/{OVERRIDES_NAME}"
    assert parse_overrides((installed / OVERRIDES_NAME).read_text()) == {"zlm": Override("zlm", str(working_copy), 5)}

    model, problems = _found(installed, "zlm")
    assert problems == [] and model.found.origin == "override" and model.root == working_copy
    assert model.found.where == f"{installed / OVERRIDES_NAME}:5"
    # the vendored copy's integrity does not matter while the override is on: it is not used
    (installed / "xlm_models" / "zlm" / "zlm" / "model.py").write_text("edited\n")
    assert _found(installed, "zlm")[1] == []

    rows = xpm(installed, "list").output.splitlines()
    assert rows[1].split()[0] == "zlm" and rows[1].endswith(f"override -> {working_copy}")
    assert xpm(installed, "develop").output == f"zlm -> {working_copy}\n"

    frozen = xpm(installed, "install", "--frozen").output
    assert "installed zlm" in frozen  # the edited vendored copy is restored: --frozen installs the lock, overrides or not
    assert f"note: --frozen ignores the overrides of {OVERRIDES_NAME} (zlm -> {working_copy})" in frozen
    assert _bytes(installed) == before

    assert xpm(installed, "develop", "--off", "zlm").output.startswith("zlm: override ended; xlm uses ")
    assert not (installed / OVERRIDES_NAME).exists()
    model, problems = _found(installed, "zlm")
    assert problems == [] and model.found.origin == "git" and model.root == installed / "xlm_models" / "zlm"
    assert xpm(installed, "list").output.splitlines()[1].endswith(" ok")
    assert "no overrides" in xpm(installed, "develop").output
    assert "note:" not in xpm(installed, "install").output
    assert _bytes(installed) == before


def test_the_gitignore_line_is_added_once_keeping_the_file_as_it_was(installed, working_copy, lab, tmp_path):
    ignore = installed / ".gitignore"
    ignore.write_bytes(b"\xef\xbb\xbf# mine\r\n*.pyc\r\n/outputs")  # BOM, CRLF, no final line break
    xpm(installed, "develop", "zlm", str(working_copy))
    assert ignore.read_bytes() == (b"\xef\xbb\xbf# mine\r\n*.pyc\r\n/outputs\r\n# xpm develop: this machine's working copies "
                                   b"of models (never committed)\r\n/xlm.overrides.toml\r\n")
    again = tmp_path / "again"
    shutil.copytree(working_copy, again)
    out = xpm(installed, "develop", "zlm", str(again)).output
    assert f"(was {working_copy})" in out and "added" not in out
    assert ignore.read_bytes().count(b"xlm.overrides.toml") == 1
    # git itself ignores the file
    git(installed, "init", "-q")
    assert git(installed, "check-ignore", OVERRIDES_NAME) == OVERRIDES_NAME


def test_a_line_already_in_gitignore_is_not_added_again(installed, working_copy):
    (installed / ".gitignore").write_text("xlm.overrides.toml\n")
    assert "added" not in xpm(installed, "develop", "zlm", str(working_copy)).output
    assert (installed / ".gitignore").read_text() == "xlm.overrides.toml\n"


def test_a_flat_working_copy_is_accepted(installed, tmp_path):
    flat = tmp_path / "elsewhere" / "zlm"
    files = model_files("zlm")
    for rel, text in files.items():  # the flat layout: the root is the package, configs/ inside it
        target = flat / rel.removeprefix("zlm/") if rel.startswith("zlm/") else flat / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    xpm(installed, "develop", "zlm", str(flat))
    model, problems = _found(installed, "zlm")
    assert problems == [] and model.found.origin == "override" and model.info.flat


@pytest.mark.parametrize("case", ["missing", "not a model", "flat of another name", "invalid", "vendored", "unlisted", "local",
                                  "control character"])
def test_a_bad_path_or_name_is_refused_with_what_and_fix(installed, working_copy, tmp_path, case):
    name, path = "zlm", working_copy
    if case == "missing":
        path = tmp_path / "nowhere"
        expected = f"error: cannot use {path} for model 'zlm': no such folder\n  fix: give the folder of a clone"
    elif case == "not a model":
        path = tmp_path / "empty"
        path.mkdir()
        expected = f"error: cannot use {path} for model 'zlm': it holds no package zlm/ (nested layout:"
    elif case == "flat of another name":
        path = tmp_path / "other"
        path.mkdir()
        (path / "__init__.py").write_text("")
        expected = "and is not a flat model folder (a folder named 'zlm' holding __init__.py)"
    elif case == "invalid":
        shutil.rmtree(working_copy / "configs" / "model_type")
        expected = f"error: cannot use {path} for model 'zlm': it is not a valid xlm model:\n    - "
    elif case == "vendored":
        path = installed / "xlm_models" / "zlm"
        expected = f"it is inside {installed / 'xlm_models'}, which xpm install replaces"
    elif case == "control character":  # the overrides file could not record it: it was an internal error
        path = tmp_path / "a\nb"
        shutil.copytree(working_copy, path)
        expected = "for model 'zlm': its path holds a control character U+000A at column"
    elif case == "unlisted":
        name = "zlmm"
        expected = "error: model 'zlmm' is not in .xlm_models\n  fix: did you mean zlm?"
    else:
        local = installed / "mine"
        shutil.copytree(working_copy, local, ignore=shutil.ignore_patterns(".git"))
        shutil.move(local / "zlm", local / "mine")
        (installed / ".xlm_models").write_text((installed / ".xlm_models").read_text() + "./mine\n")
        name, path = "mine", local
        expected = "error: model 'mine' is a local model (./mine, "
    out = xpm(installed, "develop", name, str(path), code=1).output
    assert expected in out, out
    assert "Traceback" not in out and "\n  fix: " in out
    assert not (installed / OVERRIDES_NAME).exists() and not (installed / ".gitignore").exists()


def test_a_gitignore_xpm_cannot_edit_leaves_nothing_written(installed, working_copy):
    (installed / ".gitignore").write_bytes(b"caf\xe9\n")
    out = xpm(installed, "develop", "zlm", str(working_copy), code=1).output
    assert f"error: cannot add {OVERRIDES_NAME} to {installed / '.gitignore'}:1: not valid UTF-8" in out
    assert not (installed / OVERRIDES_NAME).exists() and (installed / ".gitignore").read_bytes() == b"caf\xe9\n"
    (installed / ".gitignore").unlink()
    (installed / ".gitignore").symlink_to(installed / ".xlm_models")
    out = xpm(installed, "develop", "zlm", str(working_copy), code=1).output
    assert "is a symbolic link" in out and not (installed / OVERRIDES_NAME).exists()


def test_usage_errors_and_ending_what_is_not_overridden(installed, working_copy):
    out = xpm(installed, "develop", "--off", "zlm", code=1).output
    assert "error: model 'zlm' is not overridden" in out and "fix: overridden models: none" in out
    assert "give the working copy's folder" in xpm(installed, "develop", "zlm", code=2).output
    assert "--off takes one model name" in xpm(installed, "develop", "--off", code=2).output


def test_a_missing_working_copy_stops_jobs_never_falling_back(installed, working_copy, capsys):
    xpm(installed, "develop", "zlm", str(working_copy))
    shutil.rmtree(working_copy)
    model, [problem] = _found(installed, "zlm")
    assert model is None and problem.kind == "not_installed"  # stops every job, as a model not installed does
    assert problem.what == (f"Override of model 'zlm' points to {working_copy}, which is not a folder "
                            "(xlm does not fall back to xlm_models/zlm)")
    assert "xpm develop --off zlm" in problem.fix and problem.where == f"{installed / OVERRIDES_NAME}:5"
    refused = f"xlm refuses it: Override of model 'zlm' points to {working_copy}, which is not a folder"
    assert f"zlm -> {working_copy}  ({refused}" in xpm(installed, "develop").output
    assert "(xlm refuses it: see `xlm models`)" in xpm(installed, "list").output
    out = xpm(installed, "install")  # says what xlm will say, not "xlm uses them"
    assert out.stderr.startswith(f"warning: Override of model 'zlm' points to {working_copy}, which is not a folder")
    assert "xlm uses them" not in out.stderr and "\n  fix: restore the working copy there" in out.stderr
    assert xlm_main(["train", "experiment=star_easy_zlm"]) == 2
    err = capsys.readouterr().err
    assert f"Override of model 'zlm' points to {working_copy}, which is not a folder" in err and "fix: restore" in err


HOSTILE = {
    "control character": ('version = 1\n[[override]]\nname = "zlm"\npath = "/a\u2028b"\n', ":4: control character U+2028"),
    "escaped control": ('version = 1\n[[override]]\nname = "zlm"\npath = "/a\\u0007b"\n', ":2: `path` holds a control character U+0007"),
    "not toml": ('version = 1\n[[override]\n', ":2: not valid TOML"),
    "no version": ('[[override]]\nname = "zlm"\npath = "/x"\n', ":1: no `version = 1` line"),
    "newer": ('version = 7\n', ": format version 7 is newer than this xlm understands (1)"),
    "bad name": ('version = 1\n[[override]]\nname = "../zlm"\npath = "/x"\n', ":2: '../zlm' is not a valid model name"),
    "no path": ('version = 1\n[[override]]\nname = "zlm"\n', ":2: [[override]] without a non-empty string `path`"),
    "twice": ('version = 1\n[[override]]\nname = "zlm"\npath = "/x"\n[[override]]\nname = "zlm"\npath = "/y"\n',
              ":5: model 'zlm' is overridden twice (also at line 2)"),
    "not utf-8": (b'version = 1\n# caf\xe9\n', ":2: not valid UTF-8"),
}


def test_a_working_copy_that_stops_being_a_model_is_reported_as_xlm_refuses_it(installed, working_copy):
    """A folder xlm finds but skips (its validation fails): xpm says so everywhere, as xlm does."""
    xpm(installed, "develop", "zlm", str(working_copy))
    shutil.rmtree(working_copy / "configs")
    missing = "External model 'zlm' missing required config groups: ['model', 'model_type']"
    assert f"zlm -> {working_copy}  (xlm refuses it: {missing})" in xpm(installed, "develop").output
    assert f"override -> {working_copy}  (xlm refuses it: see `xlm models`)" in xpm(installed, "list").output
    out = xpm(installed, "install")
    assert out.stderr.startswith(f"warning: {missing} ({working_copy / 'configs'})\n  fix: create configs/model/zlm.yaml")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_overrides_file_is_refused_with_its_line_and_no_model_is_substituted(installed, case):
    text, message = HOSTILE[case]
    path = installed / OVERRIDES_NAME
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = xpm(installed, "list", code=1).output
    assert out.startswith(f"error: {path}{message}"), out
    assert "fix: " in out and "Traceback" not in out
    found = find_external_models(installed)
    assert "zlm" not in found.names  # it may be overridden: the vendored copy is not used in its place
    assert any(p.model is None and p.what.startswith("Cannot read the overrides file: ") for p in found.problems)
    assert any(p.model == "zlm" and "cannot be read" in p.what for p in found.problems)
    assert xlm_main(["train", "experiment=star_easy_arlm"]) == 2  # no job runs while it is unknown which code is meant
    assert "note: install ignores" in xpm(installed, "install").output  # install still works (it never reads it)


def test_xpm_remove_ends_the_models_override(installed, working_copy):
    xpm(installed, "develop", "zlm", str(working_copy))
    assert xpm(installed, "remove", "zlm").output == "removed zlm and ended its override (xpm develop)\n"
    assert not (installed / OVERRIDES_NAME).exists() and find_external_models(installed).problems == []
    assert not (installed / "xlm_models" / "zlm").exists()


def test_an_override_of_an_unlisted_model_is_reported_and_changes_nothing(installed, working_copy):
    xpm(installed, "develop", "zlm", str(working_copy))
    models = installed / ".xlm_models"
    models.write_text("".join(line for line in models.read_text().splitlines(True) if "zlm" not in line))  # by hand
    found = find_external_models(installed)
    [problem] = [p for p in found.problems if "does not list" in p.what]
    assert problem.model is None and problem.fix == "end it: xpm develop --off zlm"
    note = xpm(installed, "install").stderr  # it said "xlm uses them"
    assert note.startswith("warning: Override of model 'zlm', which .xlm_models does not list (nothing is overridden)")
    assert "xlm uses" not in note
    assert xpm(installed, "develop", "--off", "zlm").output == "zlm: override ended; .xlm_models does not list it\n"
    assert find_external_models(installed).problems == []


def test_the_file_format_round_trips_and_is_deterministic():
    items = [Override("zlm", '/home/me/src/"quoted" \\ path é'), Override("aaa", "relative/aaa")]
    text = overrides_text(items)
    assert text == overrides_text(list(reversed(items)))
    assert text.startswith("# Written by `xpm develop`") and "version = 1\n" in text
    assert parse_overrides(text) == {"aaa": Override("aaa", "relative/aaa", 5), "zlm": Override("zlm", items[0].path, 9)}
    with pytest.raises(ValueError):
        overrides_text([Override("zlm", "/a\nb")])
    with pytest.raises(TextFileError):
        parse_overrides('version = 1\nstray = [\n')


def test_train_imports_the_working_copy(git_env, tmp_path, monkeypatch):
    """A real (tiny) training run: the job imports zlm from the working copy, not xlm_models/."""
    repo = Repo(git_env.served / "lab" / "zlm")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    repo.commit("zlm 1.0.0")
    repo.tag("v1.0.0")
    project = tmp_path / "project"
    project.mkdir()
    xpm(project, "add", f"{repo.url}@v1.0.0")
    wc = tmp_path / "zlm-wc"
    git(tmp_path, "clone", "-q", repo.url, str(wc))
    marker = tmp_path / "imported-from"
    with (wc / "zlm" / "__init__.py").open("a") as handle:  # an uncommitted edit that says where it runs from
        handle.write(f"\nimport pathlib as _p\n_p.Path({str(marker)!r}).write_text(__file__)\n")
    xpm(project, "develop", "zlm", str(wc))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "XLM_DATA_DIR": str(tmp_path / "data"),
           "XLM_CACHE_DIR": str(tmp_path / "xlm-cache"), "OMP_NUM_THREADS": "1"}
    env.pop("XLM_MODELS_FILE", None)
    run = subprocess.run(
        [sys.executable, "-m", "xlm", "train", "experiment=star_easy_zlm", "debug=overfit", "trainer.max_steps=2",
         "trainer.val_check_interval=2", "datamodule.num_workers=0"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert Path(marker.read_text()) == wc / "zlm" / "__init__.py"

    # the run records the working copy: kind override, its commit, dirty, and the patch
    (run_dir,) = [p for p in (project / "outputs" / "train").glob("*/*") if p.is_dir()]
    record = tomllib.loads((run_dir / "models.lock").read_text())
    zlm = next(m for m in record["model"] if m["name"] == "zlm")
    assert (zlm["kind"], zlm["source"], zlm["repository"], zlm["commit"]) == ("override", str(wc), str(wc), repo.head())
    assert zlm["overrides"] == f"{repo.url}@v1.0.0" and zlm["dirty"] is True and zlm["patch"] == "models/zlm.patch"
    assert b"imported-from" in (run_dir / "models" / "zlm.patch").read_bytes()

    # restoring the run ends the override: the working copy's code, as the run used it, is listed instead
    out = xpm(project, "install", "--from-run", str(run_dir)).output
    restored = project / "xlm_restored" / "zlm"
    assert f"zlm: restored into {restored} (commit {repo.head()[:12]} + models/zlm.patch applied)" in out
    assert f"ended the override zlm -> {wc}: the run's code is used" in out
    assert not (project / OVERRIDES_NAME).exists() and "./xlm_restored/zlm" in (project / ".xlm_models").read_text()
    assert read_tree(restored) == read_tree(wc, skip=("__pycache__", ".git"))
    assert not (project / "xlm_models" / "zlm").exists()  # the vendored copy it replaced is removed with it


@pytest.mark.parametrize("path", ["{p}/xlm_models/zlm", "xlm_models/zlm", "{p}/xlm_models"])
def test_an_override_written_by_hand_into_xlm_models_is_refused_as_develop_refuses_it(installed, path):
    """It ran an edited vendored copy as a working copy, without its integrity check (found by fuzzing)."""
    (installed / "xlm_models" / "zlm" / "zlm" / "loss.py").write_text("# edited\n", encoding="utf-8")
    (installed / OVERRIDES_NAME).write_text(f'version = 1\n[[override]]\nname = "zlm"\npath = "{path.format(p=installed)}"\n')
    model, problems = _found(installed, "zlm")
    assert model is None
    [problem] = problems
    assert problem.what.endswith("inside xlm_models/, which xpm installs and checks")
    assert problem.where == f"{installed / OVERRIDES_NAME}:2" and "xpm develop --off zlm" in problem.fix
    said = xpm(installed, "install").stderr
    assert "inside xlm_models/" in said  # xpm says what xlm will
    assert "your edits to xlm_models/zlm (zlm/loss.py) were not the locked code" in said  # and keeps them
    assert "(xlm refuses it: see `xlm models`)" in xpm(installed, "list").output


def test_a_symlinked_overrides_file_is_refused_not_replaced(installed, working_copy, tmp_path):
    """`xpm develop` replaced the link with a file (`.xlm_models` and `xlm.lock` links are refused)."""
    real = tmp_path / "shared-overrides.toml"
    real.write_text("version = 1\n")
    (installed / OVERRIDES_NAME).symlink_to(real)
    out = xpm(installed, "develop", "zlm", str(working_copy), code=1)
    assert f"error: {installed / OVERRIDES_NAME} is a symbolic link (to {real})" in out.stderr
    assert (installed / OVERRIDES_NAME).is_symlink() and real.read_text() == "version = 1\n"


def test_an_inline_override_table_is_named_by_its_file_not_line_0(installed, tmp_path):
    (installed / OVERRIDES_NAME).write_text(f'version = 1\noverride = [{{name = "zlm", path = "{tmp_path / "gone"}"}}]\n')
    _, [problem] = _found(installed, "zlm")
    assert problem.where == str(installed / OVERRIDES_NAME)


def test_the_vendored_copy_of_an_overridden_model_is_not_called_unlisted(installed, working_copy):
    from xlm.external.diagnose import unlisted_models

    xpm(installed, "develop", "zlm", str(working_copy))
    assert unlisted_models(find_external_models(installed)) == []


def test_a_name_in_another_spelling_is_the_listed_model_in_every_message(installed, working_copy):
    """`xpm develop ZLM PATH` overrode zlm and then named a folder xlm_models/ZLM, and `--off ZLM` said
    .xlm_models did not list it."""
    out = xpm(installed, "develop", "ZLM", str(working_copy))
    assert out.output.startswith(f"zlm: xlm uses {working_copy} instead of {installed / 'xlm_models' / 'zlm'}")
    out = xpm(installed, "develop", "--off", "ZLM")
    assert out.output == f"zlm: override ended; xlm uses {installed / 'xlm_models' / 'zlm'} (the locked commit) again\n"


def test_moving_an_overridden_model_says_xlm_keeps_the_working_copy(installed, working_copy, lab):
    """`xpm add`/`update` printed `v1.0.0 -> v1.1.0` while xlm went on using the working copy."""
    xpm(installed, "develop", "zlm", str(working_copy))
    out = xpm(installed, "add", f"{lab.zlm.url}@v1.1.0")
    assert out.stderr == (f"note: zlm is overridden by the working copy {working_copy}: xlm uses it, not "
                          f"{installed / 'xlm_models' / 'zlm'} (`xpm develop --off zlm` ends it)\n")
