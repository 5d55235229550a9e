"""The record `xpm install --from-run PATH` restores: of a run folder, its `models.lock`, or a
checkpoint. For a checkpoint the run folder around it (`RUN/checkpoints/last.ckpt`,
`RUN/last.ckpt`) is read first; only a checkpoint without one is opened, and without torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from xlm.records.runs import RUN_FILE, RunRecord
from xpm.errors import XpmError

_FOLDER_FIX = "name a run folder (outputs/<job>/<name>/<time>/, the one with models.lock) or one of its checkpoints"


def find_record(path: str | Path) -> RunRecord:
    """The record of a run folder, its `models.lock`, or a checkpoint (its run folder's first)."""
    from xlm.records.lockfile import LockFileError
    from xlm.records.runs import read_folder

    target = Path(os.path.expanduser(str(path)))
    try:
        if target.is_dir():
            return read_folder(target)
        if target.name == RUN_FILE and target.is_file():
            return read_folder(target.parent)
        if not target.is_file():
            raise XpmError(f"{target}: no such run folder or checkpoint", _FOLDER_FIX)
        for folder in _run_folders_around(target):
            return read_folder(folder)
        return _from_checkpoint(target)
    except LockFileError as exc:
        raise XpmError(exc.what, exc.fix) from None


def _run_folders_around(checkpoint: Path) -> list[Path]:
    """The run folder a checkpoint was written into (`RUN/checkpoints/X.ckpt` or `RUN/X.ckpt`), when it has a record."""
    parent = checkpoint.parent
    candidates = [parent.parent] if parent.name == "checkpoints" else []
    return [folder for folder in candidates + [parent] if (folder / RUN_FILE).is_file()]


def _from_checkpoint(path: Path) -> RunRecord:
    """A lone checkpoint's record, read without torch and without running anything of it
    (`xlm.records.checkpoint`: the zip's pickle unpickled into plain data only)."""
    from xlm.records.checkpoint import read_record

    record = read_record(path)
    if record is None:
        raise XpmError(f"checkpoint {path} records no models (written before xlm recorded them)",
                       "its run folder may still have a models.lock: name it instead")
    return record
