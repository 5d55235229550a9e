"""The record a path names: a run folder, its `models.lock`, or a checkpoint.

One finder for `xlm runs show/diff` and `xpm install --from-run`. Everything is read with the
standard library (a checkpoint by `xlm.records.checkpoint`, which runs nothing of it), and
every failure is a `LockFileError` (what, fix) that each command shows in its own words.
"""

from __future__ import annotations

import os
from pathlib import Path

from xlm.records.lockfile import LockFileError
from xlm.records.runs import RUN_FILE, RunRecord, read_folder
from xlm.shown import show

FOLDER_FIX = "name a run folder (outputs/<job>/<name>/<time>/, the one with models.lock) or one of its checkpoints"


def find_record(path: str | Path, folder_first: bool = False) -> RunRecord:
    """The record of a run folder, its `models.lock`, or a checkpoint. With `folder_first`, a
    checkpoint inside a run folder (`RUN/checkpoints/X.ckpt`, `RUN/X.ckpt`) is answered from
    that folder's `models.lock`, and only a lone checkpoint is opened; else from the checkpoint."""
    target = Path(os.path.expanduser(str(path)))
    if os.path.isdir(target):  # os.path: a name over 255 bytes is nothing there, not an OSError
        return read_folder(target)
    if target.name == RUN_FILE and os.path.isfile(target):
        return read_folder(target.parent)
    if not os.path.isfile(target):
        what = "is not a regular file (a fifo, a device or a socket?)" if os.path.exists(target) else "does not exist"
        raise LockFileError(f"'{show(str(path))}' {what}: no such run folder or checkpoint", FOLDER_FIX)
    if folder_first and (folders := _run_folders_around(target)):
        return read_folder(folders[0])
    from xlm.records.checkpoint import read_record

    record = read_record(target)
    if record is None:
        raise LockFileError(f"checkpoint {target} records no models (written before xlm recorded them)",
                            "its run folder may still have a models.lock: name it instead")
    return record


def _run_folders_around(checkpoint: Path) -> list[Path]:
    """The run folder a checkpoint was written into (`RUN/checkpoints/X.ckpt` or `RUN/X.ckpt`), when it has a record."""
    parent = checkpoint.parent
    candidates = [parent.parent] if parent.name == "checkpoints" else []
    return [folder for folder in candidates + [parent] if (folder / RUN_FILE).is_file()]
