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
import select
import stat
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from xpm.errors import GitError, MirrorDamaged, XpmError
from xpm.git.command import Git
from xpm.hashing import FileRecord
from xpm.tree_rules import (
    EXECUTABLE, FILE, GITLINK, MAX_PATH_BYTES, SYMLINK, Entry, Limits, UnsafeTree, check_entries, check_links, decode_path,
    is_lfs_pointer, lfs_warning,
)

__all__ = ["Export", "UnsafeTree", "export_tree"]

_CHUNK = 1 << 20
_MAX_RECORD = 4096  # one ls-tree line: mode, type, id, size and a path the rules allow
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
BATCH_COMMAND = (2, 36)  # the git that has `cat-file --batch-command`: list and send in one process
# Requests written at once: at most PIPE_BUF bytes, and only when git has read every earlier
# one (all their answers were read), so the write never blocks and no writer thread is needed.
_ASK_BYTES = getattr(select, "PIPE_BUF", 512)


@dataclass
class Export:
    """What was written: the records `xpm.hashing.records(dest)` would compute, and warnings."""

    records: list[FileRecord]
    warnings: list[str] = field(default_factory=list)


def export_tree(git: Git, mirror: Path, commit: str, subdir: str | None, dest: Path, name: str = "model",
                limits: Limits | None = None) -> Export:
    """Write the tree of `commit:subdir` into the (existing, empty) folder `dest`."""
    label = f"model '{name}'"
    limits = limits or Limits.from_env()
    treeish = f"{commit}:{subdir}" if subdir else f"{commit}^{{tree}}"
    try:
        if git.version >= BATCH_COMMAND:
            objects = _Objects(git, mirror)
            try:
                listed = objects.walk(treeish, label, limits)
                if listed is not None:
                    return _export(objects, listed, dest, label, limits)
            finally:
                objects.close()
        # git before 2.36, or a tree the walk leaves to ls-tree: one the rules refuse for its
        # size or depth, a malformed one, a missing one (not a folder, a damaged mirror): what
        # is refused or reported, and how, stays ls-tree's
        listing = _Listing(git, mirror, treeish, label)
        try:
            entries = check_entries(listing, label, limits)
        finally:
            listing.close()
        if listing.failed is not None:
            raise _listing_error(listing.failed, commit, subdir, name, treeish, mirror)
        blobs = _Blobs(git, mirror, [e.oid for e in entries if e.is_link] + [e.oid for e in entries if not e.is_link])
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
    if subdir and ("not a valid object name" in stderr.lower() or "not a tree object" in stderr):
        return XpmError(
            f"model '{name}': '{subdir}' is not a folder in commit {commit[:12]}",
            "check #subdir=... against the repository's layout at that ref",
        )
    return GitError(["ls-tree", "-r", "-z", "--long", treeish], returncode, stderr, str(mirror))


