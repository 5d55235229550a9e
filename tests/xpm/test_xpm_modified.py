"""No false "modified", no missed change: xlm's start-up check, `xpm list` and `xpm verify`
agree on every way a vendored folder can be touched, and each fails when the folder holds
another commit than the lock's (issue 9, items 2 and 3).

Each case changes a real installed project, then each of the three commands judges its own
`cp -a` copy of it (so the first one to run cannot refresh the stamp for the others).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlm.external_models import find_external_models
from xpm import hashing, stamp
from xpm_cli import xpm
from xpm_repos import git

pytestmark = pytest.mark.slow  # builds repositories and installs from them


@pytest.fixture
def installed(lab, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.delenv("XLM_MODELS_FILE", raising=False)
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    return project


def _model(project: Path) -> Path:
    return project / "xlm_models" / "zlm" / "zlm" / "model.py"


def _xlm(project: Path) -> tuple[str, str] | None:
    """xlm's start-up check of zlm: (kind, message with the project shown as <project>), or None."""
    problems = [p for p in find_external_models(project).problems if p.model == "zlm"]
    return (problems[0].kind, problems[0].what.replace(str(project), "<project>")) if problems else None


def _list(project: Path) -> str:
    rows = [line.split() for line in xpm(project, "list").stdout.splitlines()[1:]]
    return {row[0]: " ".join(row[5:]) for row in rows}["zlm"]


def _verify(project: Path, code: int) -> list[str]:
    return xpm(project, "verify", code=code).stdout.splitlines()


def _copies(project: Path, n: int = 3) -> list[Path]:
    """`n` exact copies (cp -a keeps mtimes to the nanosecond), one per command."""
    out = []
    for i in range(n):
        dst = project.parent / f"judge{i}"
        subprocess.run(["cp", "-a", str(project), str(dst)], check=True)
        out.append(dst)
    return out


# ----------------------------------------------------------------------------- the cases
# Each takes the installed project and returns the project to judge.
def touch(p):
    os.utime(_model(p), ns=(1, 1_000_000_000_000_000_000))  # a date far from the install's
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
    os.chmod(_model(p), 0o600)  # not part of the content: only the execute bit is
    return p


def chmod_execute_bit(p):
    os.chmod(_model(p), 0o755)  # git records it, and so does the hash: a change
    return p


def edit_appended(p):
    with open(_model(p), "a") as handle:
        handle.write("# local edit\n")
    return p


def edit_same_size(p):
    text = _model(p).read_text()
    _model(p).write_text(text.replace("zlm 1.0.0", "zlm 9.9.9"))
    return p


def edit_same_size_and_mtime_in_the_stamps_tick(p):
    """Edited in the clock tick the stamp was written in: size and mtime equal the stamp's
    record, so only "not older than the stamp" gives it away (git's racily clean)."""
    st = _model(p).stat()
    edit_same_size(p)
    os.utime(_model(p), ns=(st.st_atime_ns, st.st_mtime_ns))
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
    same.write_bytes(_model(p).read_bytes())
    _model(p).unlink()
    _model(p).symlink_to(same)
    return p


def add_pycache(p):
    cache = _model(p).parent / "__pycache__"
    cache.mkdir()
    (cache / "model.cpython-311.pyc").write_bytes(b"imports write these")
    return p


M = "zlm/model.py"
CASES = [
    # case, changed: None (ok) or (modified, added, deleted)
    (touch, None),
    (touch_every_file, None),
    (cp_r, None),
    (fresh_checkout, None),
    (chmod_other_bits, None),
    (add_pycache, None),
    (chmod_execute_bit, ([M], [], [])),
    (edit_appended, ([M], [], [])),
    (edit_same_size, ([M], [], [])),
    (edit_same_size_and_mtime_in_the_stamps_tick, ([M], [], [])),
    (add_file, ([], ["notes.txt"], [])),
    (delete_file, ([], [], ["configs/model_type/zlm.yaml"])),
    (replace_by_symlink, ([M], [], [])),
]


