"""Units of the network layer, from tables: how git's messages are classified (transient or
not), which transport a URL uses, the opt-in patterns, the XPM_* variables, damaged mirrors."""

import pytest

from xlm.manifest import without_userinfo
from xpm import settings
from xpm.errors import (
    AuthFailed, GitError, MirrorDamaged, RejectedObjects, RemoteUnreachable, UnsupportedTransport, XpmError,
)
from xpm.git.failures import classify, looks_corrupt
from xpm.git.transport import config_for, insecure_allowed, transport_of
from xpm_cli import xpm

URL = "https://h/x"


@pytest.mark.parametrize("stderr,kind,transient", [
    ("fatal: unable to access 'https://h/x/': Failed to connect to h port 443: Connection refused", RemoteUnreachable, True),
    ("fatal: unable to access 'https://h/x/': Could not resolve host: h", RemoteUnreachable, True),
    ("fatal: unable to access 'https://h/x/': Empty reply from server", RemoteUnreachable, True),
    ("fatal: unable to access 'https://h/x/': The requested URL returned error: 502", RemoteUnreachable, True),
    ("error: RPC failed; HTTP 503 curl 22 The requested URL returned error: 503\nfatal: expected flush after ref listing", RemoteUnreachable, True),
    ("error: RPC failed; curl 18 transfer closed with outstanding read data remaining\nfatal: early EOF\nfatal: index-pack failed", RemoteUnreachable, True),
    ("fatal: read error: Connection reset by peer", RemoteUnreachable, True),
    ("ssh: connect to host h port 22: Connection timed out\nfatal: Could not read from remote repository.", RemoteUnreachable, True),
    ("kex_exchange_identification: Connection closed by remote host\nfatal: Could not read from remote repository.", RemoteUnreachable, True),
    ("fatal: the remote end hung up unexpectedly", RemoteUnreachable, True),
    ("fatal: unable to access 'https://h/x/': Operation too slow. Less than 1000 bytes/sec transferred the last 60 seconds", RemoteUnreachable, True),
    ("fatal: repository 'https://h/x/' not found", RemoteUnreachable, False),
    ("fatal: remote error: access denied or repository not exported: /x\nfatal: the remote end hung up unexpectedly", RemoteUnreachable, False),
    ("fatal: '/srv/x' does not appear to be a git repository\nfatal: Could not read from remote repository.", RemoteUnreachable, False),
    ("fatal: Authentication failed for 'https://h/x/'", AuthFailed, False),
    ("fatal: could not read Username for 'https://h': terminal prompts disabled", AuthFailed, False),
    ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.", AuthFailed, False),
    ("fatal: unable to access 'https://h/x/': The requested URL returned error: 403", AuthFailed, False),
    ("error: object 0123abcd: hasDotgit: contains '.git'\nfatal: fsck error in packed object", RejectedObjects, False),
    ("fatal: transport 'ext' not allowed", UnsupportedTransport, False),
    ("error: Server does not allow request for unadvertised object 0123abcd", GitError, False),  # falls back to a full fetch
    ("fatal: something else entirely", GitError, False),
])
def test_classify_network_failures(stderr, kind, transient):
    error = classify(["fetch"], 128, stderr, "/m", URL)
    assert type(error) is kind
    assert getattr(error, "transient", False) is transient


def test_a_sigpipe_without_a_word_is_a_closed_connection():
    error = classify(["ls-remote"], -13, "", "/m", URL)
    assert isinstance(error, RemoteUnreachable) and error.transient and "closed the connection" in error.what


@pytest.mark.parametrize("stderr", [
    "error: packfile /m/objects/pack/pack-1.pack does not match index",
    "error: inflate: data stream error (incorrect data check)\nfatal: packed object 12ab (stored in /m/p.pack) is corrupt",
    "fatal: bad object refs/xpm/c/12ab",
    "error: refs/xpm/c/12ab does not point to a valid object!",
    "fatal: not a git repository: '/m'",
    "fatal: bad config line 1 in file /c/git/db/h_lab_m-12ab.git/config",
    "fatal: bad config line 3 in file ./config",
    "fatal: bad shallow line: zzz",
])
def test_local_failures_that_mean_a_damaged_mirror(stderr):
    assert looks_corrupt(stderr)
    assert type(classify(["cat-file"], 128, stderr, "/m", None)) is MirrorDamaged


def test_the_servers_own_damage_is_not_ours():
    assert not looks_corrupt("remote: fatal: packed object 12ab is corrupt\nfatal: early EOF")


@pytest.mark.parametrize("file", ["/home/u/.gitconfig", "/home/u/.config/git/config", "/etc/gitconfig"])
def test_a_broken_user_config_is_not_a_damaged_mirror(file):
    """Fetching into a fresh mirror cannot mend the user's own config: git's error stands."""
    assert not looks_corrupt(f"fatal: bad config line 1 in file {file}")


@pytest.mark.parametrize("url,transport", [
    ("https://Host/x", ("https", "host")),
    ("http://u:p@h.lan:8080/x", ("http", "h.lan")),
    ("git://[::1]:9418/x", ("git", "::1")),
    ("ssh://git@h:2222/x", ("ssh", "h")),
    ("git+ssh://h/x", ("ssh", "h")),
    ("git@github.com:lab/zlm.git", ("ssh", "github.com")),
    ("h:lab/zlm", ("ssh", "h")),
    ("file:///srv/x", ("file", "")),
    ("/srv/x.git", ("file", "")),
    ("./x", ("file", "")),
    ("C:\\repos\\x", ("file", "")),
    ("ext::sh -c evil", ("ext", "")),
    ("fd::3", ("fd", "")),
    ("persistent-https://h/x", ("persistent-https", "h")),
])
def test_transport_of(url, transport):
    assert transport_of(url) == transport


