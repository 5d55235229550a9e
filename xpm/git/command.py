"""Running git: one hardened runner, so that neither a fetched repository, nor the caller's
environment, nor the caller's work tree decides what git does.

- Environment: only the GIT_* variables a user sets on purpose pass through (config files,
  ssh, askpass, trace, TLS); the ones that select a repository (GIT_DIR, GIT_OBJECT_DIRECTORY,
  GIT_ALLOW_PROTOCOL, ...) never do. Messages are in English (LC_ALL=C): `xpm.git.failures`
  classifies them.
- Place: every command runs in a bare mirror xpm owns, with GIT_DIR pointing at it, so git
  never looks for a repository around the caller's folder nor reads its `.git/config`.
- Config: hooks, fsmonitor and submodule recursion off, objects checked on transfer, and the
  protocol policy of `xpm.git.transport`. The user's own git configuration (insteadOf,
  credential helpers, ssh keys) still applies: git does the talking.
- Network commands (`url=` given): the transport is checked first, the command is killed
  (its whole process group) after XPM_NETWORK_TIMEOUT, and transient failures (refused,
  reset, hung up, 5xx, ...) are retried XPM_NETWORK_RETRIES times with a doubling backoff.
- git itself must be 2.25 or newer: checked once per process, when git is first needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from xlm.shown import redact
from xpm import settings
from xpm.errors import GitMissing, GitStuck, GitTooOld, MirrorDamaged, NetworkTimeout, RemoteError, RemoteUnreachable
from xpm.git import transport
from xpm.git.failures import classify
from xpm.git.processes import Started, communicate, dying_with_xpm, kill, signal_kill, watcher
from xpm.interrupt import Stopped

MIN_VERSION = (2, 25)

SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "transfer.fsckObjects=true",  # a malformed object is refused when it arrives, not used later
    # The mirror is a cache whose damage xpm detects and repairs (a truncated or lost pack is
    # fetched again, and every export is checked against its content hash), so its packs need
    # no fsync: four per fetch by default (git >= 2.36; older git ignores the key).
    "core.fsync=none",
    *transport.PROTOCOL_CONFIG,
)

# GIT_* variables a user sets on purpose; every other GIT_* of the caller is dropped.
_ENV_KEEP = frozenset({
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT",
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_ASKPASS", "GIT_PROXY_COMMAND",
    "GIT_CURL_VERBOSE", "GIT_HTTP_USER_AGENT", "GIT_HTTP_LOW_SPEED_LIMIT", "GIT_HTTP_LOW_SPEED_TIME",
    "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_SSL_CERT", "GIT_SSL_KEY",
    "GIT_SSL_CERT_PASSWORD_PROTECTED", "GIT_SSL_VERSION", "GIT_SSL_CIPHER_LIST", "GIT_EXEC_PATH",
})
_ENV_KEEP_RE = re.compile(r"^GIT_(?:TRACE\w*|CONFIG_(?:KEY|VALUE)_\d+)$")

_versions: dict[str, tuple[int, ...]] = {}  # executable -> version, checked once per process
_versions_lock = threading.Lock()  # the threads of a parallel install start together: one asks, the others wait
_version_probes: dict[str, Started] = {}  # executable -> `git --version` started by `Git.start_probes`
_VERSION_TIMEOUT = 60.0  # seconds for `git --version`: a git that takes longer is refused


def _version_probe(executable: str) -> Started:
    """`git --version`, in a session of its own: a wrapper's children are killed with it."""
    return Started([executable, "--version"], env=scrubbed_environ(), start_new_session=os.name == "posix")


def scrubbed_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without the GIT_* variables a user does not set on purpose."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not k.startswith("GIT_") or k in _ENV_KEEP or _ENV_KEEP_RE.match(k)}


def is_git_dir(path: Path | str | None) -> bool:
    return path is not None and os.path.isfile(os.path.join(path, "HEAD"))


