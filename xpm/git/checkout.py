"""A checkout: one commit's tree (or a subdir of it) exported from a mirror into a folder.

Read from git's objects, never from an archive stream, through one `git cat-file
--batch-command` process (git 2.36+): it sends the tree objects, which are walked here, the
size of every blob (`info`), then the blobs (`contents`), each read to exactly its announced
size. Older git lists the tree with `git ls-tree -r -z --long` and sends the blobs through
`git cat-file --batch`: the same entries, one process more. `xpm.tree_rules` checks every
entry before anything is written. Files are created through folder descriptors with
O_EXCL|O_NOFOLLOW, and folders are opened with O_NOFOLLOW, so nothing is ever written through
a symlink; symlinks, already proven to stay inside the model, are made last. Each file is
hashed as it is written, so the content hash needs no second read. Nothing is checked out, so
no hook, filter, attribute or submodule of the repository ever applies.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

from xlm.records.statcheck import as_local
from xpm.errors import GitError, NotACommit, XpmError
from xpm.git.command import Git
from xpm.git.objects import BATCH_COMMAND, BatchObjects, Blobs, Listing
from xpm.hashing import FileRecord
from xpm.tree_rules import (
    EXECUTABLE, Entry, Limits, UnsafeTree, check_entries, check_links, is_lfs_pointer, lfs_warning,
)

__all__ = ["Export", "UnsafeTree", "export_tree"]

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Export(NamedTuple):
    """What was written: the records `xpm.hashing.records(dest)` would compute, and warnings."""

    records: list[FileRecord]
    warnings: list[str]


def export_tree(git: Git, mirror: Path, commit: str, subdir: str | None, dest: Path, name: str = "model",
                limits: Limits | None = None) -> Export:
    """Write the tree of `commit:subdir` into the (existing, empty) folder `dest`."""
    label = f"model '{name}'"
    limits = limits or Limits.from_env()
    # `^{commit}`: a ref that names a tree or a blob (a tag can) is refused, never exported
    treeish = f"{commit}^{{commit}}:{subdir}" if subdir else f"{commit}^{{commit}}^{{tree}}"
    try:
        if git.version >= BATCH_COMMAND:
            objects = BatchObjects(git, mirror)
            try:
                listed = objects.walk(treeish, label, limits)
                if listed is not None:
                    return _export(objects, listed, dest, label, limits)
            finally:
                objects.close()
        # git before 2.36, or a tree the walk leaves to ls-tree: one the rules refuse for its
        # size or depth, a malformed one, a missing one (not a folder, a damaged mirror): what
        # is refused or reported, and how, stays ls-tree's
        listing = Listing(git, mirror, treeish, label)
        try:
            entries = check_entries(listing, label, limits)
        finally:
            listing.close()
        if listing.failed is not None:
            raise _listing_error(listing.failed, commit, subdir, name, treeish, mirror)
        blobs = Blobs(git, mirror, [e.oid for e in entries if e.is_link] + [e.oid for e in entries if not e.is_link])
        try:
            return _export(blobs, entries, dest, label, limits, checked=True)
        finally:
            blobs.close()
    except UnsafeTree as exc:
        raise UnsafeTree(f"{exc.what} (commit {commit[:12]})", exc.fix) from None


def _export(blobs, entries: list[Entry], dest: Path, label: str, limits: Limits, checked: bool = False) -> Export:
    """Check `entries` (unless done), then write them: the symlinks' blobs come first."""
    if not checked:
        entries = check_entries(entries, label, limits)
    links = [e for e in entries if e.is_link]
    files = [e for e in entries if not e.is_link]
    blobs.want(links + files)
    targets = check_links(entries, {e.path: blobs.read_all(e) for e in links}, label)
    export = _write(Path(dest), files, targets, blobs)
    blobs.finish()
    return export


