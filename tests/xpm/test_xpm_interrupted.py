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