@pytest.mark.parametrize("case, changed", CASES, ids=[c.__name__ for c, _ in CASES])
def test_xlm_list_and_verify_agree(installed, case, changed):
    judged = case(installed)
    for_xlm, for_list, for_verify = _copies(judged)
    if changed is None:
        assert _xlm(for_xlm) is None
        assert _list(for_list) == "ok"
        assert _verify(for_verify, 0) == ["zlm: ok"]
        return
    modified, added, deleted = changed
    kind, what = _xlm(for_xlm)
    assert kind == "modified"
    assert what == f"Vendored model 'zlm' differs from xlm.lock: changed files: {', '.join(sorted(modified + added + deleted))}"
    assert _list(for_list) == "modified"
    lines = _verify(for_verify, 1)
    assert lines[0].startswith("zlm: modified (xlm.lock sha256-tree:")
    listed = [f"    modified: {p}" for p in modified] + [f"    added: {p}" for p in added] + [f"    deleted: {p}" for p in deleted]
    assert lines[1:] == listed
    on_disk = lines[0].split("on disk ")[1].rstrip(")")
    assert on_disk == hashing.hash_dir(for_verify / "xlm_models" / "zlm")  # the documented hash of what is there


def test_only_files_whose_stat_data_changed_are_read_and_then_never_again(installed, monkeypatch):
    from xlm.records import stamps  # where xlm, xpm list and xpm verify decide which files changed

    read = []
    digest = stamps._digest
    monkeypatch.setattr(stamps, "_digest", lambda path, mode: read.append(Path(path).name) or digest(path, mode))
    os.utime(stamp.stamp_path(installed, "zlm"), ns=(2**62, 2**62))  # no file is "racily clean" here
    assert _xlm(installed) is None and read == []  # nothing touched: stat calls only
    touch(installed)
    before = stamp.stamp_path(installed, "zlm").read_bytes()
    assert _xlm(installed) is None and read == ["model.py"]  # only the touched file is re-hashed
    after = stamp.stamp_path(installed, "zlm").read_bytes()
    assert after != before and json.loads(after)["files"][M][2] == _model(installed).stat().st_mtime_ns
    assert _list(installed) == "ok" and read == ["model.py"]  # the refreshed stamp vouches for it now
    assert _verify(installed, 0) == ["zlm: ok"] and len(read) == 5  # verify reads every file


def test_a_copied_project_is_hashed_once(installed):
    copy = cp_r(installed)
    shutil.rmtree(installed)  # nothing can come from the original
    assert _xlm(copy) is None
    assert stamp.vendored_state(copy, "zlm", *_locked(copy)).kind == "ok"
    recorded = stamp.load_stamp(copy, "zlm").files
    assert all(rec[2] == (copy / "xlm_models" / "zlm" / path).lstat().st_mtime_ns for path, rec in recorded.items())


def _locked(project: Path) -> tuple[str, str]:
    entry = stamp.read_lock_entry(project, "zlm")
    return entry["commit"], entry["hash"]


def test_a_stamp_is_refreshed_only_while_the_projects_lock_is_free(installed):
    from xpm.project import Project

    touch(installed)
    before = stamp.stamp_path(installed, "zlm").read_bytes()
    with Project(installed).holding():  # an xpm command is running: it may be replacing the folder
        assert _xlm(installed) is None
        assert stamp.stamp_path(installed, "zlm").read_bytes() == before
    assert _xlm(installed) is None
    assert stamp.stamp_path(installed, "zlm").read_bytes() != before


def test_a_read_only_project_is_judged_the_same_and_never_written(installed, tmp_path):
    from test_xpm_filesystem import Mounts

    mounts = Mounts()
    try:
        disk = mounts.tmpfs(tmp_path / "disk")
        clean, edited = disk / "clean", disk / "edited"
        for project in (clean, edited):
            subprocess.run(["cp", "-r", str(installed), str(project)], check=True)  # new mtimes everywhere
        edit_appended(edited)
        mounts.read_only(disk)
        before = {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()}
        for _ in range(2):  # nothing can be refreshed: the same answer, from the files, each time
            assert _xlm(clean) is None and _list(clean) == "ok" and _verify(clean, 0) == ["zlm: ok"]
            assert _xlm(edited)[0] == "modified" and _list(edited) == "modified"
            assert _verify(edited, 1)[1:] == [f"    modified: {M}"]
        assert {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()} == before
    finally:
        mounts.unmount_all()


