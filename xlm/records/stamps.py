"""Install stamps, and the one function that decides which files of a vendored model changed.

xpm writes `xlm_models/.xpm/stamps/<name>.json` as the very last step of installing a model
(the ready-marker: deleted before the folder is replaced, written after; `xpm.stamp`). It
records the commit, the content hash and, per file, mode, size, mtime and sha256, and apart
(`ctimes`, which an older xpm, reading only `files`, passes over) each file's ctime. The
per-file records must hash to the stamp's content hash (`xlm.records.treehash.tree_hash_of`),
else it is no stamp: so a stamp that agrees with the lock vouches for every file it lists,
without reading one.

`changed_files` decides, for xlm's start-up check, `xpm list`, `xpm verify` and `xpm install`
alike, so they always agree. Content decides: equal mode, size and mtime prove a file
unchanged, with the ctime (a few `stat` calls, so xlm starts fast), different ones prove nothing: those files,
and only those, are re-hashed, and a file is changed only when its mode or content differs.
A `touch`, a `cp -r` of the project or a fresh checkout changes no file. A file whose mtime
is not older than the stamp may have been edited in the clock tick the stamp was written in
(git's "racily clean"), so it is re-hashed too. The stat data of re-hashed files whose content
is right then go into the stamp (a cache: rewritten atomically, only while the project's lock
is free, and never on a read-only project), so the next check is cheap again; the record of a
changed or deleted file gets a size no file has (git "smudges" such entries), so a stamp
rewritten after the change never vouches for it, whatever is done to the file later. The stat
comparison itself is `xlm.records.statcheck`, shared with xpm's no-op proof (`xpm.noop`).

Below xlm and xpm both (json, os, xlm.manifest: nothing heavy, no hashlib unless a file
must be read):

    from xlm.records.lockfile import read_lock_entry
    from xlm.records.stamps import vendored_state
    locked = read_lock_entry(project_dir, "zlm")                    # the lock's table, or None
    state = vendored_state(project_dir, "zlm", locked["commit"], locked["hash"])
    state.kind, state.changes.paths                                 # "ok", []
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from xlm.records.statcheck import as_local as _as_local
from xlm.records.statcheck import file_mode as _mode
from xlm.records.statcheck import proven as _proven
from xlm.records.statcheck import scan as _scan
from xlm.records.treehash import IGNORED_DIRS as _IGNORED_DIRS
from xlm.records.treehash import digest as _digest
from xlm.records.treehash import tree_hash_of
from xlm.shown import redact
from xlm.textfile import write_atomic

MODELS_DIR = "xlm_models"
STATE_DIR = ".xpm"
STAMP_VERSION = 1
_MODES = frozenset({"100644", "100755", "120000"})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MAX_STAMP_BYTES = 64 << 20  # a stamp of 50,000 files (XPM_MAX_MODEL_FILES' default) is about 8 MiB


def models_dir(project_dir: Path) -> Path:
    return Path(project_dir) / MODELS_DIR


def vendored_root(project_dir: Path, name: str) -> Path:
    """Where xpm installs model `name` (the model root: package + configs/)."""
    return models_dir(project_dir) / name


def stamp_path(project_dir: Path, name: str) -> Path:
    return models_dir(project_dir) / STATE_DIR / "stamps" / f"{name}.json"


def read_stamp(project_dir: Path, name: str) -> dict | None:
    """The stamp's data when there is one xpm wrote (is this folder xpm's?); `load_stamp`
    says whether it can be trusted."""
    try:
        raw, _ = _stamp_bytes(project_dir, name)
        data = None if raw is None else json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and data.get("version") == STAMP_VERSION else None


def _stamp_bytes(project_dir: Path, name: str) -> tuple[bytes, int] | tuple[None, None]:
    """The stamp file's bytes and mtime, read as xpm wrote it: never through a link (xpm writes
    none), never blocking on a fifo, never past `_MAX_STAMP_BYTES` (a link to /dev/zero)."""
    fd = os.open(stamp_path(project_dir, name), os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_STAMP_BYTES:
            return None, None
        return handle.read(_MAX_STAMP_BYTES + 1), st.st_mtime_ns


def stamp_text(name: str, commit: str, content_hash: str, files: dict, ctimes: dict) -> str:
    data = {"version": STAMP_VERSION, "name": name, "commit": commit, "hash": content_hash, "files": files, "ctimes": ctimes}
    return json.dumps(data, sort_keys=True, separators=(",", ":"))  # no indent: json's C encoder (4x faster)


class Stamp(NamedTuple):
    """A stamp that can be trusted: well formed, and its records hash to its `hash`."""

    commit: str
    hash: str
    files: dict  # path -> [mode, size, mtime_ns, sha256]
    ctimes: dict  # path -> ctime_ns (none for a file an older xpm stamped: size and mtime decide, as then)
    raw: bytes  # as read: a refresh replaces the stamp only while it still holds these bytes
    mtime_ns: int  # when it was written (files not older than this are re-hashed)


def load_stamp(project_dir: Path, name: str) -> Stamp | None:
    """Model `name`'s stamp, or None when it is missing, damaged, or its records do not hash
    to its content hash (a stamp edited by hand or by another tool vouches for nothing)."""
    try:
        raw, mtime_ns = _stamp_bytes(project_dir, name)
        if raw is None:
            return None
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("version") != STAMP_VERSION:
        return None
    commit, content_hash, files = data.get("commit"), data.get("hash"), data.get("files")
    if not (isinstance(commit, str) and isinstance(content_hash, str) and isinstance(files, dict)):
        return None
    for path, rec in files.items():
        if not (isinstance(rec, list) and len(rec) == 4 and rec[0] in _MODES and type(rec[1]) is int
                and type(rec[2]) is int and isinstance(rec[3], str) and _is_path_text(path)):
            return None
    if tree_hash_of((path, rec[0], rec[3]) for path, rec in files.items()) != content_hash:
        return None
    ctimes = data.get("ctimes")  # only a cache: malformed, it is as if none were recorded
    ctimes = {path: c for path, c in ctimes.items() if path in files and type(c) is int} if isinstance(ctimes, dict) else {}
    return Stamp(commit, content_hash, files, ctimes, raw, mtime_ns)


def _is_path_text(path: str) -> bool:
    """Whether `path` is a name as xpm records one: UTF-8, or bytes that are not, escaped as
    Python escapes them (U+DC80-U+DCFF); JSON can hold any other lone surrogate (`"\\ud800"`),
    which names no file."""
    try:
        path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


# ----------------------------------------------------------------------------- what changed
class Changes(NamedTuple):
    """Files of a vendored model that differ from its stamp (and so from the lock), sorted."""

    modified: tuple[str, ...] | list[str] = ()  # other content, or mode (the execute bit, a link)
    added: tuple[str, ...] | list[str] = ()
    deleted: tuple[str, ...] | list[str] = ()
    tree_hash: str | None = None  # the folder's content hash, when every file was hashed (`full`)

    def __bool__(self) -> bool:
        return bool(self.modified or self.added or self.deleted)

    @property
    def paths(self) -> list[str]:
        return sorted({*self.modified, *self.added, *self.deleted})


def changed_files(project_dir: Path, name: str, stamp: Stamp, full: bool = False, held: bool = False) -> Changes:
    """Which files of `xlm_models/<name>/` really differ from `stamp` (see the module docstring).

    A file whose mode differs (the execute bit, a file become a link, a fifo) is changed without
    reading it: the content hash records the mode. Otherwise equal size and mtime, older than
    the stamp, prove it unchanged, unless `full` (`xpm verify`: re-hash every file). `held`:
    the caller holds the project's lock (refreshing the stamp needs it)."""
    root = str(vendored_root(project_dir, name))
    seen = _scan(root, _IGNORED_DIRS)
    files = stamp.files
    modified: list[str] = []
    fresh: dict[str, list] = {}  # re-hashed, content right, stat data new: for the stamp
    ctimes: dict[str, int] = {}  # with them, and those an older xpm did not record
    digests: dict[str, tuple[str, str]] = {}  # path -> (mode, sha256) of every file read
    for path, st in seen.items():
        mode, rec = _mode(st.st_mode), files.get(path)
        proven = rec is not None and _proven(rec, st, stamp.mtime_ns, stamp.ctimes.get(path))
        if mode is not None and (full or (rec is not None and mode == rec[0] and not proven)):
            digests[path] = (mode, _digest(os.path.join(root, _as_local(path)), mode))
        if rec is None:
            continue  # added
        if mode != rec[0] or (path in digests and digests[path][1] != rec[3]):
            modified.append(path)
        elif not proven or path not in stamp.ctimes:
            if not proven:
                fresh[path] = [mode, st.st_size, st.st_mtime_ns, rec[3]]
            ctimes[path] = st.st_ctime_ns
    deleted = [path for path in files if path not in seen]
    for path in (*modified, *deleted):  # stat data never vouch for them again: a refreshed stamp is newer than their
        if files[path][1] != _SMUDGED:   # mtime (and `full` may have seen a change that stat data hid)
            fresh[path] = [files[path][0], _SMUDGED, files[path][2], files[path][3]]
    if fresh or ctimes:
        _refresh(project_dir, name, stamp, fresh, ctimes, held)
    whole = len(digests) == len(seen) and full
    return Changes(
        sorted(modified),
        sorted(p for p in seen if p not in files),
        sorted(deleted),
        _tree_hash(digests) if whole else None,
    )


