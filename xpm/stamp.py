"""Install stamps: the cheap "is this vendored model still what xpm installed?" check.

xpm writes `xlm_models/.xpm/stamps/<name>.json` as the very last step of installing a model
(the ready-marker: deleted before the folder is replaced, written after). It records the
commit, the content hash and, per file, mode, size, mtime and sha256. Comparing sizes and
mtimes is a few `stat` calls, cheap enough for xlm's start-up; `xpm verify` re-hashes for real.

xlm's discovery imports this module (json, os, xlm.manifest: nothing heavy):

    from xpm.stamp import check_vendored, read_lock_entry, vendored_root
    changed = check_vendored(project_dir, "zlm")   # [] when clean; raises NotInstalled
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xlm.manifest import write_atomic
from xpm.errors import NotInstalled

MODELS_DIR = "xlm_models"
STATE_DIR = ".xpm"
STAMP_VERSION = 1
_IGNORED_DIRS = frozenset({"__pycache__"})  # same rule as xpm.hashing


def models_dir(project_dir: Path) -> Path:
    return Path(project_dir) / MODELS_DIR


def vendored_root(project_dir: Path, name: str) -> Path:
    """Where xpm installs model `name` (the model root: package + configs/)."""
    return models_dir(project_dir) / name


def stamp_path(project_dir: Path, name: str) -> Path:
    return models_dir(project_dir) / STATE_DIR / "stamps" / f"{name}.json"


def read_stamp(project_dir: Path, name: str) -> dict | None:
    try:
        data = json.loads(stamp_path(project_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == STAMP_VERSION else None


def write_stamp(project_dir: Path, name: str, commit: str, content_hash: str, records) -> None:
    """Write the stamp atomically; `records` are `xpm.hashing.FileRecord`s of the installed tree."""
    path = stamp_path(project_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": STAMP_VERSION,
        "name": name,
        "commit": commit,
        "hash": content_hash,
        "files": {r.path: [r.mode, r.size, r.mtime_ns, r.sha256] for r in records},
    }
    # Not fsynced: the stamp is always checked against the files it describes (which are not
    # fsynced either), and one lost in a power cut reads as "not installed": a reinstall. Its
    # fsync, one per model on the main thread, cost about 5% of a cold install of 20 models.
    write_atomic(path, json.dumps(data, sort_keys=True, indent=0), durable=False)


def remove_stamp(project_dir: Path, name: str) -> None:
    stamp_path(project_dir, name).unlink(missing_ok=True)


def _scan(root: str, prefix: str, out: dict[str, os.stat_result]) -> None:
    with os.scandir(root) as it:
        for item in it:
            rel = prefix + item.name
            if item.is_dir(follow_symlinks=False):
                if item.name not in _IGNORED_DIRS:
                    _scan(item.path, rel + "/", out)
            else:
                out[rel] = item.stat(follow_symlinks=False)


def changed_files(root: Path, stamp: dict) -> list[str]:
    """Files added, deleted, or whose size or mtime differ from the stamp, sorted."""
    seen: dict[str, os.stat_result] = {}
    _scan(str(root), "", seen)
    recorded = stamp.get("files", {})
    changed = [p for p in seen if p not in recorded]
    changed += [p for p in recorded if p not in seen]
    for path, st in seen.items():
        rec = recorded.get(path)
        if rec is not None and (rec[1] != st.st_size or rec[2] != st.st_mtime_ns):
            changed.append(path)
    return sorted(set(changed))


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
    stamp = read_stamp(project_dir, name)
    if stamp is None:
        raise NotInstalled(
            f"model '{name}' in {root} was not completely installed by xpm (no install stamp)",
            "run: xpm install",
        )
    return changed_files(root, stamp)


def read_lock_entry(project_dir: Path, name: str) -> dict | None:
    """Model `name`'s table of `<project>/xlm.lock` as a dict of its set fields (None when not
    locked). Raises `xpm.errors.LockFileError` (file and line) when the lock is malformed."""
    from dataclasses import asdict

    from xpm.lock import LOCK_NAME, read_lock

    lock = read_lock(Path(project_dir) / LOCK_NAME)
    entry = lock.get(name) if lock else None
    return {k: v for k, v in asdict(entry).items() if v is not None} if entry else None
