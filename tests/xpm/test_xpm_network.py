"""The network, against real servers on 127.0.0.1: stalls are cut off, drops are retried then
reported, permanent failures are not retried, insecure transports need an opt-in, and no
secret from a URL is ever printed or written."""

import shutil
import subprocess
import sys
import time

import pytest

from xpm.errors import RejectedObjects
from xpm.git.command import Git
from xpm.git.database import Database
from xpm_cli import xpm
from xpm_repos import model_files, read_tree
from net_servers import Dropping, GitHttp, Silent

pytestmark = pytest.mark.slow

SECRET = "SECRETTOKEN123"


@pytest.mark.parametrize("scheme", ["http", "ssh", "git"])
def test_a_server_that_accepts_and_never_answers_is_cut_off(scheme, project, git_env, servers, monkeypatch):
    silent = servers(Silent)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    monkeypatch.setenv("XPM_NETWORK_TIMEOUT", "1")
    url = silent.url(scheme, "lab/zlm")
    start = time.monotonic()
    out = xpm(project, "add", url, code=1)
    assert time.monotonic() - start < 6
    assert out.stderr == (
        f"error: model 'zlm': {url} did not answer within 1 s (XPM_NETWORK_TIMEOUT); git was stopped\n"
        "  fix: check the server and your network (a proxy or firewall that accepts connections and never answers?); "
        "for a very slow link raise XPM_NETWORK_TIMEOUT, or use --offline to work from the cache\n"
    )
    assert silent.requests == 1  # a hard timeout is not retried: it already waited that long
    deadline = time.monotonic() + 3
    while silent.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.closed == 1  # the whole process group (git-remote-http, ssh) was killed
    assert list(project.iterdir()) == []


