"""The git runner: the caller's environment and work tree never decide what git does; ssh gets
xpm's options only when the user has none; git's version is checked once, with a clear message."""

import os
import subprocess
import sys

import pytest

from xpm.errors import GitTooOld, RemoteUnreachable
from xpm.git import command
from xpm.git.command import Git, parse_version, scrubbed_environ
from xpm.git.database import Database
from xpm_cli import xpm
from xpm_repos import git as git_cmd, read_tree
from net_servers import Dropping

pytestmark = pytest.mark.slow


def test_only_the_git_variables_a_user_sets_on_purpose_pass():
    caller = {
        "PATH": "/bin", "HOME": "/h", "SSH_AUTH_SOCK": "/s", "https_proxy": "http://p:3128",
        "GIT_CONFIG_GLOBAL": "/g", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "a.b",
        "GIT_CONFIG_VALUE_0": "c", "GIT_SSH_COMMAND": "ssh -i k", "GIT_ASKPASS": "/a", "GIT_TRACE2_EVENT": "/t",
        "GIT_SSL_CAINFO": "/ca", "GIT_HTTP_USER_AGENT": "ua", "GIT_EXEC_PATH": "/x",
        # repository-selecting and policy variables of the caller: never inherited
        "GIT_DIR": "/evil", "GIT_WORK_TREE": "/evil", "GIT_INDEX_FILE": "/evil/i", "GIT_OBJECT_DIRECTORY": "/evil/o",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/evil/o", "GIT_ALLOW_PROTOCOL": "ext", "GIT_PROTOCOL_FROM_USER": "1",
        "GIT_NAMESPACE": "n", "GIT_COMMON_DIR": "/evil", "GIT_CEILING_DIRECTORIES": "/", "GIT_CONFIG_PARAMETERS": "'a.b'='c'",
        "GIT_SSL_NO_VERIFY": "1", "GIT_REPLACE_REF_BASE": "refs/evil/", "GIT_QUARANTINE_PATH": "/q",
    }
    kept = scrubbed_environ(caller)
    assert set(kept) == {
        "PATH", "HOME", "SSH_AUTH_SOCK", "https_proxy", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT",
        "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_TRACE2_EVENT",
        "GIT_SSL_CAINFO", "GIT_HTTP_USER_AGENT", "GIT_EXEC_PATH",
    }


def _hostile_repo(path, canary) -> str:
    """A repository whose config would run `touch canary` from every hook git has."""
    path.mkdir(parents=True)
    git_cmd(path, "init", "-q")
    git_cmd(path, "commit", "-q", "--allow-empty", "-m", "x")
    with open(path / ".git" / "config", "a") as handle:
        handle.write(
            f"[core]\n\tfsmonitor = touch {canary}-fsmonitor\n\tsshCommand = touch {canary}-ssh\n"
            f"\tgitProxy = touch {canary}-proxy\n\thooksPath = {path}/hooks\n\talternateRefsCommand = touch {canary}-alt\n"
            # a longer prefix than the user's own rule, so it would win if this file were read
            f'[url "ssh://evil.example/"]\n\tinsteadOf = https://github.com/lab/\n'
            f"[credential]\n\thelper = !touch {canary}-credential\n[protocol]\n\tallow = always\n"
            f'[filter "lfs"]\n\tsmudge = touch {canary}-smudge\n\tprocess = touch {canary}-process\n'
        )
    return git_cmd(path, "rev-parse", "HEAD")


def test_a_hostile_git_dir_in_the_environment_is_ignored(lab, project, git_env, tmp_path, monkeypatch):
    hostile = tmp_path / "hostile"
    canary = tmp_path / "canary"
    head = _hostile_repo(hostile, canary)
    before = git_cmd(hostile, "for-each-ref")
    for var, value in {
        "GIT_DIR": hostile / ".git", "GIT_WORK_TREE": hostile, "GIT_INDEX_FILE": hostile / ".git" / "index",
        "GIT_OBJECT_DIRECTORY": hostile / ".git" / "objects", "GIT_ALTERNATE_OBJECT_DIRECTORIES": hostile / ".git" / "objects",
        "GIT_COMMON_DIR": hostile / ".git", "GIT_NAMESPACE": "evil", "GIT_ALLOW_PROTOCOL": "ext:file",
        "GIT_PROTOCOL_FROM_USER": "0", "GIT_CONFIG_PARAMETERS": f"'core.fsmonitor'='touch {canary}-params'",
    }.items():
        monkeypatch.setenv(var, str(value))
    out = xpm(project, "add", f"{lab.zlm.url}@v1")
    assert out.stdout.startswith("added zlm v1.1.0")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CONFIG_PARAMETERS"):
        monkeypatch.delenv(var)  # (the test's own git calls below need a clean environment)
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")
    assert git_cmd(hostile, "for-each-ref") == before and git_cmd(hostile, "rev-parse", "HEAD") == head
    assert list(tmp_path.glob("canary*")) == []


