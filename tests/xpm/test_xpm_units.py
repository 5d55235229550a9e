"""Units without a network: URLs, ls-remote parsing, error classification, hashing, lock, stamps."""

import hashlib
import os
from pathlib import Path

import pytest

from xpm import hashing, stamp
from xpm.errors import AuthFailed, GitError, LockFileError, NotInstalled, RemoteUnreachable
from xpm.git.failures import classify
from xpm.git.remote import canonical_url, mirror_name, parse_ls_remote
from xpm.lock import Lock, LockEntry, dumps, parse_lock, write_lock


@pytest.mark.parametrize(
    "url,canonical",
    [
        ("https://GitHub.com/lab/zlm.git", "https://github.com/lab/zlm"),
        ("https://github.com/lab/zlm/", "https://github.com/lab/zlm"),
        ("git@github.com:lab/zlm.git", "ssh://git@github.com/lab/zlm"),
        ("ssh://git@Host:2222/lab/m.git", "ssh://git@host:2222/lab/m"),
        ("file:///abs/repo.git/", "file:///abs/repo.git"),  # on disk, repo and repo.git are two folders
        ("file:///abs/repo/", "file:///abs/repo"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_mirror_name_is_shared_by_spellings_and_readable():
    assert mirror_name("https://github.com/lab/zlm.git") == mirror_name("https://GITHUB.com/lab/zlm")
    assert mirror_name("https://github.com/lab/zlm").startswith("github.com_lab_zlm-")
    assert mirror_name("https://github.com/lab/zlm") != mirror_name("https://github.com/lab/zlm2")


def test_parse_ls_remote_peels_annotated_tags():
    text = (
        "ref: refs/heads/main\tHEAD\n"
        f"{'1' * 40}\tHEAD\n{'1' * 40}\trefs/heads/main\n{'2' * 40}\trefs/heads/dev\n"
        f"{'3' * 40}\trefs/tags/v1.0.0\n{'4' * 40}\trefs/tags/v1.1.0\n{'5' * 40}\trefs/tags/v1.1.0^{{}}\n"
    )
    refs = parse_ls_remote(text)
    assert refs.head == "main" and refs.head_commit == "1" * 40
    assert refs.branches == {"main": "1" * 40, "dev": "2" * 40}
    assert refs.tags == {"v1.0.0": "3" * 40, "v1.1.0": "5" * 40}


@pytest.mark.parametrize(
    "stderr,kind",
    [
        ("fatal: Authentication failed for 'https://h/x/'", AuthFailed),
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", AuthFailed),
        ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.", AuthFailed),
        ("fatal: unable to access 'https://h/x/': Could not resolve host: h", RemoteUnreachable),
        ("fatal: repository 'https://h/x/' not found", RemoteUnreachable),
        ("fatal: something else entirely", GitError),
    ],
)
def test_classify(stderr, kind):
    assert type(classify(["fetch"], 128, stderr, None, "https://h/x")) is kind


def test_classify_quotes_the_line_that_says_why():
    ssh = ("ssh: connect to host h port 22: Connection refused\nfatal: Could not read from remote repository.\n\n"
           "Please make sure you have the correct access rights\nand the repository exists.\n")
    assert classify(["ls-remote"], 128, ssh, None, "git@h:x/y.git").what == (
        "cannot reach git@h:x/y.git: ssh: connect to host h port 22: Connection refused")
    denied = "git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.\n"
    assert classify(["fetch"], 128, denied, None, "git@h:x/y.git").what.endswith("git@h: Permission denied (publickey).")


def test_auth_hint_depends_on_the_transport():
    assert "ssh" in AuthFailed("git@h:x/y.git", "denied").fix
    assert "credential" in AuthFailed("https://h/x", "denied").fix


# ----------------------------------------------------------------------------- hashing
def _tree(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "B.txt").write_text("b")
    (root / "link").symlink_to("B.txt")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"junk")


def test_tree_hash_follows_the_documented_definition(tmp_path):
    _tree(tmp_path)
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    lines = [
        ("B.txt", "100644", sha(b"b")),
        ("link", "120000", sha(b"B.txt")),
        ("pkg/__init__.py", "100644", sha(b"")),
        ("run.sh", "100755", sha(b"#!/bin/sh\n")),
    ]
    text = "".join(f"{mode} {digest}  {path}\n" for path, mode, digest in sorted(lines, key=lambda l: l[0].encode()))
    assert hashing.hash_dir(tmp_path) == "sha256-tree:" + sha(text.encode())


def test_tree_hash_sees_content_mode_and_names_but_not_pycache(tmp_path):
    _tree(tmp_path)
    before = hashing.hash_dir(tmp_path)
    (tmp_path / "pkg" / "__pycache__" / "y.pyc").write_bytes(b"more")
    assert hashing.hash_dir(tmp_path) == before
    os.chmod(tmp_path / "run.sh", 0o644)
    assert hashing.hash_dir(tmp_path) != before
    os.chmod(tmp_path / "run.sh", 0o755)
    (tmp_path / "B.txt").rename(tmp_path / "C.txt")
    assert hashing.hash_dir(tmp_path) != before


# ----------------------------------------------------------------------------- lock
ENTRY = LockEntry("zlm", "git", "https://github.com/lab/zlm", "v1", "refs/tags/v1.1.0", "a" * 40, None, "sha256-tree:" + "0" * 64, "zlm")


def test_lock_round_trip_is_deterministic_and_sorted():
    lock = Lock({"zlm": ENTRY, "aaa": LockEntry("aaa", "local", "./aaa")})
    text = dumps(lock)
    assert text == dumps(Lock(dict(reversed(list(lock.entries.items())))))
    assert text.index('name = "aaa"') < text.index('name = "zlm"')
    assert text.startswith("# This file is generated by xpm") and "\nversion = 2\n" in text
    assert "subdir" not in text  # unset fields are left out
    assert parse_lock(text) == lock


def test_lock_ignores_unknown_keys_for_forward_compatibility():
    text = dumps(Lock({"zlm": ENTRY})).replace('package = "zlm"', 'package = "zlm"\ndependencies = ["aaa"]')
    text += '\n[[override]]\nname = "zlm"\npath = "../zlm"\n'
    assert parse_lock(text).entries["zlm"] == ENTRY


GIT = ("version = 1\n\n[[model]]\nname = 'zlm'\nkind = 'git'\nsource = 'https://h/zlm'\n"
       f"commit = '{'c' * 40}'\nhash = 'sha256-tree:{'d' * 64}'\n")


def test_lock_knows_the_hash_algorithm_without_importing_hashing():
    from xlm.records import lockfile  # hashlib stays unimported: tests/provenance/test_layering.py

    assert lockfile.ALGORITHM == hashing.ALGORITHM
    assert parse_lock(GIT).entries["zlm"].commit == "c" * 40


@pytest.mark.parametrize(
    "text,message",
    [
        ("version = 1\n[[model]]\nname = \n", "xlm.lock:3: not valid TOML"),
        ("version = 1\n[[model]]\nname = 'a'\nn = " + "9" * 5000 + "\n", "xlm.lock:4: not readable TOML: Exceeds the limit"),
        ("[[model]]\nname = 'x'\n", "xlm.lock:1: no `version = 2` line"),
        ("version = 3\n", "newer than this xpm understands"),
        ("version = 1\n\n[[model]]\nname='a'\nkind='local'\nsource='./a'\n\n[[model]]\nname='b'\nkind='git'\nsource='https://h/b'\n",
         "xlm.lock:8: git model 'b' lacks `commit` or `hash`"),
        ("version = 1\n[[model]]\nname='a'\nkind='local'\nsource='a'\n[[model]]\nname='a'\nkind='local'\nsource='a'\n",
         "xlm.lock:6: model 'a' is locked twice"),
        ("version = 1\n[[model]]\nkind='local'\nsource='a'\n", "xlm.lock:2: [[model]] without a string `name`"),
        ("version = 1\n[[model]]\nname='a'\nkind='local'\nsource='a'\nsubdir=3\n", "xlm.lock:6: `subdir` must be a string"),
        (GIT.replace("c" * 40, "zzz"), "xlm.lock:7: 'zzz' is not a full commit id"),
        (GIT.replace("sha256-tree:", "md5:"), "xlm.lock:8: unknown hash algorithm 'md5'"),
        (GIT.replace("d" * 64, "d" * 12), f"xlm.lock:8: 'sha256-tree:{'d' * 12}' is not a sha256-tree hash"),
    ],
)
def test_lock_errors_name_file_and_line(text, message):
    with pytest.raises(LockFileError) as info:
        parse_lock(text, "xlm.lock")
    assert message in info.value.what
    assert info.value.fix


def test_write_lock_only_when_bytes_change(tmp_path):
    path = tmp_path / "xlm.lock"
    assert write_lock(path, Lock({"zlm": ENTRY}))
    os.utime(path, ns=(1, 1))
    assert not write_lock(path, Lock({"zlm": ENTRY}))
    assert path.stat().st_mtime_ns == 1


# ----------------------------------------------------------------------------- stamps
def test_check_vendored(tmp_path):
    root = stamp.vendored_root(tmp_path, "zlm")
    with pytest.raises(NotInstalled, match="not installed") as info:
        stamp.check_vendored(tmp_path, "zlm")
    assert info.value.fix == "run: xpm install"
    _tree(root)
    with pytest.raises(NotInstalled, match="no install stamp"):
        stamp.check_vendored(tmp_path, "zlm")
    stamp.write_stamp(tmp_path, "zlm", "c" * 40, "sha256-tree:1", hashing.records(root))
    with pytest.raises(NotInstalled, match="no install stamp"):  # its records do not hash to its hash
        stamp.check_vendored(tmp_path, "zlm")
    recs = hashing.records(root)
    stamp.write_stamp(tmp_path, "zlm", "c" * 40, hashing.tree_hash(recs), recs)
    assert stamp.check_vendored(tmp_path, "zlm") == []
    (root / "pkg" / "__pycache__" / "new.pyc").write_bytes(b"x")  # imports write these: not a change
    assert stamp.check_vendored(tmp_path, "zlm") == []
    (root / "B.txt").write_text("changed!")
    (root / "extra.py").write_text("")
    (root / "run.sh").unlink()
    assert stamp.check_vendored(tmp_path, "zlm") == ["B.txt", "extra.py", "run.sh"]


def test_read_lock_entry(tmp_path):
    assert stamp.read_lock_entry(tmp_path, "zlm") is None
    write_lock(tmp_path / "xlm.lock", Lock({"zlm": ENTRY}))
    entry = stamp.read_lock_entry(tmp_path, "zlm")
    assert entry["commit"] == "a" * 40 and "subdir" not in entry
    assert stamp.read_lock_entry(tmp_path, "other") is None


def test_the_recipe_in_the_docs_recomputes_the_hash(tmp_path):
    import re
    import subprocess
    import sys

    doc = (Path(__file__).resolve().parents[2] / "docs" / "xpm.md").read_text()
    recipe = re.search(r"Recompute it yourself.*?```python\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "recipe.py").write_text(recipe)
    root = tmp_path / "tree"
    _tree(root)
    out = subprocess.run([sys.executable, str(tmp_path / "recipe.py"), str(root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashing.hash_dir(root)


# ----------------------------------------------------------------------------- hygiene, progress
def test_xpm_never_imports_torch_lightning_or_hydra(tmp_path):
    import subprocess
    import sys

    (tmp_path / ".xlm_models").write_text("")
    for args in (["--help"], ["-C", str(tmp_path), "install"], ["-C", str(tmp_path), "list"]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "xpm.cli", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"torch", "lightning", "pytorch_lightning", "hydra", "omegaconf"}, args


def test_progress_plain_lines_and_live_block():
    import io

    from xpm.progress import Progress

    plain = io.StringIO()
    Progress(plain, live=False)("zlm", "fetching abc1234")
    assert plain.getvalue() == "zlm: fetching abc1234\n"
    live = io.StringIO()
    progress = Progress(live, live=True)
    progress("zlm", "fetching")
    progress("aaa", "fetching")
    progress("zlm", "installed")
    text = live.getvalue()
    assert text.count("\x1b[2F") == 1  # the two-line block is redrawn in place
    assert text.endswith("\x1b[2K  zlm  installed\n\x1b[2K  aaa  fetching\n")


def test_not_a_model_report_never_names_the_staging_folder(tmp_path):
    from xpm.errors import NotAModel
    from xpm.validate import check_model

    staging = tmp_path / "xlm_models" / ".xpm" / "staging" / "notm-1234"
    staging.mkdir(parents=True)
    (staging / "README").write_text("hi\n")
    with pytest.raises(NotAModel) as caught:
        check_model(staging, "notm", "github.com/lab/notm", label="notm@f482e5c")
    text = str(caught.value)
    assert str(staging) not in text and ".xpm" not in text
    assert "fix: create notm/__init__.py" in text


@pytest.mark.parametrize("items, limit, sep, expected", [
    ([], 3, ", ", ""),
    (["a"], 3, ", ", "a"),
    (["a", "b", "c"], 3, ", ", "a, b, c"),
    (["a", "b", "c", "d", "e"], 3, ", ", "a, b, c and 2 more"),
    (iter(["pid 1", "pid 2", "pid 3", "pid 4"]), 3, " and ", "pid 1 and pid 2 and pid 3 and 1 more"),
])
def test_long_lists_in_messages_name_the_first_few_and_count_the_rest(items, limit, sep, expected):
    from xlm.errors import first_of

    assert first_of(items, limit, sep) == expected
