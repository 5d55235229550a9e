"""The tree listing of git 2.36+ (walked through `cat-file --batch-command`) against the one
of older git (`ls-tree -r -z --long`): the same entries, in the same order, or the same
refusal, on trees with names and shapes a porcelain would not make.

Trees are written as raw objects (`git hash-object -t tree --literally`), so any byte a tree
may hold (a newline, a non-UTF-8 byte, a `/`, an odd or zero-padded mode, an empty name) is
tried, and both listings read the same repository directly (nothing is fetched: fsck would
refuse some of these trees before any listing sees them).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from xpm.errors import XpmError
from xpm.git import checkout
from xpm.git.checkout import export_tree
from xpm.git.objects import BatchObjects, Listing
from xpm.git.command import Git
from xpm.tree_rules import Limits, UnsafeTree

pytestmark = pytest.mark.skipif(Git().version < checkout.BATCH_COMMAND, reason="git older than 2.36")
LABEL = "model 'odd'"


class Store:
    """A bare repository to write raw objects into."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)

    def put(self, kind: str, data: bytes) -> str:
        proc = subprocess.run(["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"], cwd=self.path,
                              input=data, capture_output=True, check=True, env={**os.environ, "GIT_DIR": str(self.path)})
        return proc.stdout.decode().strip()

    def blob(self, data: bytes) -> str:
        return self.put("blob", data)

    def tree(self, entries: list[tuple[bytes, bytes, str]], sort: bool = True) -> str:
        """(mode, name, id) entries; sorted as git sorts them unless `sort` is false."""
        if sort:
            entries = sorted(entries, key=lambda e: e[1] + (b"/" if e[0].lstrip(b"0") == b"40000" else b""))
        return self.put("tree", b"".join(mode + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries))

    def commit(self, tree: str) -> str:
        return self.put("commit", f"tree {tree}\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nodd\n".encode())


@pytest.fixture
def store(tmp_path, git_env) -> Store:
    return Store(tmp_path / "store.git")


def outcome(make, *args):
    """The entries as a list, or the refusal as (type, message)."""
    try:
        result = make(*args)
        return None if result is None else list(result)
    except UnsafeTree as exc:
        return (type(exc).__name__, exc.what, exc.fix)


def both(store: Store, treeish: str, limits: Limits = Limits()):
    objects = BatchObjects(Git(), store.path)
    try:
        walked = outcome(objects.walk, treeish, LABEL, limits)
    finally:
        objects.close()
    listing = Listing(Git(), store.path, treeish, LABEL)
    try:
        listed = outcome(lambda: list(listing))
    finally:
        listing.close()
    return walked, listed, listing.failed


def odd_tree(store: Store, latin1: bytes = b"caf\xe9-latin1") -> str:
    text, script, target = store.blob(b"text\n"), store.blob(b"#!/bin/sh\n"), store.blob(b"../top.txt")
    inner = store.tree([
        (b"100644", b"with space.txt", text), (b"100644", b"new\nline", text), (b"100644", latin1, text),
        (b"100755", b"run.sh", script), (b"120000", b"up", target), (b"160000", b"sub", "1" * 40),
        (b"100644", b"n" * 255, text), (b"100664", b"group-writable", text), (b"100744", b"owner-exec", script),
    ])
    deep = inner
    for level in range(6):
        deep = store.tree([(b"40000", f"d{level}".encode(), deep), (b"100644", f"f{level}".encode(), text)])
    # names that sort around a folder's '/': 'a-', 'a.b' before folder 'a', 'a0' after it
    return store.tree([
        (b"100644", b"a-", text), (b"100644", b"a.b", text), (b"40000", b"a", deep), (b"100644", b"a0", text),
        (b"040000", b"zero-padded", inner), (b"100644", b"top.txt", text), (b"40000", b"\xff\xfe", inner),
    ])


def test_odd_names_list_alike(store):
    root = odd_tree(store)
    walked, listed, failed = both(store, root)
    assert failed is None
    assert walked == listed and walked[0] == "UnsafeTree" and "not valid UTF-8" in walked[1]


def test_odd_names_list_alike_entry_by_entry(store):
    """Without the non-UTF-8 names (which stop both at the first), every entry compares."""
    text = store.blob(b"text\n")
    odd = odd_tree(store, latin1="café-utf8".encode())
    root = store.tree([(b"40000", b"odd", odd), (b"100644", b"x", text)])
    sub = f"{store.commit(root)}:odd/a"
    walked, listed, failed = both(store, sub)
    assert failed is None and walked == listed
    paths = [e.path for e in walked]
    assert "d5/d4/d3/d2/d1/d0/new\nline" in paths and "d5/d4/d3/d2/d1/d0/" + "n" * 255 in paths
    modes = {e.path.rsplit("/", 1)[-1]: (e.mode, e.size) for e in walked}
    assert modes["group-writable"] == ("100644", 5) and modes["owner-exec"] == ("100755", 10)
    assert modes["sub"] == ("160000", -1) and modes["up"] == ("120000", 10) and modes["run.sh"] == ("100755", 10)
    assert paths == sorted(paths, key=str.encode)


