"""The error types of xpm: what went wrong (with where) and how to fix it.

User errors (`XpmError`) print two lines and exit 1 with no traceback; `GitError` is the tool's
own failure and keeps the failing command and git's stderr. The CLI catches once, at the top.
"""

from __future__ import annotations


class XpmError(Exception):
    """A problem the user can fix: `what` names the thing and where, `fix` says how."""

    def __init__(self, what: str, fix: str | None = None):
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        text = f"error: {self.what}"
        return text + (f"\n  fix: {self.fix}" if self.fix else "")


class GitMissing(XpmError):
    def __init__(self) -> None:
        super().__init__("git was not found on PATH", "install git (2.25 or newer) and make sure `git --version` runs")


class GitError(XpmError):
    """git failed in a way we did not recognise: keep the command and its stderr for the report."""

    def __init__(self, args: list[str], returncode: int, stderr: str, cwd: str | None = None):
        self.args_, self.returncode, self.stderr, self.cwd = args, returncode, stderr.strip(), cwd
        where = f" in {cwd}" if cwd else ""
        super().__init__(
            f"`git {' '.join(args)}` failed with exit code {returncode}{where}: {last_line(self.stderr)}",
            "check the message above; run again with -v for git's full output",
        )

    def render(self) -> str:
        return super().render() + (f"\n  git said:\n    " + self.stderr.replace("\n", "\n    ") if self.stderr else "")


class RemoteUnreachable(XpmError):
    def __init__(self, url: str, detail: str):
        super().__init__(
            f"cannot reach {url}: {detail}",
            "check the URL, your network and that the repository exists (url.<base>.insteadOf rules apply); "
            "use --offline to work from the cache",
        )


class AuthFailed(XpmError):
    def __init__(self, url: str, detail: str):
        hint = (
            "check your ssh key (`ssh -T git@HOST`) and ssh-agent"
            if url.startswith(("ssh://", "git@")) or "@" in url.split("/")[0]
            else "configure a credential helper or a token for this host (git credential), or use an ssh URL"
        )
        super().__init__(f"authentication failed for {url}: {detail}", hint)


class UnknownRef(XpmError):
    """A ref or commit the remote does not have (the message lists the nearest refs)."""


class NotAModel(XpmError):
    """A fetched tree that fails xlm's static validation: carries every problem, not just one."""

    def __init__(self, name: str, origin: str, problems: list):
        self.problems = problems
        lines = [f"{p.what} ({p.where})" + (f"; fix: {p.fix}" if getattr(p, "fix", None) else "") for p in problems]
        super().__init__(
            f"model '{name}' from {origin} is not a valid xlm model:\n    - " + "\n    - ".join(lines),
            "fix the model upstream and tag a new version, or pick another ref; nothing was installed",
        )


class HashMismatch(XpmError):
    def __init__(self, name: str, locked: str, got: str, commit: str):
        super().__init__(
            f"model '{name}': content of commit {commit[:12]} hashes to {got}, but xlm.lock says {locked}",
            f"if upstream changed on purpose, accept it with `xpm update {name}`; "
            "if the cache may be corrupt, run `xpm cache clean` and install again",
        )


class LockFileError(XpmError):
    """xlm.lock cannot be read: names the file and line."""


class FrozenMismatch(XpmError):
    def __init__(self, lock_path: str, diff: list[str]):
        super().__init__(
            f"{lock_path} does not match .xlm_models (--frozen never writes the lock):\n    " + "\n    ".join(diff),
            "run `xpm lock` (or `xpm install`) locally and commit xlm.lock",
        )


class OfflineMissing(XpmError):
    def __init__(self, missing: list[str]):
        super().__init__(
            "--offline, but the cache lacks:\n    - " + "\n    - ".join(missing),
            "run the same command once without --offline to fill the cache",
        )


class NotInstalled(XpmError):
    """A git-sourced model listed in .xlm_models but absent (or half-installed) in xlm_models/."""


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def from_os_error(exc: OSError) -> XpmError:
    """A filesystem failure (full disk, read-only or unwritable folder, a file where a folder
    belongs, a name too long...) as what happened to which path, and the fix for its cause."""
    from xlm.textfile import os_error
    from xpm.project import cache_dir

    cache = cache_dir()
    what, fix = os_error(exc)
    if exc.filename is None:  # a write to an open file: the path is not known here
        what += f" (while writing in the project or the cache {cache})"
    if exc.filename is None or _inside(str(exc.filename), cache):
        fix += f"; for the cache, XPM_CACHE_DIR may name another folder (now {cache})"
    return XpmError(what, fix)


def _inside(path: str, folder) -> bool:
    import os

    folder = os.path.abspath(folder)
    return os.path.abspath(path) == folder or os.path.abspath(path).startswith(folder + os.sep)