def test_git_never_reads_the_config_of_a_repository_around_the_caller(lab, git_env, git_daemon, tmp_path, monkeypatch):
    """The project (and even the cache) inside a work tree whose .git/config would run a
    command from every hook: xpm works, and no canary file appears."""
    outer = tmp_path / "outer"
    canary = tmp_path / "canary"
    _hostile_repo(outer, canary)
    project = outer / "sub" / "project"
    project.mkdir(parents=True)
    monkeypatch.setenv("XPM_CACHE_DIR", str(outer / "cache"))
    monkeypatch.chdir(project)
    assert xpm(project, "add", "github.com/lab/zlm@v1").stdout.startswith("added zlm v1.1.0")
    assert xpm(project, "add", f"{lab.models.url}#subdir=aaa").stdout.startswith("added aaa")
    (project / "xlm_models" / "zlm" / "zlm" / "model.py").unlink()
    assert xpm(project, "install").stdout.startswith("installed zlm")  # re-exported from the cache
    xpm(project, "update")
    assert list(tmp_path.glob("canary*")) == []


def _trace_of_ls_remote(git_env, tmp_path, url) -> str:
    """What git ran to reach `url` (GIT_TRACE, a variable xpm lets through)."""
    trace = tmp_path / "trace.txt"
    trace.unlink(missing_ok=True)
    db = Database(Git(), git_env.cache, url)
    db.ensure()
    with pytest.raises(RemoteUnreachable):  # the server hangs up: what matters is how git called ssh
        Git().run(["ls-remote", "--", url], cwd=db.path, url=url)
    return trace.read_text()


def test_ssh_gets_batch_mode_and_timeouts_unless_the_user_has_an_ssh_command(git_env, servers, tmp_path, monkeypatch):
    url = servers(Dropping).url("ssh", "lab/zlm")
    monkeypatch.setenv("GIT_TRACE", str(tmp_path / "trace.txt"))
    monkeypatch.setenv("XPM_NETWORK_RETRIES", "0")
    trace = _trace_of_ls_remote(git_env, tmp_path, url)
    assert "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4" in trace
    git_env.add_config("[core]\n\tsshCommand = ssh -o ConnectTimeout=7\n")  # the user's own: theirs to tune
    trace = _trace_of_ls_remote(git_env, tmp_path, url)
    assert "ssh -o ConnectTimeout=7" in trace and "BatchMode" not in trace
    git_env.gitconfig.write_text(git_env.gitconfig.read_text().replace("\tsshCommand = ssh -o ConnectTimeout=7\n", ""))
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o ConnectTimeout=9")
    trace = _trace_of_ls_remote(git_env, tmp_path, url)
    assert "ssh -o ConnectTimeout=9" in trace and "BatchMode" not in trace


@pytest.mark.parametrize("said,version", [
    ("git version 2.39.5", (2, 39, 5)),
    ("git version 2.41.0.windows.1", (2, 41, 0)),
    ("git version 2.39.3 (Apple Git-146)", (2, 39, 3)),
    ("git version 2.25", (2, 25, 0)),
    ("hub version 2.14.2", None),
    ("", None),
])
def test_parse_version(said, version):
    assert parse_version(said) == version


