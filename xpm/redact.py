"""Secrets in URLs never leave xpm: one function for every line it prints or writes.

A token usually reaches xpm through the user's git config (`url.<base>.insteadOf` with
`https://user:TOKEN@host/`), so git's own messages can carry it. Everything printed (errors,
progress, `-v` traces) and everything written (lock, cache folder names, stored URLs) goes
through here. Userinfo of a web URL is secret as a whole (a token is often the user name);
an ssh login name is kept (it is part of the address, `ssh://git@host/...`), its password not.
"""

from __future__ import annotations

import re

# As git splits a URL: the userinfo ends at the first '@' before any '/', '?' or '#'.
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^/?#@\s'\"]+)@")
_SSH = ("ssh://", "git+ssh://", "ssh+git://")


def _hide(match: re.Match) -> str:
    scheme, info = match.group(1), match.group(2)
    user, colon, _ = info.partition(":")
    if colon:
        return f"{scheme}{user}:***@"
    return match.group(0) if scheme.lower() in _SSH else f"{scheme}***@"


def redact(text: str) -> str:
    """`text` with every password (and every web URL's user name) replaced by `***`."""
    return _USERINFO.sub(_hide, text) if "@" in text else text


def without_userinfo(url: str) -> str:
    """`url` with its password removed, and for web URLs its user name too: a cache key or a
    stored URL that names the repository, never the credentials used to reach it."""

    def strip(match: re.Match) -> str:
        scheme, info = match.group(1), match.group(2)
        user, colon, _ = info.partition(":")
        return f"{scheme}{user}@" if scheme.lower() in _SSH and user else scheme

    return _USERINFO.sub(strip, url, count=1) if "@" in url else url
