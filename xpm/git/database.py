"""A database: the bare mirror of one remote in the shared cache.

Layout: `<cache>/git/db/<mirror_name>/`, a bare repository created atomically (init in a
temporary folder, then rename). Every commit xpm needs gets a ref `refs/xpm/c/<commit>`, so
no gc ever prunes a locked commit, and `xpm-refs.json` keeps the remote's last advertised refs
so `--offline` can still resolve `@v1`. The stored URL (`xpm-url`) and the folder name never
hold credentials. Callers hold the mirror's lock (`lock_path`); this module does not lock.

The cache is outside input too: git's complaints about a damaged pack or a lost object
surface as `MirrorDamaged`, and `replace` swaps the mirror for a fresh, empty one.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from xlm.manifest import without_userinfo
from xlm.textfile import write_atomic
from xpm.errors import GitError, MirrorDamaged, UnknownRef
from xpm.git.command import Git
from xpm.git.failures import classify, looks_corrupt
from xpm.git.remote import mirror_name, ref_problem
from xpm.removal import remove_tree

if TYPE_CHECKING:
    from xpm.resolve import RefList

_UNSTORABLE = re.compile(r"cannot lock ref 'refs/xpm/(heads|tags)/([^'\n]+)'")
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
        name = mirror_name(url)
        self.path = Path(cache_dir) / "git" / "db" / name
        # Outside the mirror, so that replacing a damaged mirror keeps the lock held.
        self.lock_path = Path(cache_dir) / "git" / "locks" / f"{name}.lock"

    # ------------------------------------------------------------------ creation
    def exists(self) -> bool:
        """Whether a mirror as xpm makes it holds the name (`untrusted` says why not)."""
        return self.untrusted() is None

    def untrusted(self) -> str | None:
        """Why what holds the mirror's name is not a mirror xpm may run git in, or None.

        git obeys a repository's own files: its `config` can run commands (`uploadpack`,
        `sshCommand`, `include.path`) or fetch from elsewhere (`insteadOf`), a `commondir` or an
        `alternates` file lends it another repository's. The cache is outside input, so the
        mirror must be a real folder of this user's, writable by no one else, holding xpm's own
        `config` byte for byte, the URL it was made for, and none of those files."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISDIR(st.st_mode):
            return "not a folder"
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            return f"owned by user id {st.st_uid}, not by this user"
        if st.st_mode & stat.S_IWOTH:
            return "writable by every user"
        for name, kind in (("HEAD", stat.S_ISREG), ("config", stat.S_ISREG), ("xpm-url", stat.S_ISREG),
                           ("objects", stat.S_ISDIR), ("refs", stat.S_ISDIR)):
            try:
                if not kind(os.lstat(self.path / name).st_mode):
                    return f"its {name} is not a plain {'file' if kind is stat.S_ISREG else 'folder'}"
            except FileNotFoundError:
                return f"it has no {name}"
        for name in ("commondir", "objects/info/alternates", "objects/info/http-alternates"):
            if os.path.lexists(self.path / name):
                return f"it holds {name}"
        if os.path.lexists(self.path / "shallow") and not stat.S_ISREG(os.lstat(self.path / "shallow").st_mode):
            return "its shallow is not a plain file"
        with open(self.path / "config", "rb") as handle:
            if handle.read(len(_CONFIG) + 1) != _CONFIG.encode():
                return "its config is not the one xpm writes"
        with open(self.path / "xpm-url", "rb") as handle:
            stored = handle.read(4097).decode("utf-8", "replace").strip()
        if mirror_name(stored) != self.path.name:
            return "it was made for another URL"
        return None

    def clear_git_locks(self) -> None:
        """Delete the lock files git left in the mirror when it was killed (`shallow.lock` of a
        fetch that Ctrl-C, a timeout or a killed xpm stopped; a ref's `.lock`). The caller has
        just taken xpm's lock of the mirror, under which alone git runs in it, so no git that
        made them still runs (on Linux a network git dies with its xpm), and git would refuse
        to fetch while they exist: the mirror is not damaged and keeps what it holds."""
        if not self.exists():
            return
        folders = [str(self.path)] + [folder for folder, _, _ in os.walk(self.path / "refs")]
        for folder in folders:
            try:
                with os.scandir(folder) as entries:
                    stale = [e.path for e in entries if e.name.endswith(".lock") and e.is_file(follow_symlinks=False)]
            except OSError:
                continue
            for path in stale:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def ensure(self) -> None:
        """Make the mirror when there is none; whatever else holds its name (a file, a link, a
        folder without HEAD, a mirror `untrusted` refuses) is replaced (the caller holds its lock)."""
        if self.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._discard()
        tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=self.path.parent))
        try:
            # A bare repository as gitrepository-layout(5) describes it, written directly: a
            # `git init` per remote is a process start that a cold install of many models pays
            # for in parallel, and there are no sample hooks to copy. Only what git needs to
            # recognise it (HEAD, objects/, refs/): git makes objects/pack, refs/xpm/... when it
            # first writes there, and each file or folder made costs a cold install of many
            # models. No info/attributes: exports read objects (`cat-file`), which no attribute,
            # filter or end-of-line rule of the repository ever touches.
            for sub in ("objects", "refs"):
                (tmp / sub).mkdir()
            (tmp / "HEAD").write_text("ref: refs/heads/main\n")
            (tmp / "config").write_text(_CONFIG)
            (tmp / "xpm-url").write_text(without_userinfo(self.url) + "\n")
            os.replace(tmp, self.path)  # a half-made mirror is never visible under its name
        except BaseException:
            remove_tree(tmp, ignore_errors=True)
            raise

    @contextmanager
    def kept_if_filled(self):
        """Around a command's work on the mirror: a mirror it made that holds no object after a
        failure (an unreachable remote, a ref that does not exist, Ctrl-C before the fetch) is
        removed, not left in the cache; one a fetch filled is kept for the next command."""
        new = not self.exists()
        try:
            yield
        except BaseException:
            if new and not self._holds_objects():
                self._discard()
            raise

    def _holds_objects(self) -> bool:
        for _, _, files in os.walk(self.path / "objects"):
            if files:
                return True
        return False

    def replace(self) -> None:
        """Swap a damaged mirror for a fresh, empty one (the caller holds its lock)."""
        self._discard()
        self.ensure()

    def _discard(self) -> None:
        """Move what holds the mirror's name aside, then delete it: the name is free at once."""
        if os.path.lexists(self.path):
            trash = Path(tempfile.mkdtemp(prefix=".damaged-", dir=self.path.parent))
            os.replace(self.path, trash / "mirror")
            remove_tree(trash, ignore_errors=True)

    # ------------------------------------------------------------------ queries
    def missing(self, commits: list[str]) -> list[str]:
        """Those of `commits` the mirror does not hold."""
        if not commits or not self.exists():
            return list(commits)
        found = self.peeled(commits)
        return [c for c in commits if c not in found]

    def peeled(self, ids: list[str]) -> dict[str, str]:
        """The commit each of `ids` the mirror holds is, or names (an annotated tag's id names
        its commit), by id (one `cat-file --batch-check`)."""
        answers = self._batch_check("".join(f"{i}^{{commit}}\n" for i in ids)).splitlines()
        return {i: answer.split()[0] for i, answer in zip(ids, answers) if answer.endswith(" commit")}

    def _batch_check(self, query: str) -> str:
        args = ["cat-file", "--batch-check=%(objectname) %(objecttype)"]
        p = self.git.popen(args, cwd=self.path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace")
        out, err = self.git.communicate(p, args, self.path, query)
        # A truncated pack makes its objects read as "missing", with a complaint on stderr:
        # that is a damaged mirror, not a commit to fetch.
        if p.returncode != 0 or looks_corrupt(err):
            raise (MirrorDamaged if looks_corrupt(err) else GitError)(args, p.returncode, err, str(self.path))
        return out

    def rev_parse(self, prefix: str) -> str | None:
        """The one commit whose id starts with `prefix` (None: there is none)."""
        proc = self.git.run(["rev-parse", "--verify", f"{prefix}^{{commit}}"], cwd=self.path, check=False)
        if proc.returncode == 0:
            return proc.stdout.strip() or None
        if re.search(rf"short (?:object ID|SHA1) {prefix} is ambiguous", proc.stderr):  # git 2.25's words, then 2.28's
            raise UnknownRef(f"commit prefix '{prefix}' is ambiguous in {self.url}", "write more digits of the commit id")
        return None

    # ------------------------------------------------------------------ remote refs snapshot
    def save_refs(self, refs: RefList) -> None:
        path = self.path / _REFS_FILE
        if os.path.lexists(path) and not path.is_file():  # a folder or a link where the snapshot goes: ours to replace
            remove_tree(path)
        write_atomic(path, json.dumps(refs.to_json(), sort_keys=True, indent=1))

    def load_refs(self) -> RefList | None:
        """The refs last listed, or None when the snapshot is missing or not what we wrote
        (read as `xlm.textfile` reads a project's files: a regular file of at most 4 MiB of
        UTF-8, so a fifo or a device there never blocks or fills memory)."""
        from xlm.records.lockfile import is_commit_id
        from xlm.textfile import read_text
        from xpm.resolve import RefList  # not imported to fetch a locked commit

        try:
            text = read_text(self.path / _REFS_FILE)
            refs = RefList.from_json(json.loads(text)) if text is not None else None
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):  # TextFileError is a ValueError
            return None
        if refs is None:
            return None
        names = [*refs.tags, *refs.branches, *([refs.head] if refs.head else [])]
        commits = [*refs.tags.values(), *refs.branches.values(), *([refs.head_commit] if refs.head_commit else [])]
        if not all(isinstance(n, str) and not ref_problem(n) for n in names) or not all(map(is_commit_id, commits)):
            return None
        return refs

    # ------------------------------------------------------------------ fetching
    def fetch(self, commits: list[str], names: dict[str, str] | None = None, asked: frozenset[str] = frozenset()) -> None:
        """Bring `commits` into the mirror: shallow by commit id when the server allows it
        (protocol v2 servers do), else one full fetch of branches and tags. `names`: the model
        of each commit, for messages; `asked`: the commits the user named by id (no ref of
        theirs can have moved)."""
        self.ensure()
        commits = sorted(set(commits))
        if not commits:
            return
        refspecs = [f"{c}:refs/xpm/c/{c}" for c in commits]
        # A failure run() recognises (unreachable, authentication, timeout, refused transport)
        # raises; any other means the server will not send commits by id: fetch everything.
        shallow = self.git.run(["fetch", *self._fetch_options(), "--depth=1", "--", self.url, *refspecs],
                               cwd=self.path, url=self.url, check=False)
        if shallow.returncode == 0:
            return  # each commit was fetched into its own ref, so all of them are here
        self.fetch_all()
        still = self.missing(commits)
        if still:
            name = (names or {}).get(still[0], "NAME")
            if still[0] in asked:
                raise UnknownRef(
                    f"model '{name}': commit {still[0][:12]} is not in {self.url} (no branch or tag of it leads there)",
                    "check the commit id (`git ls-remote URL` lists the refs), or name a tag or branch instead (@REF)",
                )
            raise UnknownRef(
                f"model '{name}': commit {still[0][:12]} is no longer available from {self.url} "
                "(tag moved or history rewritten upstream?)",
                f"run `xpm update {name}` to lock what its ref points to now",
            )
        self.pin(commits)

    def _fetch_options(self) -> list[str]:
        """No tags (xpm names what it wants), and no FETCH_HEAD file where git can skip it (2.29+):
        xpm never reads it, and each file written costs a cold install of many models."""
        return ["--quiet", "--no-tags", *(["--no-write-fetch-head"] if self.git.version >= (2, 29) else [])]

    def pin(self, commits: list[str]) -> None:
        """Give each commit its ref `refs/xpm/c/<commit>` (one `update-ref --stdin`), so that a
        commit reached through a branch that is later force-pushed away is still never pruned."""
        args = ["update-ref", "--stdin"]
        p = self.git.popen(args, cwd=self.path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace")
        _, err = self.git.communicate(p, args, self.path, "".join(f"update refs/xpm/c/{c} {c}\n" for c in commits))
        if p.returncode != 0:
            raise (MirrorDamaged if looks_corrupt(err) else GitError)(args, p.returncode, err, str(self.path))

    def fetch_all(self) -> None:
        """Full history of every branch and tag (needed for short commit ids and old servers).
        `--prune`: a branch deleted upstream goes from the mirror too, or one created below its
        name (`feature` -> `feature/x`) could never be stored; the pins (`refs/xpm/c/`) stay."""
        self.ensure()
        args = ["fetch", *self._fetch_options(), "--force", "--prune"]
        if (self.path / "shallow").exists():
            args.append("--unshallow")  # history behind a shallow boundary is never sent otherwise
        args += ["--", self.url, "+refs/heads/*:refs/xpm/heads/*", "+refs/tags/*:refs/xpm/tags/*"]
        skipped: list[str] = []
        while True:
            proc = self.git.run(args + [f"^{ref}" for ref in skipped], cwd=self.path, url=self.url, check=False)
            unstorable = _UNSTORABLE.findall(proc.stderr) if proc.returncode else []
            if not unstorable or self.git.version < (2, 29) or len(skipped) >= 100:
                break
            # A ref no file system can hold (a name component over 255 bytes) failed the whole
            # fetch: leave it out (a negative refspec, git 2.29+), as resolution ignores it.
            skipped += [f"refs/{kind}/{name}" for kind, name in unstorable]
        if proc.returncode:
            raise classify(args, proc.returncode, proc.stderr, str(self.path), self.url)
