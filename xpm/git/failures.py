"""How git says why a command failed, read from its stderr: the most specific error we can
name (an unreachable remote, authentication, a refused transport, a server that is no git
server, a damaged mirror), or a plain `GitError`. `xpm.git.command` runs git; this reads it.
"""

from __future__ import annotations

import re
import signal

from xpm.errors import (
    AuthFailed, BrokenRemote, GitError, MirrorDamaged, NotAGitServer, RejectedObjects, RemoteUnreachable, UnsupportedTransport,
)


class _Patterns:
    """Alternatives matched case-insensitively, compiled when first used: only a command that
    failed needs them, and compiling them all costs every xpm process ~3 ms."""

    def __init__(self, *texts: str):
        self.text, self.compiled = "|".join(f"(?:{t})" for t in texts), None

    def search(self, line: str) -> re.Match | None:
        if self.compiled is None:
            self.compiled = re.compile(self.text, re.IGNORECASE)  # two threads may both compile: same result
        return self.compiled.search(line)



# How git says why a network command failed. Checked in this order; the first that matches a
# line decides (a refusal is permanent even when "the remote end hung up" follows it).
_REFUSED_WANT = _Patterns(  # the server will not send a commit by id: fetch everything instead
    r"not our ref", r"unadvertised object", r"does not support shallow", r"couldn't find remote ref",
)
_NOT_ALLOWED = _Patterns(r"transport '([^']+)' not allowed")
# The server's upload-pack met a broken object of its own (an empty name in a tree, an entry
# whose mode says blob on a tree) and stopped before sending a pack.
_BROKEN_REMOTE = _Patterns(r"aborting due to possible repository corruption on the remote side")
_FSCK = _Patterns(r"error: object [0-9a-f]+: ", r"fsck error", r"object fails fsck")
_AUTH = _Patterns(
    r"authentication failed", r"could not read username", r"could not read password", r"terminal prompts disabled",
    r"permission denied \(publickey", r"host key verification failed", r"invalid username or password",
    r"http basic: access denied", r"returned error: 40[13]\b",
)
_GONE = _Patterns(
    r"repository not found", r"not found", r"does not appear to be a git repository", r"no such repository",
    r"not exported", r"access denied", r"returned error: (?:404|410)\b",
)
_TRANSIENT = _Patterns(
    r"connection refused", r"connection reset", r"timed out", r"operation too slow",
    r"the remote end hung up", r"early eof", r"rpc failed", r"empty reply from server", r"recv failure",
    r"send failure", r"could not resolve (?:host|proxy)", r"temporary failure in name resolution",
    r"network is unreachable", r"no route to host", r"failed to connect", r"unable to connect",
    r"unexpected disconnect", r"connection closed", r"broken pipe", r"transfer closed",
    r"returned error: (?:5\d\d|408|429)\b", r"\bhttp (?:5\d\d|429)\b", r"ssl_(?:read|write|connect)", r"gnutls",
)
# Something answered, and not in git's protocol: a web page, a proxy, a redirect loop or one to
# a scheme curl may not follow, garbage over git:// or ssh.
_NOT_GIT = _Patterns(
    r"not valid: is this a git repository", r"protocol error", r"redirects followed", r"not supported or disabled in libcurl",
    r"unsupported url scheme", r"redirect target url could not be parsed",
    r"returned error: 30[0-8]\b",  # a redirect git did not follow (over http://, `http.followRedirects=false`)
)
# The server's own refusal (an ERR line of git's protocol): its words, never about our mirror.
_REMOTE_SAID = _Patterns(r"remote error: ")
_UNREACHABLE = _Patterns(r"could not read from remote repository", r"unable to look up")
# How git says it cannot read its own repository: a truncated or damaged pack, a lost object.
_CORRUPT = _Patterns(
    r"is corrupt", r"inflate", r"does not match index", r"packfile", r"index file", r"bad (?:\w+ )?object",
    r"failed to read object", r"unable to read", r"loose object", r"premature end", r"object file .* is empty",
    r"not a git repository", r"hash mismatch", r"unable to unpack", r"unknown object type",
    r"does not point to a valid object", r"did not send all necessary objects", r"invalid object",
    r"bad config line \d+ in file (?:\./|.*\.git/)config$", r"bad shallow line", r"packed-refs",  # the mirror's own files
    # A lock file of git's in the mirror, under xpm's own lock of it: left by a git that was
    # killed (a timeout, xpm killed), or still held by one that outlived a killed xpm.
    r"unable to create '.*\.lock': file exists",
)


def looks_corrupt(stderr: str) -> bool:
    """Whether git's stderr says the local repository is damaged (the server's `remote:` and
    `remote error:` lines are about its own repository, not ours)."""
    return any(_CORRUPT.search(line) for line in stderr.splitlines()
               if not line.lstrip().lower().startswith("remote:") and not _REMOTE_SAID.search(line))


def classify(args: list[str], returncode: int, stderr: str, cwd: str | None, url: str | None) -> Exception:
    """Map git's stderr onto the most specific error we can name."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if url:

        def first(pattern: _Patterns) -> str | None:
            # The line that says why, e.g. ssh's "connect to host h port 22: Connection refused"
            # rather than the generic "fatal: Could not read from remote repository." after it.
            return next((line for line in lines if pattern.search(line)), None)

        if first(_REFUSED_WANT):
            return GitError(args, returncode, stderr, cwd)
        if line := first(_BROKEN_REMOTE):
            said = [text.split(":", 1)[1].strip() for text in lines if text.lower().startswith("remote:")]
            why = [text.partition(":")[2].strip() for kind in ("fatal:", "error:") for text in said if text.lower().startswith(kind)]
            return BrokenRemote(url, (why or [line])[0])
        if line := first(_NOT_ALLOWED):
            return UnsupportedTransport(url, url, _NOT_ALLOWED.search(line).group(1))
        if line := first(_FSCK):
            return RejectedObjects(url, line)
        if line := first(_AUTH):
            return AuthFailed(url, line)
        if line := first(_GONE):
            return RemoteUnreachable(url, line)
        if line := first(_TRANSIENT):
            return RemoteUnreachable(url, line, transient=True)
        if line := first(_NOT_GIT):
            return NotAGitServer(url, line.removeprefix("fatal: "))
        if line := first(_REMOTE_SAID) or first(_UNREACHABLE):
            return RemoteUnreachable(url, line)
        if returncode == -getattr(signal, "SIGPIPE", 13) and not lines:  # wrote to a socket the server had closed
            return RemoteUnreachable(url, "the server closed the connection", transient=True)
    if looks_corrupt(stderr):
        return MirrorDamaged(args, returncode, stderr, cwd)
    return GitError(args, returncode, stderr, cwd)
