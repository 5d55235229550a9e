"""The no-op proof (`xpm.noop`): a warm `xpm install` answers from `xlm_models/.xpm/noop.json`
without importing the rest of xpm, and every change the proof does not vouch for makes it run
the full install, which behaves exactly as it did without a proof.

Each run is a real `python -P -m xpm.cli` process (-P: the folder it runs in is not on
`sys.path`, whose entries the proof records); `-X importtime` tells which path it took.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from venv_helpers import venv_over_this_environment
from xpm import noop, stamp
from xpm_cli import xpm
from xpm_repos import model_files

pytestmark = pytest.mark.slow  # builds repositories and installs from them

FULL_PATH = "xpm.ops"  # imported by every full install, never by the proof's check


def run(project: Path, *args: str, env: dict | None = None, python: str = sys.executable) -> tuple[str, list[str], set[str]]:
    """`xpm -C project ARGS install` in a fresh interpreter: (stdout, stderr lines, modules imported)."""
    out = subprocess.run([python, "-P", "-X", "importtime", "-m", "xpm.cli", "-C", str(project), *args, "install"],
                         capture_output=True, text=True, timeout=120, cwd=project.parent, env=env)
    lines = [line for line in out.stderr.splitlines() if not line.startswith("import time:")]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert out.returncode == 0, "\n".join(lines[-30:])
    assert not any("Traceback" in line for line in lines)
    return out.stdout, lines, imported


def warm(project: Path, env: dict | None = None) -> None:
    """Install until the proof holds (the first run after an install may refresh racily clean stamps)."""
    for _ in range(3):
        _, _, imported = run(project, env=env)
        if FULL_PATH not in imported:
            return
    pytest.fail("no run took the proof's fast path")


def assert_fast(project: Path, env: dict | None = None) -> None:
    stdout, err, imported = run(project, env=env)
    assert (stdout, err) == ("up to date\n", [])
    assert not imported & {FULL_PATH, "xpm.sync", "xpm.stamp", "xlm.manifest", "tomllib", "dataclasses", "hashlib", "click"}


def full(project: Path, *args: str, env: dict | None = None) -> tuple[str, list[str]]:
    """A run that must take the full path; the next one takes the fast path again when it ended clean."""
    stdout, err, imported = run(project, *args, env=env)
    assert FULL_PATH in imported, "the proof was trusted"
    return stdout, err


@pytest.fixture
def installed(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    xpm(project, "add", f"{lab.models.url}@v1.0.0#subdir=aaa")
    warm(project)
    return project


def _model_file(project: Path) -> Path:
    return project / "xlm_models" / "zlm" / "zlm" / "model.py"


def _proof(project: Path) -> Path:
    return Path(noop.proof_path(str(project)))


# ----------------------------------------------------------------------------- the fast path
def test_the_proof_names_the_projects_layout():
    from xlm.manifest import MODELS_FILE_NAME
    from xlm.overrides import OVERRIDES_NAME
    from xlm.records.stamps import MODELS_DIR, STATE_DIR
    from xpm.lock import LOCK_NAME

    assert noop.PROJECT_FILES == (MODELS_FILE_NAME, LOCK_NAME, OVERRIDES_NAME)
    assert (noop.MODELS_DIR, noop.STATE_DIR) == (MODELS_DIR, STATE_DIR)


def test_a_warm_no_op_install_answers_from_the_proof(installed):
    assert_fast(installed)
    for args in (["-q"], ["-v"], ["-j", "2"]):
        stdout, err, imported = run(installed, *args)
        assert (stdout, err) == ("up to date\n", []) and FULL_PATH not in imported
    out = subprocess.run([sys.executable, "-P", "-X", "importtime", "-m", "xpm.cli", "install", "--frozen", "--offline"],
                         capture_output=True, text=True, timeout=120, cwd=installed / "xlm_models" / "zlm")  # found from below
    assert out.returncode == 0 and out.stdout == "up to date\n" and f"| {FULL_PATH}\n" not in out.stderr


def test_the_click_command_takes_the_full_path(installed):
    assert xpm(installed, "install").stdout == "up to date\n"  # in-process: pytest's sys.path, so a proof of its own
    assert full(installed) == ("up to date\n", [])
    assert_fast(installed)


# ----------------------------------------------------------------------------- what makes it fall through
def test_an_edited_models_file_of_the_same_size(installed):
    path = installed / ".xlm_models"
    text = path.read_text()
    path.write_text(text.replace("#subdir=aaa", "#subdir=bbb"))  # another model of the monorepo, same size
    stdout, err = full(installed, "-q")
    assert stdout.startswith("installed bbb v1.0.0") and "removed aaa\n" in stdout and err == []
    path.write_text(text)
    stdout, err = full(installed, "-q")
    assert stdout.startswith("installed aaa v1.0.0") and "removed bbb\n" in stdout and err == []
    warm(installed)


def test_a_comment_edited_in_the_lock(installed):
    path = installed / "xlm.lock"
    path.write_bytes(path.read_bytes() + b"# a comment\n")
    assert full(installed) == ("up to date\n", [])
    assert_fast(installed)  # the full path wrote a proof of the new bytes


def test_a_touched_vendored_file_is_no_false_alarm(installed):
    os.utime(_model_file(installed), ns=(1, 1_000_000_000_000_000_000))
    assert full(installed) == ("up to date\n", [])
    assert_fast(installed)


def test_an_edited_vendored_file_is_restored(installed):
    path = _model_file(installed)
    original, st = path.read_bytes(), path.stat()
    path.write_bytes(original.replace(b"zlm", b"ZLM"))  # same size, another mtime (the stamps' own rule)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert path.stat().st_size == st.st_size
    stdout, err = full(installed, "-q")
    assert stdout.startswith("installed zlm v1.0.0")
    assert err[0].startswith("warning: model 'zlm': your edits to xlm_models/zlm (zlm/model.py) were not the locked code")
    assert path.read_bytes() == original
    warm(installed)


def test_a_deleted_model_folder_is_installed_again(installed):
    shutil.rmtree(installed / "xlm_models" / "aaa")
    stdout, err = full(installed, "-q")
    assert stdout.startswith("installed aaa v1.0.0") and err == []
    assert (installed / "xlm_models" / "aaa").is_dir()
    warm(installed)


def test_a_deleted_stamp_or_a_foreign_one(installed):
    stamps = installed / "xlm_models" / ".xpm" / "stamps"
    (stamps / "zlm.json").unlink()
    stdout, _ = full(installed)
    assert stdout.startswith("installed zlm")
    warm(installed)
    shutil.copy(stamps / "zlm.json", stamps / "gone.json")  # a model no longer listed: install removes it
    stdout, _ = full(installed)
    assert "removed gone" in stdout
    warm(installed)


def test_an_overrides_file_added_or_removed(installed, tmp_path):
    overrides = installed / "xlm.overrides.toml"
    overrides.write_text("version = 1\n")  # no override: no note, so a proof is written with it
    assert full(installed) == ("up to date\n", [])
    assert_fast(installed)
    overrides.unlink()
    assert full(installed) == ("up to date\n", [])
    assert_fast(installed)


def test_an_override_note_writes_no_proof(installed, lab):
    working = installed.parent / "zlm_work"
    shutil.copytree(installed / "xlm_models" / "zlm", working)
    xpm(installed, "develop", "zlm", str(working))
    for _ in range(2):
        stdout, err = full(installed)
        assert stdout == "up to date\n" and err[0].startswith("note: overridden by working copies")
    assert not _proof(installed).exists()


@pytest.mark.parametrize("content", [
    b"garbage", b"\xff\xfe not UTF-8", b"[]", b"{}", b'{"format": "1"}', "deeply nested",
    "huge", "wrong types", "models not a list", "a link", "a fifo", "a folder",
])
def test_a_corrupt_or_hostile_proof_is_no_proof(installed, content):
    path = _proof(installed)
    good = json.loads(path.read_bytes())
    path.unlink()
    if content == "huge":
        with path.open("wb") as handle:
            handle.truncate(noop._MAX_PROOF_BYTES + 1)  # sparse: never read
    elif content == "wrong types":
        path.write_text(json.dumps({**good, "files": [1, 2], "env": good["env"]}))
    elif content == "models not a list":
        path.write_text(json.dumps({**good, "models": {"zlm": 1}}))
    elif content == "a link":
        (installed.parent / "elsewhere.json").write_text(json.dumps(good))
        path.symlink_to(installed.parent / "elsewhere.json")
    elif content == "a fifo":
        os.mkfifo(path)  # reading it would wait forever
    elif content == "a folder":
        path.mkdir()
    elif content == "deeply nested":
        path.write_bytes(b"[" * 100_000 + b"]" * 100_000)  # past json's recursion limit
    else:
        path.write_bytes(content)
    assert full(installed) == ("up to date\n", [])
    if content in ("a folder",):
        shutil.rmtree(path)
        assert full(installed) == ("up to date\n", [])
    elif content == "a link":
        assert not path.is_symlink()  # replaced, never written through
    assert_fast(installed)


def test_a_proof_that_vouches_for_a_model_without_its_files_is_refused(installed):
    path = _proof(installed)
    data = json.loads(path.read_bytes())
    data["models"][0]["files"] = {}  # what a forged or stale record would say
    path.write_text(json.dumps(data))
    assert full(installed) == ("up to date\n", [])


def test_another_interpreter_or_venv(installed, tmp_path):
    """A venv of its own, over this interpreter's packages (`--system-site-packages` would show
    the base interpreter's, which need not have xpm at all, or may have another one)."""
    other = str(venv_over_this_environment(tmp_path / "venv"))
    stdout, _, imported = run(installed, python=other)  # another sys.prefix: the requirements are checked again
    assert stdout == "up to date\n" and FULL_PATH in imported
    full(installed)  # and back: the proof is this interpreter's again
    assert_fast(installed)


