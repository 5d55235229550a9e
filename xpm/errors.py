"""The error types of xpm: what went wrong (with where) and how to fix it.

User errors (`XpmError`) print two lines and exit 1 with no traceback; `GitError` is the tool's
own failure and keeps the failing command and git's stderr. The CLI catches once, at the top.
"""

from __future__ import annotations

from xlm.shown import redact, show


class XpmError(Exception):
    """A problem the user can fix: `what` names the thing and where, `fix` says how.

    Both are redacted here, once: no message can carry a password or token out of xpm."""

    def __init__(self, what: str, fix: str | None = None):
        what, fix = redact(what), (redact(fix) if fix else fix)
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        text = f"error: {self.what}"
        return text + (f"\n  fix: {self.fix}" if self.fix else "")


class GitMissing(XpmError):
    def __init__(self) -> None:
        super().__init__("git was not found on PATH", "install git (2.25 or newer) and make sure `git --version` runs")


class GitTooOld(XpmError):
    def __init__(self, executable: str, said: str, minimum: str):
        super().__init__(
            f"{show(executable)} is too old or not git: `git --version` says '{show(said, 80)}', xpm needs git {minimum} or newer",
            f"install git {minimum} or newer (https://git-scm.com/downloads) and put it first on PATH",
        )


class GitError(XpmError):
    """git failed in a way we did not recognise: keep the command and its stderr for the report."""

    def __init__(self, args: list[str], returncode: int, stderr: str, cwd: str | None = None):
        self.args_, self.returncode, self.stderr, self.cwd = args, returncode, redact(stderr.strip()), cwd
        where = f" in {cwd}" if cwd else ""
        super().__init__(
            f"`git {' '.join(args)}` failed with exit code {returncode}{where}: {last_line(self.stderr)}",
            "check the message above; run again with -v for git's full output",
        )

    def render(self) -> str:
        return super().render() + ("\n  git said:\n    " + self.stderr.replace("\n", "\n    ") if self.stderr else "")


class GitStuck(XpmError):
    """A local git command ran past XPM_NETWORK_TIMEOUT: only a config git cannot finish reading makes one wait."""

    def __init__(self, args: list[str], seconds: float, cwd: str | None = None):
        where = f" in {cwd}" if cwd else ""
        super().__init__(
            f"`git {' '.join(args[:2])}` did not finish within {seconds:g} s (XPM_NETWORK_TIMEOUT){where}; git was stopped",
            "git waits like this when it cannot finish reading its config files (an include of a fifo, a home folder "
            "on a network mount that stopped answering): check `git config --list --show-origin`",
        )


class MirrorDamaged(GitError):
    """git could not read the cache's mirror (truncated or damaged pack, missing object):
    sync fetches it again into a fresh mirror once before reporting `CorruptMirror`."""

    def __init__(self, args: list[str], returncode: int | None, stderr: str, cwd: str | None = None):
        super().__init__(args, returncode, stderr, cwd)
        self.what = f"the cache mirror {cwd} is damaged: `git {args[0]}` said: {last_line(self.stderr)}"
        self.fix = "run `xpm cache clean`, then the command again"
        self.args = (self.what,)


class CorruptMirror(XpmError):
    def __init__(self, path: str, url: str, detail: str, offline: bool = False):
        if offline:
            super().__init__(
                f"the cache mirror {path} of {url} is damaged ({detail}); --offline, so it was not fetched again",
                "run the command again without --offline (the mirror is fetched again), or run `xpm cache clean`",
            )
        else:
            super().__init__(
                f"the cache mirror {path} of {url} is damaged ({detail}), and fetching it again into a fresh mirror did not help",
                "run `xpm cache clean`, then the command again; if it still fails, check the disk, "
                "or the repository upstream",
            )


class RemoteError(XpmError):
    """A remote that cannot be used. Sync names the models that needed it (`about`)."""

    def about(self, names: list[str]) -> "RemoteError":
        if names:
            label = f"model '{names[0]}'" if len(names) == 1 else "models " + ", ".join(f"'{n}'" for n in names)
            self.what = f"{label}: {self.what}"
            self.args = (self.what,)
        return self


class RemoteUnreachable(RemoteError):
    """`transient` failures (refused, reset, hung up, 5xx, ...) are retried; `attempts` says how often."""

    def __init__(self, url: str, detail: str, transient: bool = False, attempts: int = 1):
        self.url, self.detail, self.transient, self.attempts = url, detail, transient, attempts
        tried = f" (tried {attempts} times)" if attempts > 1 else ""
        super().__init__(
            f"cannot reach {url}: {detail}{tried}",
            "check the URL, your network and that the repository exists (url.<base>.insteadOf rules apply); "
            "use --offline to work from the cache",
        )


class AuthFailed(RemoteError):
    def __init__(self, url: str, detail: str):
        hint = (
            "check your ssh key (`ssh -T git@HOST`) and ssh-agent"
            if url.startswith(("ssh://", "git@")) or "@" in url.split("/")[0]
            else "configure a credential helper or a token for this host (git credential), or use an ssh URL"
        )
        super().__init__(f"authentication failed for {url}: {detail}", hint)


