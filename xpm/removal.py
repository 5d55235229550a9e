"""Deleting a folder xpm made (a staged export, a replaced model, a trash folder, a mirror).

Python 3.11's `shutil.rmtree` recurses once per level and keeps every level's descriptor
open: a folder nested ~1,000 deep (one a user made inside a vendored model: exports stop at
64 levels) ends it in RecursionError, or runs out of descriptors. `remove_tree` walks down
and back up holding two descriptors at most, and, like rmtree, works through them relative
to the folder it holds: a path is never longer than one name, and a symlink is removed,
never followed.
"""

from __future__ import annotations

import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def remove_tree(path: os.PathLike | str, ignore_errors: bool = False) -> None:
    """Delete `path` and everything under it; a symlink or file at `path` is unlinked. Missing
    is fine. With `ignore_errors`, an `OSError` leaves the rest in place, as rmtree's does."""
    try:
        _remove(os.fspath(path))
    except FileNotFoundError:
        pass
    except OSError:
        if not ignore_errors:
            raise


def _remove(path: str) -> None:
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        os.unlink(path)
        return
    fd = os.open(path, _DIR_FLAGS)
    down: list[str] = []  # the names from `path` to the folder `fd` holds
    try:
        while True:
            sub = _empty_but_one_folder(fd)
            if sub is not None:
                child = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                down.append(sub)
            elif down:  # empty: go up and delete it
                parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = parent
                os.rmdir(down.pop(), dir_fd=fd)
            else:
                break
    finally:
        os.close(fd)
    os.rmdir(path)


def _empty_but_one_folder(fd: int) -> str | None:
    """Unlink every non-folder in the folder `fd` holds, up to its first subfolder, whose name
    is returned (None once it holds nothing)."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            os.unlink(entry.name, dir_fd=fd)
    return None
