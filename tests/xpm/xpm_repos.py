"""Helpers to build real git repositories for tests (used by conftest fixtures, reusable).

Dates are fixed (one second per commit from a base), so commit ids are the same on every run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE_DATE = 1_700_000_000


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout.strip()


def model_files(name: str, version: str = "1.0.0", extra: str = "") -> dict[str, str]:
    """A minimal model that passes xlm's static validation (package, model + model_type configs)."""
    cls = "".join(part.title() for part in name.split("_")) + "Model"
    return {
        f"{name}/__init__.py": f'__version__ = "{version}"\n',
        f"{name}/model.py": f"class {cls}:\n    \"\"\"{name} {version}{extra}\"\"\"\n",
        f"configs/model/{name}.yaml": f"_target_: {name}.model.{cls}\nversion: '{version}'\n",
        f"configs/model_type/{name}.yaml": f"name: {name}\n",
    }


class Repo:
    """A non-bare repository that plays "upstream": commit, tag, move tags, force-move branches."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.tick = 0
        git(self.path, "init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        return git(self.path, *args, env=self._dates())

    def _dates(self) -> dict[str, str]:
        stamp = f"@{BASE_DATE + self.tick} +0000"
        return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}

    def write(self, files: dict[str, str | bytes], prefix: str = "") -> None:
        for rel, content in files.items():
            target = self.path / prefix / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, message: str, files: dict[str, str | bytes] | None = None, prefix: str = "", remove: tuple[str, ...] = ()) -> str:
        self.tick += 1
        if files:
            self.write(files, prefix)
        for rel in remove:
            self.git("rm", "-rq", rel)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", f"{ref}^{{commit}}")

    def tag(self, name: str, ref: str = "HEAD", force: bool = False, annotated: bool = False) -> None:
        args = ["tag"] + (["-f"] if force else []) + (["-a", "-m", name] if annotated else []) + [name, ref]
        self.git(*args)

    def branch(self, name: str, ref: str = "HEAD", force: bool = False) -> None:
        self.git("branch", *(["-f"] if force else []), name, ref)

    def tree(self, ref: str, subdir: str = "") -> dict[str, bytes]:
        """{path: content} of the committed tree at `ref` (relative to `subdir`)."""
        spec = f"{ref}:{subdir}" if subdir else ref
        names = [n for n in git(self.path, "ls-tree", "-r", "-z", "--name-only", spec).split("\0") if n]  # -z: unquoted names
        out = {}
        for n in names:
            out[n] = subprocess.run(["git", "cat-file", "blob", f"{spec}/{n}" if subdir else f"{ref}:{n}"], cwd=self.path, capture_output=True, check=True).stdout
        return out


def read_tree(root: Path, skip: tuple[str, ...] = ("__pycache__",)) -> dict[str, bytes]:
    """{relative path: bytes} of every file under `root` (symlinks as their target)."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        if path.is_symlink():
            out[rel] = ("-> " + os.readlink(path)).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out
