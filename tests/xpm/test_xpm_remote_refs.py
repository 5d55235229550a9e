"""Ref names a remote advertises are hostile input: bytes that are not UTF-8, C1 controls,
line and paragraph separators, bidi overrides. Each is skipped with a warning; none crashes
xpm, none is ever matched (an upstream built with `git update-ref`, which allows them)."""

import os
import subprocess

import pytest

from xpm.git.remote import parse_ls_remote
from xpm.project import Project
from xpm_cli import xpm
from xpm_repos import model_files, read_tree

pytestmark = pytest.mark.slow

HOSTILE = {
    b"refs/tags/v9.0.0\xff": "not valid UTF-8",  # would be the newest release
    "refs/tags/v8.0.0\u0085".encode(): "U+0085",  # NEL: a line break to str.splitlines
    "refs/tags/v7.0.0\u2028x".encode(): "U+2028",  # line separator
    "refs/heads/main\u2029".encode(): "U+2029",  # paragraph separator, looks like `main`
    "refs/tags/v6.0.0\u202e".encode(): "U+202E",  # right-to-left override
    "refs/tags/v5.0.0\u00a0".encode(): "U+00A0",  # prints like `v5.0.0`
}


def _plant(repo, commit: str) -> None:
    for raw in HOSTILE:  # update-ref takes the name as bytes from argv
        subprocess.run([b"git", b"update-ref", raw, commit.encode()], cwd=repo.path, check=True,
                       env={**os.environ, "GIT_DIR": str(repo.path / ".git")})


def test_hostile_ref_names_are_skipped_with_a_warning_and_never_matched(upstream, project):
    repo = upstream("lab/zlm")
    good = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.tag("v1.0.0")
    other = repo.commit("other", model_files("zlm", "0.0.1", " not a release"))
    _plant(repo, other)
    repo.git("reset", "-q", "--hard", good)  # main stays at v1.0.0
    out = xpm(project, "add", repo.url)
    assert out.stdout == f"added zlm v1.0.0 ({good[:7]})\n"  # the newest *usable* tag
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(HOSTILE)
    for why in HOSTILE.values():
        assert any(why in line for line in warnings), why
    assert all(line.startswith("warning: model 'zlm': ignoring ref 'refs/") for line in warnings)
    assert "\\xff" in out.stderr and "\u2028" not in out.stderr and "\u202e" not in out.stderr
    assert read_tree(project / "xlm_models" / "zlm") == repo.tree("v1.0.0")
    (project / ".xlm_models").write_text(f"{repo.url}@main\n")  # the real main, not `main\u2029`
    xpm(project, "install")
    locked = Project(project).lock().entries["zlm"]
    assert (locked.resolved, locked.commit) == ("refs/heads/main", good)
    (project / ".xlm_models").write_text(f"{repo.url}@v9\n")
    out = xpm(project, "install", code=1)
    assert out.stderr.startswith("error: model 'zlm': no tag matches the version query 'v9'")


def test_ls_remote_output_is_split_on_newlines_only():
    oid = "1" * 40
    data = (f"ref: refs/heads/main\tHEAD\n{oid}\tHEAD\n{oid}\trefs/heads/main\r\n"
            f"{oid}\trefs/tags/v1.0.0\u2028{'2' * 40}\trefs/tags/v2.0.0\n"
            f"{'3' * 40}\trefs/tags/v3.0.0\x85\n{'4' * 40}\trefs/tags/v4.0.0\n").encode() + b"zz\trefs/tags/v5\xfe\n"
    said = []
    refs = parse_ls_remote(data, said.append, "https://h/x")
    assert refs.branches == {"main": oid} and refs.head == "main" and refs.head_commit == oid
    assert refs.tags == {"v4.0.0": "4" * 40}  # the U+2028 line is one (bad) ref, not two
    assert said == [
        "ignoring ref 'refs/tags/v1.0.0\\u2028" + "2" * 40 + "\\u0009refs/tags/v2.0.0' of https://h/x: "
        "it holds the invisible or control character U+2028",
        "ignoring ref 'refs/tags/v3.0.0\\u0085' of https://h/x: it holds the invisible or control character U+0085",
        "ignoring ref 'refs/tags/v5\\xfe' of https://h/x: it is not valid UTF-8",
    ]


def test_a_ref_name_too_long_for_the_lock_is_skipped():
    oid, good = "1" * 40, "2" * 40
    data = f"{oid}\trefs/tags/v1.{'0' * 2000}\n{good}\trefs/tags/v1.0.0\n"
    said = []
    refs = parse_ls_remote(data.encode(), said.append, "https://h/x")
    assert refs.tags == {"v1.0.0": good}
    assert len(said) == 1 and said[0].endswith("of https://h/x: it is longer than 1024 bytes")


def test_ref_names_git_would_refuse_are_skipped():
    """A server may advertise any bytes; a name git's ref rules refuse could not be locked (and read back)."""
    oid, good = "1" * 40, "2" * 40
    names = ["refs/tags/-v9.0.0", "refs/tags/v8..0", "refs/tags/v7~1", "refs/tags/v6.lock", "refs/heads/a:b", "refs/tags/.v5"]
    data = "".join(f"{oid}\t{name}\n" for name in names) + f"ref: refs/heads/-main\tHEAD\n{good}\trefs/tags/v1.0.0\n"
    said = []
    refs = parse_ls_remote(data.encode(), said.append, "https://h/x")
    assert refs.tags == {"v1.0.0": good} and refs.branches == {} and refs.head is None
    assert said == [f"ignoring ref '{name}' of https://h/x: git does not allow that ref name" for name in names]
