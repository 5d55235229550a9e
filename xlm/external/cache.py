"""Small JSON caches that keep `xlm`'s start cheap (installed metadata, YAML verdicts).

A cache is only ever a speed-up: a missing, unreadable or stale file reads as empty, and a
failed write is ignored. Writes go through a temporary file and a rename, so concurrent
processes (DDP workers start together) read the old cache or the new one, never half.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xlm.textfile import write_atomic


def cache_dir() -> Path:
    """``$XLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/xlm``, else ``~/.cache/xlm``."""
    if os.environ.get("XLM_CACHE_DIR"):
        return Path(os.environ["XLM_CACHE_DIR"]).expanduser().absolute()
    from xlm.paths import user_cache_home

    return Path(user_cache_home()) / "xlm"


def load(name: str, version) -> dict:
    """The cache ``name`` if it was written by this ``version`` of its format, else {}."""
    try:
        with open(cache_dir() / name, "rb") as handle:
            data = json.loads(handle.read())
        return data["data"] if data.get("version") == version else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def store(name: str, version, data: dict) -> None:
    file = cache_dir() / name
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(file, json.dumps({"version": version, "data": data}))
    except OSError:
        pass  # a read-only cache only costs speed


class FileMemo:
    """Results about files, kept across runs and trusted while a file's (mtime, size) holds.

    ``xlm`` re-validates every model at every start; a file that did not change since the
    last start gets the same verdict, so only changed files are read again (the way Python
    trusts a ``.pyc`` whose source's mtime and size match). ``persist=False`` keeps it in memory.
    """

    MAX_FILES = 20000  # oldest entries go first; a bound, not a policy

    def __init__(self, name: str, version, persist: bool = True):
        self.name, self.version, self.persist = name, version, persist
        entries = load(name, version) if persist else {}
        self._entries: dict[str, list] = entries if isinstance(entries, dict) else {}
        self._changed = False

    @staticmethod
    def signature(path: str) -> list[int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_mtime_ns, st.st_size]

    def _entry(self, path: str, signature: list[int]) -> dict | None:
        """The values kept for ``path`` while its signature holds (None for anything else,
        including an entry of another shape: the file is read, not trusted)."""
        entry = self._entries.get(path)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == signature and isinstance(entry[1], dict):
            return entry[1]
        return None

    def get(self, path: str, signature: list[int], key: str, valid=None):
        """The value stored for ``key`` of ``path``, or None when absent, the file changed, or
        ``valid(value)`` is false (the shape its writer gives it)."""
        values = self._entry(path, signature)
        value = values.get(key) if values is not None else None
        return None if value is None or (valid is not None and not valid(value)) else value

    def put(self, path: str, signature: list[int], key: str, value) -> None:
        entry = self._entry(path, signature)
        if entry is None:
            entry = {}
            self._entries[path] = [signature, entry]
        entry[key] = value
        self._changed = True

    def save(self) -> None:
        """Write the memo back if anything was added (a warm start writes nothing)."""
        if not (self.persist and self._changed):
            return
        entries = self._entries
        if len(entries) > self.MAX_FILES:
            entries = dict(list(entries.items())[-self.MAX_FILES :])
        store(self.name, self.version, entries)
        self._changed = False