@pytest.mark.parametrize("shape", ["slash-in-name", "empty-name", "bad-mode", "signed-mode", "unsorted", "duplicate", "missing-subtree"])
def test_malformed_trees_are_left_to_ls_tree(store, shape):
    text = store.blob(b"text\n")
    good = store.tree([(b"100644", b"f", text)])
    entries = {
        "slash-in-name": [(b"100644", b"a/b", text)],
        "empty-name": [(b"100644", b"", text)],
        "bad-mode": [(b"100648", b"f", text)],
        "signed-mode": [(b"+100644", b"f", text)],
        "unsorted": [(b"100644", b"z", text), (b"100644", b"a", text)],
        "duplicate": [(b"100644", b"f", text), (b"100644", b"f", text)],
        "missing-subtree": [(b"40000", b"gone", "2" * 40)],
    }[shape]
    root = store.tree([(b"40000", b"x", store.tree(entries, sort=False)), (b"40000", b"y", good)], sort=False)
    walked, listed, failed = both(store, root)
    if shape in ("slash-in-name", "unsorted", "duplicate"):
        assert walked == listed and failed is None  # git reads these as they are; so does the walk
    else:
        assert walked is None, "the walk gives a malformed tree to ls-tree"


def test_trees_beyond_the_limits_are_left_to_ls_tree(store):
    text = store.blob(b"text\n")
    deep = store.tree([(b"100644", b"f", text)])
    for level in range(5):
        deep = store.tree([(b"40000", b"d", deep)])
    assert both(store, deep, Limits(max_depth=6))[0] is not None
    assert both(store, deep, Limits(max_depth=5))[0] is None
    wide = store.tree([(b"100644", f"f{i}".encode(), text) for i in range(30)])
    assert both(store, wide, Limits(max_files=30))[0] is not None
    assert both(store, wide, Limits(max_files=29))[0] is None
    long_dir = store.tree([(b"40000", b"n" * 255, store.tree([(b"40000", b"m" * 255, deep)]))])
    chain = store.tree([(b"40000", b"o" * 255, store.tree([(b"40000", b"p" * 255, long_dir)]))])
    assert both(store, chain)[0] is None  # paths over 1024 bytes: ls-tree's refusal stands


@pytest.mark.parametrize("limits", [Limits(), Limits(max_depth=3), Limits(max_files=4), Limits(max_bytes=12)])
def test_export_refuses_and_writes_alike_through_both_listings(store, tmp_path, monkeypatch, limits):
    """The whole export (rules, links, files, records) gives the same result either way."""
    text, link = store.blob(b"text\n"), store.blob(b"../f")
    inner = store.tree([(b"100644", b"g", text), (b"120000", b"up", link), (b"100755", b"x.sh", text)])
    root = store.tree([(b"100644", b"f", text), (b"40000", b"a", store.tree([(b"40000", b"b", inner)]))])
    commit = store.commit(root)
    results = []
    for gate in (checkout.BATCH_COMMAND, (99,)):
        monkeypatch.setattr(checkout, "BATCH_COMMAND", gate)
        dest = tmp_path / f"out{len(results)}"
        dest.mkdir()
        try:
            export = export_tree(Git(), store.path, commit, None, dest, "odd", limits)
            results.append(([(r.path, r.mode, r.sha256, r.size) for r in export.records], sorted(os.listdir(dest))))
        except UnsafeTree as exc:
            results.append((exc.what, exc.fix, os.listdir(dest)))
    assert results[0] == results[1]
    if limits == Limits():
        assert [r[0] for r in results[0][0]] == ["a/b/g", "a/b/up", "a/b/x.sh", "f"]


def test_a_subdir_that_is_missing_or_a_file_is_reported_as_before(store, tmp_path):
    text = store.blob(b"text\n")
    commit = store.commit(store.tree([(b"100644", b"README.md", text)]))
    # git's `<name> missing` repeats the name asked for: a long one is still read whole
    for subdir in ("README.md", "nowhere", "b" * 250 + "/c", "/".join(["dd"] * 1000)):
        with pytest.raises(Exception, match=f"'{subdir}' is not a folder in commit"):
            export_tree(Git(), store.path, commit, subdir, tmp_path, "odd")


def test_a_tree_or_a_blob_in_place_of_a_commit_is_refused(store, tmp_path):
    """A tag may name a tree or a blob; the lock's `commit` must be a commit, so neither is exported."""
    text = store.blob(b"text\n")
    tree = store.tree([(b"100644", b"README.md", text)])
    dest = tmp_path / "dest"
    dest.mkdir()
    for oid, kind in ((tree, "tree"), (text, "blob")):
        for subdir in (None, "README.md"):
            with pytest.raises(XpmError, match=f"{oid[:12]} is a {kind}, not a commit"):
                export_tree(Git(), store.path, oid, subdir, dest, "odd")
            assert os.listdir(dest) == []
