"""A database: the bare mirror of one remote in the shared cache.

Layout: `<cache>/git/db/<mirror_name>/`, a bare repository created atomically (init in a
temporary folder, then rename). Every commit xpm needs gets a ref `refs/xpm/c/<commit>`, so
no gc ever prunes a locked commit, and `xpm-refs.json` keeps the remote's last advertised refs
so `--offline` can still resolve `@v1`. Callers hold the cache lock; this module does not lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from xlm.manifest import write_atomic
from xpm.errors import GitError, UnknownRef
from xpm.git.command import Git
from xpm.git.remote import mirror_name
from xpm.resolve import RefList

# Exports must equal the committed tree, whatever the repository's .gitattributes asks for:
# info/attributes has the highest precedence, so these switch off export-subst/export-ignore
# and any end-of-line or filter conversion for every path.
_ATTRIBUTES = "* -export-subst -export-ignore -text -eol -ident -filter -working-tree-encoding\n"
_REFS_FILE = "xpm-refs.json"
# unpackLimit=1 keeps every fetched pack as it came (as clone does) instead of exploding small
# fetches into loose objects, which recompresses each blob: a 256 KiB binary costs real time.
_CONFIG = (
    "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
    "[fetch]\n\tunpackLimit = 1\n[gc]\n\tauto = 0\n"
)


class Database:
    def __init__(self, git: Git, cache_dir: Path, url: str):
        self.git, self.url = git, url
        self.path = Path(cache_dir) / "git" / "db" / mirror_name(url)

    # ------------------------------------------------------------------ creation
    def exists(self) -> bool:
        return (self.path / "HEAD").is_file()

    def ensure(self) -> None:
        if self.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=self.path.parent))
        try:
            # The documented layout of a bare repository (gitrepository-layout(5)), written
            # directly: a `git init` per remote is a process start that a cold install of
            # many models pays for in parallel, and there are no sample hooks to copy.
            for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags", "info"):
                (tmp / sub).mkdir(parents=True)
            (tmp / "HEAD").write_text("ref: refs/heads/main\n")
            (tmp / "config").write_text(_CONFIG)
            (tmp / "info" / "attributes").write_text(_ATTRIBUTES)
            (tmp / "xpm-url").write_text(self.url + "\n")
            os.replace(tmp, self.path)  # a half-made mirror is never visible under its name
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ queries
    def missing(self, commits: list[str]) -> list[str]:
        """Those of `commits` the mirror does not hold (one `cat-file --batch-check`)."""
        if not commits or not self.exists():
            return list(commits)
        answers = self._batch_check("".join(f"{c}^{{commit}}\n" for c in commits)).splitlines()
        return [c for c, answer in zip(commits, answers) if answer.strip() != "commit"]

    def _batch_check(self, query: str) -> str:
        p = self.git.popen(["cat-file", "--batch-check=%(objecttype)"], cwd=self.path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(query)
        if p.returncode != 0:
            raise GitError(["cat-file", "--batch-check"], p.returncode, err, str(self.path))
        return out

    def rev_parse(self, prefix: str) -> str | None:
        proc = self.git.run(["rev-parse", "--verify", "--quiet", f"{prefix}^{{commit}}"], cwd=self.path, check=False)
        return (proc.stdout.strip() or None) if proc.returncode == 0 else None

    # ------------------------------------------------------------------ remote refs snapshot
    def save_refs(self, refs: RefList) -> None:
        write_atomic(self.path / _REFS_FILE, json.dumps(refs.to_json(), sort_keys=True, indent=1))

    def load_refs(self) -> RefList | None:
        try:
            return RefList.from_json(json.loads((self.path / _REFS_FILE).read_text()))
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ fetching
    def fetch(self, commits: list[str], names: dict[str, str] | None = None) -> None:
        """Bring `commits` into the mirror: shallow by commit id when the server allows it
        (protocol v2 servers do), else one full fetch of branches and tags."""
        self.ensure()
        commits = sorted(set(commits))
        if not commits:
            return
        refspecs = [f"{c}:refs/xpm/c/{c}" for c in commits]
        shallow = self.git.run(["fetch", "--quiet", "--no-tags", "--depth=1", "--", self.url, *refspecs], cwd=self.path, url=self.url, check=False)
        if shallow.returncode == 0:
            return  # each commit was fetched into its own ref, so all of them are here
        self.fetch_all()
        still = self.missing(commits)
        if still:
            name = (names or {}).get(still[0], "NAME")
            raise UnknownRef(
                f"model '{name}': commit {still[0][:12]} is no longer available from {self.url} "
                "(tag moved or history rewritten upstream?)",
                f"run `xpm update {name}` to lock what its ref points to now",
            )
        self.pin(commits)

    def pin(self, commits: list[str]) -> None:
        """Give each commit its ref `refs/xpm/c/<commit>` (one `update-ref --stdin`), so that a
        commit reached through a branch that is later force-pushed away is still never pruned."""
        p = self.git.popen(["update-ref", "--stdin"], cwd=self.path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = p.communicate("".join(f"update refs/xpm/c/{c} {c}\n" for c in commits))
        if p.returncode != 0:
            raise GitError(["update-ref", "--stdin"], p.returncode, err, str(self.path))

    def fetch_all(self) -> None:
        """Full history of every branch and tag (needed for short commit ids and old servers)."""
        self.ensure()
        args = ["fetch", "--quiet", "--force", "--no-tags"]
        if (self.path / "shallow").exists():
            args.append("--unshallow")  # history behind a shallow boundary is never sent otherwise
        args += ["--", self.url, "+refs/heads/*:refs/xpm/heads/*", "+refs/tags/*:refs/xpm/tags/*"]
        self.git.run(args, cwd=self.path, url=self.url)