def parse_version(text: str) -> tuple[int, ...] | None:
    """(2, 39, 5) from `git version 2.39.5`, `2.41.0.windows.1`, `2.39.3 (Apple Git-146)`."""
    m = re.search(r"git version (\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g or 0) for g in m.groups()) if m else None


class _Killed(Exception):
    """The command ran past its timeout and its process group was killed."""


class Git:
    """Runs `git` subcommands. Tests may subclass it (or wrap `run`) to record commands."""

    def __init__(self, executable: str | None = None, verbose: bool = False):
        self.executable = executable or shutil.which("git")
        self.verbose = verbose
        self._lock = threading.Lock()
        self._effective: dict[str, str] = {}  # URL -> the URL git contacts (insteadOf applied)
        self._user_config: transport.UserConfig | None = None  # the user's insteadOf and sshCommand, read once
        self._config_lock = threading.Lock()
        self._environ: dict[str, str] | None = None  # the caller's environment, scrubbed once (a cold install runs ~100 gits)
        self.stopped = threading.Event()  # set by `stop`: no command may start or go on
        self._refused: GitTooOld | None = None  # why `git --version` ruled this git out, for every thread of the command
        self._running: dict[subprocess.Popen, bool] = {}  # commands `_exec` waits for -> in a group of their own

    # ------------------------------------------------------------------ building a command
    def _command(self, args: list[str], config: tuple[str, ...] = ()) -> list[str]:
        """`git -c SAFE... ARGS`; raises GitMissing / GitTooOld before the first command."""
        if not self.executable:
            raise GitMissing()
        self._require_version()
        cmd = [self.executable]
        for item in (*SAFE_CONFIG, *config):
            cmd += ["-c", item]
        return cmd + list(args)

    @property
    def version(self) -> tuple[int, ...]:
        """git's version (asked once per process); raises GitMissing / GitTooOld."""
        if not self.executable:
            raise GitMissing()
        self._require_version()
        return _versions[self.executable]

    def _require_version(self) -> None:
        if self.executable in _versions:
            return
        with _versions_lock:
            if self._refused is not None:  # asked by another thread of this command: not asked again
                raise self._refused
            if self.executable not in _versions:
                self._ask_version()

    def _ask_version(self) -> None:
        probe = _version_probes.pop(self.executable, None) or _version_probe(self.executable)
        try:
            done = probe.result(timeout=_VERSION_TIMEOUT, stopped=self.stopped)
            out = done.stdout.decode(errors="replace").strip() or done.stderr.decode(errors="replace").strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = f"(cannot run: {exc})"
        if self.stopped.is_set():
            raise Stopped()
        self._trace(["--version"], out)
        version = parse_version(out)
        if version is None or version < MIN_VERSION:
            self._refused = GitTooOld(self.executable, out or "(nothing)", ".".join(map(str, MIN_VERSION)))
            raise self._refused
        _versions[self.executable] = version

    def start_probes(self, network: bool) -> None:
        """Start what the first commands need (git's version, asked; for `network` commands, the
        `xpm.git.processes.Watcher`) without waiting: git answers while xpm forks its validation
        process and starts its threads (an answer nobody reads ends on its own)."""
        if not self.executable:
            return
        with _versions_lock:
            if self.executable not in _versions and self.executable not in _version_probes:
                _version_probes[self.executable] = _version_probe(self.executable)
        if network and sys.platform.startswith("linux"):
            watcher(answered=False)

    def _env(self, cwd: Path | str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        if self._environ is None:
            self._environ = scrubbed_environ()
        env = dict(self._environ)
        env["GIT_TERMINAL_PROMPT"] = "0"  # fail instead of asking: we may run in parallel or in CI
        env["LC_ALL"] = "C"  # we classify git's messages, so they must be in English
        if is_git_dir(cwd):
            env["GIT_DIR"] = str(cwd)  # this repository, found without looking around it
        elif cwd is not None:  # not a repository: never let git find one above the folder
            env["GIT_CEILING_DIRECTORIES"] = str(Path(cwd).resolve().parent)
        env.update(extra or {})
        return env

    # ------------------------------------------------------------------ running
    def popen(self, args: list[str], cwd: Path | str | None = None, **kwargs) -> subprocess.Popen:
        """A local command (never the network) whose pipes the caller drives."""
        self._trace(args, "started, read through its pipes")
        return subprocess.Popen(self._command(args), cwd=cwd, env=self._env(cwd), **kwargs)

    def run(self, args: list[str], cwd: Path | str | None = None, url: str | None = None, check: bool = True,
            text: bool = True) -> subprocess.CompletedProcess:
        """Run git and return its output (stdout as str, or bytes with `text=False`).

        With `url`, a network command for that remote: see the module docstring. A failure
        we recognise (remote unreachable, authentication, timeout, transport refused, a
        damaged mirror) always raises its own error; any other raises `GitError` only with
        `check` (the caller may have a fallback, as the shallow fetch has).
        """
        if url is not None:
            return self._network(args, cwd, url, check, text)
        proc = self._local(args, cwd)
        if proc.returncode != 0:
            error = classify(args, proc.returncode, proc.stderr, str(cwd) if cwd else None, None)
            if check or isinstance(error, MirrorDamaged):
                raise error
        return self._decoded(proc, text)

    def _network(self, args, cwd, url, check, text) -> subprocess.CompletedProcess:
        if not is_git_dir(cwd):  # a programming error: the caller must ensure the mirror first
            raise ValueError(f"network command `git {args[0]}` must run in a mirror, not in {cwd}")
        config, env = self._transport(url, cwd)
        helpers = transport.transport_of(self._effective_url(url, cwd))[0] not in ("git", "file")  # see dying_with_xpm
        timeout, retries, backoff = settings.network_timeout(), settings.network_retries(), settings.retry_backoff()
        attempt = 0
        while True:
            attempt += 1
            try:
                proc = self._exec(args, cwd, config, env, timeout, helpers)
            except _Killed:
                raise NetworkTimeout(url, timeout) from None
            if proc.returncode == 0:
                return self._decoded(proc, text)
            error = classify(args, proc.returncode, proc.stderr, str(cwd), url)
            transient = isinstance(error, RemoteUnreachable) and error.transient
            if not transient or attempt > retries:
                break
            self.stopped.wait(min(backoff * 2 ** (attempt - 1), settings.MOST_SECONDS))  # a server restarting, a flaky link: wait, then again
        if transient and attempt > 1:
            error = RemoteUnreachable(url, error.detail, True, attempt)
        if check or isinstance(error, (RemoteError, MirrorDamaged)):
            raise error
        return self._decoded(proc, text)

    def _transport(self, url: str, cwd) -> tuple[tuple[str, ...], dict[str, str]]:
        """Check the transport git will use for `url`; the -c settings and environment for it."""
        effective = self._effective_url(url, cwd)
        config = transport.config_for(url, effective)
        uses_ssh = transport.transport_of(effective)[0] == "ssh"
        return config, transport.network_env(uses_ssh, uses_ssh and self._has_user_ssh(cwd))

    def _effective_url(self, url: str, cwd) -> str:
        """The URL git will contact for `url`, the user's insteadOf rules applied (cached).

        Computed from the rules `_config` read, as git applies them. Asked of git itself
        (`ls-remote --get-url`) when that could differ: a URL without a `/` may be the name of
        a remote the user configured, and a rule without a value makes git refuse its config."""
        with self._lock:
            known = self._effective.get(url)
        if known is None:
            rewrites = self._config(cwd).rewrites
            if rewrites is not None and "/" in url:
                known = transport.rewritten(url, rewrites)
            else:
                proc = self._local(["ls-remote", "--get-url", "--", url], cwd)
                known = proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else ""
                known = known or url
            with self._lock:
                self._effective[url] = known
        return known

    def _has_user_ssh(self, cwd) -> bool:
        """Whether the user chose their own ssh command (then its options are theirs to set)."""
        if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
            return True
        return self._config(cwd).ssh_command

    def _config(self, cwd) -> transport.UserConfig:
        """The user's insteadOf rules and core.sshCommand: one `git config` per Git object (a
        command), read in a mirror as every network command runs (so the same files apply)."""
        with self._config_lock:
            if self._user_config is None:
                proc = self._local(["config", "-z", "--get-regexp", transport.USER_CONFIG_PATTERN], cwd)
                if proc.returncode == 0:
                    self._user_config = transport.parse_user_config(proc.stdout)
                elif proc.returncode == 1:  # nothing set
                    self._user_config = transport.UserConfig((), False)
                else:  # git cannot read the config: let git answer for each URL (and fail the fetch itself)
                    self._user_config = transport.UserConfig(None, False)
            return self._user_config

    def _local(self, args, cwd) -> subprocess.CompletedProcess:
        """A local command, killed after XPM_NETWORK_TIMEOUT too: git reads its config files before
        anything else, and waits for ever on one it cannot finish (an include of a fifo, a home
        on a network mount that stopped answering). The first command of every sync runs here
        or in `communicate`, so such a config stops xpm with a message, never in silence."""
        timeout = settings.network_timeout()
        try:
            return self._exec(args, cwd, timeout=timeout)
        except _Killed:
            raise GitStuck(args, timeout, str(cwd) if cwd else None) from None

    def communicate(self, proc: subprocess.Popen, args: list[str], cwd, data):
        """`proc.communicate(data)` for a `popen` command that reads a request and ends, bounded as
        `_local` is, and stopped by `stop` (Ctrl-C)."""
        timeout = settings.network_timeout()
        try:
            return communicate(proc, data, timeout, self.stopped)
        except subprocess.TimeoutExpired:
            kill(proc, False)
            if self.stopped.is_set():
                raise Stopped() from None
            raise GitStuck(args, timeout, str(cwd) if cwd else None) from None

    def _exec(self, args, cwd, config=(), env=None, timeout=None, helpers=False) -> subprocess.CompletedProcess:
        """Run one command: stdout as bytes, stderr as text. With a timeout the command gets
        its own process group, killed as a whole (git's helpers, ssh) when time runs out."""
        cmd = self._command(args, config)
        group = timeout is not None and os.name == "posix"
        if self.stopped.is_set():
            raise Stopped()
        cmd, arm, watching = dying_with_xpm(cmd, helpers) if group else (cmd, None, None)
        proc = subprocess.Popen(cmd, cwd=cwd, env=self._env(cwd, env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=group, preexec_fn=arm)
        if watching is not None:
            watching.watch(proc.pid)
        self._started(proc, group)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc, group)
            self._trace(args, "killed")
            raise _Killed() from None
        except BaseException:  # Ctrl-C, or our own thread stopping: leave no git behind
            kill(proc, group)
            raise
        finally:
            with self._lock:
                self._running.pop(proc, None)
            if watching is not None and proc.returncode is not None:  # reaped; one that would not die stays watched
                watching.forget(proc.pid)
        if self.stopped.is_set():  # killed by `stop`: what it said means nothing
            self._trace(args, "stopped")
            raise Stopped()
        self._trace(args, proc.returncode)  # -v: every git command, with its exit status
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err.decode("utf-8", "replace"))

    def stop(self) -> None:
        """Ctrl-C, from the main thread: kill the commands other threads wait for (a fetch from
        a remote that never answers would hold them until its timeout) and refuse new ones;
        those threads raise `Stopped`."""
        with self._lock:
            self.stopped.set()
            running = list(self._running.items())
        for proc, group in running:
            signal_kill(proc, group)

    def _started(self, proc: subprocess.Popen, group: bool) -> None:
        with self._lock:
            self._running[proc] = group
            stopped = self.stopped.is_set()  # read under the lock `stop` sets it under: a proc is killed by one or the other
        if stopped:
            signal_kill(proc, group)

    @staticmethod
    def _decoded(proc: subprocess.CompletedProcess, text: bool) -> subprocess.CompletedProcess:
        if text and isinstance(proc.stdout, bytes):
            proc.stdout = proc.stdout.decode("utf-8", "surrogateescape")
        return proc

    def _trace(self, args: list[str], result) -> None:
        if self.verbose:
            print(redact(f"+ git {' '.join(args)} -> {result}"), file=sys.stderr)