def test_an_old_git_is_refused_once_with_a_clear_message(tmp_path, git_env, lab, project, monkeypatch):
    old = tmp_path / "bin" / "git"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'git version 2.20.1'; exit 0; fi\n"
                   f"touch {tmp_path}/ran; exit 1\n")
    old.chmod(0o755)
    with pytest.raises(GitTooOld) as info:
        Git(str(old)).run(["status"])
    assert info.value.render() == (
        f"error: {old} is too old or not git: `git --version` says 'git version 2.20.1', xpm needs git 2.25 or newer\n"
        "  fix: install git 2.25 or newer (https://git-scm.com/downloads) and put it first on PATH"
    )
    assert not (tmp_path / "ran").exists()  # nothing but `--version` ran
    monkeypatch.setenv("PATH", f"{old.parent}{os.pathsep}{os.environ['PATH']}")
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    out = xpm(project, "install", code=1)
    assert out.stderr.startswith(f"error: {old} is too old or not git")
    assert str(old) not in command._versions  # a refused git is asked again next time
    old.write_text("#!/bin/sh\nprintf '\\033]0;owned\\007'; head -c 300 /dev/zero | tr '\\0' x\n")  # a terminal escape, 300 bytes
    with pytest.raises(GitTooOld) as info:
        Git(str(old)).run(["status"])
    assert "\x1b" not in info.value.what and "\\u001b]0;owned\\u0007" in info.value.what and len(info.value.what) < 250


def test_the_version_is_asked_once_per_process(git_env, tmp_path, monkeypatch):
    counting = tmp_path / "bin" / "git"
    counting.parent.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    counting.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && echo x >> {tmp_path}/asked\nexec {real} \"$@\"\n")
    counting.chmod(0o755)
    for _ in range(3):
        Git(str(counting)).run(["--version"])
    assert (tmp_path / "asked").read_text() == "x\n"


def _counting_git(tmp_path, version_line=None):
    counting = tmp_path / "bin" / "git"
    counting.parent.mkdir(exist_ok=True)
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    said = f"echo '{version_line}'; exit 0" if version_line else f"exec {real} --version"
    counting.write_text(f"#!/bin/sh\nif [ \"$1\" = --version ]; then echo x >> {tmp_path}/asked; {said}; fi\nexec {real} \"$@\"\n")
    counting.chmod(0o755)
    return str(counting)


def test_a_version_asked_ahead_is_read_once_and_judged_as_before(git_env, tmp_path):
    git = Git(_counting_git(tmp_path))
    git.start_probes(network=True)
    git.start_probes(network=True)  # a second start asks nothing more
    assert git.run(["--version"]).returncode == 0 and Git(git.executable).version >= command.MIN_VERSION
    assert (tmp_path / "asked").read_text() == "x\n"
    (tmp_path / "old").mkdir()
    old = Git(_counting_git(tmp_path / "old", "git version 2.20.1"))
    old.start_probes(network=False)
    with pytest.raises(GitTooOld, match="'git version 2.20.1', xpm needs git 2.25 or newer"):
        old.run(["status"])
    assert old.executable not in command._versions and old.executable not in command._version_probes  # asked again next time


def test_a_command_started_ahead_reports_as_subprocess_run_would(tmp_path):
    from xpm.git.processes import Started

    with pytest.raises(OSError):
        Started([str(tmp_path / "no-such-program")]).result()
    slow = Started(["sh", "-c", "echo started; exec sleep 30"])
    with pytest.raises(subprocess.TimeoutExpired):
        slow.result(timeout=0.3)
    assert slow.proc.returncode is not None  # killed and reaped, as subprocess.run leaves it
    done = Started(["sh", "-c", "echo out; echo err >&2; exit 3"]).result(timeout=10)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_config_git_cannot_finish_reading_stops_xpm_with_a_message(lab, project, git_env, tmp_path, monkeypatch, cache):
    """A gitconfig that includes a fifo (or a home on a network mount that stopped answering)
    makes every git wait for ever; local commands had no limit, so xpm waited in silence. The
    first git command of a cold sync reads the user's config (`git config`), of a warm one asks
    the mirror what it holds (`cat-file --batch-check`): both are bounded now."""
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    if cache == "cold":
        subprocess.run(["rm", "-rf", str(git_env.cache)], check=True)
    subprocess.run(["rm", "-rf", str(project / "xlm_models")], check=True)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    git_env.add_config(f"[include]\n\tpath = {fifo}\n")
    monkeypatch.setenv("XPM_NETWORK_TIMEOUT", "1")
    out = xpm(project, "install", code=1)
    first = "config -z" if cache == "cold" else "cat-file --batch-check=%(objectname) %(objecttype)"
    assert out.stderr.startswith(f"error: `git {first}` did not finish within 1 s (XPM_NETWORK_TIMEOUT) in {git_env.cache}"), out.stderr
    assert "  fix: git waits like this when it cannot finish reading its config files" in out.stderr
    assert not (project / "xlm_models" / "zlm").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xpm guards its gits on Linux")
