"""Reading one commit's tree and blobs from a mirror's objects, for `xpm.git.checkout`.

`BatchObjects`: one `git cat-file --batch-command` process (git 2.36+) that walks the tree
objects and sends the blobs. Older git, and every tree the walk leaves to it: `Listing`
(`git ls-tree -r -z --long`, parsed as it streams) and `Blobs` (`git cat-file --batch`).
Every answer is read to exactly the size git announces; an answer that breaks what the
mirror's own listing promised raises `MirrorDamaged` (sync fetches it again, once).
"""

from __future__ import annotations

import re
import select
import subprocess
import threading
from pathlib import Path

from xpm.errors import GitError, MirrorDamaged, XpmError
from xpm.git.command import Git
from xpm.tree_rules import EXECUTABLE, FILE, GITLINK, MAX_PATH_BYTES, SYMLINK, Entry, Limits, UnsafeTree, decode_path

BATCH_COMMAND = (2, 36)  # the git that has `cat-file --batch-command`: list and send in one process
_MAX_RECORD = 4096  # one ls-tree line: mode, type, id, size and a path the rules allow
# Requests written at once: at most PIPE_BUF bytes, and only when git has read every earlier
# one (all their answers were read), so the write never blocks and no writer thread is needed.
_ASK_BYTES = getattr(select, "PIPE_BUF", 512)
# An answer's first line: a header, or `<name> missing`, which repeats the name asked for
# (`commit:subdir`, as long as a line of .xlm_models).
_ANSWER_LINE = 8192


class Listing:
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
        stop(self.proc)


class Blobs:
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
        """The mirror cannot give what its own listing promised: sync fetches it again (once).
        Unless a signal from outside ended git (the terminal's Ctrl-C reaches the whole process
        group, the OOM killer): that says nothing of the mirror, which must not be replaced."""
        try:
            self.proc.wait(timeout=1)  # its output ended: it is exiting, or it is stuck and killed below
        except subprocess.TimeoutExpired:
            pass
        ended = self.proc.returncode
        if ended is None:
            self.proc.kill()
        stderr = self.proc.stderr.read().decode(errors="replace")  # git's own reason, when it gave one
        stop(self.proc)
        if ended is not None and ended < 0:
            raise GitError(self.args, ended, f"git was stopped by signal {-ended} ({what})", str(self.mirror))
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
        stop(self.proc)
        self.asker.join()


_TREE = "040000"
_HEADER = re.compile(rb"([0-9a-f]{40}|[0-9a-f]{64}) (blob|tree|commit|tag) (\d+)\n")


class BatchObjects(Blobs):
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
        line = self.out.readline(_ANSWER_LINE)
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
        root = Subtree()
        trees = [(b"", self._tree_data(size, budget), root)]
        oid_bytes, count = len(oid) // 2, 0
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
                        subtrees.append((path + b"/", raw_oid.hex(), Subtree()))
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
        stop(self.proc)


class Subtree(list):
    """A tree's entries (and subtrees) in its own order."""


def _depth_first(items: list):
    """The entries of nested lists in order, each subtree's where it stands (as ls-tree -r)."""
    stack = [iter(items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, Subtree):
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


def stop(proc: subprocess.Popen) -> None:
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