def test_sigterm_is_undone_as_ctrl_c_is_and_stops_git(project, git_env, servers, monkeypatch):
    """`timeout`, a cancelled CI job: Python's default ended xpm at once and left its git running."""
    import os
    import signal
    import sys

    silent = servers(Silent)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "xpm.cli", "add", silent.url("git", "lab/zlm")], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 30
    while silent.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.requests == 1
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (143, "zlm: resolving " + silent.url("git", "lab/zlm") + "\n"
                                           "terminated: nothing half-written is left; run the command again to finish it\n")
    deadline = time.monotonic() + 3
    while silent.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.closed == 1  # git was stopped with xpm
    assert list(project.iterdir()) == [] and list((git_env.cache / "git" / "db").iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xpm guards its gits on Linux")
@pytest.mark.parametrize("awk", [True, False])
@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
def test_git_dies_with_an_xpm_killed_by_sigkill(project, git_env, servers, monkeypatch, tmp_path, awk, scheme):
    """Network gits run in sessions of their own: a SIGKILL of xpm (the OOM killer, `timeout -k`)
    left them running, outside the mirror's lock, against a remote that never answers forever.
    xpm's watcher (an awk whose input is a pipe only xpm writes to) kills their groups when xpm
    is gone; without awk, xpm asks for the kernel's parent-death signal before git's exec. Over
    http and ssh the connection is held by git's children (git-remote-http, ssh), which outlived it."""
    import os
    import signal

    silent = servers(Silent)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    if not awk:  # a PATH with git only
        (tmp_path / "bin").mkdir()
        for tool in ("git", "ssh"):
            (tmp_path / "bin" / tool).symlink_to(shutil.which(tool))
        monkeypatch.setenv("PATH", str(tmp_path / "bin"))
        assert shutil.which("awk", path=os.environ["PATH"]) is None
    proc = _xpm_process(project, "add", silent.url(scheme, "lab/zlm"))
    deadline = time.monotonic() + 30
    while silent.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.requests == 1
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while silent.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.closed == 1  # git was killed with xpm, and closed its connection


def _xpm_process(project, *args):
    import os
    import sys

    return subprocess.Popen([sys.executable, "-m", "xpm.cli", *args], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_ctrl_c_stops_the_fetches_other_threads_wait_for(project, git_env, servers, monkeypatch):
    """Ctrl-C reaches the main thread only: a parallel install used to wait for each fetch from a
    remote that never answers until XPM_NETWORK_TIMEOUT (600 s by default)."""
    import signal

    silent = servers(Silent)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    (project / ".xlm_models").write_text("".join(silent.url("git", f"lab/{n}") + "@v1\n" for n in ("aaa", "bbb")))
    proc = _xpm_process(project, "install")
    deadline = time.monotonic() + 30
    while silent.requests < 2 and time.monotonic() < deadline:  # both threads wait for the server
        time.sleep(0.02)
    assert silent.requests == 2
    begun = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - begun < 5
    assert proc.returncode == 130 and err.endswith("interrupted: nothing half-written is left; run the command again to finish it\n")
    deadline = time.monotonic() + 3
    while silent.closed < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert silent.closed == 2  # both gits were stopped
    assert sorted(p.name for p in project.iterdir()) == [".xlm_models"] and list((git_env.cache / "git" / "db").iterdir()) == []


def test_ctrl_c_stops_a_thread_that_waits_for_a_mirror_lock(upstream, project, git_env, monkeypatch):
    """A thread waiting for a mirror another process holds used to wait on after Ctrl-C, up to
    XPM_LOCK_TIMEOUT (900 s by default)."""
    import fcntl
    import os
    import signal

    repos = [upstream(f"lab/{name}") for name in ("aaa", "bbb")]
    for repo in repos:
        repo.commit("model", model_files(repo.path.name))
        repo.tag("v1")
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos))
    held = Database(Git(), git_env.cache, repos[1].url).lock_path
    held.parent.mkdir(parents=True)
    fd = os.open(held, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = _xpm_process(project, "-q", "install")
        waiting = proc.stderr.readline()
        assert waiting.startswith("waiting for the lock on the cache's mirror of ") and repos[1].url in waiting
        begun = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - begun < 5
    finally:
        os.close(fd)
    assert proc.returncode == 130 and err.endswith("interrupted: nothing half-written is left; run the command again to finish it\n")
    assert sorted(p.name for p in project.iterdir()) == [".xlm_models"]


def test_http_low_speed_limit_aborts_a_stalled_transfer(project, git_env, servers, monkeypatch):
    silent = servers(Silent)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    monkeypatch.setenv("GIT_HTTP_LOW_SPEED_TIME", "1")  # the user's own value wins over xpm's 60 s
    monkeypatch.setenv("XPM_NETWORK_RETRIES", "0")
    monkeypatch.setenv("XPM_NETWORK_TIMEOUT", "20")  # far above: curl gives up first
    start = time.monotonic()
    out = xpm(project, "add", silent.url("http", "lab/zlm"), code=1)
    assert time.monotonic() - start < 10
    assert "cannot reach http://127.0.0.1" in out.stderr and "too slow" in out.stderr.lower()


@pytest.mark.parametrize("scheme", ["git", "ssh"])
def test_a_server_that_drops_every_connection_is_retried_then_reported(scheme, project, git_env, servers, monkeypatch):
    dropping = servers(Dropping)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    url = dropping.url(scheme, "lab/zlm")
    out = xpm(project, "add", url, code=1)
    assert out.stderr.startswith(f"error: model 'zlm': cannot reach {url}: ")
    assert "(tried 3 times)\n  fix: check the URL" in out.stderr
    assert dropping.requests == 3  # XPM_NETWORK_RETRIES (2) more after the first


def test_a_flaky_http_server_is_retried_until_it_answers(lab, project, git_env, servers, monkeypatch):
    http = servers(GitHttp, git_env.served, drop_first=2)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    out = xpm(project, "add", http.url("http", "lab/zlm") + "@v1")
    assert out.stdout == f"added zlm v1.1.0 ({lab.commits['1.1.0'][:7]})\n"
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")


@pytest.mark.parametrize("status,retried", [(503, True), (404, False), (401, False)])
def test_server_errors_are_retried_and_client_errors_are_not(status, retried, project, git_env, servers, monkeypatch):
    http = servers(GitHttp, git_env.served, fail_status=status)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    out = xpm(project, "add", http.url("http", "lab/zlm"), code=1)
    assert out.stderr.startswith("error: model 'zlm': ")
    assert http.requests == (3 if retried else 1)
    assert ("(tried 3 times)" in out.stderr) == retried


def test_a_missing_repository_is_reported_once(project, git_env, servers, monkeypatch):
    http = servers(GitHttp, git_env.served)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    out = xpm(project, "add", http.url("http", "lab/nothere"), code=1)
    assert "cannot reach http://127.0.0.1" in out.stderr and "not found" in out.stderr
    assert http.requests == 1


# ----------------------------------------------------------------------------- insecure transports
def test_git_and_http_need_an_explicit_opt_in(lab, project, git_env, git_daemon, servers, monkeypatch):
    http = servers(GitHttp, git_env.served)
    monkeypatch.delenv("XPM_INSECURE_HOSTS")
    for url in (git_daemon.url("lab/zlm"), http.url("http", "lab/zlm")):
        out = xpm(project, "add", url, code=1)
        scheme = url.split(":")[0]
        assert out.stderr == (
            f"error: model 'zlm': {url} uses {scheme}://, which has no transport integrity: "
            "anyone on the network path could change the code you install\n"
            "  fix: use an https:// or ssh URL, or allow this host explicitly: XPM_INSECURE_HOSTS=127.0.0.1\n"
        )
        assert list(project.iterdir()) == []
    assert http.requests == 0  # refused before any connection
    # Reached through the user's insteadOf (github.com -> git://127.0.0.1): refused the same way.
    out = xpm(project, "add", "github.com/lab/zlm@v1", code=1)
    assert out.stderr.startswith(
        f"error: model 'zlm': https://github.com/lab/zlm (reached as {git_daemon.url('lab/zlm')} through url.<base>.insteadOf) uses git://")
    # A user's own git config cannot open it either: xpm's policy is on git's command line.
    git_env.add_config('[protocol]\n\tallow = always\n[protocol "git"]\n\tallow = always\n')
    assert "uses git://" in xpm(project, "add", "github.com/lab/zlm@v1", code=1).stderr
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "*.lan, 127.0.0.*")
    assert xpm(project, "add", "github.com/lab/zlm@v1").stdout.startswith("added zlm v1.1.0")
    monkeypatch.setenv("XPM_INSECURE_HOSTS", f"127.0.0.1:{git_daemon.port + 1}")  # another port: not this server
    assert xpm(project, "install").stdout == "up to date\n"  # nothing to fetch, so no transport to refuse
    shutil.rmtree(project / "xlm_models" / "zlm")
    shutil.rmtree(git_env.cache)
    out = xpm(project, "install", code=1)
    assert "uses git://" in out.stderr and out.stderr.endswith("XPM_INSECURE_HOSTS=127.0.0.1\n")
    monkeypatch.setenv("XPM_INSECURE_HOSTS", f"127.0.0.1:{git_daemon.port}")
    assert xpm(project, "install").stdout.startswith("installed zlm v1.1.0")


