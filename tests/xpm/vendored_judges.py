"""A real project with model zlm installed, and the three judges of its vendored folder.

xlm's start-up check, `xpm list` and `xpm verify` must agree on every way the folder can be
touched (test_xpm_modified.py) and on a folder that holds another commit or a hostile stamp
(test_xpm_other_commit.py). Each judges its own `cp -a` copy (`copies`), so the first one to
run cannot refresh the stamp for the others.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from xlm.external_models import find_external_models
from xpm import stamp
from xpm_cli import xpm
from xpm_repos import git

M = "zlm/model.py"


def install_zlm(lab, tmp_path: Path, monkeypatch) -> Path:
    """A new project with `lab`'s zlm v1.0.0 added (the `installed` fixture of both test files)."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    return project


def model_py(project: Path) -> Path:
    return project / "xlm_models" / "zlm" / "zlm" / "model.py"


def xlm_check(project: Path) -> tuple[str, str] | None:
    """xlm's start-up check of zlm: (kind, message with the project shown as <project>), or None."""
    problems = [p for p in find_external_models(project).problems if p.model == "zlm"]
    return (problems[0].kind, problems[0].what.replace(str(project), "<project>")) if problems else None


def list_state(project: Path) -> str:
    rows = [line.split() for line in xpm(project, "list").stdout.splitlines()[1:]]
    return {row[0]: " ".join(row[5:]) for row in rows}["zlm"]


def verify_lines(project: Path, code: int) -> list[str]:
    return xpm(project, "verify", code=code).stdout.splitlines()


def copies(project: Path, n: int = 3) -> list[Path]:
    """`n` exact copies (cp -a keeps mtimes to the nanosecond), one per command."""
    out = []
    for i in range(n):
        dst = project.parent / f"judge{i}"
        subprocess.run(["cp", "-a", str(project), str(dst)], check=True)
        out.append(dst)
    return out


def locked(project: Path) -> tuple[str, str]:
    entry = stamp.read_lock_entry(project, "zlm")
    return entry["commit"], entry["hash"]


# ----------------------------------------------------------------------------- ways to touch it
# Each takes the installed project and returns the project to judge.
def touch(p):
    os.utime(model_py(p), ns=(1, 1_000_000_000_000_000_000))  # a date far from the install's
    return p


def touch_every_file(p):
    for f in (p / "xlm_models").rglob("*"):
        os.utime(f, follow_symlinks=False)
    return p


def cp_r(p):
    dst = p.parent / "copied"
    subprocess.run(["cp", "-r", str(p), str(dst)], check=True)  # new inodes and mtimes
    return dst


def fresh_checkout(p):
    git(p, "init", "-q")
    git(p, "add", "-A")
    git(p, "add", "-f", "xlm_models")  # a project that commits its vendored models
    git(p, "commit", "-q", "-m", "project")
    dst = p.parent / "checkout"
    git(p.parent, "clone", "-q", str(p), str(dst))
    return dst


def chmod_other_bits(p):
    os.chmod(model_py(p), 0o600)  # not part of the content: only the execute bit is
    return p


def chmod_execute_bit(p):
    os.chmod(model_py(p), 0o755)  # git records it, and so does the hash: a change
    return p


def edit_appended(p):
    with open(model_py(p), "a") as handle:
        handle.write("# local edit\n")
    return p


def edit_same_size(p):
    text = model_py(p).read_text()
    model_py(p).write_text(text.replace("zlm 1.0.0", "zlm 9.9.9"))
    return p


def edit_same_size_and_mtime_in_the_stamps_tick(p):
    """Edited in the clock tick the stamp was written in: size and mtime equal the stamp's
    record, so only "not older than the stamp" gives it away (git's racily clean)."""
    st = model_py(p).stat()
    edit_same_size(p)
    os.utime(model_py(p), ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(stamp.stamp_path(p, "zlm"), ns=(st.st_mtime_ns, st.st_mtime_ns))
    return p


def add_file(p):
    (p / "xlm_models" / "zlm" / "notes.txt").write_text("new\n")
    return p


def delete_file(p):
    (p / "xlm_models" / "zlm" / "configs" / "model_type" / "zlm.yaml").unlink()
    return p


def replace_by_symlink(p):
    same = p.parent / "same.py"  # the same bytes, behind a link: the hash sees a link
    same.write_bytes(model_py(p).read_bytes())
    model_py(p).unlink()
    model_py(p).symlink_to(same)
    return p


def add_pycache(p):
    cache = model_py(p).parent / "__pycache__"
    cache.mkdir()
    (cache / "model.cpython-311.pyc").write_bytes(b"imports write these")
    return p
