"""How the git processes xpm starts end: killed with their group when they run too long or
Ctrl-C stops them (`kill`, `signal_kill`), and with xpm itself when xpm is killed
(`dying_with_xpm`). `xpm.git.command` runs them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time


def dying_with_xpm(cmd: list[str], helpers: bool = False):
    """`cmd` made to die with xpm, the function to run before its exec that does it (if any), and
    the `Watcher` to tell its process group to (if any). A git with a time limit (a network one,
    or a short local one) runs in a session of its own (so that a timeout can kill its helpers)
    that no terminal signal reaches, so an xpm
    killed with SIGKILL (`timeout -k`, the OOM killer, a CI runner's hard cancel) could not stop
    it: it would run on, into the mirror, after xpm's lock of it is gone, and against a remote
    that never answers, forever. The `Watcher` kills its whole group, git's helpers included
    (git-remote-http, ssh). Without one (no awk), Linux's parent-death signal is asked for
    before exec, which makes every start a `fork` that holds the GIL (~4 ms), so that is only
    the fallback; with `helpers`, the signal goes to `_GROUP_KEEPER`."""
    if not sys.platform.startswith("linux"):
        return cmd, None, None
    if (found := watcher()) is not None:
        return cmd, None, found
    death = signal.SIGKILL
    if helpers:
        cmd, death = ["/bin/sh", "-c", _GROUP_KEEPER, "sh", *cmd], signal.SIGTERM
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:  # in the child, before exec: nothing but a system call
        prctl(1, death)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # xpm died before the line above
            os._exit(1)

    return cmd, arm, None


# A parent-death signal reaches the one process that asked, not git's helpers (git-remote-http
# and fetch-pack, which writes into the mirror; ssh) that hold the connection. So over http and
# ssh the process that asks is this shell: it runs git in the background and, when that signal
# comes (SIGTERM, which a shell can catch), kills its whole process group. A git killed by a
# signal is reported as such (the shell sends itself the same signal), as callers read signals.
_GROUP_KEEPER = ('trap "kill -KILL 0" TERM; "$@" & wait $!; s=$?; '
                 '[ "$s" -gt 128 ] && { trap - TERM; kill -$((s - 128)) $$; }; exit "$s"')

# The watcher's program: it says `!` when it starts; `PID` adds a process group, `-PID` removes
# it; at the end of its input, every group left is killed. (awk may read its input in blocks, as
# mawk does from a pipe: the lines are handled in order, by the end at the latest.)
_WATCH = ('BEGIN { print "!"; fflush() } $0 ~ /^[0-9]+$/ { left[$0] = 1; next } '
          '$0 ~ /^-[0-9]+$/ { delete left[substr($0, 2)] } '
          'END { for (group in left) system("kill -s KILL -- -" group " 2>/dev/null") }')
_ANSWER_WAIT = 5.0  # seconds for the watcher's first answer: an awk that gives none is not used


class Watcher:
    """One `awk` per xpm process that outlives it and kills the network gits it leaves. xpm tells
    it each network git's process group when it starts (`watch`) and once it is reaped
    (`forget`), through a pipe whose only writer is xpm (its end is never inherited: not by git,
    not by awk): when xpm exits, or is killed, the kernel closes that end, and awk kills the
    groups still running. One process start per xpm, where a parent-death signal cost an exec of
    `setpriv` (and of a shell, over http and ssh) per network git: ~3 % of the CPU of a cold
    install of 20 models (docs/benchmarks.md). Its own session: the terminal's Ctrl-C, which xpm
    handles by stopping its gits, does not end it first."""

    def __init__(self, awk: str):
        read, self._end = os.pipe()
        try:
            self.proc = subprocess.Popen([awk, _WATCH], stdin=read, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
        except OSError:
            os.close(self._end)
            raise
        finally:
            os.close(read)
        self.groups: set[int] = set()  # watched and not yet forgotten: given again to a watcher that replaces this one
        self.answered: bool | None = None  # read once, when first needed

    def answers(self) -> bool:
        """Whether it runs its program (an awk that ends at once, hangs, or is no awk would leave
        xpm's gits unguarded); one that does not is killed."""
        if self.answered is None:
            import select

            ready, _, _ = select.select([self.proc.stdout], [], [], _ANSWER_WAIT)
            self.answered = bool(ready) and self.proc.stdout.readline(8) == b"!\n"
            self.proc.stdout.close()
            if not self.answered:
                signal_kill(self.proc, True)
        return self.answered

    def watch(self, pid: int) -> None:
        self.groups.add(pid)
        self._say(f"{pid}\n")

    def forget(self, pid: int) -> None:
        self.groups.discard(pid)
        self._say(f"-{pid}\n")

    def _say(self, line: str) -> None:
        try:
            os.write(self._end, line.encode())  # a line is far below PIPE_BUF: written whole, never interleaved
        except OSError:  # it was killed: `watcher` starts another
            pass


_watchers: list[Watcher | None] = []  # the one of this process (None: no awk), made when first needed
_watching = threading.Lock()


def watcher(answered: bool = True) -> Watcher | None:
    """This process's `Watcher`, started when first asked for, again if it ended (it is given the
    groups the ended one watched); None where there is no awk that answers. `answered=False`
    only starts it (`Git.start_probes`): its answer is read when it is first needed."""
    with _watching:
        if _watchers and (_watchers[0] is None or _watchers[0].proc.poll() is None):
            if answered and _watchers[0] is not None and not _watchers[0].answers():
                _watchers[0] = None
            return _watchers[0]
        # The ended one's end of its pipe stays open: a thread may still write to it, and a closed
        # descriptor's number could name a file this process opens next.
        ended = _watchers.pop() if _watchers else None
        awk = shutil.which("awk")
        try:
            found = Watcher(awk) if awk else None
        except OSError:  # out of processes or descriptors: git asks for the parent-death signal itself
            found = None
        if found is not None and answered and not found.answers():
            found = None
        if found is not None and ended is not None:
            for pid in list(ended.groups):  # a copy: other threads add and remove
                found.watch(pid)
        _watchers.append(found)
        return found


class Started:
    """A short command started now and read later (`result`): git's version is asked while xpm
    forks its validation process and starts its threads (`xpm.git.command.Git.start_probes`)."""

    def __init__(self, cmd: list[str], **kwargs):
        self.args, self.group = cmd, bool(kwargs.get("start_new_session"))  # a group of its own: killed as a whole
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                                  stderr=subprocess.PIPE, **kwargs)
            self.error: OSError | None = None
        except OSError as exc:  # raised by `result`, where the caller of subprocess.run would get it
            self.proc, self.error = None, exc

    def result(self, timeout: float | None = None, stopped: threading.Event | None = None) -> subprocess.CompletedProcess:
        """As `subprocess.run(..., capture_output=True, timeout=timeout)` would have returned or
        raised; killed (its group too) once `stopped` is set."""
        if self.proc is None:
            raise self.error
        try:
            out, err = communicate(self.proc, None, timeout, stopped)
        except BaseException:  # the timeout, a stop, or Ctrl-C: as subprocess.run, leave no process behind
            kill(self.proc, self.group)
            raise
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, err)


def communicate(proc: subprocess.Popen, data, timeout: float | None, stopped: threading.Event | None):
    """`proc.communicate(data, timeout)`, looking at `stopped` (Ctrl-C) every 0.2 s: raises
    TimeoutExpired past `timeout` or once `stopped` is set; the caller kills the process."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return proc.communicate(data, timeout=left if stopped is None else min(0.2, 0.2 if left is None else left))
        except subprocess.TimeoutExpired:
            data = None  # sent: a second call may not send it again
            if (deadline is not None and time.monotonic() >= deadline) or (stopped is not None and stopped.is_set()):
                raise


def signal_kill(proc: subprocess.Popen, group: bool) -> None:
    """SIGKILL to `proc` (its whole group with `group`); the thread that waits for it reaps it."""
    if proc.returncode is not None:  # reaped: its pid (and group) may be another process's now
        return
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def kill(proc: subprocess.Popen, group: bool) -> None:
    signal_kill(proc, group)
    try:
        proc.communicate(timeout=5)  # reap it and close the pipes
    except subprocess.TimeoutExpired:
        pass