def test_git_itself_refuses_what_xpm_refuses(lab, git_env, git_daemon, tmp_path):
    """Even a command run without xpm's transport check cannot use git://: the policy is on
    git's command line (`protocol.git.allow=never`), which outranks every config file."""
    git_env.add_config('[protocol "git"]\n\tallow = always\n')
    db = Database(Git(), git_env.cache, lab.zlm.url)
    db.ensure()
    proc = Git().run(["ls-remote", "--", git_daemon.url("lab/zlm")], cwd=db.path, check=False)
    assert proc.returncode != 0 and "transport 'git' not allowed" in proc.stderr


def test_ext_transport_is_never_used(project, git_env, tmp_path):
    canary = tmp_path / "canary"
    git_env.add_config(f'[url "ext::sh -c touch% {canary}% #"]\n\tinsteadOf = https://evil.example/\n'
                       '[protocol "ext"]\n\tallow = always\n')
    out = xpm(project, "add", "https://evil.example/lab/zlm", code=1)
    assert "uses the 'ext' transport, which xpm never lets git use" in out.stderr
    assert not canary.exists()


def test_malformed_objects_are_refused_on_arrival(upstream, git_env, tmp_path):
    """transfer.fsckObjects: a tree with a `.git` entry never enters the cache."""
    git_env.gitconfig.write_text(git_env.gitconfig.read_text().split('[fetch "fsck"]')[0])  # git's checks, all on
    repo = upstream("lab/dotgit")
    repo.commit("c", model_files("dotgit"))

    def mktree(entries: str) -> str:
        return subprocess.run(["git", "mktree"], cwd=repo.path, input=entries, capture_output=True, text=True, check=True).stdout.strip()

    planted = mktree(repo.git("ls-tree", "HEAD") + f"\n040000 tree {mktree(repo.git('ls-tree', 'HEAD'))}\t.git\n")
    commit = repo.git("commit-tree", planted, "-m", "planted")
    repo.git("update-ref", "refs/heads/main", commit)
    db = Database(Git(), git_env.cache, repo.url)
    with pytest.raises(RejectedObjects) as info:
        db.fetch([commit])
    assert "hasDotgit" in info.value.what and "fetch.fsck.<check-id> ignore" in info.value.fix
    assert db.missing([commit]) == [commit]


