"""Filesystem failures on real file systems: a full disk, a read-only project or cache, a file
where a folder belongs, a name too long, a symlinked `xlm_models/`.

Each is a two-line error naming the path and a fix (exit 1, never `internal error`), writes
nothing outside the project and the cache (a canary path stays absent), and leaves `xlm.lock`,
`.xlm_models` and `xlm_models/` byte for byte as they were. Full disks and read-only file
systems are small tmpfs mounts (the tests run as root, so chmod would not stop a write);
they are skipped, saying why, where mounting is not permitted.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from xpm.transaction import Transaction
from xpm_cli import xpm
from xpm_repos import read_tree

pytestmark = pytest.mark.slow  # real mounts and repositories


class Mounts:
    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def tmpfs(self, path: Path, size: str = "4m") -> Path:
        """A fresh tmpfs of `size` at `path` (created), unmounted when the test ends."""
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {proc.stderr.strip()}")
        self.mounted.append(path)
        return path

    def read_only(self, path: Path) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)

    def unmount_all(self) -> None:
        for path in reversed(self.mounted):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)  # busy: detach now, free later


@pytest.fixture
def mounts():
    found = Mounts()
    try:
        yield found
    finally:
        found.unmount_all()


def fill(folder: Path) -> None:
    """Fill the file system of `folder` to the last byte (a real ENOSPC for the next write)."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def state(project: Path) -> dict[str, bytes]:
    """Every file of the project but xpm's lock file (an empty file a command may create)."""
    return {k: v for k, v in read_tree(project).items() if k != "xlm_models/.xpm/lock" and k != ".filler"}


def two_lines(err: str, path: Path | str, cause: str) -> None:
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 2, err
    assert lines[0].startswith(f"error: {path}") and cause in lines[0], err
    assert lines[1].startswith("  fix: ") and "internal error" not in err, err


@pytest.fixture
def installed(lab, tmp_path, mounts):
    """A project on its own small tmpfs with zlm v1.1.0 installed; the canary path outside it."""
    project = mounts.tmpfs(tmp_path / "disk" / "project")
    xpm(project, "add", f"{lab.zlm.url}@v1")
    return project


