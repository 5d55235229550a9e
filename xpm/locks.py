"""Inter-process locks: a project's, the shared cache's, and one per mirror of the cache.

The order is always project, then cache (shared by every install; `xpm cache clean` takes it
exclusively), then one mirror at a time per thread, exclusively while that mirror is fetched
into or exported from. So two xpm processes never wait on each other in a cycle, and a slow
remote only holds up the projects that need that same remote.

On POSIX a lock is `flock(2)` on its file, what the `filelock` package does there, without its
~20 ms import (a warm `xpm install` must start fast); elsewhere it is `filelock`. The kernel
drops a lock when its process dies, so a crash never leaves a stale lock. Every holder writes
who it is (pid, host, since, command), so a waiting process can say whom it waits for: an
exclusive holder into the lock file (emptied on release), a shared one into its own file next
to it (`<lock>.shared-<pid>-<n>`, deleted on release; one left by a crash names a process that
has ended, and is skipped and removed). Waiting gives up after XPM_LOCK_TIMEOUT seconds.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from xpm import settings
from xlm.errors import first_of
from xlm.shown import redact, show
from xpm.errors import LockTimeout, XpmError
from xpm.interrupt import Stopped

UNKNOWN_HOLDER = "another xpm process"


@contextmanager
def hold(lock_path: Path, label: str, say=None, shared: bool = False, stopped: threading.Event | None = None):
    """Hold the lock `lock_path` (exclusive, or `shared`); say so if we must wait for it. A
    thread that is not the main one passes `stopped`: once set, the wait ends in `Stopped`."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    announce = say or (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        import fcntl
    except ImportError:  # Windows: filelock, exclusive only
        with _hold_filelock(lock_path, label, announce):
            yield
        return
    fd = _open(lock_path)
    try:
        _acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, lock_path, label, announce, stopped)
        note = _shared_note(lock_path) if shared else None
        if note is None:
            _write_holder(fd)
        try:
            yield
        finally:
            if note is None:
                os.ftruncate(fd, 0)  # a later waiter must not name a holder that has finished
            else:
                note.unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _open(lock_path: Path) -> int:
    """The lock file, never through a link (a link would have xpm create or empty its target,
    outside the project and the cache), and only a regular file (a fifo would never lock)."""
    fix = f"delete it (rm -r {lock_path}: xpm makes it again), then run the command again"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o644)
    except OSError:
        if os.path.islink(lock_path):
            raise XpmError(f"{lock_path} is a symbolic link, where xpm keeps a lock file", fix) from None
        if os.path.isdir(lock_path):
            raise XpmError(f"{lock_path} is a folder, where xpm keeps a lock file", fix) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise XpmError(f"{lock_path} is not a regular file, where xpm keeps a lock file", fix)
    return fd


def _acquire(fd: int, mode: int, lock_path: Path, label: str, announce, stopped: threading.Event | None) -> None:
    import fcntl

    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    timeout = settings.lock_timeout()
    announce(f"waiting for the lock on {label}, held by {holder(lock_path)} (giving up after {timeout:g} s)")
    deadline, delay = time.monotonic() + timeout, 0.02
    while True:
        # flock cannot time out by itself, and a signal-based timeout would not work in threads.
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeout(label, holder(lock_path), timeout)
        if stopped is None:
            time.sleep(min(delay, left))
        elif stopped.wait(min(delay, left)):
            raise Stopped()
        delay = min(delay * 2, 0.25)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            continue


_HOST = os.uname().nodename if hasattr(os, "uname") else "localhost"
_notes = iter(range(1 << 62))  # distinct note files for the shared holds of one process


def _holder_line() -> bytes:
    """`PID HOST SINCE COMMAND`, the command redacted and cut short."""
    prog = os.path.basename(sys.argv[0]) if sys.argv else ""
    words = ["xpm", *sys.argv[1:]] if prog in ("xpm", "xpm.exe", "cli.py") else [prog, *sys.argv[1:]]
    command = redact(" ".join(" ".join(words).split()))[:200] or "xpm"
    return f"{os.getpid()} {_HOST} {time.time():.0f} {command}\n".encode("utf-8", "replace")


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, _holder_line(), 0)


def _shared_note(lock_path: Path) -> Path:
    note = lock_path.with_name(f"{lock_path.name}.shared-{os.getpid()}-{next(_notes)}")
    note.unlink(missing_ok=True)  # a crashed process of this pid left it; created anew, never through a link
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, _holder_line())
    finally:
        os.close(fd)
    return note


def holder(lock_path: Path) -> str:
    """Who holds `lock_path`, as the holders wrote it, e.g. "`xpm install` (pid 4242 on
    host, since 2024-05-01 12:03:04)"; UNKNOWN_HOLDER when no living holder wrote."""
    found = [_read_holder(lock_path)]
    try:
        notes = sorted(lock_path.parent.glob(f"{lock_path.name}.shared-*"))
    except OSError:
        notes = []
    for note in notes:
        who = _read_holder(note)
        if who is None:  # left by a process that ended without releasing (a crash)
            try:
                note.unlink()
            except OSError:
                pass
        found.append(who)
    named = [who for who in found if who]
    return first_of(named, 3, " and ") if named else UNKNOWN_HOLDER


def _read_holder(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            text = handle.read(512).decode("utf-8", "replace")
    except OSError:
        return ""
    parts = text.strip().split(" ", 3)
    if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
        return ""
    pid, host, since, command = int(parts[0]), parts[1], int(parts[2]), parts[3]
    if host == _HOST and not _alive(pid):
        return None  # that holder has ended
    try:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    except (OverflowError, OSError, ValueError):  # a time no clock can show: written by no xpm
        return ""
    # The file is outside input: its text is shown escaped, so it can add no line or terminal escape.
    return f"`{show(command, 200)}` (pid {pid} on {show(host, 100)}, since {when})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _hold_filelock(lock_path: Path, label: str, announce):
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        timeout = settings.lock_timeout()
        announce(f"waiting for the lock on {label}, held by {UNKNOWN_HOLDER} (giving up after {timeout:g} s)")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(label, UNKNOWN_HOLDER, timeout) from None
    try:
        yield
    finally:
        lock.release()
