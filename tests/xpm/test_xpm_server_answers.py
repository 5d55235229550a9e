"""Servers that answer, but not as a git server should: a web page, a redirect xpm does not
follow, a git `ERR` line. Each is a two-line error naming the model; none is taken for damage
to the cache's mirror, whose objects stay."""

import pytest

from xpm.git.command import Git
from xpm.git.database import Database
from xpm_cli import xpm
from net_servers import Answering, GitHttp

pytestmark = pytest.mark.slow

NOT_GIT_FIX = ("  fix: check the URL (a login page, a proxy or a web page may answer there); xpm follows no redirect "
               "to another scheme, nor one to another host over http://\n")


def _http(status: str, headers: str = "", body: bytes = b"") -> bytes:
    return f"HTTP/1.0 {status}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_a_web_page_is_not_a_git_server(project, git_env, servers, monkeypatch):
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    page = servers(Answering, _http("200 OK", "Content-Type: text/html\r\n", b"<html><body>Sign in</body></html>\n" * 10))
    url = page.url("http", "lab/zlm")
    out = xpm(project, "add", f"{url}@v1", code=1)
    assert out.stderr == (f"error: model 'zlm': {url} does not answer as a git server ({url}/info/refs not valid: "
                          "is this a git repository?)\n" + NOT_GIT_FIX)
    assert page.requests == 1  # not retried: it answered


def test_a_short_web_page_is_not_taken_for_an_empty_repository(project, git_env, servers, monkeypatch):
    """git reads a short page that answers 200 as a 'dumb' repository without refs."""
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    page = servers(Answering, _http("200 OK", "Content-Type: text/html\r\n", b"<html>Sign in</html>"))  # no newline: no line to refuse
    url = page.url("http", "lab/zlm")
    out = xpm(project, "add", f"{url}@v1", code=1)
    assert out.stderr == (f"error: model 'zlm': no tag matches the version query 'v1' in {url}, which has no tags or branches\n"
                          "  fix: check that the URL is the repository's (`git ls-remote URL` lists its refs; a web page there "
                          "lists none); push a commit there first, or check the URL\n")


def test_a_redirect_to_another_host_over_http_is_not_followed(project, git_env, servers, monkeypatch, lab):
    """XPM_INSECURE_HOSTS names hosts: one listed host must not hand the install to another over plain http."""
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "127.0.0.1")
    other = servers(GitHttp, git_env.served)
    moved = servers(Answering, _http("302 Found", f"Location: http://localhost:{other.port}/lab/zlm/info/refs?service=git-upload-pack\r\n"))
    url = moved.url("http", "lab/zlm")
    out = xpm(project, "add", f"{url}@v1", code=1)
    assert out.stderr.startswith(f"error: model 'zlm': {url} does not answer as a git server (unable to access "
                                 f"'{url}/': The requested URL returned error: 302)\n")
    assert other.requests == 0 and not (project / "xlm_models").exists()


def test_a_servers_own_error_is_not_taken_for_a_damaged_mirror(project, git_env, git_daemon, servers, lab):
    """`fatal: remote error: packfile is corrupt` is the server's text: the mirror was thrown
    away (its objects lost, --offline broken) and the fix said `xpm cache clean`."""
    xpm(project, "add", "github.com/lab/zlm@v1")
    mirror = Database(Git(), git_env.cache, "https://github.com/lab/zlm")
    commit = (project / "xlm.lock").read_text().split('commit = "')[1][:40]
    message = b"ERR packfile is corrupt\n"
    refusing = servers(Answering, b"%04x" % (len(message) + 4) + message)
    git_env.add_config(f'[url "git://127.0.0.1:{refusing.port}/lab/"]\n\tinsteadOf = https://github.com/lab/\n')  # longer: wins
    out = xpm(project, "update", code=1)
    assert out.stderr == ("error: model 'zlm': cannot reach https://github.com/lab/zlm: fatal: remote error: packfile is corrupt\n"
                          "  fix: check the URL, your network and that the repository exists (url.<base>.insteadOf rules apply); "
                          "use --offline to work from the cache\n")
    assert mirror.missing([commit]) == []  # the mirror and its objects stay
