"""A vendored folder that holds another commit than the lock's, or a hostile stamp: xlm's
start-up check, `xpm list` and `xpm verify` each fail on it, and none blocks or follows a
link (issue 9, item 3; the judges are `vendored_judges`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vendored_judges import (M, copies, edit_appended, edit_same_size, install_zlm, list_state, locked, model_py, touch,
                             verify_lines, xlm_check)
from xpm import hashing, stamp
from xpm_cli import xpm

pytestmark = pytest.mark.slow  # builds repositories and installs from them


@pytest.fixture
def installed(lab, tmp_path, monkeypatch):
    return install_zlm(lab, tmp_path, monkeypatch)


# ----------------------------------------------------------------------------- another commit (item 3)
def _other_project(installed: Path, lab) -> Path:
    """The same project after a teammate moved zlm to v1.1.0 (its own clone, installed)."""
    other = installed.parent / "teammate"
    other.mkdir()
    (other / ".xlm_models").write_text(f"{lab.zlm.url}@v1.1.0\n")
    xpm(other, "install")
    return other


def _three_fail(project: Path, xlm_what: str, state: str, verify_line: str) -> None:
    for_xlm, for_list, for_verify = copies(project)
    kind, what = xlm_check(for_xlm)
    assert (kind, what) == ("not_installed", xlm_what)
    assert list_state(for_list) == state
    out = xpm(for_verify, "verify", code=1)
    assert out.stdout == verify_line + "\n" and "1 model(s) differ from xlm.lock" in out.stderr


def test_after_a_pull_that_moved_the_lock_the_folder_is_another_commit(installed, lab):
    other = _other_project(installed, lab)
    for name in (".xlm_models", "xlm.lock"):  # `git pull`: the lock moves, xlm_models/ (ignored) stays
        shutil.copy(other / name, installed / name)
    old, new = lab.commits["1.0.0"], lab.commits["1.1.0"]
    _three_fail(installed, f"External model 'zlm' in xlm_models/ is commit {old[:12]}, xlm.lock wants {new[:12]}", "other commit",
                f"zlm: other commit (xlm_models/zlm holds commit {old[:12]}, xlm.lock wants {new[:12]}) (run: xpm install)")
    assert xpm(installed, "install").stdout.startswith("installed zlm v1.1.0")
    assert verify_lines(installed, 0) == ["zlm: ok"]


def test_another_commits_folder_and_stamp_copied_in_is_another_commit(installed, lab):
    other = _other_project(installed, lab)
    shutil.rmtree(installed / "xlm_models")
    shutil.copytree(other / "xlm_models", installed / "xlm_models", symlinks=True)
    old, new = lab.commits["1.1.0"], lab.commits["1.0.0"]
    _three_fail(installed, f"External model 'zlm' in xlm_models/ is commit {old[:12]}, xlm.lock wants {new[:12]}", "other commit",
                f"zlm: other commit (xlm_models/zlm holds commit {old[:12]}, xlm.lock wants {new[:12]}) (run: xpm install)")


def test_another_commits_files_under_the_right_stamp_are_modified(installed, lab):
    other = _other_project(installed, lab)
    shutil.rmtree(installed / "xlm_models" / "zlm")
    shutil.copytree(other / "xlm_models" / "zlm", installed / "xlm_models" / "zlm", symlinks=True)
    for_xlm, for_list, for_verify = copies(installed)
    assert xlm_check(for_xlm)[0] == "modified" and list_state(for_list) == "modified"
    lines = verify_lines(for_verify, 1)
    assert lines[1:] == [f"    modified: {p}" for p in ("configs/model/zlm.yaml", "zlm/__init__.py", "zlm/model.py")]


def test_a_forged_stamp_that_hashes_right_is_another_commit(installed):
    """Files edited and the stamp rewritten to match them: its records hash to its own hash,
    which is not the lock's, so no command trusts it."""
    edit_appended(installed)
    recs = hashing.records(installed / "xlm_models" / "zlm")
    commit, _ = locked(installed)
    stamp.write_stamp(installed, "zlm", commit, hashing.tree_hash(recs), recs)
    _three_fail(installed, "External model 'zlm' in xlm_models/ was installed with another content hash than xlm.lock's", "other commit",
                f"zlm: other commit (xlm_models/zlm was installed with another content hash than xlm.lock's {locked(installed)[1]}) "
                "(run: xpm install)")


