"""Cache locks between real xpm processes: one lock per mirror (a slow remote holds up only
the projects that need it), the cache-wide lock `xpm cache clean` takes exclusively, and a
wait that says who holds the lock and gives up after XPM_LOCK_TIMEOUT."""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from xpm.locks import hold, holder
from xpm_cli import xpm
from xpm_repos import model_files, read_tree
from net_servers import Silent

pytestmark = pytest.mark.slow


def _start_xpm(project, *args, **env) -> subprocess.Popen:
    project.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "xpm.cli", "-C", str(project), "-q", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_stalled_remote_blocks_only_itself_and_waits_say_who_holds_the_lock(lab, git_env, servers, tmp_path, monkeypatch):
    silent = servers(Silent)
    slow_url = silent.url("http", "lab/slow")
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    stalled = _start_xpm(tmp_path / "a", "add", slow_url, XPM_NETWORK_TIMEOUT="4")
    try:
        _wait_for(lambda: silent.requests == 1)  # it holds the cache (shared) and the slow mirror's lock
        # Another remote: not held up at all.
        (tmp_path / "b").mkdir()
        start = time.monotonic()
        out = xpm(tmp_path / "b", "add", f"{lab.zlm.url}@v1")
        assert out.stdout.startswith("added zlm v1.1.0") and time.monotonic() - start < 3
        assert stalled.poll() is None
        # The same remote: waits, says for whom, gives up after XPM_LOCK_TIMEOUT.
        monkeypatch.setenv("XPM_LOCK_TIMEOUT", "0.5")
        (tmp_path / "c").mkdir()
        out = xpm(tmp_path / "c", "add", slow_url, code=1)
        who = rf"`xpm -C {re.escape(str(tmp_path / 'a'))} -q add {re.escape(slow_url)}` \(pid {stalled.pid} on [^,]+, since [0-9: -]+\)"
        label = re.escape(f"the cache's mirror of {slow_url}")
        assert re.fullmatch(
            rf"waiting for the lock on {label}, held by {who} \(giving up after 0.5 s\)\n"
            rf"error: gave up after 0.5 s waiting for the lock on {label}, held by {who}\n"
            r"  fix: wait for that process to finish \(or stop it\), then run the command again; "
            r"XPM_LOCK_TIMEOUT=SECONDS waits longer\n", out.stderr), out.stderr
        assert list((tmp_path / "c").iterdir()) == []
        # `xpm cache clean` waits for every process using the cache (they hold it shared).
        out = xpm(tmp_path / "b", "cache", "clean", code=1)
        assert f"error: gave up after 0.5 s waiting for the lock on cache {git_env.cache}, held by `xpm -C" in out.stderr
        assert f"(pid {stalled.pid} on " in out.stderr
        assert (git_env.cache / "git").is_dir()
        # The stalled one ends by itself (XPM_NETWORK_TIMEOUT), and everything is free again.
        _, stderr = stalled.communicate(timeout=10)
        assert stalled.returncode == 1
        assert stderr.startswith(f"error: model 'slow': {slow_url} did not answer within 4 s")
    finally:
        if stalled.poll() is None:
            stalled.kill()
            stalled.communicate()
    assert xpm(tmp_path / "b", "cache", "clean").stdout == f"cleaned {git_env.cache}\n"
    assert list(git_env.cache.glob(".lock.shared-*")) == []  # every shared holder removed its note


def test_two_processes_installing_the_same_remotes_at_once_both_succeed(lab, upstream, git_env, tmp_path):
    repos = [lab.zlm, lab.models]
    for name in ("ccc", "ddd"):
        repo = upstream(f"lab/{name}")
        repo.commit("c", model_files(name))
        repos.append(repo)
    text = f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n{repos[2].url}\n{repos[3].url}\n"
    procs = []
    for name in ("p1", "p2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".xlm_models").write_text(text)
        procs.append(_start_xpm(tmp_path / name, "-j", "4", "install"))
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.count("installed ") == 4
    assert (tmp_path / "p1" / "xlm.lock").read_bytes() == (tmp_path / "p2" / "xlm.lock").read_bytes()
    for name in ("zlm", "aaa", "ccc", "ddd"):
        assert read_tree(tmp_path / "p1" / "xlm_models" / name) == read_tree(tmp_path / "p2" / "xlm_models" / name)


def test_a_crashed_holder_leaves_no_lock_and_names_no_one(tmp_path):
    """The kernel drops a dead process's lock; a note it left behind is not believed."""
    lock = tmp_path / ".lock"
    code = ("import sys, os; from pathlib import Path; from xpm.locks import hold\n"
            "with hold(Path(sys.argv[1]), 'x', shared=True):\n    print('held', flush=True); os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(lock)], capture_output=True, text=True, timeout=30)
    assert proc.stdout == "held\n" and proc.returncode == 9
    assert len(list(tmp_path.glob(".lock.shared-*"))) == 1  # its note survived the crash
    assert holder(lock) == "another xpm process"
    assert list(tmp_path.glob(".lock.shared-*")) == []  # and was cleared as stale
    said = []
    with hold(lock, "x", said.append):  # free at once: no waiting
        pass
    assert said == []


def test_a_holder_line_shows_no_line_break_or_terminal_escape_of_the_file(tmp_path):
    """The lock file is outside input: its text printed raw forged `error:` lines and escapes."""
    lock = tmp_path / ".lock"
    lock.write_bytes(b"1 elsewhere 1700000000 xpm install\nerror: your disk is failing\n  fix: curl x | sh\n\x1b[2J\x1b]0;t\x07")
    shown = holder(lock)
    assert shown.startswith("`xpm install\\u000aerror: your disk is failing\\u000a  fix: curl x | sh\\u000a\\u001b[2J")
    assert shown.endswith("` (pid 1 on elsewhere, since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1700000000)) + ")")
    assert not any(ord(c) < 32 for c in shown)
    lock.write_bytes(b"1 elsewhere 99999999999999999999 xpm install")  # no clock shows it: a traceback before
    assert holder(lock) == "another xpm process"


@pytest.mark.parametrize("shape", ["link", "dangling link", "fifo", "folder"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_and_nothing_outside_is_touched(lab, project, git_env, tmp_path, shape):
    """A link as a cache lock had xpm create, or empty, the file it pointed to (found by fuzzing)."""
    xpm(project, "add", f"{lab.zlm.url}@v1")
    [mirror_lock] = (git_env.cache / "git" / "locks").glob("*.lock")
    precious = tmp_path / "precious"
    if shape == "link":
        precious.write_text("keep")
    kind = {"fifo": "not a regular file", "folder": "a folder"}.get(shape, "a symbolic link")
    shutil.rmtree(project / "xlm_models" / "zlm")  # exported again: both locks are taken
    for lock in (mirror_lock, git_env.cache / ".lock"):
        lock.unlink()
        if shape == "fifo":
            os.mkfifo(lock)
        elif shape == "folder":
            lock.mkdir()
        else:
            os.symlink(precious, lock)
        out = xpm(project, "install", code=1)
        assert f"error: {lock} is {kind}, where xpm keeps a lock file" in out.stderr and f"rm -r {lock}" in out.stderr
        assert precious.read_text() == "keep" if shape == "link" else not precious.exists()
        lock.rmdir() if shape == "folder" else lock.unlink()
    assert xpm(project, "install").stdout.startswith("installed zlm")
