"""Resolution from a table of cases: no git involved."""

import pytest

from xpm.errors import UnknownRef
from xpm.resolve import NeedsHistory, RefList, Resolved, newest_overall, releases_after, resolve, short_ref

A, B, C, D, E, F, G, H = (ch * 40 for ch in "abcdef01")
REFS = RefList(
    tags={"v1.0.0": A, "v1.2.0": B, "v1.10.0": C, "v2.0.0": D, "v2.1.0-rc1": E, "1.5.0": F, "nightly": G},
    branches={"main": H, "dev": B},
    head="main",
    head_commit=H,
)

CASES = [
    # requested, expected commit, expected ref
    (None, D, "refs/tags/v2.0.0"),  # newest final tag; the rc is skipped
    ("v1", C, "refs/tags/v1.10.0"),  # numeric, not lexical, ordering
    ("1", C, "refs/tags/v1.10.0"),
    ("v1.2", B, "refs/tags/v1.2.0"),
    ("v1.5", F, "refs/tags/1.5.0"),  # tags without the leading v count too
    (">=1.2,<2", C, "refs/tags/v1.10.0"),
    ("~=1.2", C, "refs/tags/v1.10.0"),
    ("<1.2", A, "refs/tags/v1.0.0"),
    (">=2.1.0rc1", E, "refs/tags/v2.1.0-rc1"),  # a query naming a pre-release admits them
    ("v2.1", E, "refs/tags/v2.1.0-rc1"),  # a pre-release only when no final release matches (as Go)
    ("v2", D, "refs/tags/v2.0.0"),  # otherwise finals win over a newer pre-release
    ("v2.0.0", D, "refs/tags/v2.0.0"),
    ("v1.0", A, "refs/tags/v1.0.0"),
    ("1.2.0", B, "refs/tags/v1.2.0"),  # exact version without the v
    ("nightly", G, "refs/tags/nightly"),
    ("main", H, "refs/heads/main"),
    ("dev", B, "refs/heads/dev"),
    (A, A, ""),  # a full commit id needs no resolution
    ("cccc", C, ""),  # a short id matching a ref tip
]


@pytest.mark.parametrize("requested,commit,ref", CASES)
def test_resolve_table(requested, commit, ref):
    assert resolve(requested, REFS) == Resolved(commit, ref)


def test_exact_tag_v1_wins_over_the_query():
    refs = RefList(tags={"v1": A, "v1.3.0": B})
    assert resolve("v1", refs) == Resolved(A, "refs/tags/v1")


def test_tag_wins_over_branch_of_the_same_name():
    refs = RefList(tags={"stable": A}, branches={"stable": B})
    assert resolve("stable", refs).commit == A


def test_no_tags_means_default_branch_head():
    refs = RefList(branches={"trunk": A, "other": B}, head="trunk", head_commit=A)
    assert resolve(None, refs) == Resolved(A, "refs/heads/trunk")


@pytest.mark.parametrize("branches,expected", [
    ({"trunk": A, "main": A, "master": A}, "refs/heads/main"),
    ({"trunk": A, "master": A}, "refs/heads/master"),
    ({"zeta": A, "alpha": A, "other": B}, "refs/heads/alpha"),
    ({"other": B}, ""),  # a detached HEAD: its commit, which the lock records as such
])
def test_a_head_not_advertised_as_a_branch_is_the_branch_at_its_commit(branches, expected):
    """A server that does not say which branch HEAD is (or a detached HEAD): git clone's guess.
    `HEAD` itself is no tag or branch, and a lock holding it was refused by every reader."""
    assert resolve(None, RefList(branches=branches, head_commit=A)) == Resolved(A, expected)


def test_a_full_commit_id_is_never_a_branch_or_tag_named_like_it():
    """As git reads it: else whoever may push a branch named like a pinned commit moves the pin."""
    refs = RefList(tags={B: C}, branches={A: D, "main": H}, head="main", head_commit=H)
    assert resolve(A, refs) == Resolved(A, "")
    assert resolve(B, refs) == Resolved(B, "")