class NetworkTimeout(RemoteError):
    def __init__(self, url: str, seconds: float):
        super().__init__(
            f"{url} did not answer within {seconds:g} s (XPM_NETWORK_TIMEOUT); git was stopped",
            "check the server and your network (a proxy or firewall that accepts connections and never answers?); "
            "for a very slow link raise XPM_NETWORK_TIMEOUT, or use --offline to work from the cache",
        )


def _reached(url: str, effective: str) -> str:
    return url if effective == url else f"{url} (reached as {effective} through url.<base>.insteadOf)"


class InsecureTransport(RemoteError):
    def __init__(self, url: str, effective: str, scheme: str, host: str):
        super().__init__(
            f"{_reached(url, effective)} uses {scheme}://, which has no transport integrity: "
            "anyone on the network path could change the code you install",
            f"use an https:// or ssh URL, or allow this host explicitly: XPM_INSECURE_HOSTS={host or 'HOST'}",
        )


class UnsupportedTransport(RemoteError):
    def __init__(self, url: str, effective: str, scheme: str):
        super().__init__(
            f"{_reached(url, effective)} uses the '{scheme}' transport, which xpm never lets git use",
            "use an https://, ssh or file:// URL (http:// and git:// only for hosts in XPM_INSECURE_HOSTS)",
        )


class RejectedObjects(RemoteError):
    def __init__(self, url: str, detail: str):
        super().__init__(
            f"{url} sent objects that fail git's consistency checks (transfer.fsckObjects): {detail}",
            "fix the repository upstream; if you trust it and the finding is harmless (old repositories have some), "
            "ignore that one check: `git config --global fetch.fsck.<check-id> ignore`",
        )


class BrokenRemote(RemoteError):
    """The server's git will not pack its own repository: damaged upstream, no retry helps."""

    def __init__(self, url: str, detail: str):
        super().__init__(
            f"{url} cannot send its repository: the server's git finds it damaged ({detail})",
            "the repository is broken upstream (`git fsck` there names the object): tell its maintainers, "
            "or use another ref or remote",
        )


class NotAGitServer(RemoteError):
    """What answers at the URL does not speak git's protocol (a web page, a proxy, a redirect loop)."""

    def __init__(self, url: str, detail: str):
        super().__init__(
            f"{url} does not answer as a git server ({detail})",
            "check the URL (a login page, a proxy or a web page may answer there); xpm follows no redirect "
            "to another scheme, nor one to another host over http://",
        )


class LockTimeout(XpmError):
    def __init__(self, label: str, holder: str, seconds: float):
        super().__init__(
            f"gave up after {seconds:g} s waiting for the lock on {label}, held by {holder}",
            "wait for that process to finish (or stop it), then run the command again; "
            "XPM_LOCK_TIMEOUT=SECONDS waits longer",
        )


class UnknownRef(XpmError):
    """A ref or commit the remote does not have (the message lists the nearest refs)."""


class NotACommit(XpmError):
    """A ref or id that names a tree or a blob (a tag can): there is no commit to install."""

    def __init__(self, name: str, commit: str, kind: str, ref: str = ""):
        self.name, self.commit, self.kind = name, commit, kind
        kind_of_ref = "tag" if ref.startswith("refs/tags/") else "branch"
        shown = f"{kind_of_ref} {ref.split('/', 2)[-1]} ({commit[:12]})" if ref else commit[:12]
        super().__init__(
            f"model '{name}': {shown} is a {kind}, not a commit",
            "point its ref at a commit (a tag or branch that names a tree or a blob cannot be installed), or name another ref",
        )

    def of_ref(self, ref: str) -> "NotACommit":
        """The same error, naming the ref that led to it (`refs/tags/v2.0.0`)."""
        return NotACommit(self.name, self.commit, self.kind, ref)


class NotAModel(XpmError):
    """A fetched tree that fails xlm's static validation: carries every problem, not just one."""

    def __init__(self, name: str, origin: str, problems: list):
        self.problems = problems
        lines = [f"{p.what} ({p.where})" + (f"; fix: {p.fix}" if getattr(p, "fix", None) else "") for p in problems]
        super().__init__(
            f"model '{name}' from {origin} is not a valid xlm model:\n    - " + "\n    - ".join(lines),
            "fix the model upstream and tag a new version, or pick another ref; nothing was installed",
        )


class ModelErrors(XpmError):
    """The errors of several remotes worked on side by side: each reported as it would be alone,
    so one run names every model to fix."""

    def __init__(self, errors: list[XpmError]):
        self.errors = errors
        super().__init__(errors[0].what, errors[0].fix)

    def render(self) -> str:
        return "\n".join(dict.fromkeys(error.render() for error in self.errors))


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
        what += f" (while writing in the project, the cache {cache} or xpm's output)"
    if exc.filename is None or _inside(str(exc.filename), cache) or _inside(str(cache), exc.filename):  # or a folder above it
        fix += f"; for the cache, XPM_CACHE_DIR may name another folder (now {cache})"
    return XpmError(what, fix)


def _inside(path: str, folder) -> bool:
    import os

    folder = os.path.abspath(folder)
    return os.path.abspath(path) == folder or os.path.abspath(path).startswith(folder + os.sep)
