"""A remote: a git URL, its canonical form (the cache key), and what it advertises.

Listing refs is the only network call resolution needs: one `git ls-remote` per URL.
"""

from __future__ import annotations

import hashlib
import re

from xpm.git.command import Git
from xpm.resolve import RefList

_SCP = re.compile(r"^(?P<user>[^@/]+)@(?P<host>[^:/]+):(?P<path>.+)$")


def canonical_url(url: str) -> str:
    """One spelling per repository (as cargo's CanonicalUrl): lower-case scheme and host, ssh
    for scp-like addresses, no trailing slash or `.git`. Two spellings share one mirror."""
    if (m := _SCP.match(url)) and "://" not in url:
        url = f"ssh://{m.group('user')}@{m.group('host')}/{m.group('path')}"
    if "://" in url:
        scheme, rest = url.split("://", 1)
        authority, _, path = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        url = f"{scheme.lower()}://{userinfo}{at}{host.lower()}/{path}"
    url = url.rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url.rstrip("/")


def mirror_name(url: str) -> str:
    """A readable, collision-free folder name for the mirror of `url`."""
    canonical = canonical_url(url)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", canonical.split("://", 1)[-1]).strip("_")[-60:]
    return f"{readable}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}.git"


def parse_ls_remote(text: str) -> RefList:
    """Parse `git ls-remote --symref` output; annotated tags are peeled to their commit."""
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    branches: dict[str, str] = {}
    head = head_commit = None
    for line in text.splitlines():
        if not line.strip():
            continue
        left, _, ref = line.partition("\t")
        if left.startswith("ref: "):
            if ref == "HEAD" and left[5:].startswith("refs/heads/"):
                head = left[5 + len("refs/heads/"):]
            continue
        if ref == "HEAD":
            head_commit = left
        elif ref.startswith("refs/tags/"):
            name = ref[len("refs/tags/"):]
            if name.endswith("^{}"):
                peeled[name[:-3]] = left
            else:
                tags[name] = left
        elif ref.startswith("refs/heads/"):
            branches[ref[len("refs/heads/"):]] = left
    tags.update(peeled)
    return RefList(tags, branches, head, head_commit)


def list_refs(git: Git, url: str) -> RefList:
    """Ask the remote for its tags, branches and default branch (one connection)."""
    proc = git.run(["ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*", "refs/tags/*"], url=url)
    return parse_ls_remote(proc.stdout)
