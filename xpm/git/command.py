"""Running git: one injectable runner, hardened so nothing from a fetched repository runs.

Every call disables hooks, fsmonitor, submodule recursion and the `ext::` transport, and never
prompts on a terminal (a prompt would hang parallel fetches). The user's own git configuration
(url.<base>.insteadOf, credential helpers, ssh keys) still applies: git does the talking.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from xpm.errors import AuthFailed, GitError, GitMissing, RemoteUnreachable

SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "protocol.ext.allow=never",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
)

_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "host key verification failed",
    "invalid username or password",
    "http basic: access denied",
)
_UNREACHABLE = (
    "could not resolve host",
    "connection refused",
    "unable to connect",
    "unable to look up",
    "does not appear to be a git repository",
    "repository not found",
    "no such repository",
    "not found",
    "connection timed out",
    "network is unreachable",
    "failed to connect",
    "the remote end hung up unexpectedly",
    "could not read from remote repository",
)


class Git:
    """Runs `git` subcommands. Tests may subclass it (or wrap `run`) to record or fake commands."""

    def __init__(self, executable: str | None = None, verbose: bool = False):
        self.executable = executable or shutil.which("git")
        self.verbose = verbose

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"  # fail instead of asking: we may run in parallel or in CI
        env["LC_ALL"] = "C"  # we classify git's messages, so they must be in English
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        return env

    def _command(self, args: list[str]) -> list[str]:
        """`git -c SAFE... ARGS`; raises GitMissing when there is no git to run."""
        if not self.executable:
            raise GitMissing()
        cmd = [self.executable]
        for item in SAFE_CONFIG:
            cmd += ["-c", item]
        return cmd + list(args)

    def popen(self, args: list[str], cwd: Path | str | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self._command(args), cwd=cwd, env=self._env(), **kwargs)

    def run(self, args: list[str], cwd: Path | str | None = None, url: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run git and return its output; on failure raise the most specific error we can name."""
        proc = subprocess.run(self._command(args), cwd=cwd, env=self._env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if self.verbose:
            import sys

            print(f"+ git {' '.join(args)} -> {proc.returncode}", file=sys.stderr)
        if check and proc.returncode != 0:
            raise classify(args, proc.returncode, proc.stderr, str(cwd) if cwd else None, url)
        return proc


def classify(args: list[str], returncode: int, stderr: str, cwd: str | None, url: str | None) -> Exception:
    """Map git's stderr onto a user error (auth, unreachable) when we recognise it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if url:
        for patterns, error in ((_AUTH, AuthFailed), (_UNREACHABLE, RemoteUnreachable)):
            # The line that says why, e.g. ssh's "connect to host h port 22: Connection refused"
            # rather than the generic "fatal: Could not read from remote repository." after it.
            matched = next((line for line in lines if any(p in line.lower() for p in patterns)), None)
            if matched is not None:
                return error(url, matched)
    return GitError(args, returncode, stderr, cwd)
