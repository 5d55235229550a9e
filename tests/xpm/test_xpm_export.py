"""Export from git objects against real repositories, hostile ones made with git plumbing.

`git mktree` writes trees no porcelain would (gitlinks, `.GIT` folders, clashing or overlong
names, a name that is both a file and a folder), so each refusal is tested on a real commit,
installed with the real `xpm add`: the error names the path and a fix, nothing is installed,
and no file appears anywhere outside the cache.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from xpm import hashing, stamp
from xpm.git import checkout
from xpm.git.checkout import export_tree
from xpm.git.command import Git
from xpm.git.database import Database
from xpm_cli import xpm
from xpm_repos import model_files, read_tree

RECORD = 10240  # git archive writes the tar stream in records of 20 blocks of 512 bytes


# ----------------------------------------------------------------------------- building trees
def _git(repo, *args: str, data: bytes | None = None) -> str:
    env = {**os.environ, **repo._dates()}
    proc = subprocess.run(["git", *args], cwd=repo.path, input=data, capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def _tree(repo, items: list[tuple[str, bytes, bytes]]) -> str:
    """A tree from (mode, path, content) items, nested by `/`; a gitlink's content is its
    commit id. Any name git can store is allowed, and so are duplicates."""
    lines, folders = [], {}
    for mode, path, data in items:
        head, sep, rest = path.partition(b"/")
        if sep:
            folders.setdefault(head, []).append((mode, rest, data))
        elif mode == "160000":
            lines.append(b"160000 commit " + data + b"\t" + head)
        else:
            lines.append(f"{mode} blob {_git(repo, 'hash-object', '-w', '--stdin', data=data)}".encode() + b"\t" + head)
    for name, inner in folders.items():
        lines.append(f"040000 tree {_tree(repo, inner)}".encode() + b"\t" + name)
    return _git(repo, "mktree", "-z", "--missing", data=b"".join(line + b"\0" for line in lines))


def plumbed_commit(repo, items: list[tuple[str, bytes, bytes]], with_model: str | None = None) -> str:
    """Commit a hand-made tree on main (plus a valid model's files when `with_model` names one)."""
    if with_model:
        items = [("100644", k.encode(), v.encode()) for k, v in model_files(with_model).items()] + items
    repo.tick += 1
    commit = _git(repo, "commit-tree", _tree(repo, items), "-m", "hand-made tree")
    _git(repo, "update-ref", "refs/heads/main", commit)
    return commit


def _mirror(repo, git_env, commit):
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    return db


def files_outside_cache(root: Path) -> set[str]:
    """Every path under `root` but the cache (which a fetch fills): a refusal changes none."""
    out = set()
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel.parts[:1] == ("cache",):
            continue
        out.update(str(rel / name) for name in dirs + files if (rel / name).parts[:1] != ("cache",))
    return out


def refused(project: Path, url: str, tmp_path: Path):
    """`xpm add url` fails; returns its stderr after checking that nothing changed anywhere."""
    before = files_outside_cache(tmp_path)
    out = xpm(project, "add", url, code=1)
    assert files_outside_cache(tmp_path) == before, "a refused tree wrote a file"
    assert not (project / "xlm_models").exists() and not (project / ".xlm_models").exists()
    assert "\n  fix: " in out.stderr and out.stderr.rstrip().endswith("nothing was installed")
    return out.stderr


# ----------------------------------------------------------------------------- the tar-stream regression
def tar_data_end(stream: bytes) -> int:
    """Where the members of a tar stream end (the first all-zero header block)."""
    offset = 0
    while stream[offset:offset + 512] != bytes(512):
        size = int(stream[offset + 124:offset + 136].rstrip(b"\0 ") or b"0", 8)
        offset += 512 + -(-size // 512) * 512
    return offset


def archive_end(repo, commit: str) -> int:
    stream = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo.path, capture_output=True, check=True).stdout
    assert len(stream) % RECORD == 0
    return tar_data_end(stream)


@pytest.mark.parametrize("members_end", [RECORD - 512, 0], ids=["end-of-archive-in-a-second-write", "members-end-on-a-record"])
def test_a_tree_whose_tar_stream_ends_at_a_record_boundary_installs(upstream, git_env, project, tmp_path, members_end):
    """When a tree's tar members end 512 bytes before a record boundary, git archive writes its
    end-of-archive in a second record: tarfile stopped reading at the first zero block, and
    git, still writing, died of SIGPIPE whenever the reader closed the pipe first (the old
    export failed 41 of 200 parallel runs on this tree). Exports no longer stream tar."""
    repo = upstream("lab/edge")
    files = {**model_files("edge"), "weights.bin": bytes(range(256)) * 1024}  # 256 KiB: fills the pipe
    repo.commit("model", files)
    short = (members_end - archive_end(repo, "HEAD") - 512) % RECORD  # one more member: header + data
    commit = repo.commit("pad to the edge", {"pad.bin": bytes(i % 251 for i in range(short))})
    end = archive_end(repo, commit)
    assert end % RECORD == members_end  # the case under test, asserted, not assumed
    if members_end:
        assert RECORD - end % RECORD < 1024  # the two zero blocks do not fit: a second record
    db = _mirror(repo, git_env, commit)

    def export(i: int) -> dict:
        dest = tmp_path / f"out{i}"
        dest.mkdir()
        export_tree(db.git, db.path, commit, None, dest, "edge")
        return read_tree(dest)

    with ThreadPoolExecutor(8) as pool:  # parallel, as a cold install of many models runs
        trees = list(pool.map(export, range(40)))
    assert all(tree == repo.tree(commit) for tree in trees)
    xpm(project, "add", repo.url)
    root = project / "xlm_models" / "edge"
    assert read_tree(root) == repo.tree(commit)
    assert stamp.read_stamp(project, "edge")["hash"] == hashing.hash_dir(root)


# ----------------------------------------------------------------------------- the PATH_MAX chain
STEPS = "abcdefghijklmnop"


@pytest.mark.parametrize("width, write_through, reason", [
    (247, True, "has a path longer than 1024 bytes"),
    (40, True, "has 'escape' as both a file and a folder"),
    (40, False, "has symlink 'escape' -> "),
], ids=["long-names", "short-names", "link-only"])
def test_a_path_max_symlink_chain_never_writes_outside(upstream, project, tmp_path, width, write_through, reason):
    """The shape of CVE-2025-4517, as a git tree: folders with long names, a link per level to
    the next folder, a deep link back up, and an `escape` link through all of them out of the
    project, with a file to write through it. Refused before anything is written."""
    comp = "d" * width
    items, folder = [], ""
    for step in STEPS:
        items.append(("120000", f"{folder}{step}".encode(), comp.encode()))
        items.append(("100644", f"{folder}{comp}/keep".encode(), b"k"))
        folder += comp + "/"
    items.append(("120000", f"{folder}{'l' * 254}".encode(), ("../" * len(STEPS)).encode()))
    # From the model's root (project/xlm_models/.xpm/staging/chain-*), 5 levels up is tmp_path.
    climb = "/".join(STEPS) + "/" + "l" * 254 + "/" + "../" * 5 + "canary-dir"
    items.append(("120000", b"escape", climb.encode()))
    if write_through:
        items.append(("100644", b"escape/canary", b"pwned"))
    repo = upstream("lab/chain")
    plumbed_commit(repo, items, with_model="chain")
    err = refused(project, repo.url, tmp_path)
    assert err.startswith("error: model 'chain' ") and reason in err
    assert not (tmp_path / "canary-dir").exists()


# ----------------------------------------------------------------------------- each refusal
FSMONITOR = b"[core]\n\trepositoryformatversion = 0\n\tbare = true\n\tfsmonitor = touch CANARY\n"
HOSTILE = {
    "submodule": ([("160000", b"vendor/x", b"1234567890123456789012345678901234567890")],
                  "contains submodule 'vendor/x'"),
    ".GIT folder": ([("100644", b".GIT/config", FSMONITOR)], "contains '.git' (in some spelling) in '.GIT/config'"),
    "git~1": ([("100644", b"sub/git~1/config", FSMONITOR)], "in 'sub/git~1/config'"),
    ".git with an HFS+ ignorable": ([("100644", ".g\u200cit/config".encode(), FSMONITOR)], "in '.g\\u200cit/config'"),
    "embedded bare repository": ([("100644", b"tools/cache/HEAD", b"ref: refs/heads/main\n"),
                                  ("100644", b"tools/cache/config", FSMONITOR),
                                  ("100644", b"tools/cache/objects/info/packs", b""),
                                  ("100644", b"tools/cache/refs/heads/main", b"0" * 40 + b"\n")],
                                 "contains a folder shaped like a git repository: 'tools/cache/'"),
    "case clash": ([("100644", b"hyper/Model.py", b"a"), ("100644", b"hyper/model.py", b"b")],
                   "has 'hyper/Model.py' and 'hyper/model.py', which are one file on macOS and Windows"),
    "Unicode clash": ([("100644", "caf\u00e9.txt".encode(), b"a"), ("100644", "cafe\u0301.txt".encode(), b"b")],
                      "which are one file on macOS and Windows"),
    "file and folder clash": ([("100644", b"Data", b"a"), ("100644", b"data/x", b"b")], "has 'Data' and 'data/', which are one file"),
    "256-byte name": ([("100644", b"n" * 256, b"a")], "has a name longer than 255 bytes"),
    "'..' component": ([("100644", b"../x", b"a")], "component: '../x'"),
    "non-UTF-8 name": ([("100644", b"caf\xe9.py", b"a")], "has a path that is not valid UTF-8: 'caf\\xe9.py'"),
    "absolute symlink": ([("120000", b"leak", b"/etc/passwd")], "has symlink 'leak' -> '/etc/passwd', an absolute path"),
    "symlink out": ([("120000", b"sub/leak", b"../../../../outside")], "which leaves the model's folder"),
    "compiled Python": ([("100644", b"hostile/__pycache__/model.cpython-311.pyc", b"\x00" * 16)], "contains compiled Python in"),
}


@pytest.mark.parametrize("items, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_hostile_tree_is_refused_and_writes_nothing(upstream, project, tmp_path, items, message):
    canary = tmp_path / "fsmonitor-ran"
    items = [(m, p, d.replace(b"CANARY", str(canary).encode())) for m, p, d in items]
    repo = upstream("lab/hostile")
    commit = plumbed_commit(repo, items, with_model="hostile")
    err = refused(project, repo.url, tmp_path)
    assert err.startswith(f"error: model 'hostile' {message}") or message in err.splitlines()[0]
    assert f"(commit {commit[:12]})" in err.splitlines()[0]
    assert not canary.exists()


def test_refusal_keeps_an_installed_project_as_it_was(upstream, lab, project, tmp_path):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    repo = upstream("lab/hostile")
    plumbed_commit(repo, [("160000", b"sub", b"1" * 40)], with_model="hostile")
    before = {p: (project / p).read_bytes() for p in (".xlm_models", "xlm.lock")}
    tree = read_tree(project / "xlm_models")
    out = xpm(project, "add", repo.url, code=1)
    assert "contains submodule 'sub'" in out.stderr
    assert {p: (project / p).read_bytes() for p in before} == before
    assert read_tree(project / "xlm_models") == tree  # zlm untouched, no staging left
    assert not (project / "xlm_models" / "hostile").exists()


# ----------------------------------------------------------------------------- what is kept
def test_safe_symlinks_are_kept_and_hashed_as_documented(upstream, project):
    repo = upstream("lab/linky")
    repo.commit("c", model_files("linky"))
    (repo.path / "linky" / "alias.py").symlink_to("model.py")
    (repo.path / "configs" / "pkg").symlink_to("../linky")  # a link to a folder
    (repo.path / "configs" / "gone").symlink_to("nothing/here")  # dangling, but inside
    commit = repo.commit("links")
    xpm(project, "add", repo.url)
    root = project / "xlm_models" / "linky"
    assert os.readlink(root / "linky" / "alias.py") == "model.py" and os.readlink(root / "configs" / "pkg") == "../linky"
    tree = repo.tree(commit)
    lines = []
    for path in sorted(tree, key=str.encode):
        target = os.readlink(repo.path / path) if (repo.path / path).is_symlink() else None
        mode = "120000" if target is not None else "100644"
        digest = hashlib.sha256(target.encode() if target is not None else tree[path]).hexdigest()
        lines.append(f"{mode} {digest}  {path}\n")
    documented = "sha256-tree:" + hashlib.sha256("".join(lines).encode()).hexdigest()
    locked = (project / "xlm.lock").read_text()
    assert f'hash = "{documented}"' in locked
    assert hashing.hash_dir(root) == documented


def test_export_records_equal_a_fresh_walk_and_modes_are_exact(upstream, git_env, tmp_path):
    repo = upstream("lab/shapes")
    files = {**model_files("shapes"), "empty.txt": "", "data/blob.bin": os.urandom(256 * 1024),
             "deep/a/b/c/d/e.txt": "deep\n", "ünïcødé/名前.txt": "名前\n", "tools/run.sh": "#!/bin/sh\necho hi\n"}
    repo.commit("c", files)
    (repo.path / "tools" / "run.sh").chmod(0o755)
    (repo.path / "shapes" / "alias.py").symlink_to("model.py")
    commit = repo.commit("exec and link")
    db = _mirror(repo, git_env, commit)
    old = os.umask(0o077)  # a private umask changes folders, not the files' documented modes
    try:
        dest = tmp_path / "out"
        dest.mkdir()
        export = export_tree(db.git, db.path, commit, None, dest, "shapes")
    finally:
        os.umask(old)
    assert export.records == hashing.records(dest)  # mode, sha256, size and mtime alike
    assert hashing.tree_hash(export.records) == hashing.hash_dir(dest)
    assert read_tree(dest) == {k: b"-> " + v if k == "shapes/alias.py" else v for k, v in repo.tree(commit).items()}
    assert stat.S_IMODE(os.stat(dest / "tools" / "run.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "empty.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(dest / "data" / "blob.bin").st_mode) == 0o644
    assert {r.path: r.mode for r in export.records}["tools/run.sh"] == "100755"
    assert export.warnings == []


@pytest.mark.parametrize("batch_command", [True, False], ids=["git-2.36+", "older-git"])
def test_one_git_process_per_export(upstream, git_env, tmp_path, monkeypatch, batch_command):
    """git 2.36+ lists and sends the tree through one `cat-file --batch-command`; older git
    (forced here by raising the gate) takes one `ls-tree` and one `cat-file --batch`."""
    calls = []

    class Recording(Git):
        def popen(self, args, cwd=None, **kwargs):
            calls.append(args[:2])
            return super().popen(args, cwd=cwd, **kwargs)

    if batch_command and Git().version < checkout.BATCH_COMMAND:
        pytest.skip("git older than 2.36")
    if not batch_command:
        monkeypatch.setattr(checkout, "BATCH_COMMAND", (99,))
    repo = upstream("lab/count")
    repo.commit("c", {**model_files("count"), **{f"many/f{i}.txt": f"{i}\n" for i in range(200)}})
    (repo.path / "count" / "alias.py").symlink_to("model.py")
    commit = repo.commit("link")
    db = _mirror(repo, git_env, commit)
    (tmp_path / "out").mkdir()
    export_tree(Recording(), db.path, commit, None, tmp_path / "out", "count")
    assert calls == ([["cat-file", "--batch-command"]] if batch_command else [["ls-tree", "-r"], ["cat-file", "--batch"]])
    assert len(read_tree(tmp_path / "out")) == 205


def test_subdir_that_is_a_file(lab, git_env, tmp_path):
    commit = lab.models.head()
    db = _mirror(lab.models, git_env, commit)
    (tmp_path / "out").mkdir()
    with pytest.raises(Exception, match="'README.md' is not a folder in commit"):
        export_tree(db.git, db.path, commit, "README.md", tmp_path / "out", "readme")
    assert list((tmp_path / "out").iterdir()) == []


# ----------------------------------------------------------------------------- limits and warnings
@pytest.mark.parametrize("variable, value, message", [
    ("XPM_MAX_MODEL_FILES", "3", "model 'big' has more than 3 files"),
    ("XPM_MAX_MODEL_BYTES", "1K", "model 'big' holds more than 1024 bytes"),
    ("XPM_MAX_MODEL_DEPTH", "2", "model 'big' has 'configs/model/big.yaml', more than 2 levels deep"),
])
def test_limits_come_from_the_environment(upstream, project, tmp_path, monkeypatch, variable, value, message):
    repo = upstream("lab/big")
    repo.commit("c", {**model_files("big"), "blob.bin": b"x" * 2000})
    monkeypatch.setenv(variable, value)
    err = refused(project, repo.url, tmp_path)
    assert err.startswith(f"error: {message}") and f"raise the limit with {variable}=" in err
    monkeypatch.setenv(variable, "100000")
    xpm(project, "add", repo.url)


def test_a_bad_limit_is_a_clear_error(lab, project, monkeypatch):
    monkeypatch.setenv("XPM_MAX_MODEL_FILES", "lots")
    out = xpm(project, "add", lab.zlm.url, code=1)
    assert out.stderr == (
        "error: environment variable XPM_MAX_MODEL_FILES='lots' is not a valid limit\n"
        "  fix: set it to a positive whole number, e.g. 100000, or unset it for the default\n"
    )
    assert not (project / "xlm_models").exists()


def test_lfs_pointers_are_installed_with_a_warning(upstream, project):
    pointer = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n")
    repo = upstream("lab/lfsy")
    commit = repo.commit("c", {**model_files("lfsy"), "weights/model.bin": pointer, "README.md": pointer[:20]})
    out = xpm(project, "add", repo.url)  # -q: progress is quiet, warnings are not
    assert out.stderr == (
        "warning: model 'lfsy': 1 Git LFS pointer file(s) installed as pointers, not the files they stand for: "
        "weights/model.bin (xpm does not run git-lfs; fetch those files yourself, or keep them out of git)\n"
    )
    assert read_tree(project / "xlm_models" / "lfsy") == repo.tree(commit)
