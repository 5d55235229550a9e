"""The standard streams a process of xlm or xpm starts with, made safe to use.

A stream closed by the caller (`2>&-`, a daemon, cron) leaves its number free: the first file
the process opens takes it, and git's children, which inherit fd 2, would write their messages
into that file (a lock, a staged model file), while Python, finding it closed at start, has no
`sys.stderr` at all. As git does (`sanitize_stdfds`), a closed stdin, stdout or stderr, or an
output stream open only for reading (what a shell script's own file is, under a shim), is
/dev/null before anything else. Output the terminal cannot encode (a path with a byte that is
not UTF-8, `PYTHONIOENCODING=ascii`) is written as escapes, never a traceback.
"""

from __future__ import annotations

import os
import sys


def make_safe() -> None:
    import fcntl

    for fd in (0, 1, 2):
        try:
            unusable = fd > 0 and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
        except OSError:  # closed
            unusable = True
        if unusable:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # closed when Python started
            setattr(sys, name, open(os.devnull, "w"))
            continue
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text file we may change (a test's capture)
            pass