@pytest.mark.parametrize("hosts,url,allowed", [
    ("", "git://h/x", False),
    ("h", "git://h/x", True),
    ("H", "git://h:9418/x", True),
    ("h:9418", "git://h:9418/x", True),
    ("h:9418", "git://h:1/x", False),
    ("*.lan", "http://box.lan/x", True),
    ("*.lan", "http://lan/x", False),
    ("other, h", "http://u:p@h/x", True),
    ("127.0.0.*", "git://127.0.0.1:5/x", True),
])
def test_insecure_hosts(hosts, url, allowed, monkeypatch):
    monkeypatch.setenv("XPM_INSECURE_HOSTS", hosts)
    assert insecure_allowed(url) is allowed


def test_policy(monkeypatch):
    monkeypatch.delenv("XPM_INSECURE_HOSTS", raising=False)
    assert config_for("https://h/x", "https://h/x") == ()
    assert config_for("https://h/x", "ssh://git@h/x") == ()
    with pytest.raises(XpmError) as info:
        config_for("https://h/x", "http://h/x")
    assert "(reached as http://h/x through url.<base>.insteadOf)" in info.value.what
    assert info.value.fix.endswith("XPM_INSECURE_HOSTS=h")
    monkeypatch.setenv("XPM_INSECURE_HOSTS", "h")
    assert config_for("https://h/x", "http://h/x") == ("protocol.http.allow=always", "http.followRedirects=false")  # to h only
    with pytest.raises(UnsupportedTransport):
        config_for("https://h/x", "ext::sh -c x")


@pytest.mark.parametrize("url,stripped", [
    ("https://user:tok@h/x", "https://h/x"),
    ("https://tok@h/x", "https://h/x"),
    ("ssh://git@h/x", "ssh://git@h/x"),
    ("ssh://git:pw@h:22/x", "ssh://git@h:22/x"),
    ("git@h:x/y", "git@h:x/y"),
    ("https://h/x@v1", "https://h/x@v1"),
])
def test_without_userinfo(url, stripped):
    assert without_userinfo(url) == stripped


@pytest.mark.parametrize("var,value", [
    ("XPM_NETWORK_TIMEOUT", "abc"), ("XPM_NETWORK_TIMEOUT", "0"), ("XPM_NETWORK_TIMEOUT", "inf"),
    ("XPM_LOCK_TIMEOUT", "-1"), ("XPM_NETWORK_RETRIES", "1.5"), ("XPM_RETRY_BACKOFF", "nan"),
    # beyond a week a timer overflows the platform's clock; only plain ASCII decimals are read
    ("XPM_NETWORK_TIMEOUT", "4e9"), ("XPM_NETWORK_TIMEOUT", "1e10"), ("XPM_RETRY_BACKOFF", "1e10"),
    ("XPM_LOCK_TIMEOUT", "604801"), ("XPM_NETWORK_TIMEOUT", "1_000"), ("XPM_NETWORK_TIMEOUT", "\u0661\u0660"),
    ("XPM_NETWORK_RETRIES", "+5"), ("XPM_NETWORK_RETRIES", "101"), ("XPM_NETWORK_RETRIES", "\u0663"),
])
def test_bad_settings_are_named(var, value, monkeypatch):
    monkeypatch.setenv(var, value)
    reader = {"XPM_NETWORK_TIMEOUT": settings.network_timeout, "XPM_LOCK_TIMEOUT": settings.lock_timeout,
              "XPM_NETWORK_RETRIES": settings.network_retries, "XPM_RETRY_BACKOFF": settings.retry_backoff}[var]
    with pytest.raises(XpmError) as info:
        reader()
    assert info.value.what.startswith(f"{var}='{value}' is not a") and info.value.fix.startswith(f"set {var} to")


@pytest.mark.parametrize("var,value,read", [
    ("XPM_NETWORK_TIMEOUT", "604800", 604800.0), ("XPM_NETWORK_TIMEOUT", "2.5", 2.5), ("XPM_NETWORK_TIMEOUT", ".5", 0.5),
    ("XPM_LOCK_TIMEOUT", "0", 0.0), ("XPM_NETWORK_RETRIES", "100", 100), ("XPM_RETRY_BACKOFF", " 3. ", 3.0),
])
def test_good_settings_are_read(var, value, read, monkeypatch):
    monkeypatch.setenv(var, value)
    reader = {"XPM_NETWORK_TIMEOUT": settings.network_timeout, "XPM_LOCK_TIMEOUT": settings.lock_timeout,
              "XPM_NETWORK_RETRIES": settings.network_retries, "XPM_RETRY_BACKOFF": settings.retry_backoff}[var]
    assert reader() == read


def test_a_bad_setting_is_a_two_line_error(lab, project, git_env, monkeypatch):
    monkeypatch.setenv("XPM_NETWORK_TIMEOUT", "ten")
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    assert out.stderr == ("error: XPM_NETWORK_TIMEOUT='ten' is not a number of seconds from 0.1 to 604800\n"
                          "  fix: set XPM_NETWORK_TIMEOUT to such a number (default 600), or unset it\n")
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("text,shown", [
    ("cannot reach https://h/x?private_token=s3cret (403)", "cannot reach https://h/x?*** (403)"),
    ("fatal: unable to access 'http://u:s3cret@h/x/': 503", "fatal: unable to access 'http://***@h/x/': 503"),
    ("(a proxy that never answers?); for a slow link", "(a proxy that never answers?); for a slow link"),
    ("(tag moved or history rewritten upstream?)", "(tag moved or history rewritten upstream?)"),
])
def test_messages_are_redacted_and_otherwise_kept(text, shown):
    assert XpmError(text).what == shown