def test_a_distribution_installed_or_removed_after_the_proof(upstream, project, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    repo = upstream("lab/needy")
    repo.commit("model", {**model_files("needy"),
                          "pyproject.toml": '[project]\nname = "needy"\nversion = "0.1"\ndependencies = ["xpmnoopdep>=1"]\n'})
    repo.tag("v1.0.0")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    stdout, err = full(project, env=env)
    assert stdout == "up to date\n" and "warning: model 'needy' needs xpmnoopdep>=1 (not installed)" in err
    stdout, err = full(project, env=env)  # a warning writes no proof
    assert "warning: model 'needy' needs xpmnoopdep>=1 (not installed)" in err
    info = site / "xpmnoopdep-1.0.dist-info"

    def install_dist(name: str, where: Path) -> None:
        where.mkdir()
        (where / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")

    install_dist("xpmnoopdep", info)
    assert full(project, env=env) == ("up to date\n", [])
    warm(project, env=env)
    assert_fast(project, env=env)
    install_dist("otherdist", site / "otherdist-1.0.dist-info")  # any distribution: checked again
    assert full(project, env=env) == ("up to date\n", [])
    assert_fast(project, env=env)
    shutil.rmtree(info)  # uninstalled: the warning is back, never hidden by the proof
    stdout, err = full(project, env=env)
    assert stdout == "up to date\n" and "warning: model 'needy' needs xpmnoopdep>=1 (not installed)" in err
    assert not _proof(project).exists()


@pytest.mark.parametrize("left", ["trash", "staging"])
def test_an_interrupted_transaction(installed, left):
    # What a crash leaves: the old folder in the trash, or an export in staging; the next install deletes them.
    state = installed / "xlm_models" / ".xpm"
    shutil.copytree(installed / "xlm_models" / "zlm", state / left / ("0badc0de" if left == "trash" else "zlm-0badc0de") / "zlm")
    assert full(installed) == ("up to date\n", [])
    assert not (state / left).exists() or not any((state / left).iterdir())
    assert_fast(installed)


def test_a_copied_project_checks_for_itself(installed, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(installed), str(copy)], check=True)  # same bytes, same mtimes, another place
    assert full(copy) == ("up to date\n", [])
    assert_fast(copy)


def test_a_project_with_a_local_model_gets_no_proof(installed):
    local = installed / "mine"
    for rel, text in model_files("mine").items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_text(text)
    xpm(installed, "add", "./mine")
    for _ in range(2):
        assert full(installed)[0] == "up to date\n"  # the local folder is not covered by any stamp
    assert not _proof(installed).exists()


def test_the_stamp_check_of_the_full_path_still_never_imports_hashlib(installed):
    _proof(installed).unlink()
    stdout, _, imported = run(installed)
    assert stdout == "up to date\n" and "xpm.stamp" in imported and not imported & {"hashlib", "_hashlib"}
    assert stamp.load_stamp(installed, "zlm") is not None
