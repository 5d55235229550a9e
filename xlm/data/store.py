"""The cache folders of prepared text: one folder per key, built once, ready marker written last.

A folder is made in a staging folder next to it and renamed into place with its marker,
under a file lock, so concurrent runs (DDP ranks started by torchrun, a sweep, two shells)
build it once and never read half of one; a run killed midway leaves only a staging folder,
which the next run that builds that folder deletes (only the lock's holder builds it, so any
other staging folder of its name is a dead run's).

The marker lists every file the folder was built with and its size. A ready folder that lost
a file or whose file changed size (a cleaner deleting old files, a disk filling up) is damaged:
it is built again, with a warning, rather than read. A folder whose marker lists nothing (made
before the list existed) is taken as it is.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)
READY = ".ready"


def is_ready(folder: Path) -> bool:
    """Whether ``folder`` was built whole and still holds every file it was built with."""
    return (Path(folder) / READY).exists() and damage(folder) is None


def damage(folder: Path) -> str | None:
    """What a ready folder lost since it was built (a file gone or of another size), or None."""
    try:
        listed = json.loads((Path(folder) / READY).read_text(encoding="utf-8") or "{}").get("files", {})
    except (OSError, ValueError, AttributeError):
        return f"its marker {READY} cannot be read"
    for name, size in listed.items():
        try:
            found = os.stat(os.path.join(folder, name)).st_size
        except OSError:
            return f"{name} is missing"
        if found != size:
            return f"{name} has {found} bytes, not the {size} it was written with"
    return None


def damaged(folder: Path, what: str, exc: Exception):
    """The error for a ready folder that cannot be read although its files kept their sizes."""
    from xlm.errors import UserError

    return UserError(f"the cache folder {folder} is damaged: {what} cannot be read ({exc})",
                     f"delete {folder}; the next run builds it again")


def _mark_ready(staging: Path) -> None:
    files = {}
    for parent, _, names in os.walk(staging):
        for name in names:
            path = os.path.join(parent, name)
            files[os.path.relpath(path, staging)] = os.stat(path).st_size
    (staging / READY).write_text(json.dumps({"files": files}, sort_keys=True), encoding="utf-8")


def build_once(folder: Path, make: Callable[[Path], None], what: str) -> Path:
    """``folder``, made by ``make(staging)`` unless a ready copy exists."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    if is_ready(folder):
        return folder
    if (folder / READY).exists():
        log.warning("%s is damaged (%s): building it again", folder, damage(folder))
    lock = FileLock(str(folder) + ".lock")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=1)
        except Timeout:  # another process is making it: say so, then wait for it
            log.info("waiting for another process preparing %s (lock %s.lock)", what, folder)
            lock.acquire()
    except OSError as exc:  # XLM_DATA_DIR (or paths.data_dir=) names a file, or a folder no one may write
        from xlm.errors import UserError
        from xlm.textfile import os_error

        raise UserError(f"cannot write {what} into {folder.parent}: {os_error(exc)[0]}",
                        "point XLM_DATA_DIR (or paths.data_dir=) at a folder you can write") from None
    try:
        if is_ready(folder):
            return folder
        for leftover in folder.parent.glob(f".{folder.name}.*"):  # a killed run's: it leaked the raw text and partial tokens
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            make(staging)
            _mark_ready(staging)
            shutil.rmtree(folder, ignore_errors=True)  # a stale copy without its marker
            os.rename(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        lock.release()
    return folder
