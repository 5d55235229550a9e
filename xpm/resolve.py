"""Resolution: from a requested ref and a remote's ref list to one commit. Pure data, no git.

Rules, in order (the first that applies wins):

1. no ref: the newest semver tag (final releases only), else the default branch's head;
2. a full commit id (40 or 64 hex digits): that commit, nothing to resolve (as git reads it:
   a branch or tag named like a commit id never moves a pinned commit);
3. a tag with exactly that name, then a branch with exactly that name (so a tag named `v1`
   wins over the query `v1`);
4. a version query on tags (`v1`, `1.2`, `>=1.2,<2`): the newest tag that satisfies it, tags
   read with or without a leading `v` (PEP 440 via `packaging`, but as semver and Go read a
   `-` after the version: `v1.3.0-1` is a pre-release of 1.3.0, where PEP 440 reads a
   post-release; a tag with an epoch, `1!2.0`, is no version);
5. a short commit id (at least 4 hex digits): a ref tip starting with it, else `NeedsHistory`
   (the git layer then looks it up in the full history).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from xpm.errors import UnknownRef

_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{4,39}$")
_HYPHEN_SUFFIX = re.compile(r"^[vV]?[0-9]+(?:\.[0-9]+)*-")  # `1.3.0-1`: semver's pre-release mark
_PARTIAL_VERSION = re.compile(r"^[vV]?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?$")  # ASCII digits: `\d` takes any script's
_OPERATORS = ("===", "==", "!=", "~=", "<=", ">=", "<", ">")


class RefList(NamedTuple):
    """What a remote advertises: tag and branch names to (peeled) commits, and its default branch.
    A snapshot: its dicts are never changed (the empty defaults are shared)."""

    tags: dict[str, str] = {}
    branches: dict[str, str] = {}
    head: str | None = None  # default branch name, from HEAD's symref
    head_commit: str | None = None

    def to_json(self) -> dict:
        return {"tags": self.tags, "branches": self.branches, "head": self.head, "head_commit": self.head_commit}

    @classmethod
    def from_json(cls, data: dict) -> "RefList":
        """What `to_json` wrote; KeyError for anything else (`{}` is no remote without refs)."""
        if set(data) != {"tags", "branches", "head", "head_commit"}:
            raise KeyError("not a refs snapshot")
        return cls(dict(data["tags"]), dict(data["branches"]), data["head"], data["head_commit"])


class Resolved(NamedTuple):
    """A ref turned into a commit. `ref` is the full ref name ('' when a commit was asked for)."""

    commit: str
    ref: str


class NeedsHistory(NamedTuple):
    """A short commit id that is no ref's tip: only the repository's history can expand it."""

    prefix: str


def short_ref(ref: str) -> str:
    """`refs/tags/v1.2.0` -> `v1.2.0` for display."""
    for prefix in ("refs/tags/", "refs/heads/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def version_query(requested: str):
    """The `SpecifierSet` a requested ref means as a version query, or None when it is not one."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if requested.startswith(("^", "~")) and not requested.startswith("~="):  # no ref name holds either (git refuses them)
        said = f"@{spelled}" if (spelled := _as_pep440(requested)) else "@>=X,<Y or @~=X.Y"
        raise UnknownRef(f"'{requested}' is a range in npm's or cargo's spelling, not a version query",
                         f"write it as a PEP 440 specifier set: {said}")
    if requested.startswith(_OPERATORS):
        try:
            return SpecifierSet(requested)
        except InvalidSpecifier:
            raise UnknownRef(
                f"'{requested}' is not a valid version query",
                "write PEP 440 specifiers such as @>=1.2,<2, or a tag, branch or commit",
            ) from None
    m = _PARTIAL_VERSION.match(requested)
    if not m:
        return None
    parts = [p for p in m.groups() if p is not None]
    return SpecifierSet(f"=={'.'.join(parts)}" + (".*" if len(parts) < 3 else ""))


