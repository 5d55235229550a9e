"""SIGTERM (`timeout`, a cancelled CI job, systemd), undone as Ctrl-C is.

Python's default action ends the process at once: no `finally` runs, staged folders stay, and
xpm's git processes (in sessions of their own, so that a timeout can kill them) go on writing
into the cache. Raised as a `KeyboardInterrupt`, it takes Ctrl-C's path. Also here: how a
worker thread learns of a Ctrl-C (`Stopped`), and clean-up that a second one must not cut
short (`shielded`). A module of its own, imported by every xpm process before anything else,
so it must stay this small.
"""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """A SIGTERM, reported as `terminated` with exit status 143 (128 + 15)."""


def stop_on_sigterm() -> None:
    def terminated(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)


class Stopped(KeyboardInterrupt):
    """Raised in a worker thread whose command the main thread stopped (Ctrl-C reaches only
    the main thread): a git command killed, a wait for a lock or a retry cut short."""


def shielded(clean_up) -> None:
    """Run `clean_up` to its end whatever Ctrl-C comes meanwhile, again after each (it must be
    idempotent): a second Ctrl-C must not leave what the first one is undoing half undone."""
    while True:
        try:
            return clean_up()
        except KeyboardInterrupt:
            continue
