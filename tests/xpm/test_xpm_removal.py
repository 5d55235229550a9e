"""xpm.removal.remove_tree: deleting what xpm made, however deep, never following a link out."""

from __future__ import annotations

import os
import shutil

import pytest

from xpm.removal import remove_tree
from xpm_cli import xpm
from xpm_repos import model_files


def _deep(top, levels: int, every: int = 250) -> None:
    """A chain of `levels` folders named `d`, a file in every `every`-th; made through
    descriptors, as the path of the deepest is longer than PATH_MAX."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for level in range(levels):
            os.mkdir("d", dir_fd=fd)
            if level % every == 0:
                os.close(os.open("f.py", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_a_tree_deeper_than_pythons_recursion_and_path_max_is_removed(tmp_path):
    _deep(tmp_path / "a", 3000)
    with pytest.raises(RecursionError):  # what xpm used, on this Python
        shutil.rmtree(tmp_path / "a")
    remove_tree(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", ["wide", "mixed"])
def test_every_kind_of_entry_is_removed(tmp_path, shape):
    top = tmp_path / "top"
    if shape == "wide":
        for i in range(300):
            (top / f"d{i}").mkdir(parents=True)
            (top / f"f{i}").write_text("x")
    else:
        (top / "a" / "b" / "c").mkdir(parents=True)
        (top / "a" / "empty").mkdir()
        (top / "a" / "b" / "c" / "x.py").write_text("x")
        (top / "a" / "b" / "y").write_bytes(b"\0" * 10)
        os.mkfifo(top / "a" / "fifo")
        os.symlink("b", top / "a" / "to_b")
        os.symlink("missing", top / "dangling")
    remove_tree(top)
    assert not os.path.lexists(top)


def test_links_are_removed_never_followed(tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "canary").write_text("keep")
    (outside / "sub" / "canary").write_text("keep")
    top = tmp_path / "top"
    (top / "inner").mkdir(parents=True)
    os.symlink(outside, top / "inner" / "to_dir")
    os.symlink(outside / "canary", top / "to_file")
    os.symlink(outside, tmp_path / "link_itself")
    remove_tree(top)
    remove_tree(tmp_path / "link_itself")  # a link given as the tree: the link goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]
    assert (outside / "canary").read_text() == (outside / "sub" / "canary").read_text() == "keep"


def test_missing_is_fine_and_errors_are_raised_unless_ignored(tmp_path, monkeypatch):
    remove_tree(tmp_path / "missing")
    (tmp_path / "a" / "b").mkdir(parents=True)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rmdir", refused)
    with pytest.raises(PermissionError):
        remove_tree(tmp_path / "a")
    remove_tree(tmp_path / "a", ignore_errors=True)
    assert (tmp_path / "a").is_dir()


def test_remove_and_install_handle_a_deep_folder_a_user_made_in_a_model(upstream, project):
    """`xpm remove` said `internal error: RecursionError` after it had committed, and every later
    install failed while cleaning up the trash it left."""
    repo = upstream("lab/zlm")
    repo.commit("model", model_files("zlm"))
    repo.tag("v1.0.0")
    xpm(project, "add", f"{repo.url}@v1")
    _deep(project / "xlm_models" / "zlm" / "scratch", 1500)
    assert xpm(project, "remove", "zlm").stdout == "removed zlm\n"
    assert [p.name for p in (project / "xlm_models").iterdir() if not p.name.startswith(".")] == []
    [kept] = (project / "xlm_models" / ".xpm" / "edits").iterdir()  # the user's folder is kept, not deleted
    assert (kept / "scratch" / "d").is_dir()
    remove_tree(kept)  # pytest's own clean-up of old temporary folders recurses: it cannot delete so deep a tree
    xpm(project, "add", f"{repo.url}@v1")
    assert (project / "xlm_models" / "zlm" / "zlm" / "__init__.py").is_file()