class _Listing:
    """`git ls-tree -r -z --long TREEISH`, parsed as it streams: the rules may stop reading
    early (a tree over the file limit is never held in memory). `failed` is set when git fails."""

    def __init__(self, git: Git, mirror: Path, treeish: str, label: str):
        self.label, self.failed = label, None
        self.proc = git.popen(["ls-tree", "-r", "-z", "--long", treeish], cwd=mirror,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __iter__(self):
        pending = b""
        while chunk := self.proc.stdout.read1(1 << 16):
            *records, pending = (pending + chunk).split(b"\0")
            for record in records:
                yield self._entry(record)
            if len(pending) > _MAX_RECORD:
                raise UnsafeTree(f"{self.label} has a path longer than {_MAX_RECORD} bytes", "shorten it upstream; nothing was installed")
        stderr = self.proc.stderr.read().decode(errors="replace")
        if self.proc.wait() != 0:
            self.failed = (self.proc.returncode, stderr)

    def _entry(self, record: bytes) -> Entry:
        meta, _, raw = record.partition(b"\t")
        fields = meta.split()
        if len(fields) != 4:
            raise XpmError(f"unexpected `git ls-tree` line {record[:200]!r}", "run `xpm cache clean` and try again")
        mode, _, oid, size = (f.decode("ascii", "replace") for f in fields)
        return Entry(decode_path(raw, self.label), mode, oid, -1 if size == "-" else int(size))

    def close(self) -> None:
        _stop(self.proc)


class _Blobs:
    """One `git cat-file --batch` process. Every id is asked for up front (a thread writes the
    requests, so neither side blocks on a full pipe); answers are read in that order, each to
    exactly the size git announces, and checked against the size `ls-tree` gave."""

    args = ["cat-file", "--batch"]

    def __init__(self, git: Git, mirror: Path, oids: list[str]):
        self.mirror = mirror
        self.proc = git.popen(self.args, cwd=mirror, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = self.proc.stdout
        self.asker = threading.Thread(target=self._ask, args=("".join(f"{oid}\n" for oid in oids).encode(),), daemon=True)
        self.asker.start()

    def want(self, entries: list[Entry]) -> None:
        """The blobs are read in this order (asked for up front, in the same order)."""

    def _ask(self, requests: bytes) -> None:
        try:
            self.proc.stdin.write(requests)
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass  # git died or was stopped: the reader reports it

    def open(self, entry: Entry) -> int:
        """Read the header of the next answer, which must be `entry`'s blob; returns its size."""
        header = self.out.readline(256)
        expected = f"{entry.oid} blob {entry.size}\n".encode()
        if header != expected:
            got = header.decode(errors="replace").strip() or "(nothing: git exited)"
            self._damaged(f"it gave '{got}' for '{entry.path}' (expected blob {entry.oid} of {entry.size} bytes)")
        return entry.size

    def read(self, size: int) -> bytes:
        data = self.out.read(size)
        if len(data) != size:
            self._damaged("it ended a blob early")
        return data

    def end(self) -> None:
        if self.out.read(1) != b"\n":
            self._damaged("it sent a malformed answer")

    def _damaged(self, what: str):
        """The mirror cannot give what its own listing promised: sync fetches it again (once)."""
        if self.proc.poll() is None:
            self.proc.kill()
        stderr = self.proc.stderr.read().decode(errors="replace")  # git's own reason, when it gave one
        _stop(self.proc)
        raise MirrorDamaged(self.args, self.proc.returncode, f"{what}\n{stderr}".strip(), str(self.mirror))

    def read_all(self, entry: Entry) -> bytes:
        data = self.read(self.open(entry))
        self.end()
        return data

    def finish(self) -> None:
        """Every answer was read: git must exit cleanly."""
        self.asker.join()
        stderr = self.proc.stderr.read().decode(errors="replace")
        if self.proc.wait() != 0:
            raise GitError(self.args, self.proc.returncode, stderr, str(self.mirror))

    def close(self) -> None:
        _stop(self.proc)
        self.asker.join()


_TREE = "040000"
_HEADER = re.compile(rb"([0-9a-f]{40}|[0-9a-f]{64}) (blob|tree|commit|tag) (\d+)\n")


class _Objects(_Blobs):
    """One `git cat-file --batch-command` process (git 2.36+) that lists the tree and sends its
    blobs. Requests go out a few at a time (`_ASK_BYTES`), each batch once every answer to the
    one before was read: neither side can block on a full pipe, without a writer thread."""

    args = ["cat-file", "--batch-command"]

    def __init__(self, git: Git, mirror: Path):
        self.mirror = mirror
        self.proc = git.popen(self.args, cwd=mirror, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = self.proc.stdout
        self.pending = iter(())

    def _answers(self, requests: list[bytes]):
        """Send `requests`; yields before each answer is to be read, in order."""
        start = 0
        while start < len(requests):
            end, size = start + 1, len(requests[start])
            while end < len(requests) and size + len(requests[end]) <= _ASK_BYTES:
                size += len(requests[end])
                end += 1
            try:
                self.proc.stdin.write(b"".join(requests[start:end]))
                self.proc.stdin.flush()
            except (OSError, ValueError):
                self._damaged("it exited before it was asked for every object")
            yield from range(start, end)
            start = end

    def _header(self) -> tuple[bytes, str, int] | None:
        """(id, type, size) of the next answer; None when git has no such object."""
        line = self.out.readline(256)
        match = _HEADER.fullmatch(line)
        if match is None:
            if line.endswith((b" missing\n", b" ambiguous\n")):
                return None
            self._damaged(f"it answered '{line.decode(errors='replace').strip() or '(nothing: git exited)'}'")
        return match.group(1), match.group(2).decode(), int(match.group(3))

    # ------------------------------------------------------------------ listing
    def walk(self, treeish: str, label: str, limits: Limits):
        """The entries of `treeish` as `git ls-tree -r -z --long` gives them (blobs, symlinks and
        gitlinks with their sizes, in git's order), decoded as they are read; None when the
        tree is larger, deeper or has longer paths than any the rules accept, or is malformed:
        `ls-tree` then lists it, so such a tree is refused (or reported) exactly as before."""
        next(self._answers([f"contents {treeish}\n".encode()]))
        header = self._header()
        if header is None or header[1] != "tree":
            return None
        oid, _, size = header
        budget = (limits.max_files + 1) * (MAX_PATH_BYTES + 48)  # more tree bytes: more entries or longer names than allowed
        # Read level by level (one round of requests per level), keeping each tree's entries in
        # its own order; a subtree stands in its parent's list until it is spliced in below.
        root = _Subtree()
        trees = [(b"", self._tree_data(size, budget), root)]
        oid_bytes, files, count = len(oid) // 2, 0, 0
        while trees:
            sized, subtrees = [], []  # entries whose size to ask for; (path/, id, list) of the trees to read next
            for prefix, data, items in trees:
                if data is None:
                    return None
                for mode, name, raw_oid in _tree_entries(data, oid_bytes):
                    if mode is None:
                        return None  # malformed: ls-tree says how
                    path = prefix + name
                    if len(path) > MAX_PATH_BYTES or path.count(b"/") >= limits.max_depth:
                        return None
                    count += 1
                    if mode == _TREE:
                        subtrees.append((path + b"/", raw_oid.hex(), _Subtree()))
                        items.append(subtrees[-1][2])
                        continue
                    items.append([path, mode, raw_oid.hex(), -1])
                    if mode != GITLINK:  # ls-tree gives a gitlink no size
                        sized.append(items[-1])
            if count > limits.max_files:
                return None
            requests = [f"info {e[2]}\n".encode() for e in sized] + [f"contents {t}\n".encode() for _, t, _ in subtrees]
            trees = []
            for k in self._answers(requests):
                header = self._header()
                if k < len(sized):
                    if header is None:
                        self._damaged(f"it has no object {sized[k][2]} for '{sized[k][0].decode(errors='replace')}'")
                    sized[k][3] = header[2]  # an object that is no blob is reported when it is read, as before
                elif header is None or header[1] != "tree":
                    return None  # a missing subtree, or no tree: ls-tree says so
                else:
                    budget -= header[2]
                    prefix, _, items = subtrees[k - len(sized)]
                    trees.append((prefix, self._tree_data(header[2], budget), items))
        return (Entry(decode_path(path, label), mode, oid, size) for path, mode, oid, size in _depth_first(root))

    def _tree_data(self, size: int, budget: int) -> bytes | None:
        """A tree object's bytes (None, unread, when over the budget: the walk is abandoned)."""
        if size > budget:
            return None
        data = self.read(size)
        self.end()
        return data

    # ------------------------------------------------------------------ blobs
    def want(self, entries: list[Entry]) -> None:
        self.pending = self._answers([f"contents {e.oid}\n".encode() for e in entries])

    def open(self, entry: Entry) -> int:
        if next(self.pending, None) is None:
            raise AssertionError(f"'{entry.path}' was not asked for")
        return super().open(entry)

    def finish(self) -> None:
        try:
            self.proc.stdin.close()  # git exits when it reads the end
        except OSError:
            pass
        stderr = self.proc.stderr.read().decode(errors="replace")
        if self.proc.wait() != 0:
            raise GitError(self.args, self.proc.returncode, stderr, str(self.mirror))

    def close(self) -> None:
        _stop(self.proc)


class _Subtree(list):
    """A tree's entries (and subtrees) in its own order."""


def _depth_first(items: list):
    """The entries of nested lists in order, each subtree's where it stands (as ls-tree -r)."""
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, _Subtree):
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def _tree_entries(data: bytes, oid_bytes: int):
    """(mode as ls-tree prints it, name, raw id) of each entry of a tree object; mode None
    where the object is malformed. Modes are canonical as git makes them (canon_mode)."""
    at, end = 0, len(data)
    while at < end:
        space = data.find(b" ", at)
        nul = data.find(b"\0", space + 1)
        if space <= at or nul <= space + 1 or nul + 1 + oid_bytes > end:
            yield None, b"", b""
            return
        digits = data[at:space]
        if digits.strip(b"01234567"):  # git reads octal digits only (int() would take '+', '_')
            yield None, b"", b""
            return
        mode = int(digits, 8)
        kind = mode & 0o170000
        if kind == 0o100000:
            shown = EXECUTABLE if mode & 0o100 else FILE
        else:
            shown = {0o120000: SYMLINK, 0o040000: _TREE}.get(kind, GITLINK)
        yield shown, data[space + 1:nul], data[nul + 1:nul + 1 + oid_bytes]
        at = nul + 1 + oid_bytes


def _stop(proc: subprocess.Popen) -> None:
    """Kill `proc` if it still runs (we stopped reading early) and release its pipes."""
    if proc.poll() is None:
        proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    proc.wait()


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
                os.mkdir(parts[i - 1], 0o755, dir_fd=parent)
            except FileExistsError:
                pass  # made for an earlier file; the O_NOFOLLOW open below proves it is a folder
            self.chain.append(("/".join(parts[:i]), os.open(parts[i - 1], _DIR_FLAGS, dir_fd=parent)))
        return self.chain[-1][1]

    def close(self) -> None:
        for _, fd in self.chain:
            os.close(fd)
        self.chain = []


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write(dest: Path, files: list[Entry], targets: dict[str, str], blobs: _Blobs) -> Export:
    """Regular files first (mode 0644 or 0755, hashed while written), then the symlinks."""
    records, pointers = [], []
    folders = _Folders(dest)
    try:
        for entry in files:
            folder, _, base = entry.path.rpartition("/")
            mode = 0o755 if entry.mode == EXECUTABLE else 0o644
            fd = os.open(base, _FILE_FLAGS, mode, dir_fd=folders.get(folder))
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
            finally:
                os.close(fd)
            records.append(FileRecord(entry.path, entry.mode, digest.hexdigest(), st.st_size, st.st_mtime_ns))
        for path, target in targets.items():
            folder, _, base = path.rpartition("/")
            parent = folders.get(folder)
            os.symlink(target, base, dir_fd=parent)
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            records.append(FileRecord(path, "120000", hashlib.sha256(target.encode()).hexdigest(), st.st_size, st.st_mtime_ns))
    finally:
        folders.close()
    records.sort(key=lambda r: r.path.encode())
    return Export(records, [lfs_warning(pointers)] if pointers else [])
