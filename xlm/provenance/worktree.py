"""What git says about the work tree a model folder is in: HEAD, dirty or not, the diff, the files it sees.

A handful of git commands per work tree, whatever the number of models in it: `rev-parse`
(HEAD), `config` (the remotes), `ls-files` (the files git sees: tracked ones that exist and
untracked ones `.gitignore` does not exclude), `status` (which of them differ from HEAD), and,
for a dirty model only, `diff --binary HEAD` plus one `diff --no-index` per untracked file.
When the index marks a file skip-worktree or assume-unchanged (`ls-files -v`), status and diff
read a fresh index of HEAD instead, so that no edit is hidden.

git runs read-only and as the user's own tool in the user's own work tree, with what could make
it do something else switched off: no optional index writes (`GIT_OPTIONAL_LOCKS=0`), no
fsmonitor, no external diff or textconv, no pager, no prompt, and none of the variables that
point git at another repository (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, ...).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
            "GIT_PREFIX", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_PAGER", "GIT_QUARANTINE_PATH")
_CONFIG = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "diff.external=", "-c", "core.pager=cat")
TIMEOUT = 120  # seconds per git command: a work tree on a hung network file system must not hang the job


class GitFailed(Exception):
    """A git command that did not give an answer (not installed, not a repository, dubious ownership, ...)."""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    env.update(LC_ALL="C", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return env


def git(top: Path, *args: str, ok: tuple[int, ...] = (0,), index: str | None = None) -> tuple[int, bytes]:
    """(exit code, stdout) of `git -C top ARGS`; raises GitFailed when the code is not in `ok`.
    `index`: an index file of ours to use instead of the work tree's (`_fresh_index`)."""
    env = _env() if index is None else {**_env(), "GIT_INDEX_FILE": index}
    try:
        proc = subprocess.run(["git", *_CONFIG, "-C", str(top), *args], capture_output=True, env=env,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitFailed("git was not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitFailed(f"`git {args[0]}` did not finish within {TIMEOUT} s") from None
    if proc.returncode not in ok:
        said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"`git {args[0]}` failed: {said[-1] if said else f'exit {proc.returncode}'}")
    return proc.returncode, proc.stdout


def top_of(folder: Path) -> Path | None:
    """The top of the git work tree `folder` is in (the nearest folder holding `.git`), or None."""
    folder = Path(folder)
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def _paths(out: bytes) -> list[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def _counted(path: str) -> bool:
    """The content hash skips `__pycache__` (Python writes it when xlm imports a model): so does git's view here."""
    return "__pycache__" not in path.split("/")


def _under(path: str, rel: str) -> bool:
    return not rel or path == rel or path.startswith(rel + "/")


@dataclass
class TreeFacts:
    """What git says about one work tree, for the model folders asked about (`rels`, relative to `top`)."""

    top: Path
    commit: str | None  # HEAD, None before the first commit
    remotes: dict[str, str]  # name -> URL as configured
    files: dict[str, list[str]] = field(default_factory=dict)  # rel -> the files git sees, relative to the model folder
    dirty: dict[str, bool] = field(default_factory=dict)
    untracked: dict[str, list[str]] = field(default_factory=dict)  # rel -> untracked files, relative to top
    hiding: bool = False  # the work tree's index hides edits (skip-worktree, assume-unchanged): compare without it

    def remote(self) -> str | None:
        """The URL a restore would fetch from: `origin`, else the first remote by name."""
        if "origin" in self.remotes:
            return self.remotes["origin"]
        return self.remotes[sorted(self.remotes)[0]] if self.remotes else None


def facts(top: Path, rels: list[str]) -> TreeFacts:
    """HEAD, remotes, and per model folder the files git sees and whether they differ from HEAD."""
    code, out = git(top, "rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1))
    commit = out.decode().strip() if code == 0 else None
    code, out = git(top, "config", "-z", "--get-regexp", r"^remote\..*\.url$", ok=(0, 1))
    remotes = {}
    for item in out.split(b"\0"):
        key, _, value = item.decode("utf-8", "replace").partition("\n")
        if key.startswith("remote.") and key.endswith(".url") and value:
            remotes.setdefault(key[len("remote."):-len(".url")], value)
    specs = [rel or "." for rel in rels]
    _, out = git(top, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *specs)
    seen = [p for p in dict.fromkeys(_paths(out)) if _counted(p) and _is_file(top / p)]
    _, out = git(top, "ls-files", "-z", "-v", "--", *specs)  # `S path` (skip-worktree), `h path` (assume-unchanged)
    hiding = commit is not None and any(item[:1] == "S" or item[:1].islower() for item in _paths(out))
    with _fresh_index(top, hiding) as index:
        _, out = git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *specs, index=index)
    changed, untracked = [], []
    for item in _paths(out):
        status, path = item[:2], item[3:]
        if _counted(path):
            (untracked if status == "??" else changed).append(path)
    result = TreeFacts(top, commit, remotes, hiding=hiding)
    for rel in rels:
        prefix = len(rel) + 1 if rel else 0
        result.files[rel] = [p[prefix:] for p in seen if _under(p, rel)]
        result.untracked[rel] = [p for p in (untracked if commit else seen) if _under(p, rel)]
        result.dirty[rel] = commit is None or any(_under(p, rel) for p in changed + untracked)
    return result


@contextmanager
def _fresh_index(top: Path, wanted: bool):
    """An index read from HEAD into a temporary file (None when not `wanted`): a user's index
    may mark files skip-worktree or assume-unchanged, and git then hides their edits from
    `status` and `diff`, so the run would be recorded clean, without the patch of what ran.
    Without stat data, git compares every file by content. The work tree's index is not touched."""
    if not wanted:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="xlm-index-") as folder:
        index = os.path.join(folder, "index")
        git(top, "read-tree", f"--index-output={index}", "HEAD")
        yield index


def _is_file(path: Path) -> bool:
    """A file or a link (what the content hash records); a folder (a submodule) or nothing (a
    tracked file deleted in the work tree, which `ls-files --cached` still lists) is not."""
    try:
        return os.path.lexists(path) and (not os.path.isdir(path) or os.path.islink(path))
    except OSError:
        return False


def patch(tree: TreeFacts, rel: str) -> bytes:
    """The model folder's changes against HEAD, binary-safe, paths relative to the top: `git
    diff --binary HEAD` of its tracked files, then each untracked file as a new file. Before
    the first commit, every file is new."""
    flags = ("--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/")
    parts = []
    if tree.commit is not None:
        with _fresh_index(tree.top, tree.hiding) as index:
            parts.append(git(tree.top, "diff", *flags, "HEAD", "--", rel or ".", index=index)[1])
    for path in tree.untracked.get(rel, []):  # before the first commit: every file
        parts.append(git(tree.top, "diff", *flags, "--no-index", "--", "/dev/null", path, ok=(0, 1))[1])
    return b"".join(parts)
