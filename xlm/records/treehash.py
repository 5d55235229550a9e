"""The content hash of a model's files: `sha256-tree:<hex>`, recomputable by anyone.

One implementation for xpm (`xlm.lock`, install stamps) and xlm (the run records of
`xlm.records.runs`): the same folder hashes to the same value whoever computes it.

Definition (see docs/xpm.md): walk the folder without following symlinks, skipping every
directory named `__pycache__` (Python writes those when xlm imports the model). For each
regular file or symlink, make the line

    <mode> <sha256 hex of the content>  <path>\n

where mode is `100755` for a file with any execute bit, `100644` for other files and `120000`
for a symlink (its content is the link's target), and path is relative, `/`-separated. Sort the
lines by the UTF-8 bytes of the path, join them, and take sha256 of the result. Directories
carry no line (git has no empty ones). The prefix names the algorithm so it can change later.

The joined lines (`tree_text`) are a model's file list: a run record keeps them, so two
records of one model can say which files differ, and anyone can check that they hash to
the recorded value. `hashlib` is imported only where files are read: the stamp checks of
xlm's start-up and of a warm `xpm install` hash one short text per model with the
interpreter's builtin sha256.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import NamedTuple

from xlm.records.statcheck import as_local, as_recorded, file_mode

try:  # the interpreter's own sha256 (3.12: _sha2, 3.11: _sha256): the same digest, without
    from _sha2 import sha256 as small_sha256  # importing hashlib, which loads OpenSSL (~3 ms)
except ImportError:  # that xlm's start-up and a warm no-op install would pay for one small
    try:  # hash per model (`tree_hash_of` of a stamp). Files are hashed with hashlib's (faster).
        from _sha256 import sha256 as small_sha256
    except ImportError:
        from hashlib import sha256 as small_sha256

ALGORITHM = "sha256-tree"
IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache"})  # what running a model and its tests write into its folder


class FileRecord(NamedTuple):
    path: str
    mode: str
    sha256: str
    size: int
    mtime_ns: int
    ctime_ns: int  # with size and mtime, what proves the file unchanged later (`xlm.records.statcheck`)


def _mode(path: str, st: os.stat_result) -> str:
    mode = file_mode(st.st_mode)
    if mode is None:  # never opened: reading a fifo would wait forever
        raise OSError(errno.EINVAL, "not a file or a symbolic link (a fifo, socket or device): no content to hash", path)
    return mode


def digest(path: str, mode: str) -> str:
    """sha256 hex of the content the hash records for the file or link at `path` of `mode`."""
    import hashlib

    if mode == "120000":
        return hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()  # the target's bytes, as git stores them
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def walk(root: Path, skip=None) -> list[tuple[str, str]]:
    """(relative path, absolute path) of every file and symlink under `root`, sorted by path bytes;
    `skip(path)`, when given, leaves out a folder (not the content hash's: a run record's choice)."""
    out = []
    root_str = str(root)
    for folder, dirs, files in os.walk(root_str, followlinks=False):
        rel_folder = os.path.relpath(folder, root_str)
        keep = []
        for d in dirs:
            full = os.path.join(folder, d)
            if os.path.islink(full):
                files.append(d)  # a link to a folder is an entry of its own, never followed
            elif d not in IGNORED_DIRS and not (skip is not None and skip(full)):
                keep.append(d)
        dirs[:] = keep
        for f in files:
            rel = as_recorded(f if rel_folder == "." else f"{rel_folder}/{f}".replace(os.sep, "/"))
            out.append((rel, os.path.join(folder, f)))
    out.sort(key=lambda pair: _path_key(pair[0]))
    return out


def job_output(path: str) -> bool:
    """Whether the folder at `path` is what a job wrote (a Hydra run folder holds `.hydra/`, a
    sweep's `multirun.yaml`): `cd my_model && xlm train` writes `outputs/` into the model's own
    folder, and its checkpoints are no part of the model's code. A run record leaves such folders
    out of a plain folder's files, and `xpm install --from-run` out of its copy; the content hash
    of a tree (xpm's) never does."""
    return os.path.isdir(os.path.join(path, ".hydra")) or os.path.isfile(os.path.join(path, "multirun.yaml"))


def record(rel: str, full: str) -> FileRecord:
    st = os.lstat(full)
    mode = _mode(full, st)
    return FileRecord(rel, mode, digest(full, mode), st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def records(root: Path, skip=None) -> list[FileRecord]:
    return [record(rel, full) for rel, full in walk(Path(root), skip)]


def records_of(root: Path, paths) -> list[FileRecord]:
    """The records of the files `paths` (relative, `/`-separated) of `root`, sorted: for a
    model whose files are chosen by someone else (the files git sees in a work tree)."""
    root_str = str(root)
    return [record(rel, os.path.join(root_str, *as_local(rel).split("/"))) for rel in sorted(set(paths), key=_path_key)]


def unrecordable(path: str) -> str | None:
    """Why a file list (`tree_text`, one line per file, UTF-8) cannot hold the path, or None:
    a line break would split its line, and bytes that are not UTF-8 cannot be written."""
    if "\n" in path:
        return "holds a line break"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def tree_hash(recs: list[FileRecord]) -> str:
    return tree_hash_of((r.path, r.mode, r.sha256) for r in recs)


def _path_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")  # names that are not UTF-8 sort as bytes, as os.walk read them


def tree_text(entries) -> str:
    """The lines the hash is taken over, `<mode> <sha256>  <path>\\n`, sorted by path bytes,
    from (path, mode, sha256) triples in any order."""
    return "".join(f"{mode} {sha}  {path}\n" for path, mode, sha in sorted(entries, key=lambda e: _path_key(e[0])))


def text_hash(text: str) -> str:
    """`sha256-tree:` and the sha256 of a `tree_text`."""
    return f"{ALGORITHM}:{small_sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()}"


def tree_hash_of(entries) -> str:
    """The tree hash of (path, mode, sha256) triples, in any order: what an install stamp's
    records must hash to, so a stamp can be checked against the lock without reading a file."""
    return text_hash(tree_text(entries))


_LINE = re.compile(r"(100644|100755|120000) ([0-9a-f]{64})  (.+)")


def parse_tree_text(text: str) -> dict[str, tuple[str, str]] | None:
    """path -> (mode, sha256) of a `tree_text` read from outside (a run record), or None when
    it is not one: a line of another shape, a path twice, or not sorted as `tree_text` sorts."""
    if text and not text.endswith("\n"):
        return None
    found: dict[str, tuple[str, str]] = {}
    previous = b""
    for line in text.split("\n")[:-1]:
        match = _LINE.fullmatch(line)
        if match is None or (found and _path_key(match.group(3)) <= previous):
            return None
        previous = _path_key(match.group(3))
        found[match.group(3)] = (match.group(1), match.group(2))
    return found


def hash_dir(root: Path) -> str:
    return tree_hash(records(root))
