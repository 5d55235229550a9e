"""git:// on 127.0.0.1 for the xpm benchmarks, accepting connections as hosting services do.

    python bench/git_server.py BASE_PATH   # prints its port, then serves until killed

`git daemon` listens with a backlog of 5. A parallel install opens its 8 connections within a
millisecond; when the daemon has not accepted the first ones yet, the kernel drops the SYNs
past its queue (TcpExtListenOverflows in `nstat`) and those clients wait for the 1-second SYN
retransmit: a cold install of 0.3 s took 1.1 s in about one round in ten (3 in 11 under
load), which no hosting service does to 8 connections. So this server listens with a backlog
of 128 and hands each connection to `git daemon --inetd` (one process per connection, as git
daemon's own `--serve` children), and reaps them: their CPU is this process's children's
(`bench_xpm_cpu.daemon_cpu`).
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import sys


def main() -> None:
    base, git = sys.argv[1], shutil.which("git")
    argv = ["git", "daemon", "--inetd", "--export-all", f"--base-path={base}"]
    null = os.open(os.devnull, os.O_WRONLY)
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(server.getsockname()[1], flush=True)
    while True:
        if select.select([server], [], [], 0.05)[0]:
            conn, _ = server.accept()
            with conn:
                fd = conn.fileno()
                os.posix_spawn(git, argv, os.environ,
                               file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, fd, 1),
                                             (os.POSIX_SPAWN_DUP2, null, 2)])
        _reap()


def _reap() -> None:
    """Collect every connection's process that has ended (its CPU then counts as ours)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    main()