# ----------------------------------------------------------------------------- full disk
def test_a_full_disk_while_exporting_changes_nothing(installed, lab, tmp_path):
    (installed / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n")
    before = state(installed)
    fill(installed)
    out = xpm(installed, "install", code=1)
    assert "no space left on the device" in out.stderr and "internal error" not in out.stderr, out.stderr
    assert len(out.stderr.rstrip("\n").split("\n")) == 2, out.stderr
    assert state(installed) == before
    assert not (tmp_path / "canary").exists()
    (installed / ".filler").unlink()
    assert "installed aaa" in xpm(installed, "install").stdout  # nothing left behind stands in the way


@pytest.mark.parametrize("when", ["writing the lock", "writing the second model's stamp"])
def test_a_full_disk_while_placing_puts_every_model_back(installed, lab, monkeypatch, when):
    """Two models change (zlm moves to v2.0.0, aaa is new); the disk fills up after the first
    is in place: both are undone, old folder and stamp of zlm included, and the lock is untouched."""
    (installed / ".xlm_models").write_text(f"{lab.zlm.url}@v2.0.0\n{lab.models.url}#subdir=aaa\n")
    before = state(installed)
    with monkeypatch.context() as patch:  # not monkeypatch.undo(): that would drop the test's own HOME and cache too
        if when == "writing the lock":
            commit = Transaction.commit
            patch.setattr(Transaction, "commit", lambda tx: (fill(installed), commit(tx))[1])
        else:
            place, placed = Transaction.place, []
            patch.setattr(Transaction, "place", lambda tx, staged: (placed.append(1), len(placed) == 2 and fill(installed),
                                                                    place(tx, staged))[2])
        out = xpm(installed, "install", code=1)
    two_lines(out.stderr, installed, "no space left on the device")
    assert state(installed) == before  # zlm v1.1.0 and its stamp are back, no aaa, same lock
    assert not list((installed / "xlm_models" / ".xpm" / "trash").glob("*"))
    (installed / ".filler").unlink()
    out = xpm(installed, "install")
    assert "installed zlm" in out.stdout and "installed aaa" in out.stdout


def test_a_full_disk_on_a_first_add_leaves_the_folder_as_it_was(lab, tmp_path, mounts):
    project = mounts.tmpfs(tmp_path / "disk" / "project", size="64k")
    fill(project)
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    assert "no space left on the device" in out.stderr and "internal error" not in out.stderr, out.stderr
    assert sorted(p.name for p in project.iterdir()) == [".filler"]


# ----------------------------------------------------------------------------- read-only
def test_a_read_only_project(installed, lab, mounts, tmp_path):
    (installed / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n")
    before = state(installed)
    mounts.read_only(installed)
    for command in (("install",), ("add", f"{lab.models.url}#subdir=bbb"), ("remove", "zlm"), ("update",), ("lock",)):
        out = xpm(installed, *command, code=1)
        two_lines(out.stderr, installed, "read-only file system")
        assert "writable" in out.stderr
    assert state(installed) == before
    assert xpm(installed, "list").stdout.count("\n") == 3  # reading still works
    assert not (tmp_path / "canary").exists()


def test_a_read_only_project_with_stamps_of_an_older_xpm_is_checked_on_stat_data(installed, mounts):
    """Stamps without ctimes (an older xpm) on a read-only mount, where they can never be given
    them: a record without a ctime proved nothing, so every check re-hashed every file."""
    import json
    import time

    for stamp_file in (installed / "xlm_models" / ".xpm" / "stamps").glob("*.json"):
        data = json.loads(stamp_file.read_text())
        del data["ctimes"]
        stamp_file.write_text(json.dumps(data))
        os.utime(stamp_file, ns=(time.time_ns() + 10**9,) * 2)
    (installed / "xlm_models" / ".xpm" / "noop.json").unlink(missing_ok=True)
    mounts.read_only(installed)
    from xlm.records import stamps

    read = []
    real = stamps._digest
    stamps._digest = lambda path, mode: read.append(path) or real(path, mode)
    try:
        assert xpm(installed, "list").exit_code == 0
    finally:
        stamps._digest = real
    assert read == []  # size and mtime proved every file, as they did for that xpm
    assert xpm(installed, "verify").exit_code == 0
    assert xpm(installed, "install").stdout == "up to date\n"  # it needed the project's lock, on a read-only mount


def test_install_on_a_read_only_project_checks_it_without_its_lock(installed, mounts, tmp_path):
    """As locked: `up to date` (a container image of a project); anything to do: the two-line error."""
    (installed / "xlm_models" / ".xpm" / "noop.json").unlink(missing_ok=True)  # the full check, not the no-op proof
    mounts.read_only(installed)
    assert xpm(installed, "install").stdout == "up to date\n"
    assert xpm(installed, "install", "--frozen").stdout == "up to date\n"


def test_a_read_only_cache(lab, project, mounts, tmp_path, monkeypatch):
    cache = mounts.tmpfs(tmp_path / "ro-cache")
    mounts.read_only(cache)
    monkeypatch.setenv("XPM_CACHE_DIR", str(cache))
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    two_lines(out.stderr, cache, "read-only file system")
    assert f"XPM_CACHE_DIR may name another folder (now {cache})" in out.stderr
    assert list(project.iterdir()) == []  # a failed first add leaves the folder as it was



def test_a_cache_under_a_read_only_folder_says_how_to_move_it(lab, project, mounts, tmp_path, monkeypatch):
    """The folder that could not be made was the cache's parent (`~/.cache` on a read-only home):
    the fix did not say it was xpm's cache, nor how to put it elsewhere."""
    home = mounts.tmpfs(tmp_path / "ro-home")
    mounts.read_only(home)
    monkeypatch.delenv("XPM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    assert "read-only file system" in out.stderr
    assert f"XPM_CACHE_DIR may name another folder (now {home / '.cache' / 'xpm'})" in out.stderr


# ----------------------------------------------------------------------------- wrong kind of path
def test_a_file_where_the_cache_folder_belongs(lab, project, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder\n")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "file" / "cache"))
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    two_lines(out.stderr, f"{tmp_path / 'file'}: a file is where a folder is expected (on the way to {tmp_path / 'file' / 'cache'})", "")
    assert list(project.iterdir()) == [] and (tmp_path / "file").read_text() == "not a folder\n"


def test_a_cache_path_with_a_name_too_long(lab, project, tmp_path, monkeypatch):
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / ("c" * 300)))
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    two_lines(out.stderr, tmp_path, "file name too long")
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("where", ["xlm_models", "xlm_models/.xpm", "xlm_models/.xpm/stamps"])
def test_a_file_where_xpm_keeps_a_folder(lab, project, where):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    (project / where).parent.mkdir(parents=True, exist_ok=True)
    (project / where).write_text("mine\n")
    before = read_tree(project)
    out = xpm(project, "install", code=1)
    assert out.stderr == (f"error: {project / where} is a file, where xpm keeps a folder\n"
                          "  fix: move the file away (or rename it), then run the command again\n")
    assert read_tree(project) == before


# ----------------------------------------------------------------------------- symbolic links
@pytest.mark.parametrize("link", ["xlm_models", "xlm_models/.xpm", "xlm_models/.xpm/staging", "xlm_models/.xpm/lock",
                                  "xlm_models/.gitignore"])
def test_a_symlink_that_points_elsewhere_is_refused_before_anything_is_written(lab, project, tmp_path, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "canary" if link.endswith(("lock", ".gitignore")) else elsewhere
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).symlink_to(target)
    before = read_tree(project)
    for command in (("install",), ("add", f"{lab.models.url}#subdir=aaa"), ("lock",)):
        out = xpm(project, *command, code=1)
        assert out.stderr == (f"error: {project / link} is a symbolic link (to {target}); xpm writes only inside the project "
                              f"and its cache\n  fix: remove the link (rm {project / link}: its target stays as it is), "
                              "then run the command again\n")
    assert read_tree(project) == before
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "canary").exists()


@pytest.mark.parametrize("name", [".xlm_models", "xlm.lock"])
def test_a_linked_manifest_or_lock_is_refused_not_replaced_by_a_file(lab, project, name):
    """Each is written whole (atomically), which would replace the link with a file and leave its target stale."""
    real = project / "real"
    xpm(project, "add", f"{lab.zlm.url}@v1")
    real.write_bytes((project / name).read_bytes())
    (project / name).unlink()
    (project / name).symlink_to(real)
    before = read_tree(project)
    for command in (("add", f"{lab.models.url}#subdir=aaa"), ("lock",), ("remove", "zlm")):
        out = xpm(project, *command, code=1)
        assert out.stderr.startswith(f"error: {project / name} is a symbolic link (to {real}); xpm replaces the file when it writes it")
        assert f'fix: put the file itself there (cp --remove-destination "$(readlink -f {project / name})" {project / name})' in out.stderr
    assert read_tree(project) == before and (project / name).is_symlink()


def test_a_project_folder_that_does_not_exist_is_named_and_not_made(lab, tmp_path):
    missing = tmp_path / "nowhere" / "deeper"
    for command in (("install",), ("add", f"{lab.zlm.url}@v1")):
        out = xpm(tmp_path, "-C", str(missing), *command, code=2)
        assert f"'{missing}' does not exist" in out.stderr
    assert not (tmp_path / "nowhere").exists()


# ----------------------------------------------------------------------------- not permitted
@pytest.fixture
def immutable():
    """`immutable(path)`: chattr +i (root cannot change the folder's entries either), undone after the test."""
    made: list[Path] = []

    def make(path: Path) -> None:
        proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot make a folder immutable here (chattr +i needs root and ext4, xfs or btrfs): {proc.stderr.strip()}")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_models_folder_that_cannot_be_changed_is_put_back_as_it_was(lab, project, immutable):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v2.0.0\n{lab.models.url}#subdir=aaa\n")
    before = state(project)
    immutable(project / "xlm_models")
    out = xpm(project, "install", code=1)
    two_lines(out.stderr, project / "xlm_models" / "zlm", "operation not permitted")
    assert "lsattr" in out.stderr
    assert state(project) == before  # zlm's stamp, moved aside before its folder could not be, is back


def test_xpm_new_and_xlm_scaffold_in_a_read_only_folder(tmp_path, mounts, capsys):
    from xpm.new import scaffold_main

    folder = mounts.tmpfs(tmp_path / "disk" / "ro")
    (folder / ".xlm_models").write_text("# models\n")
    mounts.read_only(folder)
    out = xpm(folder, "new", "my_model", "--dir", str(folder), code=1)
    two_lines(out.stderr, folder, "read-only file system")
    with pytest.raises(SystemExit) as info:
        scaffold_main(["my_model", "--dir", str(folder)])
    assert info.value.code == 1
    two_lines(capsys.readouterr().err, folder, "read-only file system")
    assert sorted(p.name for p in folder.iterdir()) == [".xlm_models"]
