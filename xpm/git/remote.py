"""A remote: a git URL, its canonical form (the cache key), and what it advertises.

Listing refs is the only network call resolution needs: one `git ls-remote` per URL. Its
output is hostile input: read as bytes, split on `\\n` only, and a ref name that is not valid
UTF-8 or holds a control, format or separator character (U+0085, U+2028, a bidi override,
...) is dropped with a warning: such a name could print as another one, so it never matches.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from xlm.manifest import without_userinfo
from xlm.records.lockfile import is_tag_or_branch
from xlm.records.treehash import small_sha256
from xpm.git.command import Git

if TYPE_CHECKING:
    from xpm.resolve import RefList

_SCP = re.compile(r"^(?P<user>[^@/]+)@(?P<host>[^:/]+):(?P<path>.+)$")
# As git splits a URL: the userinfo ends at the first '@' before any '/', '?' or '#'.
_OID = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Unicode categories a ref name may not hold: controls (Cc, e.g. U+0085), format characters
# (Cf, e.g. bidi overrides), line and paragraph separators (Zl, Zp) and spaces (Zs: git
# already refuses ASCII space, and U+00A0 would make `v1.0` print like `v1.0 `).
_BAD_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Zs"}


def canonical_url(url: str) -> str:
    """One spelling per repository (as cargo's CanonicalUrl): lower-case scheme and host, ssh
    for scp-like addresses, no trailing slash or `.git` (but in a file:// URL, where `repo` and
    `repo.git` are two folders, two repositories), no credentials. Two spellings share one
    mirror, and no secret ever becomes part of a folder name."""
    if (m := _SCP.match(url)) and "://" not in url:
        url = f"ssh://{m.group('user')}@{m.group('host')}/{m.group('path')}"
    url = without_userinfo(url)
    if "://" in url:
        scheme, rest = url.split("://", 1)
        authority, _, path = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        url = f"{scheme.lower()}://{userinfo}{at}{host.lower()}/{path}"
    url = url.rstrip("/")
    if url.endswith(".git") and not url.startswith("file:"):  # servers and forges answer both spellings
        url = url[: -len(".git")]
    return url.rstrip("/")


def mirror_name(url: str) -> str:
    """A readable, collision-free folder name for the mirror of `url`."""
    canonical = canonical_url(url)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", canonical.split("://", 1)[-1]).strip("_")[-60:]
    return f"{readable}-{small_sha256(canonical.encode()).hexdigest()[:12]}.git"  # not hashlib: OpenSSL's start, ~3 ms


MAX_REF_BYTES = 1024  # far beyond any tag or branch; xlm.lock records the ref on a line of at most 4096


def ref_problem(name: str) -> str | None:
    """Why the ref name `name` (decoded) is not used, or None when it is fine."""
    if len(name.encode("utf-8", "surrogatepass")) > MAX_REF_BYTES:
        return f"it is longer than {MAX_REF_BYTES} bytes"
    for char in name:
        if unicodedata.category(char) in _BAD_CATEGORIES:
            return f"it holds the invisible or control character U+{ord(char):04X}"
    return None


def _decode_ref(raw: bytes) -> tuple[str | None, str]:
    """(name, why not) of a ref name as the remote sent it."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "it is not valid UTF-8"
    problem = ref_problem(name)
    return (None, problem) if problem else (name, "")


def _shown(raw: bytes) -> str:
    """A ref name fit for a message: undecodable bytes and invisible characters escaped."""
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if unicodedata.category(c) not in _BAD_CATEGORIES else f"\\u{ord(c):04x}" for c in text)


def parse_ls_remote(data: bytes | str, warn: Callable[[str], None] | None = None, url: str = "the remote") -> RefList:
    """Parse `git ls-remote --symref` output; annotated tags are peeled to their commit.

    Lines are split on `\\n` only (never on the other breaks `str.splitlines` knows); a line
    whose ref name is unusable is skipped and reported through `warn`."""
    from xpm.resolve import RefList  # resolution's module: not needed to fetch a locked commit

    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    branches: dict[str, str] = {}
    head = head_commit = None
    for line in data.split(b"\n"):
        line = line.removesuffix(b"\r")
        if not line.strip():
            continue
        left, tab, raw = line.partition(b"\t")
        name, problem = _decode_ref(raw)
        if name is None or not tab:
            if warn is not None:
                warn(f"ignoring ref '{_shown(raw or line)}' of {url}: {problem or 'not a ref line'}")
            continue
        if left.startswith(b"ref: "):
            target, problem = _decode_ref(left[5:])
            if target is None:
                if warn is not None:
                    warn(f"ignoring the default branch '{_shown(left[5:])}' of {url}: {problem}")
            elif name == "HEAD" and target.startswith("refs/heads/") and is_tag_or_branch(target):
                head = target[len("refs/heads/"):]
            continue
        if not _OID.match(left):
            if warn is not None:
                warn(f"ignoring ref '{name}' of {url}: '{_shown(left[:80])}' is not a commit id")
            continue
        oid = left.decode("ascii")
        if name.startswith(("refs/tags/", "refs/heads/")) and not is_tag_or_branch(name.removesuffix("^{}")):
            if warn is not None:  # a name git would refuse (`..`, `~`, a leading `-`): the lock could not record it
                warn(f"ignoring ref '{name}' of {url}: git does not allow that ref name")
            continue
        if name == "HEAD":
            head_commit = oid
        elif name.startswith("refs/tags/"):
            tag = name[len("refs/tags/"):]
            if tag.endswith("^{}"):
                peeled[tag[:-3]] = oid
            else:
                tags[tag] = oid
        elif name.startswith("refs/heads/"):
            branches[name[len("refs/heads/"):]] = oid
    tags.update(peeled)
    return RefList(tags, branches, head, head_commit)


def list_refs(git: Git, url: str, mirror: Path, warn: Callable[[str], None] | None = None) -> RefList:
    """Ask the remote for its tags, branches and default branch (one connection). Runs in the
    remote's mirror, like every git command of xpm: never in the caller's folder."""
    proc = git.run(["ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*", "refs/tags/*"], cwd=mirror, url=url, text=False)
    return parse_ls_remote(proc.stdout, warn, url)