def test_a_fifo_is_a_change_and_is_never_opened(installed):
    os.mkfifo(installed / "xlm_models" / "zlm" / "pipe")  # opening it to read would wait forever
    code = (f"from xlm.external_models import find_external_models as f; import pathlib; "
            f"print([p.what for p in f(pathlib.Path({str(installed)!r})).problems])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "changed files: pipe" in out.stdout, out.stderr[-2000:]
    for args, rc in ((["list"], 0), (["verify"], 1)):
        out = subprocess.run([sys.executable, "-m", "xpm.cli", "-C", str(installed), *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == rc, out.stderr
        text = out.stdout
    assert "neither a file nor a link" in text and "    added: pipe" in text


# ----------------------------------------------------------------------------- another commit (item 3)
def _other_project(installed: Path, lab) -> Path:
    """The same project after a teammate moved zlm to v1.1.0 (its own clone, installed)."""
    other = installed.parent / "teammate"
    other.mkdir()
    (other / ".xlm_models").write_text(f"{lab.zlm.url}@v1.1.0\n")
    xpm(other, "install")
    return other


def _three_fail(project: Path, xlm_what: str, state: str, verify_line: str) -> None:
    for_xlm, for_list, for_verify = _copies(project)
    kind, what = _xlm(for_xlm)
    assert (kind, what) == ("not_installed", xlm_what)
    assert _list(for_list) == state
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
    assert _verify(installed, 0) == ["zlm: ok"]


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
    for_xlm, for_list, for_verify = _copies(installed)
    assert _xlm(for_xlm)[0] == "modified" and _list(for_list) == "modified"
    lines = _verify(for_verify, 1)
    assert lines[1:] == [f"    modified: {p}" for p in ("configs/model/zlm.yaml", "zlm/__init__.py", "zlm/model.py")]


def test_a_forged_stamp_that_hashes_right_is_another_commit(installed):
    """Files edited and the stamp rewritten to match them: its records hash to its own hash,
    which is not the lock's, so no command trusts it."""
    edit_appended(installed)
    recs = hashing.records(installed / "xlm_models" / "zlm")
    commit, _ = _locked(installed)
    stamp.write_stamp(installed, "zlm", commit, hashing.tree_hash(recs), recs)
    _three_fail(installed, "External model 'zlm' in xlm_models/ was installed with another content hash than xlm.lock's", "other commit",
                f"zlm: other commit (xlm_models/zlm was installed with another content hash than xlm.lock's {_locked(installed)[1]}) "
                "(run: xpm install)")


@pytest.mark.parametrize("how", ["deleted", "records_edited", "not_json"])
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
    else:
        path.write_text("{not json")
    _three_fail(installed, "model 'zlm' in <project>/xlm_models/zlm was not completely installed by xpm (no install stamp it can trust)", "incomplete",
                "zlm: incomplete (xlm_models/zlm has no install stamp xpm can trust: an interrupted install, a damaged stamp, "
                "or a folder xpm did not make) (run: xpm install)")
    assert xpm(installed, "install").stdout.startswith("installed zlm")
    assert _verify(installed, 0) == ["zlm: ok"]


def test_verify_reads_every_file_so_it_finds_an_edit_that_kept_size_and_mtime(installed):
    """The one thing the cheap check cannot see (a same-size edit with its old mtime put back
    by hand, older than the stamp): `xpm verify` re-hashes every file, so it does."""
    st = _model(installed).stat()
    edit_same_size(installed)
    os.utime(_model(installed), ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(stamp.stamp_path(installed, "zlm"), ns=(st.st_mtime_ns + 10**9,) * 2)
    assert _xlm(installed) is None and _list(installed) == "ok"
    assert _verify(installed, 1)[1:] == [f"    modified: {M}"]
    assert _xlm(installed)[0] == "modified" and _list(installed) == "modified"  # verify distrusts that record from now on


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
    assert _xlm(installed) is None and _list(installed) == "ok" and _verify(installed, 0) == ["zlm: ok"]
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
        assert _xlm(installed)[0] == "modified" and _list(installed) == "modified"  # an added file: no stamp to refresh
        assert _verify(installed, 1)[1:] == [f"    added: {rel}"]
    finally:  # bottom up, in a loop: shutil.rmtree (pytest's clean-up) recurses too
        os.unlink(os.path.join(deep, "f.txt"))
        while deep != top:
            os.rmdir(deep)
            deep = os.path.dirname(deep)