@pytest.mark.parametrize("tags,requested,expected", [
    ({"v1.2.0": A, "v1.3.0-1": B, "v1.3.0": C}, None, "v1.3.0"),  # semver: -1 is a pre-release, not 1.3.0.post1
    ({"v1.2.0": A, "v1.3.0-1": B}, None, "v1.2.0"),  # final releases only
    ({"v1.2.0": A, "v1.3.0-r1": B, "1.3.0-post2": D}, "v1.3", "1.3.0-post2"),  # only pre-releases match: newest
    ({"v1.3.0-1": B, "v1.3.0-rc1": C}, "v1.3", "v1.3.0-rc1"),  # numeric identifiers sort before alphanumeric
    ({"v1.3.0.post1": B, "v1.3.0": C}, None, "v1.3.0.post1"),  # PEP 440's own spelling stays a post-release
    ({"v2.0.0": A, "1!0.1": B}, None, "v2.0.0"),  # an epoch is no version (it outranked every tag)
    ({"v2.0.0": A, "1!0.1": B}, ">=1", "v2.0.0"),
    # build metadata does not outrank (PEP 440 sorts a local label above): `@v1.2.3` took `1.2.3+build`
    ({"1.2.3": A, "1.2.3+build": B}, "v1.2.3", "1.2.3"),
    ({"1.2.3": A, "1.2.3+build": B}, "v1", "1.2.3"),
    ({"1.2.3": A, "1.2.3+build": B}, None, "1.2.3"),
    ({"1.2.3+build": B, "1.2.2": A}, None, "1.2.3+build"),  # a newer version with it still wins
])
def test_tags_read_as_semver_reads_them(tags, requested, expected):
    assert resolve(requested, RefList(tags=tags)) == Resolved(tags[expected], f"refs/tags/{expected}")


def test_a_semver_prerelease_is_not_newer_than_its_release():
    from packaging.version import Version

    refs = RefList(tags={"v1.2.0": A, "v1.3.0-1": B, "v1.3.0": C})
    assert releases_after(refs, Version("1.3.0")) == []
    assert newest_overall(refs) == Resolved(C, "refs/tags/v1.3.0")


def test_only_prerelease_tags_fall_back_to_the_branch():
    refs = RefList(tags={"v1.0.0-rc1": A}, branches={"main": B}, head="main", head_commit=B)
    assert resolve(None, refs) == Resolved(B, "refs/heads/main")


def test_short_commit_not_at_a_tip_needs_history():
    assert resolve("1234abc", REFS) == NeedsHistory("1234abc")


def test_ambiguous_prefix():
    with pytest.raises(UnknownRef, match="ambiguous"):
        resolve("ab00", RefList(tags={"a": "ab00" + "0" * 36, "b": "ab00" + "1" * 36}))
    with pytest.raises(UnknownRef, match="unknown ref 'ab0'"):
        resolve("ab0", REFS)  # under 4 digits is no commit id


def test_unknown_ref_lists_the_nearest():
    with pytest.raises(UnknownRef) as info:
        resolve("v1.2.1", REFS, "https://github.com/lab/zlm")
    text = info.value.render()
    assert "no tag matches the version query 'v1.2.1' in https://github.com/lab/zlm" in text
    assert "nearest: v2.1.0-rc1 (tag), v2.0.0 (tag), v1.10.0 (tag), dev (branch), main (branch)" in text
    with pytest.raises(UnknownRef) as info:  # the newest versions, not names that look alike (v1.0.0 for v3)
        resolve("v3", REFS)
    assert info.value.what.endswith("nearest: v2.1.0-rc1 (tag), v2.0.0 (tag), v1.10.0 (tag), dev (branch), main (branch)")
    with pytest.raises(UnknownRef) as info:
        resolve("mian", REFS)
    assert "unknown ref 'mian'" in info.value.what and "main (branch)" in info.value.what


def test_query_with_no_match_lists_newest_tags():
    with pytest.raises(UnknownRef) as info:
        resolve("v7", REFS)
    assert "v2.0.0 (tag)" in info.value.what


def test_invalid_specifier():
    with pytest.raises(UnknownRef, match="not a valid version query"):
        resolve(">=1.2,,<<2", REFS)


@pytest.mark.parametrize("requested", ["v\u0661", "\u0663.2", "v1.\u0662", "\uff11"])
def test_digits_of_other_scripts_are_no_version_query(requested):
    """`\\d` would read them as a version (and `SpecifierSet` then refuses it): they are names."""
    tags = {"v1.0.0": A, requested: B}
    assert resolve(requested, RefList(tags=tags)) == Resolved(B, f"refs/tags/{requested}")
    with pytest.raises(UnknownRef, match="unknown ref"):
        resolve(requested, REFS)


def test_empty_remote():
    with pytest.raises(UnknownRef, match="no tags and no default branch"):
        resolve(None, RefList())


def test_short_ref():
    assert short_ref("refs/tags/v1.2.0") == "v1.2.0"
    assert short_ref("refs/heads/main") == "main"
    assert short_ref("") == ""


# ----------------------------------------------------------------------------- what is newer (xpm outdated, update)
from xpm.resolve import describe, is_pin, newest_allowed, pinned_version  # noqa: E402


