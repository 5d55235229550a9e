"""Real servers on 127.0.0.1 for network tests: each runs in threads of the test process.

- `Silent`: accepts every connection and never answers (nor closes): what a hung server, a
  black-holing proxy or a firewall looks like. Speaks no protocol, so it stands for an HTTP,
  ssh or git:// server alike. `closed` counts connections the client side gave up on.
- `Dropping`: accepts and closes every connection at once (a git:// or ssh server that
  crashes, a reset).
- `Answering`: reads what the client sends, answers every connection with the same bytes and
  closes it: a web page, a redirect, a git `ERR` line, garbage.
- `GitHttp`: git's smart HTTP protocol through `git http-backend` (a real CGI run per request),
  serving the repositories under `root`; the first `drop_first` requests are closed without
  an answer, and `fail_status` answers every request with that status instead.
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server:
    def __init__(self, server):
        self.server = server
        self.port = server.server_address[1]
        self.requests = 0
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self._lock:
            self.requests += 1
            return self.requests

    def url(self, scheme: str, rel: str, userinfo: str = "") -> str:
        return f"{scheme}://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{rel}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Silent(_Server):
    def __init__(self):
        self.clients: list[socket.socket] = []
        self.closed = 0
        self.stopping = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner.count()
                with owner._lock:
                    owner.clients.append(self.request)
                self.request.settimeout(0.1)
                while not owner.stopping.is_set():  # read whatever comes, answer nothing
                    try:
                        if not self.request.recv(65536):
                            with owner._lock:
                                owner.closed += 1  # the client (its process) went away
                            return
                    except socket.timeout:
                        continue
                    except OSError:
                        return

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


class GitHttp(_Server):
    def __init__(self, root: Path, drop_first: int = 0, fail_status: int | None = None):
        self.root, self.drop_first, self.fail_status = Path(root), drop_first, fail_status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve()

            def _serve(self):
                number = owner.count()
                if number <= owner.drop_first:  # close without a byte: "Empty reply from server"
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if owner.fail_status is not None:
                    self.send_error(owner.fail_status)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                env = {
                    "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_PROJECT_ROOT": str(owner.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                    "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_ADDR": "127.0.0.1",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                }
                for header, var in (("Git-Protocol", "HTTP_GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
                    if self.headers.get(header):
                        env[var] = self.headers[header]
                out = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = out.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)


class Dropping(_Server):
    """Closes every connection at once (a git:// or ssh server that crashes on each try)."""

    def __init__(self):
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner.count()
                self.request.close()

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)


class Answering(_Server):
    def __init__(self, reply: bytes):
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner.count()
                self.request.settimeout(2)
                try:
                    self.request.recv(65536)
                    self.request.sendall(reply)
                except OSError:
                    pass

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)
