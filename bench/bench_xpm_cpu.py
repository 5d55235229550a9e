"""Where the CPU of a cold `xpm install` goes, against the floor's, on the bench_xpm workload.

    TMPDIR=/dev/shm python bench/bench_xpm_cpu.py --runs 11   # on a tmpfs: see below

Builds the 20 repositories of `bench_xpm.py` and serves them the same way, then runs the
floor (`git clone --depth 1`, 8 in parallel) and a cold `xpm install` interleaved, and
records for each run: the wall time; for xpm, the CPU of its Python (its own process and the
child that validates for a parallel install, `xpm.validation_worker`) and of the git processes
it waited for, apart; and the CPU of the `git daemon`'s processes (upload-pack,
pack-objects) that served it, which runs on the same cores. xpm runs as its console script
would (`xpm.cli.main` in a fresh interpreter), with a few lines around it that write the
process's own CPU (`RUSAGE_SELF`) and its children's when it ends.

On a machine whose cores the daemon and both tools share, a run needs at least its whole CPU
(tool + daemon) divided by the cores: the line `lower bound` is that, for xpm, against the
floor's median wall time. Results: stdout and bench/results/xpm_cpu.json.

Its folders go under TMPDIR. On ext4, right after many files were deleted (another
benchmark's clean-up), every file creation is slow for minutes, and more so for the floor,
which creates more files: a tmpfs keeps that out of the split.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_xpm import Bench, children_cpu, machine  # noqa: E402  (the same workload and daemon)

_MEASURED_XPM = """
import os, resource, signal, sys
from xpm.validation_worker import ValidationWorker
out, sys.argv, worker = sys.argv[1], ["xpm", "-q", "install"], [0.0]
close = ValidationWorker.close

def reaped(self):  # the validation child is xpm's Python, not git: its CPU, apart
    if self.pid:
        self._requests.close()
        os.kill(self.pid, signal.SIGKILL)
        usage = os.wait4(self.pid, 0)[2]
        worker[0] += usage.ru_utime + usage.ru_stime
        self.pid = 0
    close(self)

ValidationWorker.close = reaped
from xpm.cli import main
try:
    main()
finally:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    kids = kids.ru_utime + kids.ru_stime
    print(me.ru_utime + me.ru_stime + worker[0], kids - worker[0], file=open(out, "w"))
"""


def daemon_cpu(pid: int) -> float:
    """CPU seconds of the git server (`git_server.py`, PID) and of the processes it has reaped
    (the `git daemon --inetd` of each connection): utime, stime, cutime and cstime of /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-xpm-cpu-"))
    bench = Bench(work, 20, 30)
    rows: dict[str, list[dict]] = {"floor": [], "xpm": []}
    try:
        names = bench.build(20)
        bench.start_daemon()
        project = bench.project(names, "project")
        measured = work / "xpm-cpu.txt"
        for _ in range(args.runs):
            for tool in ("floor", "xpm"):
                served = daemon_cpu(bench.daemon.pid)
                before = children_cpu()
                if tool == "floor":
                    wall, own, git = bench.floor(names), 0.0, None
                else:
                    bench.discard(project / "xlm_models")
                    env = {**bench.env, "XPM_CACHE_DIR": str(bench.fresh("cache"))}
                    wall = bench.run([sys.executable, "-c", _MEASURED_XPM, str(measured)], cwd=project, env=env)
                    own, git = map(float, measured.read_text().split())
                total = children_cpu() - before
                time.sleep(0.1)  # the daemon reaps the processes that served this run
                rows[tool].append({"wall": wall, "cpu": total, "python": own, "git": total if git is None else git,
                                   "daemon": daemon_cpu(bench.daemon.pid) - served})
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    med = {tool: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for tool, runs in rows.items()}
    cores = os.cpu_count() or 1
    floor, xpm = med["floor"], med["xpm"]
    bound = (xpm["cpu"] + xpm["daemon"]) / cores
    print("| medians of %d runs | wall | CPU, all | of it: xpm's Python | of it: git | daemon (serving) |" % args.runs)
    print("|---|---|---|---|---|---|")
    for tool, m in med.items():
        python = f"{m['python']:.3f} s" if tool == "xpm" else "-"
        print(f"| {tool} | {m['wall']:.3f} s | {m['cpu']:.3f} s | {python} | {m['git']:.3f} s | {m['daemon']:.3f} s |")
    print(f"\nlower bound for xpm on {cores} cores: (CPU + daemon) / cores = {bound:.3f} s = {bound / floor['wall']:.2f} x the floor's wall")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "xpm_cpu.json").write_text(json.dumps({"machine": machine(), "runs": rows, "medians": med, "lower_bound": bound}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