@pytest.mark.parametrize("requested,expected", [
    (None, Resolved(D, "refs/tags/v2.0.0")),
    ("v1", Resolved(C, "refs/tags/v1.10.0")),
    ("v2.1", Resolved(E, "refs/tags/v2.1.0-rc1")),
    ("main", Resolved(H, "refs/heads/main")),
    ("v1.0.0", Resolved(A, "refs/tags/v1.0.0")),
    (A, Resolved(A, "")),
    ("abcd", NeedsHistory("abcd")),  # no ref tip starts with it: only history knows
    ("v9", None),  # gone (or never there)
    ("nobranch", None),
])
def test_newest_allowed(requested, expected):
    assert newest_allowed(requested, REFS) == expected


@pytest.mark.parametrize("refs,expected", [
    (REFS, Resolved(D, "refs/tags/v2.0.0")),  # final releases win over the newer rc
    (RefList(tags={"v1.0.0-rc1": A, "v1.0.0-rc2": B}, branches={"main": H}, head="main"), Resolved(B, "refs/tags/v1.0.0-rc2")),
    (RefList(tags={"nightly": G}, branches={"trunk": H}, head="trunk"), Resolved(H, "refs/heads/trunk")),
    (RefList(), None),
])
def test_newest_overall(refs, expected):
    assert newest_overall(refs) == expected


@pytest.mark.parametrize("requested,resolved,pin", [
    ("v1.0.0", "refs/tags/v1.0.0", True),
    ("v1", "refs/tags/v1", True),  # a tag literally named v1
    ("nightly", "refs/tags/nightly", True),
    (A, "", True),
    ("abcd", "", True),  # a short commit id
    ("v1", "refs/tags/v1.10.0", False),  # a query
    ("main", "refs/heads/main", False),
    (None, "refs/tags/v2.0.0", False),
])
def test_is_pin(requested, resolved, pin):
    assert is_pin(requested, resolved) is pin


def test_newer_releases_than_a_pin():
    from packaging.version import Version

    assert pinned_version(REFS, "refs/tags/v1.2.0", B) == Version("1.2.0")
    assert pinned_version(REFS, "", F) == Version("1.5.0")  # a commit a version tag points at
    assert pinned_version(REFS, "", B) == Version("1.2.0")  # dev's tip is v1.2.0's commit too
    assert pinned_version(REFS, "", H) is None and pinned_version(REFS, "refs/tags/nightly", G) is None
    assert releases_after(REFS, Version("1.2.0")) == ["v2.0.0", "v1.10.0", "1.5.0"]  # no rc, numeric order
    assert releases_after(REFS, Version("2.0.0")) == []
    assert releases_after(REFS) == ["v2.0.0", "v1.10.0", "1.5.0", "v1.2.0", "v1.0.0"]


def test_describe():
    assert describe("refs/tags/v1.1.0", A) == f"v1.1.0 ({A[:7]})"
    assert describe("refs/heads/main", H) == f"main ({H[:7]})"
    assert describe("", A) == A[:7]


@pytest.mark.parametrize("requested, written", [
    ("~1", "==1.*"), ("~1.2", "==1.2.*"), ("~1.2.3", ">=1.2.3,==1.2.*"),  # npm's tilde: the last given part may move
    ("^1", "==1.*"), ("^1.2", ">=1.2,==1.*"), ("^1.2.3", ">=1.2.3,==1.*"),  # caret: the first non-zero part may not
    ("^0.2", ">=0.2,==0.2.*"), ("^0.2.3", ">=0.2.3,==0.2.*"), ("^0.0.3", "==0.0.3"),
    ("~v1.2", "==1.2.*"), ("^x", None),
])
def test_an_npm_or_cargo_range_says_how_to_write_it(requested, written):
    """It was `unknown ref '~1.2'; nearest: ...`; then the hint was `@~=1.2` for every form."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    with pytest.raises(UnknownRef, match="a range in npm's or cargo's spelling") as info:
        resolve(requested, REFS)
    assert info.value.fix == f"write it as a PEP 440 specifier set: @{written or '>=X,<Y or @~=X.Y'}"
    if written is not None:  # it parses, and means what npm means
        spec = SpecifierSet(written)
        examples = {"~1": ["1.0.0", "1.9.0"], "~1.2": ["1.2.0", "1.2.9"], "~1.2.3": ["1.2.3", "1.2.9"], "^1.2": ["1.2.0", "1.9.0"],
                    "^0.2": ["0.2.0", "0.2.9"], "^0.0.3": ["0.0.3"]}.get(requested.replace("v", ""), [])
        assert all(Version(v) in spec for v in examples)
        assert Version("2.0.0") not in spec and Version("0.1.0") not in spec


def test_build_metadata_is_no_newer_release():
    """`update` of a v1.0.0 pin offered `newer tags: v1.0.0+build`."""
    from packaging.version import Version

    from xpm.resolve import releases_after

    refs = RefList(tags={"v1.0.0": A, "v1.0.0+build": B, "v1.1.0": C})
    assert releases_after(refs, Version("1.0.0")) == ["v1.1.0"]
