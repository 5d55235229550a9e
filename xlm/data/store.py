"""The cache folders of prepared text: one folder per key, built once, ready marker written last.

A folder is made in a staging folder next to it and renamed into place with its marker,
under a file lock, so concurrent runs (DDP ranks started by torchrun, a sweep, two shells)
build it once and never read half of one; a run killed midway leaves only a staging folder,
which the next run that builds that folder deletes (only the lock's holder builds it, so any
other staging folder of its name is a dead run's).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)
READY = ".ready"


def is_ready(folder: Path) -> bool:
    return (Path(folder) / READY).exists()


def build_once(folder: Path, make: Callable[[Path], None], what: str) -> Path:
    """``folder``, made by ``make(staging)`` unless a ready copy exists."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    if is_ready(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder) + ".lock")
    try:
        lock.acquire(timeout=1)
    except Timeout:  # another process is making it: say so, then wait for it
        log.info("waiting for another process preparing %s (lock %s.lock)", what, folder)
        lock.acquire()
    try:
        if is_ready(folder):
            return folder
        for leftover in folder.parent.glob(f".{folder.name}.*"):  # a killed run's: it leaked the raw text and partial tokens
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            make(staging)
            (staging / READY).write_text("")
            shutil.rmtree(folder, ignore_errors=True)  # a stale copy without its marker
            os.rename(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        lock.release()
    return folder
