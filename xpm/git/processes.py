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


def dying_with_xpm(cmd: list[str]):
    """`cmd` made to die with xpm on Linux, and the function to run before its exec that does it,
    if any: in a session of its own (so that a timeout can kill its helpers), no terminal
    signal reaches a network git, and an xpm killed with SIGKILL (`timeout -k`, the OOM killer,
    a CI runner's hard cancel) could not stop it: it would run on, into the mirror, after xpm's
    lock of it is gone, and against a remote that never answers, forever. The kernel sends it
    SIGKILL when the thread that started it (and waits for it) ends. util-linux's `setpriv`
    asks for that before it runs git: ~1 ms, while a Python function before exec makes every
    start a `fork` that holds the GIL (~4 ms), so that is only the fallback."""
    if not sys.platform.startswith("linux"):
        return cmd, None
    if (setpriv := _setpriv()) is not None:
        return [setpriv, "--pdeathsig", "KILL", "--", *cmd], None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:  # in the child, before exec: nothing but a system call
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # xpm died before the line above
            os._exit(1)

    return cmd, arm


_setprivs: dict[str, str | None] = {}
_asking = threading.Lock()  # the threads of a parallel install start their first git at once


def _setpriv() -> str | None:
    """`setpriv` if it is there and knows --pdeathsig (util-linux 2.33+), asked once per process."""
    with _asking:
        if "found" not in _setprivs:
            found = shutil.which("setpriv")
            try:  # it runs itself: no search of PATH for a program to run
                works = found is not None and subprocess.run([found, "--pdeathsig", "KILL", "--", found, "--version"],
                                                             stdin=subprocess.DEVNULL, capture_output=True,
                                                             timeout=10).returncode == 0
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