def _listing_error(failed: tuple[int, str], commit: str, subdir: str | None, name: str, treeish: str, mirror: Path) -> XpmError:
    returncode, stderr = failed
    if kind := re.search(r"expected commit type, but the object dereferences to (\w+) type", stderr):
        return NotACommit(name, commit, kind.group(1))
    if subdir and ("not a valid object name" in stderr.lower() or "not a tree object" in stderr):
        return XpmError(
            f"model '{name}': '{subdir}' is not a folder in commit {commit[:12]}",
            "check #subdir=... against the repository's layout at that ref",
        )
    return GitError(["ls-tree", "-r", "-z", "--long", treeish], returncode, stderr, str(mirror))


class _Folders:
    """Descriptors of the folders being written, opened one component at a time with
    O_NOFOLLOW (and made when missing), so no component can be a symlink. Keeps the chain of
    the last folder open: git lists a tree depth first, so most lookups reuse it."""

    def __init__(self, root: Path):
        self.chain: list[tuple[str, int]] = [("", os.open(root, _DIR_FLAGS))]

    def get(self, folder: str) -> int:
        if self.chain[-1][0] == folder:
            return self.chain[-1][1]
        parts = folder.split("/") if folder else []
        keep = 1
        while keep < len(self.chain) and keep <= len(parts) and self.chain[keep][0] == "/".join(parts[:keep]):
            keep += 1
        for _, fd in self.chain[keep:]:
            os.close(fd)
        del self.chain[keep:]
        for i in range(keep, len(parts) + 1):
            parent = self.chain[-1][1]
            try:
                os.mkdir(as_local(parts[i - 1]), 0o755, dir_fd=parent)
            except FileExistsError:
                pass  # made for an earlier file; the O_NOFOLLOW open below proves it is a folder
            self.chain.append(("/".join(parts[:i]), os.open(as_local(parts[i - 1]), _DIR_FLAGS, dir_fd=parent)))
        return self.chain[-1][1]

    def close(self) -> None:
        for _, fd in self.chain:
            os.close(fd)
        self.chain = []


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write(dest: Path, files: list[Entry], targets: dict[str, str], blobs: Blobs) -> Export:
    """Regular files first (mode 0644 or 0755, hashed while written), then the symlinks."""
    records, pointers = [], []
    folders = _Folders(dest)
    try:
        for entry in files:
            folder, _, base = entry.path.rpartition("/")
            mode = 0o755 if entry.mode == EXECUTABLE else 0o644
            fd = os.open(as_local(base), _FILE_FLAGS, mode, dir_fd=folders.get(folder))
            try:
                digest, left = hashlib.sha256(), blobs.open(entry)
                while left:
                    chunk = blobs.read(min(left, _CHUNK))
                    if left == entry.size and is_lfs_pointer(chunk, entry.size):
                        pointers.append(entry.path)
                    digest.update(chunk)
                    _write_all(fd, chunk)
                    left -= len(chunk)
                blobs.end()
                st = os.fstat(fd)
                if stat.S_IMODE(st.st_mode) != mode:
                    os.fchmod(fd, mode)  # the umask took bits away: the mode is the content hash's
                    st = os.fstat(fd)  # the stamp records the ctime the change of mode gave it
            finally:
                os.close(fd)
            records.append(FileRecord(entry.path, entry.mode, digest.hexdigest(), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        for path, target in targets.items():
            folder, _, base = path.rpartition("/")
            parent = folders.get(folder)
            os.symlink(as_local(target), as_local(base), dir_fd=parent)
            st = os.stat(as_local(base), dir_fd=parent, follow_symlinks=False)
            records.append(FileRecord(path, "120000", hashlib.sha256(target.encode()).hexdigest(), st.st_size, st.st_mtime_ns,
                                      st.st_ctime_ns))
    finally:
        folders.close()
    records.sort(key=lambda r: r.path.encode())
    return Export(records, [lfs_warning(pointers)] if pointers else [])
