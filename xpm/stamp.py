"""Install stamps: xpm writes them; reading and judging them is `xlm.records.stamps`.

xpm writes `xlm_models/.xpm/stamps/<name>.json` as the very last step of installing a model
(the ready-marker: deleted before the folder is replaced, written after). It records the
commit, the content hash and, per file, mode, size, mtime and sha256. Which files of a
vendored model changed is decided by one function, `xlm.records.stamps.changed_files`, for
xlm's start-up check, `xpm list`, `xpm verify` and `xpm install` alike, so they always agree
(its module docstring says how). That module sits below xlm and xpm both; the names xpm
uses are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from xlm.records.stamps import (MODELS_DIR, STAMP_VERSION, STATE_DIR, Changes, Stamp, State, changed_files, load_stamp,
                                models_dir, read_stamp, stamp_path, stamp_text, vendored_root, vendored_state)
from xlm.textfile import write_atomic
from xpm.errors import NotInstalled

__all__ = [
    "MODELS_DIR", "STAMP_VERSION", "STATE_DIR", "Changes", "Stamp", "State", "changed_files", "check_vendored",
    "ensure_models_dir", "load_stamp", "models_dir", "read_lock_entry", "read_stamp", "remove_stamp", "stamp_path", "vendored_root",
    "vendored_state", "write_stamp",
]


GITIGNORE = "# Written by xpm: vendored models are restored from xlm.lock by `xpm install`.\n*\n"


def ensure_models_dir(project_dir: Path) -> None:
    """Create `xlm_models/` with a `.gitignore` of `*`, so vendored code stays out of the project's git
    (as uv does for `.venv`): `.xlm_models` and `xlm.lock` are what a project commits."""
    models = models_dir(project_dir)
    models.mkdir(parents=True, exist_ok=True)
    ignore = models / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE, encoding="utf-8")


def write_stamp(project_dir: Path, name: str, commit: str, content_hash: str, records) -> None:
    """Write the stamp atomically; `records` are `xpm.hashing.FileRecord`s of the installed tree."""
    path = stamp_path(project_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    files = {r.path: [r.mode, r.size, r.mtime_ns, r.sha256] for r in records}
    # Not fsynced: the stamp is always checked against the files it describes (which are not
    # fsynced either), and one lost or torn in a power cut reads as "not installed" (its records
    # must hash to its content hash): a reinstall. Its fsync, one per model on the main thread,
    # cost about 5% of a cold install of 20 models (restored: 66dd43f dropped it by mistake).
    write_atomic(path, stamp_text(name, commit, content_hash, files, {r.path: r.ctime_ns for r in records}), durable=False)


def remove_stamp(project_dir: Path, name: str) -> None:
    stamp_path(project_dir, name).unlink(missing_ok=True)


def check_vendored(project_dir: Path, name: str) -> list[str]:
    """The files of `xlm_models/<name>/` that differ from what xpm installed ([] when clean).

    Raises NotInstalled (message + fix: `xpm install`) when the folder or its stamp is missing.
    """
    root = vendored_root(project_dir, name)
    if not root.is_dir():
        raise NotInstalled(
            f"model '{name}' is listed in .xlm_models but not installed in {root}",
            "run: xpm install",
        )
    stamp = load_stamp(project_dir, name)
    if stamp is None:
        raise NotInstalled(
            f"model '{name}' in {root} was not completely installed by xpm (no install stamp)",
            "run: xpm install",
        )
    return changed_files(project_dir, name, stamp).paths


def read_lock_entry(project_dir: Path, name: str) -> dict | None:
    """Model `name`'s table of `<project>/xlm.lock` as a dict of its set fields (None when not
    locked). Raises `xpm.errors.LockFileError` (file and line) when the lock is malformed."""
    from xlm.records import lockfile
    from xpm.lock import translated

    with translated():
        return lockfile.read_lock_entry(project_dir, name)
