"""xpm.tree_rules from tables: what a model tree may hold, decided without git or a disk."""

import pytest

from xpm.tree_rules import (
    MAX_LINK_HOPS, Entry, Limits, UnsafeTree, check_entries, check_links, decode_path, fold, is_dotgit, is_lfs_pointer,
    lfs_warning, shown,
)

LABEL = "model 'zlm'"


def f(path: str, size: int = 10, mode: str = "100644") -> Entry:
    return Entry(path, mode, "a" * 40, size)


def link(path: str, target: str) -> tuple[Entry, bytes]:
    return Entry(path, "120000", "b" * 40, len(target.encode())), target.encode()


def check(items, limits: Limits = Limits()) -> dict[str, str]:
    """Run both passes as the export does: entries first, then the links with their targets."""
    entries = [i if isinstance(i, Entry) else i[0] for i in items]  # a link is (entry, target)
    targets = {i[0].path: i[1] for i in items if not isinstance(i, Entry)}
    return check_links(check_entries(iter(entries), LABEL, limits), targets, LABEL)


D = "d" * 40
ACCEPTED = {
    "plain files": [f("zlm/__init__.py"), f("configs/model/zlm.yaml"), f("run.sh", mode="100755")],
    "names near .git": [f(".gitignore"), f(".gitattributes"), f(".github/workflows/ci.yml"), f("git/x"), f(".git2"),
                        f("git~2"), f("x.git"), f(".gitmodules"), f("a.git/b")],
    "HEAD alone, refs alone, config + objects without HEAD": [f("HEAD"), f("a/refs/x"), f("sub/config"), f("sub/objects/o")],
    "names that only look alike": [f("a"), f("a.py"), f("b/a"), f("Ab/c"), f("ab.txt")],
    "a link next to its target": [f("zlm/model.py"), link("zlm/alias.py", "model.py")],
    "a link up and back down": [f("zlm/model.py"), link("configs/m.py", "../zlm/model.py")],
    "a link to the root from a folder": [f("x"), link("d/root", "..")],
    "a link through a link to a folder": [f("a/b/c.txt"), link("to_a", "a"), link("to_c", "to_a/b/c.txt")],
    "a chain through a link to '.'": [f("x"), link("here", "."), link("far", "here/here/here/x")],
    "a dangling link inside": [link("gone", "missing/file")],
    "a chain of 40 links": [f("end"), *[link(f"l{i}", f"l{i + 1}") for i in range(MAX_LINK_HOPS)], link(f"l{MAX_LINK_HOPS}", "end")],
    "a 255-byte name and a 64-level path": [f("n" * 255), f("/".join(["d"] * 64))],
    "long names, short enough in all": [f(f"{D}/{D}/{D}/x"), link(f"{D}/l", f"../{D}/{D}/x")],
    "names Windows allows": [f("auxiliary.py"), f("con_fig.yaml"), f("com10"), f("a.b.c"), f(".env"), f("lpt"), f("a b/c")],
    # No file system folds 'ß' into 'ss' (a full case folding does): two files everywhere
    "ß and ss": [f("straße.py"), f("strasse.py")],
}


