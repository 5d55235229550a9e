"""No false "modified", no missed change: xlm's start-up check, `xpm list` and `xpm verify`
agree on every way a vendored folder can be touched (issue 9, item 2; a folder holding another
commit is test_xpm_other_commit.py).

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

from vendored_judges import (M, add_file, add_pycache, chmod_execute_bit, chmod_other_bits, copies, cp_r, delete_file,
                             edit_appended, edit_same_size, edit_same_size_and_mtime_in_the_stamps_tick, fresh_checkout,
                             install_zlm, list_state, locked, model_py, replace_by_symlink, touch, touch_every_file,
                             verify_lines, xlm_check)
from xpm import hashing, stamp
from xpm_cli import xpm

pytestmark = pytest.mark.slow  # builds repositories and installs from them


@pytest.fixture
def installed(lab, tmp_path, monkeypatch):
    return install_zlm(lab, tmp_path, monkeypatch)


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
    for_xlm, for_list, for_verify = copies(judged)
    if changed is None:
        assert xlm_check(for_xlm) is None
        assert list_state(for_list) == "ok"
        assert verify_lines(for_verify, 0) == ["zlm: ok"]
        return
    modified, added, deleted = changed
    kind, what = xlm_check(for_xlm)
    assert kind == "modified"
    assert what == f"Vendored model 'zlm' differs from xlm.lock: changed files: {', '.join(sorted(modified + added + deleted))}"
    assert list_state(for_list) == "modified"
    lines = verify_lines(for_verify, 1)
    assert lines[0].startswith("zlm: modified (xlm.lock sha256-tree:")
    listed = [f"    modified: {p}" for p in modified] + [f"    added: {p}" for p in added] + [f"    deleted: {p}" for p in deleted]
    assert lines[1:] == listed
    on_disk = lines[0].split("on disk ")[1].rstrip(")")
    assert on_disk == hashing.hash_dir(for_verify / "xlm_models" / "zlm")  # the documented hash of what is there


@pytest.mark.parametrize("case, changed", [c for c in CASES if c[1] is not None], ids=[c.__name__ for c, ch in CASES if ch is not None])
def test_a_change_is_still_seen_after_a_check_rewrote_the_stamp(installed, case, changed):
    """A file edited in the stamp's clock tick was found, but the stamp the check then rewrote
    (newer, for the other files it re-hashed) proved it unchanged to every later check: `xpm
    list` after `xlm` said ok (git smudges such an entry; so does xlm now)."""
    judged = case(installed)
    for _ in range(3):
        assert xlm_check(judged)[0] == "modified"
        assert list_state(judged).startswith("modified")
    assert verify_lines(judged, 1)[0].startswith("zlm: modified")


@pytest.mark.parametrize("hide", ["chmod", "move away", "symlink", "mtime -1"])
def test_an_edit_stays_found_whatever_hid_it_while_a_check_rewrote_the_stamp(installed, tmp_path, hide):
    """An edit in the stamp's clock tick, hidden by a mode change or an absence while a check
    rewrote the stamp, then uncovered (chmod -x, mv back: the old mtime): every judge but
    `xpm verify` said ok, and `xpm install` "up to date" (fuzz_stamps S1). The smudged record
    must not match a file with any mtime either (S2: it was the mtime -1)."""
    edit_same_size_and_mtime_in_the_stamps_tick(installed)
    path, away = model_py(installed), tmp_path / "away.py"
    if hide == "chmod":
        os.chmod(path, 0o755)
    elif hide in ("move away", "symlink"):
        path.rename(away)
        if hide == "symlink":
            path.symlink_to(away)
    assert xlm_check(installed)[0] == "modified"  # found; the check rewrites the stamp
    if hide == "chmod":
        os.chmod(path, 0o644)
    elif hide in ("move away", "symlink"):
        path.unlink(missing_ok=True)
        away.rename(path)  # the file's old mtime comes back with it
    else:
        os.utime(path, ns=(-1, -1))
    assert xlm_check(installed)[0] == "modified"
    assert list_state(installed) == "modified"
    assert "up to date" not in xpm(installed, "install").stdout and "zlm 9.9.9" not in path.read_text()  # the locked file is back


def test_only_files_whose_stat_data_changed_are_read_and_then_never_again(installed, monkeypatch):
    from xlm.records import stamps  # where xlm, xpm list and xpm verify decide which files changed

    read = []
    digest = stamps._digest
    monkeypatch.setattr(stamps, "_digest", lambda path, mode: read.append(Path(path).name) or digest(path, mode))
    os.utime(stamp.stamp_path(installed, "zlm"), ns=(2**62, 2**62))  # no file is "racily clean" here
    assert xlm_check(installed) is None and read == []  # nothing touched: stat calls only
    touch(installed)
    before = stamp.stamp_path(installed, "zlm").read_bytes()
    assert xlm_check(installed) is None and read == ["model.py"]  # only the touched file is re-hashed
    after = stamp.stamp_path(installed, "zlm").read_bytes()
    assert after != before and json.loads(after)["files"][M][2] == model_py(installed).stat().st_mtime_ns
    assert list_state(installed) == "ok" and read == ["model.py"]  # the refreshed stamp vouches for it now
    assert verify_lines(installed, 0) == ["zlm: ok"] and len(read) == 5  # verify reads every file


def test_a_copied_project_is_hashed_once(installed):
    copy = cp_r(installed)
    shutil.rmtree(installed)  # nothing can come from the original
    assert xlm_check(copy) is None
    assert stamp.vendored_state(copy, "zlm", *locked(copy)).kind == "ok"
    recorded = stamp.load_stamp(copy, "zlm").files
    assert all(rec[2] == (copy / "xlm_models" / "zlm" / path).lstat().st_mtime_ns for path, rec in recorded.items())


def test_a_stamp_is_refreshed_only_while_the_projects_lock_is_free(installed):
    from xpm.project import Project

    touch(installed)
    before = stamp.stamp_path(installed, "zlm").read_bytes()
    with Project(installed).holding():  # an xpm command is running: it may be replacing the folder
        assert xlm_check(installed) is None
        assert stamp.stamp_path(installed, "zlm").read_bytes() == before
    assert xlm_check(installed) is None
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
            assert xlm_check(clean) is None and list_state(clean) == "ok" and verify_lines(clean, 0) == ["zlm: ok"]
            assert xlm_check(edited)[0] == "modified" and list_state(edited) == "modified"
            assert verify_lines(edited, 1)[1:] == [f"    modified: {M}"]
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




@pytest.mark.parametrize("command", [["install"], ["add", "UPDATE"], ["remove", "zlm"]])
def test_edits_in_a_vendored_folder_are_kept_when_it_is_replaced_or_removed(lab, project, command):
    """Editing `xlm_models/NAME` is what a researcher tries first; `xpm install` (the fix xlm
    names) deleted the edits and a new file without a word."""
    from xpm_cli import xpm

    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    model = project / "xlm_models" / "zlm"
    (model / "zlm" / "model.py").write_text((model / "zlm" / "model.py").read_text() + "# my idea\n")
    (model / "zlm" / "idea.py").write_text("IDEA = 1\n")
    out = xpm(project, *[f"{lab.zlm.url}@v1.1.0" if arg == "UPDATE" else arg for arg in command])
    [kept] = (project / "xlm_models" / ".xpm" / "edits").iterdir()
    assert kept.name.startswith("zlm-")
    assert (kept / "zlm" / "idea.py").read_text() == "IDEA = 1\n" and (kept / "zlm" / "model.py").read_text().endswith("# my idea\n")
    assert out.stderr.splitlines()[-2:] == [
        "warning: model 'zlm': your edits to xlm_models/zlm (zlm/idea.py, zlm/model.py) were not the locked code; "
        f"the folder as it was is kept in xlm_models/.xpm/edits/{kept.name}",
        "  to work on a model, use a working copy: xpm develop zlm PATH"]
    if command[0] != "remove":
        out = xpm(project, "add", f"{lab.zlm.url}@v1.0.0" if command[0] == "add" else f"{lab.zlm.url}@v1.1.0")
        assert "warning" not in out.stderr  # a folder as installed is replaced without a word


@pytest.mark.parametrize("command", [["update"], ["add", "UPDATE"], ["remove", "zlm"]])
def test_a_same_size_edit_whose_mtime_was_put_back_is_kept_too(lab, project, command):
    """Stat data vouched for the file (same size, old mtime restored with `touch -r`), and the
    command deleted the edit without a word: before a folder goes, content decides."""
    from xpm_cli import xpm
    from xpm_repos import model_files

    xpm(project, "add", f"{lab.zlm.url}@v1")
    lab.zlm.commit("v1.3.0", model_files("zlm", "1.3.0"))
    lab.zlm.tag("v1.3.0")  # what `update` moves to
    source = project / "xlm_models" / "zlm" / "zlm" / "model.py"
    before = source.stat()
    source.write_text(source.read_text().replace("ZlmModel", "MyxModel"))
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source.stat().st_size == before.st_size
    out = xpm(project, *[f"{lab.zlm.url}@v2.0.0" if arg == "UPDATE" else arg for arg in command])
    [kept] = (project / "xlm_models" / ".xpm" / "edits").iterdir()
    assert "MyxModel" in (kept / "zlm" / "model.py").read_text()
    assert "your edits to xlm_models/zlm (zlm/model.py) were not the locked code" in out.stderr


@pytest.mark.parametrize("stamp_damage", ["missing", "edited"])
@pytest.mark.parametrize("command", ["install", "remove"])
def test_a_folder_no_stamp_vouches_for_is_kept_too(lab, project, stamp_damage, command):
    """Without a stamp it can trust, xpm cannot prove the folder unedited: `remove` deleted it, and
    `install` replaced one whose stamp failed its own check, without keeping it."""
    from xpm_cli import xpm

    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    model = project / "xlm_models" / "zlm"
    (model / "zlm" / "idea.py").write_text("IDEA = 1\n")
    stamp_file = stamp.stamp_path(project, "zlm")
    if stamp_damage == "missing":
        stamp_file.unlink()
    else:
        data = json.loads(stamp_file.read_text())
        data["hash"] = "sha256-tree:" + "0" * 64  # valid JSON, but its records no longer hash to what it says
        stamp_file.write_text(json.dumps(data))
    from click.testing import CliRunner

    from xpm.cli import main

    out = CliRunner().invoke(main, ["-C", str(project), "-q", command, *(["zlm"] if command == "remove" else [])])
    if (command, stamp_damage) == ("install", "missing"):  # a folder xpm cannot tell is its own: refused
        assert out.exit_code == 1 and (model / "zlm" / "idea.py").is_file()
        return
    assert out.exit_code == 0, out.output
    [kept] = (project / "xlm_models" / ".xpm" / "edits").iterdir()
    assert (kept / "zlm" / "idea.py").read_text() == "IDEA = 1\n"
    assert "xlm_models/zlm has no install stamp xpm can trust, so it may hold edits; the folder as it was is kept in" in out.stderr


def test_a_command_that_fails_after_keeping_an_edited_folder_puts_it_back(lab, project, monkeypatch):
    from xpm_cli import xpm

    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    model = project / "xlm_models" / "zlm"
    (model / "zlm" / "idea.py").write_text("IDEA = 1\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stamp, "write_stamp", interrupted)
    xpm(project, "add", f"{lab.zlm.url}@v1.1.0", code=130)
    assert (model / "zlm" / "idea.py").read_text() == "IDEA = 1\n"  # back in place, the command undone
    assert not any((project / "xlm_models" / ".xpm" / "edits").iterdir())
