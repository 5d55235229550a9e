"""How the git processes xpm starts end: killed with their group when they run too long or
Ctrl-C stops them (`kill`, `signal_kill`), and with xpm itself when xpm is killed
(`dying_with_xpm`, Linux's parent-death signal). `xpm.git.command` runs them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading


# A network git over http or ssh works through child processes (git-remote-http and fetch-pack,
# which writes into the mirror; ssh) that a parent-death signal never reaches: the kernel sends
# it to the one process that asked. So for those, the process that asks is this shell: it runs
# git in the background and, when that signal comes (SIGTERM, which a shell can catch), kills
# its whole process group, git's helpers included. A git killed by a signal is reported as such
# (the shell sends itself the same signal), as callers read signals (SIGPIPE) from it.
_GROUP_KEEPER = ('trap "kill -KILL 0" TERM; "$@" & wait $!; s=$?; '
                 '[ "$s" -gt 128 ] && { trap - TERM; kill -$((s - 128)) $$; }; exit "$s"')


def dying_with_xpm(cmd: list[str], helpers: bool = False):
    """`cmd` made to die with xpm on Linux, and the function to run before its exec that does it,
    if any: in a session of its own (so that a timeout can kill its helpers), no terminal
    signal reaches a network git, and an xpm killed with SIGKILL (`timeout -k`, the OOM killer,
    a CI runner's hard cancel) could not stop it: it would run on, into the mirror, after xpm's
    lock of it is gone, and against a remote that never answers, forever. The kernel signals it
    when the thread that started it (and waits for it) ends. util-linux's `setpriv` asks for
    that before it runs git: ~1 ms, while a Python function before exec makes every start a
    `fork` that holds the GIL (~4 ms), so that is only the fallback. With `helpers` (http,
    ssh: git's work is done by its children), the signal goes to `_GROUP_KEEPER` instead."""
    if not sys.platform.startswith("linux"):
        return cmd, None
    death = signal.SIGKILL
    if helpers:
        cmd, death = ["/bin/sh", "-c", _GROUP_KEEPER, "sh", *cmd], signal.SIGTERM
    if (setpriv := _setpriv()) is not None:
        return [setpriv, "--pdeathsig", death.name.removeprefix("SIG"), "--", *cmd], None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:  # in the child, before exec: nothing but a system call
        prctl(1, death)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # xpm died before the line above
            os._exit(1)

    return cmd, arm


class Started:
    """A short command started now and read later (`result`): git's version and whether setpriv
    works are asked while xpm forks its validation process and starts its threads, not one
    after the other before the first fetch (`xpm.git.command.Git.start_probes`)."""

    def __init__(self, cmd: list[str], **kwargs):
        self.args = cmd
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                                  stderr=subprocess.PIPE, **kwargs)
            self.error: OSError | None = None
        except OSError as exc:  # raised by `result`, where the caller of subprocess.run would get it
            self.proc, self.error = None, exc

    def result(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        """As `subprocess.run(..., capture_output=True, timeout=timeout)` would have returned or raised."""
        if self.proc is None:
            raise self.error
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except BaseException:  # the timeout, or Ctrl-C: as subprocess.run, leave no process behind
            kill(self.proc, False)
            raise
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, err)


_setprivs: dict[str, str | None] = {}
_asking = threading.Lock()  # the threads of a parallel install start their first git at once
_setpriv_probe: list[tuple[str | None, Started | None]] = []  # started by `ask_setpriv`, read by `_setpriv`


def ask_setpriv() -> None:
    """Start asking `setpriv` whether it works (see `_setpriv`), without waiting for the answer."""
    if not sys.platform.startswith("linux"):
        return
    with _asking:
        if "found" not in _setprivs and not _setpriv_probe:
            _setpriv_probe.append(_probe_setpriv())


def _probe_setpriv() -> tuple[str | None, Started | None]:
    found = shutil.which("setpriv")  # it runs itself: no search of PATH for a program to run
    return found, Started([found, "--pdeathsig", "KILL", "--", found, "--version"]) if found else None


def _setpriv() -> str | None:
    """`setpriv` if it is there and knows --pdeathsig (util-linux 2.33+), asked once per process."""
    with _asking:
        if "found" not in _setprivs:
            found, probe = _setpriv_probe.pop() if _setpriv_probe else _probe_setpriv()
            try:
                works = probe is not None and probe.result(timeout=10).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                works = False
            _setprivs["found"] = found if works else None
        return _setprivs["found"]


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
