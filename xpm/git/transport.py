"""Transports: which ones xpm lets git use, and how each is made to fail instead of hang.

The policy is decided on the URL git will really contact (after the user's
`url.<base>.insteadOf` rules), and git enforces it too (`protocol.<name>.allow`), redirects
included:
- https, ssh and file: always;
- http and git://: no transport integrity (anyone on the path can change the code), so only
  for hosts the user lists in XPM_INSECURE_HOSTS (as Go's GOINSECURE);
- anything else (`ext::`, `fd::`, remote helpers): never.

Network commands get limits so a server that accepts and never answers cannot hang xpm:
HTTP's low-speed abort, ssh's BatchMode, ConnectTimeout and keep-alives (unless the user
configured an ssh command of their own), and the runner's hard XPM_NETWORK_TIMEOUT.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import NamedTuple

from xpm import settings
from xpm.errors import InsecureTransport, UnsupportedTransport

SECURE = ("https", "ssh", "file")
INSECURE = ("http", "git")

# Every protocol off, then the ones xpm uses back on; http and git are switched on per
# command, for an allowed host only (`config_for`). Command-line config outranks the user's.
PROTOCOL_CONFIG = (
    "protocol.allow=never",
    *(f"protocol.{name}.allow=always" for name in SECURE),
    *(f"protocol.{name}.allow=never" for name in (*INSECURE, "ext")),
)

# OpenSSH: never prompt (a prompt hangs parallel fetches), give up on a silent host after
# CONNECT_TIMEOUT, and on a dead connection after ALIVE_INTERVAL * ALIVE_COUNT seconds.
CONNECT_TIMEOUT, ALIVE_INTERVAL, ALIVE_COUNT = 30, 15, 4
SSH_COMMAND = (f"ssh -o BatchMode=yes -o ConnectTimeout={CONNECT_TIMEOUT} "
               f"-o ServerAliveInterval={ALIVE_INTERVAL} -o ServerAliveCountMax={ALIVE_COUNT}")
# curl aborts a transfer slower than LOW_SPEED_LIMIT bytes/s for LOW_SPEED_TIME seconds.
LOW_SPEED_LIMIT, LOW_SPEED_TIME = 1000, 60

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_HELPER = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)::")
_SCP = re.compile(r"^(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+):")


def transport_of(url: str) -> tuple[str, str]:
    """(transport, host) of a URL as git reads it: `ssh` for scp-like `host:path`, `file`
    for a plain path, the helper's name for `name::address`."""
    if m := _SCHEME.match(url):
        scheme = m.group(1).lower()
        scheme = "ssh" if scheme in ("git+ssh", "ssh+git") else scheme
        host = m.group(2).rpartition("@")[2]
        return scheme, _host_only(host)
    if m := _HELPER.match(url):
        return m.group(1).lower(), ""
    if (m := _SCP.match(url)) and not re.match(r"^[A-Za-z]:[\\/]", url):  # C:\path is a path
        return "ssh", m.group(1).strip("[]").lower()
    return "file", ""


def _host_only(authority: str) -> str:
    if authority.startswith("["):  # [::1]:9418
        return authority[1:].partition("]")[0].lower()
    return authority.partition(":")[0].lower()


def _port(url: str) -> str:
    m = _SCHEME.match(url)
    authority = m.group(2).rpartition("@")[2] if m else ""
    tail = authority.rpartition("]")[2] if authority.startswith("[") else authority
    return tail.partition(":")[2]


def insecure_allowed(url: str) -> bool:
    """Whether XPM_INSECURE_HOSTS lists the host of `url` (`host`, `host:port` or a glob)."""
    host = transport_of(url)[1]
    port = _port(url)
    names = [host] + ([f"{host}:{port}"] if port else [])
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.insecure_hosts() for name in names)