_SMUDGED = -1  # a record's size that no file has: its file is re-hashed at every check, as git does with a "smudged" entry


def _tree_hash(digests: dict[str, tuple[str, str]]) -> str:
    return tree_hash_of((path, mode, sha) for path, (mode, sha) in digests.items())


def _refresh(project_dir: Path, name: str, stamp: Stamp, fresh: dict[str, list], ctimes: dict[str, int], held: bool) -> None:
    """Put the new stat data of files whose content was right into the stamp. Skipped (the
    next check re-hashes them again) while another process holds the project's lock (an
    install may be replacing the folder), when the stamp changed since it was read, and when
    the project cannot be written (read-only, full, not ours)."""
    path = stamp_path(project_dir, name)
    state = models_dir(project_dir) / STATE_DIR
    if any(os.path.islink(p) for p in (models_dir(project_dir), state, path.parent, path, state / "lock")):
        return  # a write through a link could land outside the project (every xpm command refuses these)
    kept = {path: c for path, c in stamp.ctimes.items() if path not in fresh}  # a smudged record's ctime goes
    text = stamp_text(name, stamp.commit, stamp.hash, {**stamp.files, **fresh}, {**kept, **ctimes})

    def write() -> None:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if handle.read(len(stamp.raw) + 1) != stamp.raw:
                return
        write_atomic(path, text)

    try:
        if held:
            write()
            return
        with _try_hold(models_dir(project_dir) / STATE_DIR / "lock") as got:
            if got:
                write()
    except OSError:
        pass


