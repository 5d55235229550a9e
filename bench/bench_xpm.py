"""Benchmark xpm against the floor (parallel shallow clones), uv and pip, side by side.

    python bench/bench_xpm.py                  # 20 models, 5 runs each, reliability, 100-model scale
    python bench/bench_xpm.py --runs 3 --skip-pip --scale 0 --reliability 0

Builds N model repositories (30 commits each, tag v1.0.29 on the last; a 256 KiB random
binary changed in every commit; a valid xlm model and a pip-installable package; layouts and
file sizes vary from one repository to the next), serves them with `git daemon --inetd` on
127.0.0.1 (`git_server.py`) with `https://github.com/bench/` mapped to it by `insteadOf` (as the tests do), and times,
as medians: cold `xpm install` from a lock with an empty cache; warm no-op `xpm install`;
`xpm add` of one model; `git clone --depth 1` of the same refs with 8 in parallel (the
floor); `uv pip install --no-deps` cold and no-op; `pip install --no-deps`. The tagged tree
of every repository is padded so that its `git archive` tar members end on the edge that
broke tar-stream exports: 512 bytes before a 10240-byte record (end-of-archive written in
a second record) or exactly on a record; the script checks each with `git archive`.
Reliability: the cold install is repeated (`--reliability`, 20 times); all must succeed.
Everything runs in a temporary folder with its own HOME and git config; results go to
stdout and to bench/results/xpm.json.

Beside each wall time it records the CPU time (user + system) of the command and every
process it waited for (git's included; the git daemon's are not), and the 1-minute load
average when the run started: on a machine shared with other jobs, wall times follow the
load, CPU times much less. xpm and uv are run as the console scripts next to this
interpreter (what pip installed), not through a version manager's shim on PATH (pyenv's
adds a bash script and a process start to every run). Each timed run writes into new
folders; what earlier runs wrote is moved aside and deleted at the end (`Bench.discard`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xpm_workload import make_repo, tag_of  # bench/ is this script's folder, first on sys.path


class Bench:
    def __init__(self, work: Path, models: int, commits: int):
        self.work, self.models, self.commits = work, models, commits
        self.tag = tag_of(commits)
        self.home = work / "home"
        self.home.mkdir(parents=True)
        self.served = work / "served"
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GIT_CONFIG_GLOBAL": str(self.home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "XPM_INSECURE_HOSTS": "127.0.0.1",  # the daemon speaks git://: opted in, as a user would
        }
        # PYTHONDONTWRITEBYTECODE would make every xpm start compile its modules from source;
        # an installed xpm has its bytecode cached (pip compiles it at install), so cache it.
        for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", "XPM_CACHE_DIR", "UV_CACHE_DIR", "PYTHONDONTWRITEBYTECODE"):
            self.env.pop(var, None)
        self.daemon = None
        self.spent = 0  # folders of earlier runs, moved aside (see `discard`)

    # ------------------------------------------------------------------ setup
    def build(self, count: int) -> list[str]:
        names = [f"m{i:03d}" for i in range(count)]
        todo = [n for n in names if not (self.served / "bench" / n).exists()]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: make_repo(self.served / "bench" / n, n, self.commits, int(n[1:])), todo))
        return names

    def start_daemon(self) -> None:
        """Serve the repositories over git:// (`git_server.py`: git daemon per connection, behind
        a listening socket that does not drop a burst of connections)."""
        self.daemon = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "git_server.py"), str(self.served)],
                                       stdout=subprocess.PIPE, text=True)
        self.port = port = int(self.daemon.stdout.readline())
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = bench\n\temail = bench@example.com\n[advice]\n\tdetachedHead = false\n"
            f'[url "git://127.0.0.1:{port}/"]\n\tinsteadOf = https://github.com/\n\tinsteadOf = https://git.bench.invalid/\n'
        )

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.terminate()
            self.daemon.wait(10)

    def run(self, cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env or self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return elapsed

    def fresh(self, label: str) -> Path:
        path = self.work / label
        self.discard(path)
        path.mkdir(parents=True)
        return path

    def discard(self, path: Path) -> None:
        """Move what an earlier run wrote aside; it is deleted with the work folder at the end.
        Deleting it right before the next run would tax that run: on a file system without a
        journal (this machine's ext4), the kernel skips inodes deleted in the last 30 s when it
        allocates new ones, one by one, so each file made right after deleting a thousand
        costs a scan of them (it doubled the system time of both tools here)."""
        if path.exists():
            self.spent += 1
            (self.work / "spent").mkdir(exist_ok=True)
            path.rename(self.work / "spent" / str(self.spent))

    # ------------------------------------------------------------------ measurements
    def floor(self, names: list[str]) -> float:
        dest = self.fresh("clones")
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda n: subprocess.run(
                ["git", "clone", "-q", "--depth", "1", "--branch", self.tag, f"https://github.com/bench/{n}", str(dest / n)],
                env=self.env, capture_output=True).returncode, names))
        elapsed = time.perf_counter() - start
        assert not any(codes), "a clone failed"
        return elapsed

    def project(self, names: list[str], label: str) -> Path:
        project = self.fresh(label)
        (project / ".xlm_models").write_text("".join(f"github.com/bench/{n}@{self.tag}\n" for n in names))
        env = {**self.env, "XPM_CACHE_DIR": str(self.fresh(label + "-lockcache"))}
        self.run([XPM, "-q", "lock"], cwd=project, env=env)
        return project

    def xpm_cold(self, project: Path) -> float:
        self.discard(project / "xlm_models")
        env = {**self.env, "XPM_CACHE_DIR": str(self.fresh(project.name + "-cache"))}
        return self.run([XPM, "-q", "install"], cwd=project, env=env)

    def xpm_cold_attempt(self, project: Path) -> str | None:
        """One cold install that may fail: None, or the last line of its error."""
        self.discard(project / "xlm_models")
        env = {**self.env, "XPM_CACHE_DIR": str(self.fresh(project.name + "-cache"))}
        proc = subprocess.run([XPM, "-q", "install"], cwd=project, env=env, capture_output=True, text=True)
        return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[0]

    def xpm_warm(self, project: Path) -> float:
        env = {**self.env, "XPM_CACHE_DIR": str(self.work / (project.name + "-cache"))}
        return self.run([XPM, "-q", "install"], cwd=project, env=env)

    def xpm_add(self, name: str) -> float:
        project = self.fresh("add-project")
        env = {**self.env, "XPM_CACHE_DIR": str(self.fresh("add-cache"))}
        return self.run([XPM, "-q", "add", f"github.com/bench/{name}@{self.tag}"], cwd=project, env=env)

    def venv(self, label: str) -> Path:
        path = self.fresh(label)
        # system site packages for setuptools (no build isolation: the benchmark has no index)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True)
        return path / "bin" / "python"

    def urls(self, names: list[str]) -> list[str]:
        # Not github.com: uv resolves github.com refs through GitHub's REST API (its "fast
        # path"), which bypasses insteadOf; and uv refuses git:// URLs. This host is mapped to
        # the same daemon by insteadOf, so all tools fetch the same repositories the same way.
        return [f"bench-{n} @ git+https://git.bench.invalid/bench/{n}@{self.tag}" for n in names]

    def uv(self, python: Path, names: list[str], cache: Path) -> float:
        env = {**self.env, "UV_CACHE_DIR": str(cache), "UV_NO_PROGRESS": "1"}
        return self.run([UV, "pip", "install", "--python", str(python), "--no-deps", "--no-build-isolation", *self.urls(names)], env=env)

    def pip(self, python: Path, names: list[str]) -> float:
        return self.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-cache-dir", *self.urls(names)])


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "git": version(["git", "--version"]),
        "xpm": XPM,
        "uv": version([UV, "--version"]) if UV else None,
        "pip": version([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
    }


def tool(name: str) -> str | None:
    """The console script `name` installed next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far, their own children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


XPM = tool("xpm") or "xpm"
UV = tool("uv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--commits", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=15)
    parser.add_argument("--pip-runs", type=int, default=1)
    parser.add_argument("--scale", type=int, default=100, help="models in the scale run (0: skip)")
    parser.add_argument("--reliability", type=int, default=20, help="cold installs that must all succeed (0: skip)")
    parser.add_argument("--skip-pip", action="store_true")
    parser.add_argument("--skip-uv", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-xpm-"))
    bench = Bench(work, args.models, args.commits)
    results: dict = {"machine": machine(), "models": args.models, "commits": args.commits, "runs": args.runs}
    try:
        t = time.perf_counter()
        names = bench.build(args.models)
        print(f"built {len(names)} repositories in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        bench.start_daemon()
        project = bench.project(names, "project")
        timings: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        loads: dict[str, list[float]] = {}

        def sample(key: str, fn) -> float:
            """One run of `fn` (which returns its wall time): wall, CPU and load recorded under `key`."""
            loads.setdefault(key, []).append(os.getloadavg()[0])
            before = children_cpu()
            wall = fn()
            cpu.setdefault(key, []).append(children_cpu() - before)
            timings.setdefault(key, []).append(wall)
            return wall

        def measure(key: str, fn, runs: int) -> None:
            for _ in range(runs):
                sample(key, fn)
            print(f"{key}: median {median(timings[key]):.3f}s (CPU {median(cpu[key]):.3f}s) of {timings[key]}", file=sys.stderr)

        FLOOR, COLD = "floor: git clone --depth 1, 8 parallel", "xpm install (cold)"
        # Interleave the cold runs so that load on a shared machine hits each tool alike.
        for _ in range(args.runs):
            sample(FLOOR, lambda: bench.floor(names))
            sample(COLD, lambda: bench.xpm_cold(project))
        print(f"cold: floor {median(timings[FLOOR]):.3f}s, xpm {median(timings[COLD]):.3f}s", file=sys.stderr)
        measure("xpm add (one model, cold cache)", lambda: bench.xpm_add(names[0]), args.runs)
        uv_python = None
        if not args.skip_uv and UV:
            for i in range(args.runs):
                uv_python = bench.venv("uv-venv")
                sample("uv pip install --no-deps (cold)", lambda: bench.uv(uv_python, names, bench.fresh(f"uv-cache-{i}")))
        # No-ops interleaved with the interpreter's bare start, so load hits all of them alike.
        for _ in range(args.warm_runs):
            sample("xpm install (warm no-op)", lambda: bench.xpm_warm(project))
            sample("python -c pass (interpreter start, for scale)", lambda: bench.run([sys.executable, "-c", "pass"]))
            if uv_python is not None:
                sample("uv pip install --no-deps (no-op)", lambda: bench.uv(uv_python, names, work / f"uv-cache-{args.runs - 1}"))
        if not args.skip_pip:
            for _ in range(args.pip_runs):
                pip_python = bench.venv("pip-venv")
                sample("pip install --no-deps (cold)", lambda: bench.pip(pip_python, names))
        if args.reliability:
            failures = [f for f in (bench.xpm_cold_attempt(project) for _ in range(args.reliability)) if f is not None]
            results["reliability"] = {"runs": args.reliability, "succeeded": args.reliability - len(failures), "failures": failures}
            print(f"reliability: {args.reliability - len(failures)}/{args.reliability} cold installs succeeded", file=sys.stderr)
        if args.scale:
            t = time.perf_counter()
            big = bench.build(args.scale)
            print(f"built {len(big)} repositories in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            big_project = bench.project(big, "project-big")
            measure(f"xpm install (cold, {args.scale} models)", lambda: bench.xpm_cold(big_project), max(1, args.runs // 2))
        results["timings"], results["cpu"], results["load_1min"] = timings, cpu, loads
        results["load_average_at_end"] = os.getloadavg()
        results["medians"] = {k: round(median(v), 3) for k, v in timings.items()}
        results["cpu_medians"] = {k: round(median(v), 3) for k, v in cpu.items()}
        # Per round, xpm against the floor run just before it (the same load): the median of those ratios.
        results["cold_ratio_per_round"] = [round(x / f, 3) for f, x in zip(timings[FLOOR], timings[COLD])]
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "xpm.json").write_text(json.dumps(results, indent=2))
    med, cpu_med = results["medians"], results["cpu_medians"]
    print("| measurement | median wall (s) | median CPU (s) | 1-min load (median) |\n|---|---|---|---|")
    for key, value in med.items():
        print(f"| {key} | {value:.3f} | {cpu_med[key]:.3f} | {median(results['load_1min'][key]):.1f} |")
    floor = med[FLOOR]
    print(f"\ncold xpm / floor = {med[COLD] / floor:.2f} wall (median of per-round ratios "
          f"{median(results['cold_ratio_per_round']):.2f}), {cpu_med[COLD] / cpu_med[FLOOR]:.2f} CPU (target <= 1.2)")
    warm = med["xpm install (warm no-op)"]
    uv = med.get("uv pip install --no-deps (no-op)")
    print(f"warm xpm no-op {warm:.3f}s" + (f" vs uv no-op {uv:.3f}s" if uv else " (uv not measured)") + " (target <= 0.1 s and faster than uv)")
    if "reliability" in results:
        r = results["reliability"]
        print(f"reliability: {r['succeeded']}/{r['runs']} cold installs of {args.models} models succeeded (target {r['runs']}/{r['runs']})")
        for failure in r["failures"]:
            print(f"    {failure}")
    if args.scale:
        ratio = med[f"xpm install (cold, {args.scale} models)"] / med[COLD]
        print(f"{args.scale} models cold / {args.models} models cold = {ratio:.2f} (target <= 5)")
    return 1 if results.get("reliability", {}).get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