def _as_pep440(requested: str) -> str | None:
    """npm's and cargo's `~X.Y.Z` / `^X.Y.Z` as the PEP 440 set that means the same, or None."""
    m = re.fullmatch(r"([~^])[vV]?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?", requested)
    if m is None:
        return None
    op, parts = m.group(1), [int(p) for p in m.groups()[1:] if p is not None]
    written = ".".join(map(str, parts))
    if op == "~" or len(parts) == 1:  # ~1 = 1.x, ~1.2 = 1.2.x, ~1.2.3 = >=1.2.3 within 1.2; ^1 = 1.x
        return f"=={written}.*" if len(parts) < 3 else f">={written},=={parts[0]}.{parts[1]}.*"
    first = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)  # ^: the first non-zero part may not move
    if first == len(parts) - 1 and len(parts) == 3:
        return f"=={written}"  # ^0.0.3
    return f">={written},=={'.'.join(map(str, parts[:first + 1]))}.*"


def tag_versions(tags: dict[str, str]) -> list[tuple[object, str]]:
    """(Version, tag name) of every tag that reads as a version, newest first."""
    from packaging.version import InvalidVersion, Version

    out = []
    for name in tags:
        try:
            version = Version(name)
        except InvalidVersion:
            continue
        if version.epoch:
            continue  # no semver tag has one, and it would outrank every other
        if version.post is not None and version.pre is None and _HYPHEN_SUFFIX.match(name):
            # PEP 440 reads `1.3.0-1` (and `-r1`, `-post1`) as a release after 1.3.0; semver and
            # Go read a pre-release before it. A dev release sorts where that belongs.
            version = Version(f"{version.base_version}.dev{version.post}")
        out.append((version, name))
    # Build metadata (`+build`, PEP 440's local label) never outranks the same version without
    # it, as semver reads it (PEP 440 sorts `1.2.3+build` above `1.2.3`); other ties (v1.0 and
    # 1.0) break on the name, so the choice never depends on dict order.
    return sorted(out, key=lambda pair: (Version(pair[0].public), pair[0].local is None, pair[0], pair[1]), reverse=True)


def newest_matching(spec, tags: dict[str, str]) -> str | None:
    versions = tag_versions(tags)
    allowed = set(spec.filter([v for v, _ in versions]))
    for version, name in versions:
        if version in allowed:
            return name
    return None


def resolve(requested: str | None, refs: RefList, where: str = "the repository") -> Resolved | NeedsHistory:
    """Apply the rules of the module docstring; raise UnknownRef listing the nearest refs."""
    if requested is None:
        finals = [(v, n) for v, n in tag_versions(refs.tags) if not v.is_prerelease]
        if finals:
            name = finals[0][1]
            return Resolved(refs.tags[name], f"refs/tags/{name}")
        if refs.head and refs.head in refs.branches:
            return Resolved(refs.branches[refs.head], f"refs/heads/{refs.head}")
        if refs.head_commit:  # HEAD not advertised as a branch: the branch at its commit, as git clone guesses
            branch = _branch_at(refs.head_commit, refs.branches)
            return Resolved(refs.head_commit, f"refs/heads/{branch}" if branch else "")
        raise UnknownRef(f"{where} has no tags and no default branch", _empty_fix(where, "push a commit or a tag, or name a ref with @REF"))
    if _FULL_SHA.match(requested.lower()):  # git reads hex in either case; the lock holds its own spelling
        return Resolved(requested.lower(), "")
    if requested in refs.tags:
        return Resolved(refs.tags[requested], f"refs/tags/{requested}")
    if requested in refs.branches:
        return Resolved(refs.branches[requested], f"refs/heads/{requested}")
    spec = version_query(requested)
    if spec is not None:
        name = newest_matching(spec, refs.tags)
        if name is not None:
            return Resolved(refs.tags[name], f"refs/tags/{name}")
    if _SHORT_SHA.match(prefix := requested.lower()):
        tips = {c for c in (*refs.tags.values(), *refs.branches.values()) if c.startswith(prefix)}
        if len(tips) == 1:
            return Resolved(tips.pop(), "")
        if len(tips) > 1:
            raise UnknownRef(f"commit prefix '{requested}' is ambiguous in {where}", "write more digits of the commit id")
        return NeedsHistory(prefix)
    raise unknown_ref(requested, refs, where, is_query=spec is not None)


def _branch_at(commit: str, branches: dict[str, str]) -> str | None:
    """The branch whose head is `commit` (main, then master, then the first by name), if any."""
    at = sorted(name for name, head in branches.items() if head == commit)
    return next((name for name in ("main", "master") if name in at), at[0] if at else None)