def config_for(url: str, effective: str) -> tuple[str, ...]:
    """The `-c` settings that open the transport of `effective` (what git will contact for
    `url`), or raise why xpm refuses it. Both URLs are named in the message."""
    scheme, host = transport_of(effective)
    if scheme in SECURE:
        return ()
    if scheme in INSECURE:
        if insecure_allowed(effective):  # for that host only: a redirect elsewhere over http is not followed
            return (f"protocol.{scheme}.allow=always", *(("http.followRedirects=false",) if scheme == "http" else ()))
        raise InsecureTransport(url, effective, scheme, host)
    raise UnsupportedTransport(url, effective, scheme)


# ----------------------------------------------------------------------------- the user's insteadOf rules
# One `git config --get-regexp` per process lists the rules (and core.sshCommand), instead of a
# `git ls-remote --get-url` process per remote: a cold install of 20 models paid 20 of those.
USER_CONFIG_PATTERN = r"^(url\..*\.insteadof|core\.sshcommand)$"
_INSTEAD_OF = (b"url.", b".insteadof")


class UserConfig(NamedTuple):
    """What xpm needs from the user's git configuration, read once (`parse_user_config`).

    ``rewrites``: ``(base, [prefix, ...])`` in the order git first meets each base (bytes, as
    git compares them); None when a rule has no value (git refuses such a config: then xpm asks
    git itself, `ls-remote --get-url`, and gets the same answer git's fetch will act on)."""

    rewrites: tuple[tuple[bytes, tuple[bytes, ...]], ...] | None
    ssh_command: bool  # core.sshCommand set: its ssh options are the user's to choose


def parse_user_config(listing: bytes) -> UserConfig:
    """Read `git config -z --get-regexp USER_CONFIG_PATTERN`: `key\nvalue\0` per entry (a
    key alone when it has no value), in the order git reads its config files."""
    bases: dict[bytes, list[bytes]] = {}  # insertion order: the order git creates its rewrites
    ssh: bytes | None = None
    usable = True
    for item in listing.split(b"\0"):
        if not item:
            continue
        key, newline, value = item.partition(b"\n")
        if key == b"core.sshcommand":
            ssh = value  # the last one wins, as for any single-valued key
        elif key.startswith(_INSTEAD_OF[0]) and key.endswith(_INSTEAD_OF[1]):
            if not newline:
                usable = False
            bases.setdefault(key[len(_INSTEAD_OF[0]):-len(_INSTEAD_OF[1])], []).append(value)
    rewrites = tuple((base, tuple(prefixes)) for base, prefixes in bases.items()) if usable else None
    return UserConfig(rewrites, bool(ssh and ssh.strip()))


def rewritten(url: str, rewrites: tuple[tuple[bytes, tuple[bytes, ...]], ...]) -> str:
    """`url` as git rewrites it with `url.<base>.insteadOf` (remote.c, alias_url): the longest
    matching prefix wins, between equally long ones the base git met first; no match, no change.
    Compared as bytes, as git does; bytes of a base that are not UTF-8 read as U+FFFD (the result
    is used to classify the transport and to name it in messages)."""
    raw = url.encode("utf-8", "surrogateescape")
    best: tuple[bytes, bytes] | None = None
    for base, prefixes in rewrites:
        for prefix in prefixes:
            if raw.startswith(prefix) and (best is None or len(prefix) > len(best[1])):
                best = (base, prefix)
    if best is None:
        return url
    return (best[0] + raw[len(best[1]):]).decode("utf-8", "replace")


def network_env(uses_ssh: bool, user_ssh_command: bool) -> dict[str, str]:
    """Environment additions for one network command: the user's own settings win."""
    env = {}
    for var, value in (("GIT_HTTP_LOW_SPEED_LIMIT", LOW_SPEED_LIMIT), ("GIT_HTTP_LOW_SPEED_TIME", LOW_SPEED_TIME)):
        if not os.environ.get(var):
            env[var] = str(value)
    if uses_ssh and not user_ssh_command:
        env["GIT_SSH_COMMAND"] = SSH_COMMAND
    return env