@pytest.mark.parametrize("items", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_trees(items):
    links = check(items)
    assert links == {i[0].path: i[1].decode() for i in items if not isinstance(i, Entry)}


HFS_ZWNJ, BOM = "\u200c", "\ufeff"
REFUSED = {
    # what the tree holds: (entries, the message after "model 'zlm' ")
    "a submodule": ([f("zlm/m.py"), Entry("vendor/x", "160000", "c" * 40, -1)], "contains submodule 'vendor/x'"),
    "an unknown mode": ([Entry("x", "100664", "a" * 40, 1)], "has 'x' of unknown mode '100664'"),
    "a '..' component": ([f("../x")], "has a path with an empty, '.' or '..' component: '../x'"),
    "a '.' component": ([f("a/./x")], "component: 'a/./x'"),
    "an empty component": ([f("a//x")], "component: 'a//x'"),
    "an absolute path": ([f("/etc/x")], "component: '/etc/x'"),
    "a 256-byte name": ([f("n" * 256)], "has a name longer than 255 bytes in 'n"),
    "a 256-byte name in UTF-8": ([f("é" * 128)], "has a name longer than 255 bytes"),
    "a path over 1024 bytes": ([f("/".join(["p" * 200] * 6))], "has a path longer than 1024 bytes: 'ppp"),
    "a path 65 levels deep": ([f("/".join(["d"] * 65))], "more than 64 levels deep"),
    "a backslash": ([f("a\\..\\x")], "has a backslash, or a control or invisible character, in 'a\\..\\x'"),
    "a newline (would forge content-hash lines)": ([f("a\n100644 x")], "invisible character, in 'a\\n100644 x'"),
    "a terminal escape, shown escaped": ([f("a\x1b[2Jb")], "control or invisible character, in 'a\\x1b[2Jb'"),
    "a C1 control (U+009B starts a terminal escape)": ([f("x\x9b2J.py")], "invisible character, in 'x\\x9b2J.py'"),
    "U+0085 (a line break to some)": ([f("a\x85b.py")], "invisible character, in 'a\\x85b.py'"),
    "a line separator": ([f("l\u2028s.py")], "invisible character, in 'l\\u2028s.py'"),
    "a right-to-left override": ([f("\u202elmay.evil.yaml")], "invisible character, in '\\u202elmay.evil.yaml'"),
    "a byte-order mark inside": ([f("a\ufeffb")], "invisible character"),
    "a Windows device name": ([f("zlm/aux.py")], "has 'zlm/aux.py', a name Windows cannot create (it is a Windows device name)"),
    "a device name, any case and extension": ([f("CON"), f("Lpt1.tar.gz")], "'CON', a name Windows cannot create"),
    "a trailing dot (one file with util.py on Windows)": ([f("util.py"), f("util.py.")], "(it ends with a dot or a space, which Windows drops)"),
    "a trailing space in a folder": ([f("sp /x")], "has 'sp /x', a name Windows cannot create (it ends with a dot or a space"),
    "a colon (an NTFS stream)": ([f("a:b")], "(Windows forbids ':' in names)"),
    "a question mark": ([f("q?")], "(Windows forbids '?' in names)"),
    ".git": ([f(".git/config")], "contains '.git' (in some spelling) in '.git/config'"),
    ".GIT": ([f("sub/.GIT/HEAD")], "in 'sub/.GIT/HEAD'"),
    ".Git as a file": ([f("a/.Git")], "in 'a/.Git'"),
    "NTFS short name git~1": ([f("GIT~1/config")], "in 'GIT~1/config'"),
    "trailing dot": ([f(".git./config")], "in '.git./config'"),
    "trailing space": ([f(".git /config")], "in '.git /config'"),
    "trailing dots and spaces": ([f(".git. . /config")], "in '.git. . /config'"),
    "NTFS stream": ([f(".git::$INDEX_ALLOCATION/config")], "in '.git::$INDEX_ALLOCATION/config'"),
    "HFS+ zero-width non-joiner": ([f(f".g{HFS_ZWNJ}it/config")], "in '.g\\u200cit/config'"),
    "HFS+ byte-order mark first": ([f(f"{BOM}.git/config")], "in '\\ufeff.git/config'"),
    "a bare repository": ([f("x/HEAD"), f("x/config"), f("x/objects/pack/p"), f("x/refs/heads/main")],
                          "contains a folder shaped like a git repository: 'x/'"),
    "HEAD and objects": ([f("r/HEAD"), f("r/objects/info/packs")], "shaped like a git repository: 'r/'"),
    "head and REFS, any case": ([f("r/head"), f("r/REFS/heads/x")], "shaped like a git repository: 'r/'"),
    "HEAD and commondir": ([f("r/HEAD"), f("r/commondir")], "shaped like a git repository: 'r/'"),
    "the model root itself": ([f("HEAD"), f("config"), f("zlm/m.py")], "shaped like a git repository: './'"),
    "a case clash": ([f("Model.py"), f("model.py")], "has 'Model.py' and 'model.py', which are one file on macOS and Windows"),
    "a file and a folder": ([f("A"), f("a/x")], "has 'A' and 'a/', which are one file"),
    "two folders": ([f("a/B/x"), f("a/b/y")], "has 'a/B/' and 'a/b/', which are one file"),
    "NFC and NFD": ([f("caf\u00e9.py"), f("cafe\u0301.py")], "which are one file on macOS and Windows"),
    "dotless i and i (NTFS upper-cases both to I)": ([f("\u0131.py"), f("i.py")], "which are one file on macOS and Windows"),
    "final sigma and sigma": ([f("\u03c2"), f("\u03c3")], "which are one file"),
    "the Kelvin sign and k": ([f("\u212a"), f("k")], "which are one file"),
    "a name and its HFS+-ignorable twin": ([f("ab"), f(f"a{HFS_ZWNJ}b")], "which are one file"),
    "one path twice": ([f("x"), f("x")], "lists 'x' twice"),
    "a file that is also a folder": ([f("d"), f("d/x")], "has 'd' as both a file and a folder"),
    "__pycache__": ([f("zlm/__pycache__/m.cpython-311.pyc")], "contains compiled Python in 'zlm/__pycache__/m.cpython-311.pyc'"),
    "__PYCACHE__": ([f("__PYCACHE__/m.pyc")], "contains compiled Python in"),
    ".pytest_cache": ([f("zlm/.pytest_cache/v/cache/nodeids")], "contains pytest's cache in 'zlm/.pytest_cache/v/cache/nodeids'"),
    "a symlink target over 1024 bytes": ([Entry("l", "120000", "b" * 40, 2000)], "has symlink 'l' with a target longer than 1024 bytes"),
}


@pytest.mark.parametrize("entries, message", REFUSED.values(), ids=REFUSED.keys())
def test_refused_entries(entries, message):
    with pytest.raises(UnsafeTree) as info:
        check_entries(iter(entries), LABEL, Limits())
    assert info.value.what.startswith(LABEL + " ")
    assert message in info.value.what
    assert info.value.fix.endswith("nothing was installed")


LINKS_REFUSED = {
    "absolute": ([link("leak", "/etc/passwd")], "has symlink 'leak' -> '/etc/passwd', an absolute path"),
    "a drive letter": ([link("leak", "C:/Windows")], "an absolute path"),
    "straight out": ([link("a/leak", "../../etc/passwd")], "has symlink 'a/leak' -> '../../etc/passwd', which leaves the model's folder"),
    "out and back in": ([f("x"), link("leak", "../zlm/x")], "which leaves the model's folder"),
    "through a missing folder": ([link("leak", "missing/../../x")], "which leaves the model's folder"),
    "through a file": ([f("file"), link("leak", "file/../../x")], "which leaves the model's folder"),
    "a link to a folder that is a link": (
        [f("a/b/x"), link("a/b/up", "../.."), link("deep", "a/b"), link("leak", "deep/up/..")],
        "has symlink 'leak' -> 'deep/up/..', which leaves"),
    "a link in the middle of the target": ([f("d/x"), link("d/root", ".."), link("leak", "d/root/../x")], "has symlink 'leak'"),
    "found case-insensitively, as on macOS": ([f("d/x"), link("d/link", ".."), link("leak", "D/LINK/../..")], "has symlink 'leak'"),
    "a target with a backslash": ([link("leak", "..\\..\\x")], "with a backslash, or a control or invisible character"),
    "a target with a right-to-left override": ([link("l", "a\u202eb")], "-> 'a\\u202eb', with a backslash, or a control or invisible"),
    "an empty target": ([link("empty", "")], "has symlink 'empty' with an empty target"),
    "a cycle": ([link("a", "b"), link("b", "a")], "has symlink 'a' -> 'b', in a cycle of links"),
    "a link to itself": ([link("self", "self")], "in a cycle of links"),
    "a chain of 41 links": ([f("end"), *[link(f"l{i}", f"l{i + 1}") for i in range(MAX_LINK_HOPS + 1)], link(f"l{MAX_LINK_HOPS + 1}", "end")],
                            "behind a chain of more than 40 links"),
    "a growing chain": ([link("a", "a/x")], "behind a chain of more than 40 links"),
}


@pytest.mark.parametrize("items, message", LINKS_REFUSED.values(), ids=LINKS_REFUSED.keys())
def test_refused_links(items, message):
    with pytest.raises(UnsafeTree) as info:
        check(items)
    assert message in info.value.what
    assert "make the link relative and inside the model" in info.value.fix or "upstream" in info.value.fix


def test_a_path_max_chain_resolves_lexically():
    """A chain whose resolved path grows past PATH_MAX (4096 bytes) before it climbs out: a
    file system's realpath gives up there (CVE-2025-4517), the lexical walk does not."""
    name = "n" * 250
    chain = [link(f"L{i}", f"L{i + 1}/" + "/".join([name] * 3)) for i in range(6)] + [link("L6", name)]
    depth = 1 + 3 * 6  # components of the resolved path of L0
    assert depth * (len(name) + 1) > 4096
    with pytest.raises(UnsafeTree, match="has symlink 'escape' -> 'L0/(../)+', which leaves the model's folder"):
        check([*chain, link("escape", "L0/" + "../" * (depth + 1))])
    assert check([*chain, link("inside", "L0/" + "../" * depth)])  # back at the root: inside


def test_non_utf8_names_and_targets():
    assert decode_path("café".encode(), LABEL) == "café"
    with pytest.raises(UnsafeTree, match=r"has a path that is not valid UTF-8: 'caf\\xe9.py'"):
        decode_path(b"caf\xe9.py", LABEL)
    entry = Entry("l", "120000", "b" * 40, 2)
    with pytest.raises(UnsafeTree, match="has symlink 'l' whose target is not valid UTF-8"):
        check_links([entry], {"l": b"\xff\xfe"}, LABEL)


@pytest.mark.parametrize("limits, entries, message", [
    (Limits(max_files=3), [f("a"), f("b"), f("c"), f("d")], "has more than 3 files"),
    (Limits(max_bytes=100), [f("a", 60), f("b", 60)], "holds more than 100 bytes (reached at 'b')"),
    (Limits(max_depth=2), [f("a/b/c")], "has 'a/b/c', more than 2 levels deep"),
])
def test_limits(limits, entries, message):
    with pytest.raises(UnsafeTree) as info:
        check_entries(iter(entries), LABEL, limits)
    assert message in info.value.what
    variable = {"files": "XPM_MAX_MODEL_FILES", "bytes": "XPM_MAX_MODEL_BYTES", "levels": "XPM_MAX_MODEL_DEPTH"}
    assert next(v for k, v in variable.items() if k in message) in info.value.fix
    check_entries(iter(entries[:-1] if len(entries) > 1 else [f("a/b")]), LABEL, limits)  # one less is fine


def test_the_file_limit_stops_reading_early():
    read = []

    def endless():
        for i in range(10**9):
            read.append(i)
            yield f(f"f{i}")

    with pytest.raises(UnsafeTree, match="more than 5 files"):
        check_entries(endless(), LABEL, Limits(max_files=5))
    assert len(read) == 6


@pytest.mark.parametrize("environ, expected", [
    ({}, Limits(512 << 20, 50_000, 64)),
    ({"XPM_MAX_MODEL_BYTES": "1024"}, Limits(max_bytes=1024)),
    ({"XPM_MAX_MODEL_BYTES": "2G"}, Limits(max_bytes=2 << 30)),
    ({"XPM_MAX_MODEL_BYTES": "768MiB"}, Limits(max_bytes=768 << 20)),
    ({"XPM_MAX_MODEL_BYTES": " 10k "}, Limits(max_bytes=10 << 10)),
    ({"XPM_MAX_MODEL_BYTES": "4096B"}, Limits(max_bytes=4096)),
    ({"XPM_MAX_MODEL_FILES": "100000", "XPM_MAX_MODEL_DEPTH": "128"}, Limits(max_files=100_000, max_depth=128)),
    ({"XPM_MAX_MODEL_FILES": ""}, Limits()),
])
def test_limits_from_the_environment(environ, expected):
    assert Limits.from_env(environ) == expected


@pytest.mark.parametrize("environ", [
    {"XPM_MAX_MODEL_BYTES": "lots"}, {"XPM_MAX_MODEL_BYTES": "-1"}, {"XPM_MAX_MODEL_BYTES": "0"},
    {"XPM_MAX_MODEL_BYTES": "1.5G"}, {"XPM_MAX_MODEL_FILES": "1e6"}, {"XPM_MAX_MODEL_DEPTH": "10G"},
    {"XPM_MAX_MODEL_FILES": "\u0663"}, {"XPM_MAX_MODEL_BYTES": "\uff11G"},  # digits of other scripts: ASCII only
    {"XPM_MAX_MODEL_BYTES": "5ib"}, {"XPM_MAX_MODEL_BYTES": "5bb"},  # a suffix without its unit
    {"XPM_MAX_MODEL_FILES": "9" * 5000},  # int() refuses over 4,300 digits: it was `internal error: ValueError`
])
def test_bad_limits_are_clear_errors(environ):
    from xlm.shown import show

    (var, value), = environ.items()
    with pytest.raises(Exception) as info:
        Limits.from_env(environ)
    assert info.value.what == f"environment variable {var}='{show(value, 60)}' is not a valid limit"
    assert len(info.value.what) < 200
    assert info.value.fix.startswith("set it to a positive")


def test_helpers():
    assert fold("Caf\u00e9") == fold("CAFE\u0301") == "café"
    assert fold("a\u200cb") == "ab"
    assert all(is_dotgit(n) for n in [".git", ".GIT", ".gIt", "git~1", "GIT~1", ".git.", ".git  ", ".git:stream", ".g\u200dit"])
    assert not any(is_dotgit(n) for n in [".gitignore", "git", ".git2", "git~2", "x.git", ".gi t", "..git"])
    assert shown("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    assert shown(b"\xff/x") == "\\xff/x"
    assert is_lfs_pointer(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n", 60)
    assert not is_lfs_pointer(b"version https://git-lfs.github.com/spec/v1\n", 5000)
    assert not is_lfs_pointer(b"plain text", 10)
    many = lfs_warning([f"w{i}.bin" for i in range(7)])
    assert many.startswith("7 Git LFS pointer file(s)") and "w4.bin and 2 more" in many