def test_a_repository_damaged_on_the_server_is_named_and_not_retried(upstream, git_daemon, project, git_env):
    """The server's git stops before it sends a pack (a tree entry with an empty name, which no
    git makes): one message naming the model and the damage, not a raw `git fetch` failure."""
    repo = upstream("lab/broken")
    repo.commit("c", model_files("broken"))
    blob = bytes.fromhex(repo.git("hash-object", "-w", "--", "broken/model.py"))
    raw = subprocess.run(["git", "cat-file", "tree", "HEAD^{tree}"], cwd=repo.path, capture_output=True, check=True).stdout
    tree = subprocess.run(["git", "hash-object", "-w", "-t", "tree", "--literally", "--stdin"], cwd=repo.path,
                          input=raw + b"100644 \0" + blob, capture_output=True, check=True).stdout.decode().strip()
    repo.git("update-ref", "refs/heads/main", repo.git("commit-tree", tree, "-m", "damaged"))
    repo.tag("v1.0.0")
    before = sorted(project.iterdir())
    out = xpm(project, "add", "github.com/lab/broken@v1.0.0", code=1)
    assert out.stderr == (
        "error: model 'broken': https://github.com/lab/broken cannot send its repository: the server's git finds it "
        "damaged (empty filename in tree entry)\n"
        "  fix: the repository is broken upstream (`git fsck` there names the object): tell its maintainers, "
        "or use another ref or remote\n"
    )
    assert sorted(project.iterdir()) == before


# ----------------------------------------------------------------------------- credentials
def _everything_written(*roots) -> bytes:
    data = b""
    for root in roots:
        for path in sorted(root.rglob("*")):
            data += str(path).encode() + b"\n"
            if path.is_file() and not path.is_symlink():
                data += path.read_bytes()
    return data


def test_a_token_reached_through_insteadof_never_leaves_xpm(lab, project, git_env, servers, monkeypatch):
    http = servers(GitHttp, git_env.served)
    failing = servers(GitHttp, git_env.served, fail_status=503)
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    git_env.add_config(f'[url "{http.url("http", "", f"user:{SECRET}")}"]\n\tinsteadOf = https://github.com/\n'
                       f'[url "{failing.url("http", "", SECRET)}"]\n\tinsteadOf = https://broken.example/\n')
    outputs = [xpm(project, "-v", "add", "github.com/lab/zlm@v1")]
    outputs.append(xpm(project, "-v", "add", "github.com/lab/nothere", code=1))  # 404: git's message names the URL
    outputs.append(xpm(project, "-v", "add", "broken.example/lab/models#subdir=aaa", code=1))  # 503, retried
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "")  # the policy error names both URLs: the one git contacts is redacted
    outputs.append(xpm(project, "-v", "add", "github.com/lab/models#subdir=bbb", code=1))
    outputs.append(xpm(project, "-v", "add", "broken.example/lab/models#subdir=aaa", code=1))
    text = "".join(o.output for o in outputs)
    for server in (http, failing):  # user:token and a bare token: both hidden whole
        assert f"(reached as http://***@127.0.0.1:{server.port}/lab/" in text
    assert SECRET not in text
    assert SECRET.encode() not in _everything_written(project, git_env.cache)
    assert (project / "xlm.lock").read_text().count('source = "https://github.com/lab/zlm"') == 1


def test_progress_lines_and_stored_urls_are_redacted(tmp_path):
    import io

    from xpm.git.remote import canonical_url, mirror_name
    from xpm.progress import Progress

    stream = io.StringIO()
    Progress(stream, live=False)("zlm", f"fetching abc from https://user:{SECRET}@host/lab/zlm")
    assert stream.getvalue() == "zlm: fetching abc from https://***@host/lab/zlm\n"
    url = f"https://user:{SECRET}@Host/lab/zlm.git"
    assert canonical_url(url) == "https://host/lab/zlm" and SECRET not in mirror_name(url)
    assert mirror_name(url) == mirror_name("https://host/lab/zlm")
    db = Database(Git(), tmp_path, url)
    db.ensure()
    assert (db.path / "xpm-url").read_text() == "https://Host/lab/zlm.git\n"
