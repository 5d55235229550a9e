"""A command that crashed or was interrupted midway (no undo ran): the next `xpm install`
(or `xpm add`) finishes or undoes its work, and deletes only what xpm itself placed."""

import pytest

from xpm import ops, stamp
from xpm.project import Project
from xpm.sync import Options
from xpm.transaction import Transaction
from xpm_cli import xpm

pytestmark = pytest.mark.slow  # each test builds repositories and runs git many times


# A crash while removing aaa: after its folder was moved aside (its stamp still there), or after
# its stamp too (the lock not written yet). The next install finishes the job either way.
@pytest.mark.parametrize("moved, said", [(1, "removed aaa\n"), (2, "up to date; wrote xlm.lock (-aaa)\n")])
def test_an_interrupted_removal_is_finished_by_the_next_install(lab, project, monkeypatch, moved, said):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    aside, calls = Transaction._aside, []

    def crash_after(tx, *args):
        aside(tx, *args)
        calls.append(args)
        if len(calls) == moved:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(Transaction, "_aside", crash_after)
        patch.setattr(Transaction, "rollback", lambda tx: None)  # a crash: nothing is undone
        ops.install(Project(project), Options())
    assert xpm(project, "install").stdout == said
    assert not (project / "xlm_models" / "aaa").exists()
    assert stamp.read_stamp(project, "aaa") is None and list(Project(project).lock().entries) == ["zlm"]


# A crash after a model's folder was renamed into place, before its stamp was written: found
# by killing `xpm add` at random moments. The folder stayed for good, and `xpm add` refused it
# as "not installed by xpm".
@pytest.mark.parametrize("then", ["install", "add"])
@pytest.mark.parametrize("listed", [False, True])
def test_a_folder_placed_and_never_stamped_is_repaired(lab, project, monkeypatch, then, listed):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    if listed:  # an update of a listed model crashes instead
        (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n")
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(stamp, "write_stamp", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
        patch.setattr(Transaction, "rollback", lambda tx: None)  # a crash: nothing is undone
        if listed:
            ops.install(Project(project), Options())
        else:
            ops.add(Project(project), f"{lab.models.url}#subdir=aaa", Options())
    assert (project / "xlm_models" / "aaa").is_dir() and stamp.read_stamp(project, "aaa") is None
    if then == "add":
        assert xpm(project, "add", f"{lab.models.url}#subdir=aaa").stdout.startswith("added aaa v1.0.0")
    else:
        out = xpm(project, "install").stdout
        assert out.startswith("installed aaa v1.0.0") if listed else out == "up to date\n"
        assert (project / "xlm_models" / "aaa").exists() == listed
    assert stamp.read_stamp(project, "aaa") is not None or not listed
    assert not list((project / "xlm_models" / ".xpm" / "trash").glob("*/*"))
    (project / "mine").mkdir()  # the user's own folder, unstamped, named by no trash: kept
    (project / "xlm_models" / "mine").mkdir()
    xpm(project, "install")
    assert (project / "xlm_models" / "mine").is_dir()


def test_a_trash_marker_that_names_no_model_deletes_nothing(project):
    from xpm import vendor

    trash = project / "xlm_models" / ".xpm" / "trash"
    (trash / "ab12").mkdir(parents=True)
    for marker in ("placing-..", "placing-", "placing-.xpm", "placing-A"):
        (trash / "ab12" / marker).touch()
    (trash / "file").touch()  # not a folder: skipped
    (project / "keep").write_text("x")
    vendor.clean_leftovers(project)
    assert (project / "keep").read_text() == "x" and (project / "xlm_models" / ".xpm").is_dir()
    assert not trash.exists()


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
real = os.replace
def replace(src, dst):
    if os.path.basename(dst) == ".xlm_models":  # xlm.lock is renamed first: kill -9 right between the two
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
from xpm.cli import main
sys.argv = ["xpm", "-q", "-C", sys.argv[1], "add", sys.argv[2]]
main()
"""


def test_a_commit_killed_between_its_renames_is_finished_not_left_half(lab, project):
    """kill -9 (the OOM killer, a CI timeout) between the renames of xlm.lock and .xlm_models left
    the new lock beside the old .xlm_models: the next install read that as an edit, resolved the
    entry again (a pin could move), and the temporary file stayed in the project for good."""
    import subprocess
    import sys

    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    old_models = (project / ".xlm_models").read_text()
    killed = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(project), f"{lab.zlm.url}@v1.1.0"],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert (project / ".xlm_models").read_text() == old_models and "v1.1.0" in (project / "xlm.lock").read_text()
    temps = [p.name for p in project.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].startswith("..xlm_models.")
    out = xpm(project, "install").stdout
    assert (project / ".xlm_models").read_text() == old_models.replace("@v1.0.0", "@v1.1.0")  # the commit, finished
    assert "resolving" not in out and not [p for p in project.iterdir() if p.name.endswith(".tmp")]
    xpm(project, "install", "--frozen")
    assert Project(project).lock().entries["zlm"].commit == lab.commits["1.1.0"]


def test_a_forged_commit_record_renames_nothing_but_temporary_files_onto_their_own_names(project, tmp_path):
    """The record is read as hostile: it may name only `.<file>.<hex>.tmp` onto `<file>` in the project."""
    import json

    from xpm.transaction import JOURNAL, finish_interrupted_commit

    trash = tmp_path / "trash"
    trash.mkdir()
    (project / "xlm.lock").write_text("the lock\n")
    (project / ".xlm.lock.0123456789ab.tmp").write_text("a temporary lock\n")
    outside = tmp_path / "outside"
    outside.write_text("not xpm's\n")
    renames = [["../outside", "xlm.lock"], [".xlm.lock.0123456789ab.tmp", "../elsewhere"],
               [".xlm.lock.0123456789ab.tmp", ".xlm_models"], "junk", [1, 2]]
    (trash / JOURNAL).write_text(json.dumps({"renames": renames}))
    finish_interrupted_commit(project, trash)
    assert (project / "xlm.lock").read_text() == "the lock\n" and outside.read_text() == "not xpm's\n"
    assert not (tmp_path / "elsewhere").exists() and not (project / ".xlm_models").exists()
    (trash / JOURNAL).write_text("{not json")
    finish_interrupted_commit(project, trash)  # nothing to finish: no error either


def test_ctrl_c_after_the_commit_only_stops_the_clean_up(lab, project, monkeypatch):
    """Ctrl-C while the replaced model's folder was deleted (0.1-0.3 s for 2,000 files) said
    "interrupted" and exited 130 although the command's change was complete."""
    import xpm.transaction as transaction

    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(transaction, "remove_tree", interrupted)
        ops.add(Project(project), f"{lab.zlm.url}@v1.1.0", Options())  # returns: the command is done
    assert Project(project).lock().entries["zlm"].commit == lab.commits["1.1.0"]
    assert list((project / "xlm_models" / ".xpm" / "trash").iterdir())  # left to the next command
    assert xpm(project, "install").stdout == "up to date\n"
    assert not (project / "xlm_models" / ".xpm" / "trash").exists()
