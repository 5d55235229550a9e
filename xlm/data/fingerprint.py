"""Content digests of corpus files, so that a cache is keyed by what the files hold.

Hashing a large corpus on every start would cost seconds, so each digest is remembered with
the file's size, mtime, inode and ctime: while all four hold, the remembered digest is used (a
cheap signal may prove that nothing changed); when any differs, the file is read again
(it never proves that something did). The ctime is what `touch -r` cannot set back: a
same-size edit in place whose mtime was restored (`cp -p`, `rsync --inplace -t`) still counts. The memo is a cache: unreadable or foreign content
is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Iterable

MEMO_NAME = "file-digests.json"
_CHUNK = 1 << 20
_RACY_NS = 2_000_000_000  # a file changed this recently is not remembered (timestamps are coarse): read again next time


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_memo(memo_path: Path) -> dict:
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def file_digests(paths: Iterable[Path], memo_dir: Path | None) -> list[str]:
    """sha256 of each file in ``paths``, remembered in ``memo_dir``/file-digests.json (None: no memo)."""
    memo_path = Path(memo_dir) / MEMO_NAME if memo_dir is not None else None
    memo = _read_memo(memo_path) if memo_path is not None else {}
    changed = False
    out = []
    for path in paths:
        path = Path(path).resolve()
        stat = path.stat()
        signature = [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]
        entry = memo.get(str(path))
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == signature and isinstance(entry[4], str):
            out.append(entry[4])
            continue
        digest = sha256_file(path)
        if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > _RACY_NS:  # else an edit in the same clock tick could pass
            memo[str(path)] = [*signature, digest]
            changed = True
        out.append(digest)
    if changed and memo_path is not None:
        _write_memo(memo_path, memo)
    return out


def _write_memo(memo_path: Path, memo: dict) -> None:
    """Replace the memo atomically; a failure only costs a re-hash next time."""
    from xlm.textfile import write_atomic

    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(memo_path, json.dumps(memo, sort_keys=True), durable=False)
    except OSError:
        pass


def digest_of(value: object) -> str:
    """sha256 of a JSON-serialisable value (sorted keys): the cache keys of prepared data."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