@pytest.mark.parametrize("how", ["deleted", "records_edited", "not_json", "lone_surrogate"])
def test_a_folder_without_a_stamp_it_can_trust_is_incomplete(installed, how):
    path = stamp.stamp_path(installed, "zlm")
    if how == "deleted":
        path.unlink()
    elif how == "records_edited":  # the edited file's record made to match; the hash left as it was
        edit_appended(installed)
        data = json.loads(path.read_text())
        rec = next(r for r in hashing.records(installed / "xlm_models" / "zlm") if r.path == M)
        data["files"][M] = [rec.mode, rec.size, rec.mtime_ns, rec.sha256]
        path.write_text(json.dumps(data))
    elif how == "lone_surrogate":  # JSON can name no file: was `internal error: UnicodeEncodeError` in every command
        data = json.loads(path.read_text())
        data["files"]["\ud800"] = data["files"].pop(M)
        path.write_text(json.dumps(data))
    else:
        path.write_text("{not json")
    _three_fail(installed, "model 'zlm' in <project>/xlm_models/zlm was not completely installed by xpm (no install stamp it can trust)", "incomplete",
                "zlm: incomplete (xlm_models/zlm has no install stamp xpm can trust: an interrupted install, a damaged stamp, "
                "or a folder xpm did not make) (run: xpm install)")
    assert xpm(installed, "install").stdout.startswith("installed zlm")
    assert verify_lines(installed, 0) == ["zlm: ok"]


def test_an_edit_that_kept_size_and_mtime_is_found_by_its_ctime(installed):
    """A same-size edit whose old mtime was put back (`touch -r`, `rsync -a` of an edited copy),
    older than the stamp: size and mtime prove nothing then, and the stamp's ctime (which no
    program sets) differs, so the cheap check re-hashes the file: xlm's start-up check,
    `xpm list` and `xpm verify` all see it."""
    st = model_py(installed).stat()
    edit_same_size(installed)
    os.utime(model_py(installed), ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(stamp.stamp_path(installed, "zlm"), ns=(st.st_mtime_ns + 10**9,) * 2)
    assert (model_py(installed).stat().st_size, model_py(installed).stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert xlm_check(installed)[0] == "modified" and list_state(installed) == "modified"
    assert verify_lines(installed, 1)[1:] == [f"    modified: {M}"]


def test_a_stamp_of_an_older_xpm_without_ctimes_is_trusted_as_then_and_given_them(installed):
    """It recorded no ctime: size and mtime decide, as they did (a read-only project with such a
    stamp must stay `up to date`), and the stamp gets the ctimes when the project can be written.
    An older xpm reads only `files`, so it still trusts a stamp this one wrote."""
    path = stamp.stamp_path(installed, "zlm")
    data = json.loads(path.read_text())
    assert all(len(rec) == 4 for rec in data["files"].values()) and data["ctimes"].keys() == data["files"].keys()
    del data["ctimes"]
    path.write_text(json.dumps(data))
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
    assert xlm_check(installed) is None and list_state(installed) == "ok"
    assert json.loads(path.read_text())["ctimes"].keys() == data["files"].keys()


def test_a_warm_no_op_install_reads_no_file_and_never_imports_hashlib(installed):
    """The common case stays a few stat calls per file: no file is read, and the stamp's own
    check uses the interpreter's builtin sha256, not hashlib (which loads OpenSSL)."""
    xpm(installed, "install")  # files written in the stamp's clock tick are re-hashed once here
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "xpm.cli", "-C", str(installed), "install"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == "up to date\n", out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "xpm.stamp" in imported and not imported & {"hashlib", "_hashlib"}


# ----------------------------------------------------------------------------- hostile shapes
def test_a_stamp_that_is_a_fifo_is_no_stamp_and_never_blocks(installed):
    path = stamp.stamp_path(installed, "zlm")
    path.unlink()
    os.mkfifo(path)  # reading it would wait for a writer forever
    code = (f"from xlm.external_models import find_external_models as f; import pathlib; "
            f"print([p.what for p in f(pathlib.Path({str(installed)!r})).problems])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "no install stamp it can trust" in out.stdout, out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-m", "xpm.cli", "-C", str(installed), "verify"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stdout.startswith("zlm: incomplete")


def test_a_stamp_is_never_refreshed_through_a_link(installed, tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("outside the project\n")
    lock = installed / "xlm_models" / ".xpm" / "lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(canary)  # a refresh would take this lock, and write its holder into it
    touch(installed)
    before = stamp.stamp_path(installed, "zlm").read_bytes()
    assert xlm_check(installed) is None and list_state(installed) == "ok" and verify_lines(installed, 0) == ["zlm: ok"]
    assert canary.read_text() == "outside the project\n"
    assert stamp.stamp_path(installed, "zlm").read_bytes() == before  # judged from the files, not cached


def test_nesting_deeper_than_pythons_recursion_limit(installed):
    top = deep = str(installed / "xlm_models" / "zlm")
    for _ in range(1200):  # one level at a time: pathlib's and os.makedirs' recursion would not get there
        deep += "/d"
        os.mkdir(deep)
    Path(deep, "f.txt").write_text("x")
    rel = "/".join(["d"] * 1200) + "/f.txt"
    try:
        assert xlm_check(installed)[0] == "modified" and list_state(installed) == "modified"  # an added file: no stamp to refresh
        assert verify_lines(installed, 1)[1:] == [f"    added: {rel}"]
    finally:  # bottom up, in a loop: shutil.rmtree (pytest's clean-up) recurses too
        os.unlink(os.path.join(deep, "f.txt"))
        while deep != top:
            os.rmdir(deep)
            deep = os.path.dirname(deep)
