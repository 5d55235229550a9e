"""`xlm runs show` and `xlm runs diff` on records written to disk; the drift check's words."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from xlm.cli import main as xlm_main
from xlm.provenance import drift
from xlm.provenance.runs_command import diff_records, format_record
from xlm.records import runs
from xlm.records.treehash import text_hash, tree_text

A_FILES = tree_text([("zlm/model.py", "100644", "a" * 64), ("zlm/loss.py", "100644", "b" * 64)])
B_FILES = tree_text([("zlm/model.py", "100644", "c" * 64), ("zlm/loss.py", "100644", "b" * 64), ("zlm/new.py", "100755", "d" * 64)])
COMMIT_A, COMMIT_B = "1" * 40, "2" * 40


def record(files: str, commit: str, torch: str = "2.5.1", used: bool = True) -> runs.RunRecord:
    zlm = runs.ModelRecord("zlm", "vendored", "https://github.com/lab/zlm", requested="v1", resolved="refs/tags/v1.0.0",
                           commit=commit, hash=text_hash(files), files="models/zlm.files", package="zlm", used=used,
                           requires=("einops>=0.7",), installed=("einops==0.8.0",))
    arlm = runs.ModelRecord("arlm", "core", "xlm", hash="sha256-tree:" + "e" * 64, package="arlm")
    info = runs.RunInfo("train", True, None, False, "0.1.0", "3.11.7", torch, "2.4.0", "1.3.2")
    return runs.RunRecord(info, {"zlm": zlm, "arlm": arlm}, {"zlm": files})


def test_show_prints_a_table_and_the_details(tmp_path):
    runs.write_folder(tmp_path, record(A_FILES, COMMIT_A))
    text = format_record(runs.read_folder(tmp_path))
    lines = text.splitlines()
    assert lines[1] == "xlm 0.1.0, python 3.11.7, torch 2.5.1, lightning 2.4.0, hydra-core 1.3.2"
    assert lines[3].split() == ["NAME", "KIND", "USED", "COMMIT", "DIRTY", "HASH", "SOURCE"]
    assert lines[5].split() == ["zlm", "vendored", "yes", COMMIT_A[:12], "-", f"sha256-tree:{text_hash(A_FILES)[12:24]}",
                                "https://github.com/lab/zlm@v1"]
    assert "  zlm needs einops>=0.7 (installed: einops==0.8.0)" in lines


def test_show_says_where_a_dirty_models_patch_is():
    """Read from a copied checkpoint, the patch is inside it: no models/zlm.patch is beside it."""
    base = record(A_FILES, COMMIT_A)
    dirty = replace(base.models["zlm"], dirty=True, patch="models/zlm.patch", repository="/wc")
    for in_checkpoint, said in ((False, ""), (True, " (saved inside the checkpoint)")):
        text = format_record(replace(base, models={**base.models, "zlm": dirty}, in_checkpoint=in_checkpoint))
        assert f"  zlm: /wc is dirty; its changes against {COMMIT_A[:12]}: models/zlm.patch{said}" in text.splitlines()


def test_show_of_a_run_folder_never_imports_torch(tmp_path):
    runs.write_folder(tmp_path, record(A_FILES, COMMIT_A))
    code = (f"import sys; from xlm.cli import main; rc = main(['runs', 'show', {str(tmp_path)!r}]); "
            "print(rc, 'torch' in sys.modules, 'xpm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "0 False False"


def test_diff_names_models_commits_files_and_versions(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    runs.write_folder(a, record(A_FILES, COMMIT_A))
    other = record(B_FILES, COMMIT_B, torch="2.6.0")
    del other.models["arlm"]
    runs.write_folder(b, other)
    lines = diff_records(runs.read_folder(a), runs.read_folder(b))
    assert lines[0] == "arlm: only in A"
    assert lines[1].startswith(f"zlm: commit {COMMIT_A} -> {COMMIT_B}; hash sha256-tree:")
    assert lines[1].endswith("; changed files: zlm/model.py, zlm/new.py")
    assert lines[2:] == ["torch: 2.5.1 -> 2.6.0"]
    assert xlm_main(["runs", "diff", str(a), str(b)]) == 1
    assert xlm_main(["runs", "diff", str(a), str(a)]) == 0
    assert capsys.readouterr().out.strip().endswith("same models, commits, hashes and versions")
    # an arlm run against an mlm run differ in which model they used: "same models" was false
    assert diff_records(record(A_FILES, COMMIT_A), record(A_FILES, COMMIT_A, used=False)) == ["zlm: used yes -> no"]


@pytest.mark.parametrize("argv,what", [
    (["runs", "show"], "`xlm runs show` takes one PATH, not 0"),  # it said "is not a runs command"
    (["runs", "diff", "a"], "`xlm runs diff` takes two PATHs, A and B, not 1"),
    (["runs", "show", "/no/such/run"], "error: '/no/such/run' does not exist"),
    (["runs", "frobnicate", "x"], "`xlm runs frobnicate x` is not a runs command"),
])
def test_mistakes_are_two_lines(argv, what, capsys):
    assert xlm_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and what in err[0] and err[1].startswith("  fix: ")


def test_verbose_after_a_runs_command_is_verbose(capsys):
    """`xlm runs show RUN -v` said `takes one PATH, not 2`."""
    assert xlm_main(["runs", "show", "/no/such/run", "-v"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Traceback (most recent call last):" and err[-2].startswith("error: '/no/such/run' does not exist")


@pytest.mark.parametrize("argv", [["runs", "show", "--help"], ["runs", "diff", "--help"], ["runs", "diff", "a", "-h"],
                                  ["completion", "--help"]])
def test_help_after_a_subcommand_is_help(argv, capsys):
    """`xlm runs show --help` read `--help` as a run folder; `xlm completion --help` was a usage error."""
    assert xlm_main(argv) == 0
    out = capsys.readouterr()
    assert out.out.startswith("usage: xlm ") and out.err == ""


def test_a_damaged_record_is_two_lines_naming_its_line(tmp_path, capsys):
    runs.write_folder(tmp_path, record(A_FILES, COMMIT_A))
    lock = tmp_path / runs.RUN_FILE
    lock.write_text(lock.read_text().replace(f'commit = "{COMMIT_A}"', 'commit = "HEAD"'))
    assert xlm_main(["runs", "show", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"error: {lock}:") and "'HEAD' is not a full commit id" in err[0] and len(err) == 2


def test_drift_names_each_model_and_its_files():
    stored = record(A_FILES, COMMIT_A)
    from xlm.provenance.collect import Collected

    now = {"zlm": Collected(replace(stored.models["zlm"], hash=text_hash(B_FILES)), B_FILES)}
    found = drift.find(stored, now, drift.checked_names(stored, set()))
    assert [(d.name, d.changed) for d in found] == [("zlm", ["zlm/model.py", "zlm/new.py"])]
    error = drift.error(found, "/r/checkpoints/last.ckpt")
    assert error.what.startswith("model 'zlm' is not the code that wrote /r/checkpoints/last.ckpt: "
                                 "changed files: zlm/model.py, zlm/new.py (recorded sha256-tree:")
    assert "`xpm install --from-run /r/checkpoints/last.ckpt`" in error.fix  # no models.lock next to it: the checkpoint
    gone = drift.find(stored, {}, ["zlm"])
    assert drift.message(gone, "c.ckpt") == "model 'zlm' is not the code that wrote c.ckpt: it is not registered now (not listed, skipped, or its folder is gone)"
    assert drift.find(stored, {"zlm": Collected(stored.models["zlm"], A_FILES)}, ["zlm"]) == []


def test_a_drifted_core_model_is_not_sent_to_xpm():
    """xpm restores no core model (it comes with xlm): the fix names the xlm that wrote it."""
    stored = record(A_FILES, COMMIT_A)
    stored.models["arlm"] = replace(stored.models["arlm"], commit=COMMIT_A, used=True)
    from xlm.provenance.collect import Collected

    arlm_now = Collected(replace(stored.models["arlm"], hash="sha256-tree:" + "f" * 64), None)
    zlm_now = Collected(stored.models["zlm"], A_FILES)
    core_only = drift.error(drift.find(stored, {"arlm": arlm_now, "zlm": zlm_now}, ["arlm", "zlm"]), "/r/last.ckpt")
    assert core_only.fix == (f"run the xlm that wrote it ('arlm' comes with xlm; it was xlm's commit {COMMIT_A[:12]}), "
                             "or run on the code as it is now with allow_model_drift=true (recorded in this run)")
    zlm_changed = Collected(replace(stored.models["zlm"], hash=text_hash(B_FILES)), B_FILES)
    both = drift.error(drift.find(stored, {"arlm": arlm_now, "zlm": zlm_changed}, ["arlm", "zlm"]), "/r/last.ckpt")
    assert both.fix.startswith("get that code back with `xpm install --from-run /r/last.ckpt`, or run the xlm that wrote it ('arlm'")


def test_code_never_recorded_or_installed_by_pip_is_not_sent_to_xpm():
    """A model whose folder could not be hashed (a fifo) was said to be other code ("recorded
    none, now none"), with `--from-run` as the fix, which refuses it; a pip-installed model's
    fix was `--from-run` too, which restores nothing of it."""
    from xlm.provenance.collect import Collected

    stored = record(A_FILES, COMMIT_A)
    unhashed = replace(stored.models["zlm"], hash=None, files=None, note="the folder cannot be hashed: a fifo")
    stored.models["zlm"] = unhashed
    found = drift.find(stored, {"zlm": Collected(replace(unhashed, hash=None), None)}, ["zlm"])
    error = drift.error(found, "/r/last.ckpt")
    assert error.what == ("model 'zlm' is not the code that wrote /r/last.ckpt: its code was not recorded when the checkpoint "
                          "was written (the folder cannot be hashed: a fifo), so xlm cannot tell whether it is that code")
    assert error.fix == "run on the code as it is now with allow_model_drift=true (recorded in this run)"
    stored.models["zlm"] = replace(unhashed, kind="installed", source="zlm-dist", version="1.2.0", hash=text_hash(A_FILES), note=None)
    found = drift.find(stored, {"zlm": Collected(replace(unhashed, hash=text_hash(B_FILES)), B_FILES)}, ["zlm"])
    assert drift.error(found, "/r/last.ckpt").fix.startswith("install the version that wrote it: pip install 'zlm-dist==1.2.0', or")


def test_what_a_record_holds_reaches_the_terminal_escaped():
    """A hostile record's file names and versions were printed raw (`\x1b[2J` clears the screen)."""
    from xlm.provenance.collect import Collected
    from xlm.provenance.runs_command import diff_records, format_record

    evil = tree_text([("zlm/\x1b[2J.py", "100644", "e" * 64)])
    a, b = record(A_FILES, COMMIT_A), record(evil, COMMIT_A, torch="2.5.1\x1b]0;owned\x07")
    shown = "\n".join([*diff_records(a, b), format_record(b)])
    found = drift.find(a, {"zlm": Collected(replace(a.models["zlm"], hash=text_hash(evil)), evil)}, ["zlm"])
    shown += drift.error(found, "c.ckpt").what
    assert "\x1b" not in shown and "\x07" not in shown
    assert "zlm/\\u001b[2J.py" in shown


def test_unused_models_are_not_compared_unless_this_job_uses_them():
    stored = record(A_FILES, COMMIT_A, used=False)
    assert drift.checked_names(stored, set()) == []
    assert drift.checked_names(stored, {"zlm"}) == ["zlm"]


def _checkpoint(path, payload: dict) -> None:
    """A file shaped as torch.save writes one: a zip with <name>/data.pkl (protocol 2, as torch)."""
    import pickle
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{path.stem}/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr(f"{path.stem}/version", "3\n")


class Boom:
    """Unpickling this would run a shell command; the record reader must never call it."""

    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_a_checkpoints_record_is_read_without_torch_and_runs_nothing_of_it(tmp_path, monkeypatch):
    from collections import OrderedDict

    from xlm.records.checkpoint import read_record

    monkeypatch.chdir(tmp_path)
    original = record(A_FILES, COMMIT_A)
    original.patches["zlm"] = b"diff --git a/x b/x\n\x00\xff"  # bytes: protocol 2 pickles them through _codecs.encode
    original.models["zlm"] = replace(original.models["zlm"], dirty=True, patch="models/zlm.patch")
    path = tmp_path / "last.ckpt"
    _checkpoint(path, {"state_dict": OrderedDict(w=1), "loops": Boom(), "xlm": {"models": runs.to_checkpoint(original)}})
    back = read_record(path)
    assert back.models == original.models and back.files == original.files and back.patches == original.patches
    assert not (tmp_path / "pwned").exists()
    code = f"import sys; from xlm.cli import main; main(['runs', 'show', {str(path)!r}]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.stdout.splitlines()[-1] == "False" and "zlm" in out.stdout and not (tmp_path / "pwned").exists()


def test_a_file_that_is_no_checkpoint_is_two_lines(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello\n")
    assert xlm_main(["runs", "show", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'notes.txt'} cannot be read as a checkpoint" in err
    _checkpoint(tmp_path / "old.ckpt", {"state_dict": {}})
    assert xlm_main(["runs", "show", str(tmp_path / "old.ckpt")]) == 2
    assert "records no models (written before xlm recorded them)" in capsys.readouterr().err


@pytest.mark.parametrize("fix, said", [("upgrade xlm", "upgrade xlm, or run without checking the models"),
                                       ("write it again", "use a checkpoint xlm wrote, or run without checking the models")])
def test_a_record_of_a_newer_xlm_says_to_upgrade_before_a_run_checks_it(tmp_path, monkeypatch, fix, said):
    """`xlm eval` of a checkpoint whose record is of a newer format said to use another
    checkpoint; `xlm runs show` rightly said to upgrade xlm (fuzz_cli 7)."""
    from xlm import from_checkpoint
    from xlm.errors import UserError
    from xlm.provenance import recorder
    from xlm.records.lockfile import LockFileError

    def newer(path):
        raise LockFileError(f"{path}: run record version 99 is newer than this xlm understands (1)", fix)

    monkeypatch.setattr(from_checkpoint, "stored_models", newer)
    with pytest.raises(UserError) as info:
        recorder._check_drift(str(tmp_path / "last.ckpt"), [], set(), tmp_path, False)
    assert info.value.fix.startswith(said) and info.value.fix.endswith("allow_model_drift=true")
