"""xpm's own environment variables, read and checked in one place (docs/xpm.md lists them).

A value that is not what the variable expects is a user error that names the variable, never
a silent default: a typo in XPM_NETWORK_TIMEOUT must not turn into "wait forever".
"""

from __future__ import annotations

import os
import re

from xlm.shown import show
from xpm.errors import XpmError

NETWORK_TIMEOUT = 600.0  # seconds one git network command may run before its processes are killed
LOCK_TIMEOUT = 900.0  # seconds to wait for a lock another xpm process holds
NETWORK_RETRIES = 2  # extra attempts after a transient network failure
RETRY_BACKOFF = 1.0  # seconds before the first retry, doubled for each next one
MOST_SECONDS = 7 * 86400.0  # a week: beyond it, timers overflow the platform's clocks (and no one means it)
_MOST_RETRIES = 100
# Plain decimal ASCII: `float` would also take '1_000', '1e9', 'inf' and digits of any script.
_WHOLE, _SECONDS = re.compile(r"[0-9]+"), re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def _number(name: str, default: float, minimum: float, most: float = MOST_SECONDS, integer: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if (_WHOLE if integer else _SECONDS).fullmatch(raw) and minimum <= float(raw) <= most:
        return int(raw) if integer else float(raw)
    kind = "a whole number" if integer else "a number of seconds"
    raise XpmError(
        f"{name}='{show(raw, 60)}' is not {kind} from {minimum:g} to {most:g}",
        f"set {name} to such a number (default {default:g}), or unset it",
    )


def network_timeout() -> float:
    return _number("XPM_NETWORK_TIMEOUT", NETWORK_TIMEOUT, 0.1)


def lock_timeout() -> float:
    return _number("XPM_LOCK_TIMEOUT", LOCK_TIMEOUT, 0.0)


def network_retries() -> int:
    return int(_number("XPM_NETWORK_RETRIES", NETWORK_RETRIES, 0, _MOST_RETRIES, integer=True))


def retry_backoff() -> float:
    return _number("XPM_RETRY_BACKOFF", RETRY_BACKOFF, 0.0)


def insecure_hosts() -> list[str]:
    """The host patterns of XPM_INSECURE_HOSTS (`host`, `host:port`, `*.lan`), lower-case."""
    return [p.strip().lower() for p in os.environ.get("XPM_INSECURE_HOSTS", "").split(",") if p.strip()]