# ----------------------------------------------------------------------------- against the lock
class State(NamedTuple):
    """How `xlm_models/<name>/` stands against the lock. `kind`:

    - `missing`: no folder;
    - `incomplete`: a folder without a stamp that can be trusted (an interrupted install, a
      folder xpm did not make, a damaged stamp): its content vouches for nothing;
    - `other commit`: the stamp records another commit than the lock's (or the same commit with
      another content hash): the folder is another install, e.g. after a `git pull` moved the
      lock;
    - `unlocked`: no commit to compare with (the caller has no lock entry);
    - `modified` or `ok`: `changes` (from `changed_files`) says which files differ.
    """

    kind: str
    changes: Changes = Changes()
    stamp: Stamp | None = None


def vendored_state(project_dir: Path, name: str, commit: str | None, content_hash: str | None,
                   full: bool = False, held: bool = False) -> State:
    """Model `name`'s folder against the lock's `commit` and `content_hash` (see `State`)."""
    if not vendored_root(project_dir, name).is_dir():
        return State("missing")
    stamp = load_stamp(project_dir, name)
    if stamp is None:
        return State("incomplete")
    if commit is None:
        return State("unlocked", stamp=stamp)
    if stamp.commit != commit or stamp.hash != content_hash:
        return State("other commit", stamp=stamp)
    changes = changed_files(project_dir, name, stamp, full, held)
    return State("modified" if changes else "ok", changes, stamp)




# ----------------------------------------------------------------------------- the project's lock
@contextmanager
def _try_hold(lock_path: Path):
    """Yield True while holding the project's lock (`xlm_models/.xpm/lock`, flock) if nobody holds
    it now, else False at once: never waits, never makes a folder. Writes who holds it as
    `xpm.locks` does (`PID HOST SINCE COMMAND`), so an xpm command waiting meanwhile can say whom
    it waits for."""
    try:
        import fcntl

        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    except (ImportError, OSError):  # no flock (Windows), a read-only project, no .xpm/ folder, a link
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            host = os.uname().nodename if hasattr(os, "uname") else "localhost"
            command = redact(" ".join([os.path.basename(sys.argv[0]) if sys.argv else "xlm", *sys.argv[1:]]))[:200]
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {host} {time.time():.0f} {' '.join(command.split()) or 'xlm'}\n".encode("utf-8", "replace"), 0)
        except OSError:
            got = False
        else:
            got = True
        try:
            yield got
        finally:
            if got:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)