def test_a_watcher_that_was_killed_is_replaced_and_given_the_groups_it_watched(monkeypatch):
    """The awk that kills a dead xpm's network gits: killed itself (by someone), the next network
    git starts another, which is told the groups still running."""
    from xpm.git import processes

    monkeypatch.setattr(processes, "_watchers", [])
    first = processes.watcher()
    group = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        first.watch(group.pid)
        first.proc.kill()
        first.proc.wait()
        second = processes.watcher()
        assert second is not first and second.groups == {group.pid} and processes.watcher() is second
        os.close(second._end)  # what xpm's death does: awk reads the end of its input and kills the group left
        assert group.wait(timeout=10) == -9
    finally:
        group.kill()
        monkeypatch.setattr(processes, "_watchers", [])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xpm guards its gits on Linux")
@pytest.mark.parametrize("stub", ["exit 0", "exec sleep 30", "echo nonsense; exec cat >/dev/null"])
def test_an_awk_that_does_not_run_the_watchers_program_is_not_used(tmp_path, monkeypatch, stub):
    """An awk stub that ended at once, or never read its input, was taken for the watcher: after
    a SIGKILL of xpm its gits ran on (fuzzing). One that does not say it started is killed, and
    the gits ask for the parent-death signal instead."""
    from xpm.git import processes

    (tmp_path / "awk").write_text(f"#!/bin/sh\n{stub}\n")
    (tmp_path / "awk").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(processes, "_watchers", [])
    monkeypatch.setattr(processes, "_ANSWER_WAIT", 1.0)
    started = processes.watcher(answered=False)
    assert processes.watcher() is None and processes.watcher() is None
    assert started.proc.wait(timeout=10) is not None  # killed, or ended on its own
    cmd, arm, found = processes.dying_with_xpm(["git", "fetch"])
    assert (cmd, found) == (["git", "fetch"], None) and arm is not None


def test_a_git_whose_version_hangs_is_asked_once_per_command_and_stopped_with_it(tmp_path, monkeypatch):
    """A `git --version` that never answered held each remote's thread for 60 s in turn, and
    Ctrl-C waited for all of them; the wrapper's own children were left running (fuzzing)."""
    import threading
    import time

    from xpm.interrupt import Stopped

    slow = tmp_path / "git"
    slow.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {tmp_path}/child\nwait\n")
    slow.chmod(0o755)
    monkeypatch.setattr(command, "_VERSION_TIMEOUT", 1.0)
    git = Git(str(slow))
    begun = time.monotonic()
    with pytest.raises(GitTooOld, match="cannot run"):
        git.run(["status"])
    with pytest.raises(GitTooOld):  # another thread of the same command: not asked again
        git.run(["status"])
    assert time.monotonic() - begun < 10
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:  # killed with its group
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]
    monkeypatch.setattr(command, "_VERSION_TIMEOUT", 60.0)
    stopped_git, raised = Git(str(slow)), []
    thread = threading.Thread(target=lambda: raised.append(pytest.raises(Stopped, stopped_git.run, ["status"])))
    thread.start()
    time.sleep(0.5)
    begun = time.monotonic()
    stopped_git.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - begun < 5 and raised


def test_a_short_local_command_that_hangs_is_stopped_by_ctrl_c(tmp_path):
    """`cat-file --batch-check` on a config git cannot finish reading waited for
    XPM_NETWORK_TIMEOUT (600 s) even after Ctrl-C."""
    import threading
    import time

    from xpm.interrupt import Stopped

    git = Git()
    proc = subprocess.Popen(["sh", "-c", "exec sleep 30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threading.Timer(0.3, git.stop).start()
    begun = time.monotonic()
    with pytest.raises(Stopped):
        git.communicate(proc, ["cat-file", "--batch-check"], tmp_path, "HEAD\n")
    assert time.monotonic() - begun < 5 and proc.returncode is not None
