"""Progress per model: a live block of one line per model on a terminal, plain lines otherwise.

Workers report from several threads, so every write happens under one lock. Lines are
redacted (`xlm.shown.redact`): a URL with a token in it never reaches the terminal or a CI log.
"""

from __future__ import annotations

import sys
import threading

from xlm.shown import redact


class Progress:
    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.lines: dict[str, str] = {}
        self.drawn = 0
        self._lock = threading.Lock()

    def __call__(self, name: str, message: str) -> None:
        message = redact(message)
        try:
            self._write(name, message)
        except (OSError, ValueError):  # stderr closed (`2>&-`, a daemon) or gone: progress is no part of the work
            pass

    def _write(self, name: str, message: str) -> None:
        with self._lock:
            if not self.live:
                self.stream.write(f"{name}: {message}\n")
                self.stream.flush()
                return
            self.lines[name] = message
            width = max(len(n) for n in self.lines)
            out = f"\x1b[{self.drawn}F" if self.drawn else ""
            for n, m in self.lines.items():
                out += f"\x1b[2K  {n.ljust(width)}  {m}\n"
            self.drawn = len(self.lines)
            self.stream.write(out)
            self.stream.flush()


def quiet(name: str, message: str) -> None:
    """A progress sink that says nothing (for `--quiet` and library callers)."""