def unknown_ref(requested: str, refs: RefList, where: str, is_query: bool = False) -> UnknownRef:
    """The error for a ref that names nothing, listing the closest tags and branches (for a version
    query, the newest versions)."""
    import difflib

    names = [*refs.tags, *refs.branches]
    # For a version query the nearest are the newest versions (`v3` is not "near" `v1.3.0`).
    near = [] if is_query else difflib.get_close_matches(requested, names, n=5, cutoff=0.5)
    if not near:
        near = [name for _, name in tag_versions(refs.tags)[:3]] + sorted(refs.branches)[:2]
    listed = ", ".join(f"{n} ({'tag' if n in refs.tags else 'branch'})" for n in near)
    what = f"no tag matches the version query '{requested}'" if is_query else f"unknown ref '{requested}'"
    if not near:
        return UnknownRef(f"{what} in {where}, which has no tags or branches", _empty_fix(where, "push a commit there first, or check the URL"))
    return UnknownRef(f"{what} in {where}; nearest: {listed}", "pick one of the refs above (e.g. @TAG), or push the tag first")


def _empty_fix(where: str, fix: str) -> str:
    """Over http(s), git reads a web page that answers 200 (a login or error page) as a 'dumb'
    repository without refs: an empty listing there may be no repository at all."""
    if where.startswith(("http://", "https://")):
        return f"check that the URL is the repository's (`git ls-remote URL` lists its refs; a web page there lists none); {fix}"
    return fix


# ----------------------------------------------------------------------------- what is newer
# For `xpm outdated` and `xpm update`'s word on a pinned model: data in, data out.


def describe(ref: str, commit: str) -> str:
    """How a locked or resolved version is shown: `v1.1.0 (de67e8d)`, `main (51c0a2e)`, or
    `de67e8d` for a commit asked for by id."""
    name = short_ref(ref)
    return f"{name} ({commit[:7]})" if name else commit[:7]


def is_pin(requested: str | None, resolved: str) -> bool:
    """Whether `requested` names one exact version (a tag by its full name, or a commit), which
    `xpm update` never moves past: a branch, a version query or no ref at all move."""
    return requested is not None and (resolved == f"refs/tags/{requested}" or resolved == "")


def kept_pin(previous, entry, refs: RefList) -> Resolved | None:
    """The locked commit of a model pinned to a tag (`@v1.0.0`, locked as refs/tags/v1.0.0)
    whose tag is gone upstream: a pin is never read again as a version query (`v1.0.0+hotfix`,
    another commit, matches `==1.0.0`). None for any other model (`previous`: its lock entry)."""
    ref = entry.source.ref
    if previous is None or not previous.matches(entry) or previous.resolved != f"refs/tags/{ref}" or ref in refs.tags:
        return None
    return Resolved(previous.commit, previous.resolved)


def newest_allowed(requested: str | None, refs: RefList) -> Resolved | NeedsHistory | None:
    """What `xpm update` would lock now for `requested` (None: the ref is gone upstream)."""
    try:
        return resolve(requested, refs)
    except UnknownRef:
        return None


def newest_overall(refs: RefList) -> Resolved | None:
    """The newest version upstream: the newest final release tag, else the newest pre-release,
    else the default branch's head (None: an empty repository)."""
    versions = tag_versions(refs.tags)
    finals = [name for version, name in versions if not version.is_prerelease]
    name = finals[0] if finals else (versions[0][1] if versions else None)
    if name is not None:
        return Resolved(refs.tags[name], f"refs/tags/{name}")
    return newest_allowed(None, refs)  # type: ignore[return-value]  (no tags: never NeedsHistory)


def pinned_version(refs: RefList, resolved: str, commit: str):
    """The version of a pinned tag, or for a pinned commit the newest version tag on it (None
    when neither reads as a version)."""
    tag = short_ref(resolved) if resolved.startswith("refs/tags/") else None
    names = {tag: commit} if tag else {name: c for name, c in refs.tags.items() if c == commit}
    versions = tag_versions(names)
    return versions[0][0] if versions else None


def releases_after(refs: RefList, version=None) -> list[str]:
    """Final-release tags newer than `version` (every one when None), newest first."""
    from packaging.version import Version

    def public(v):  # build metadata never makes a version newer (`v1.0.0+build` is no step from v1.0.0)
        return Version(v.public)

    return [name for v, name in tag_versions(refs.tags) if not v.is_prerelease and (version is None or public(v) > public(version))]
