"""Fixtures for xpm tests, reusable by other suites (helpers in `xpm_repos.py`).

- `git_env`: an isolated git and xpm environment (HOME, XDG dirs, GIT_CONFIG_GLOBAL, cache).
- `upstream`: a factory of real repositories under one served folder (`upstream("lab/zlm")`).
- `git_daemon`: a `git daemon` on 127.0.0.1 (free port) serving that folder, with
  `https://github.com/` mapped to it through `url.<base>.insteadOf` and 127.0.0.1 opted in
  to insecure transports (XPM_INSECURE_HOSTS); stopped after the test.
- `servers`: starts real servers on 127.0.0.1 (`net_servers.py`: silent, dropping, git over
  HTTP) and stops them after the test.
- `lab`: the standard upstream: `lab/zlm` (history, v1.0.0 v1.1.0 v1.2.0-rc1 v2.0.0 tags,
  a `dev` branch) and `lab/models` (a monorepo holding models `aaa` and `bbb`).
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from xpm_repos import Repo, model_files


# xpm fetches with transfer.fsckObjects, which already refuses the worst trees (a `.git` or
# `..` entry, duplicate names). The tests of xpm's own tree rules, which stand behind that
# check, build such trees, so this test config lets them through, as a user's
# `fetch.fsck.<id> = ignore` would. test_xpm_network checks fsck itself without it.
FSCK_PAST_GIT = '[fetch "fsck"]\n\thasDotgit = ignore\n\thasDotdot = ignore\n\tduplicateEntries = ignore\n'


@dataclass
class GitEnv:
    root: Path
    gitconfig: Path
    served: Path
    cache: Path

    def add_config(self, text: str) -> None:
        with self.gitconfig.open("a") as handle:
            handle.write(text)


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitEnv:
    home = tmp_path / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
                         + FSCK_PAST_GIT)
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", "GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS", "GIT_SSH_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XPM_RETRY_BACKOFF", "0.01")  # retries of transient failures stay, their waits shrink
    for var in ("XPM_INSECURE_HOSTS", "XPM_NETWORK_TIMEOUT", "XPM_NETWORK_RETRIES", "XPM_LOCK_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    return GitEnv(tmp_path, gitconfig, served, tmp_path / "cache")


@pytest.fixture
def upstream(git_env: GitEnv):
    def make(rel: str) -> Repo:
        return Repo(git_env.served / rel)

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daemon:
    port: int
    base: Path

    def url(self, rel: str) -> str:
        return f"git://127.0.0.1:{self.port}/{rel}"


@pytest.fixture
def git_daemon(git_env: GitEnv, monkeypatch: pytest.MonkeyPatch):
    port = _free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors", f"--base-path={git_env.served}",
         "--listen=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("git daemon did not start")
                time.sleep(0.02)
        git_env.add_config(f'[url "git://127.0.0.1:{port}/"]\n\tinsteadOf = https://github.com/\n')
        monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")  # git:// has no integrity: opted in, as a user would
        yield Daemon(port, git_env.served)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def servers():
    """Start real servers on 127.0.0.1 (`net_servers.py`): `servers(Silent)`;
    all are stopped after the test."""
    started = []

    def start(kind, *args, **kwargs):
        started.append(kind(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@dataclass
class Lab:
    zlm: Repo
    models: Repo
    commits: dict[str, str]


def make_lab(upstream) -> Lab:
    zlm = upstream("lab/zlm")
    c = {}
    c["1.0.0"] = zlm.commit("v1.0.0", model_files("zlm", "1.0.0"))
    zlm.tag("v1.0.0")
    c["1.0.1-wip"] = zlm.commit("work", model_files("zlm", "1.0.1", " wip"))
    c["1.1.0"] = zlm.commit("v1.1.0", model_files("zlm", "1.1.0"))
    zlm.tag("v1.1.0", annotated=True)
    c["1.2.0rc1"] = zlm.commit("rc", model_files("zlm", "1.2.0rc1"))
    zlm.tag("v1.2.0-rc1")
    c["2.0.0"] = zlm.commit("v2.0.0", model_files("zlm", "2.0.0"))
    zlm.tag("v2.0.0")
    zlm.branch("dev")
    c["main"] = zlm.commit("after 2.0.0", model_files("zlm", "2.0.1", " main"))
    models = upstream("lab/models")
    models.commit("two models", {**{f"aaa/{k}": v for k, v in model_files("aaa").items()},
                                 **{f"bbb/{k}": v for k, v in model_files("bbb").items()}, "README.md": "monorepo\n"})
    models.tag("v1.0.0")
    return Lab(zlm, models, c)


@pytest.fixture
def lab(upstream) -> Lab:
    return make_lab(upstream)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def forkable(monkeypatch):
    """Threads other tests left behind (a library's writer, a server) would make `start` refuse
    to fork, as it must in xpm; these tests fork anyway: the child touches none of them."""
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)
