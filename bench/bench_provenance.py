"""Benchmark: what recording the models of a run costs `xlm train` (issue 12, "recording costs little").

One project, a git work tree listing N renamed copies of the example model (examples/zlm;
one of them with an uncommitted edit and an untracked file, so the record holds a patch).
`xlm train experiment=star_easy_m00` runs in fresh processes, one training step, no
validation, one checkpoint: the job's start-up and everything recording adds (the record
taken while torch loads, `models.lock` and the patch written, the record put in the
checkpoint). Recording on (the default) and off (`record_models=false`, the documented flag)
alternate, so that load on a shared machine hits both alike; xlm's caches and the task data
are warmed once first. Each run's outcome is checked: a record of every model, a checkpoint
that carries it, or `recorded = false`.

    python bench/bench_provenance.py [--models 10] [--runs 11]

Also measured, in fresh processes on the same project: the recording work itself (what the
background thread does: `xlm.provenance.collect` over every registered model, git commands
included, then writing the run folder), which the job overlaps with loading torch.

Results go to bench/results/provenance.json. Target: ratio of medians (on / off) <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discovery import build_project  # noqa: E402  (N renamed copies of examples/zlm)
from core_common import machine, save  # noqa: E402

TARGET = 1.05
TRAIN = ["-m", "xlm", "train", "experiment=star_easy_m00", "debug=overfit", "trainer.max_steps=1",
         "+trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "datamodule.num_workers=0"]


RECORD_CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from xlm.external_models import find_external_models
from xlm.provenance.collect import collect
from xlm.records.runs import RunInfo, RunRecord, write_folder

found = find_external_models(Path.cwd())
before, wall, cpu = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter(), time.process_time()
done = collect(found.models, {"m00"}, found.project_dir)
record = RunRecord(RunInfo("train"), {n: d.record for n, d in done.items()},
                   {n: d.files for n, d in done.items() if d.files}, {n: d.patch for n, d in done.items() if d.patch})
with tempfile.TemporaryDirectory() as out:
    write_folder(Path(out), record)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
git_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"wall_ms": (time.perf_counter() - wall) * 1000, "cpu_ms": (time.process_time() - cpu + git_cpu) * 1000,
                  "models": len(done), "git_trees": len({d.record.repository for d in done.values() if d.record.repository})}))
"""


def record_work(project: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", RECORD_CHILD], cwd=project, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


def make(root: Path, count: int) -> Path:
    build_project(root, count)
    (root / ".gitignore").write_text("outputs/\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    model = root / "m00" / "m00" / "model.py"
    model.write_text(model.read_text() + "\n# an uncommitted experiment\n")
    (root / "m00" / "m00" / "scratch.py").write_text("SCRATCH = 1\n")
    return root


def run(project: Path, env: dict, extra: list[str]) -> tuple[float, float, Path]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *TRAIN, *extra], cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"xlm train {' '.join(extra)}: exit {out.returncode}")
    runs = sorted((project / "outputs" / "train" / "star_easy_m00").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000, runs[-1]


def check(folder: Path, recorded: bool, count: int) -> None:
    """The run left what it should: every model recorded (and the patch), or `recorded = false`."""
    import torch

    lock = tomllib.loads((folder / "models.lock").read_text())
    models = {t["name"]: t for t in lock.get("model", [])}
    stored = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["xlm"]["models"]
    ok = lock["run"]["recorded"] is recorded and stored["lock"] == (folder / "models.lock").read_text()
    if recorded:
        ok = ok and len(models) == count + 2 and models["m00"]["dirty"] and "m00" in stored["patches"]
    else:
        ok = ok and not models
    if not ok:
        raise SystemExit(f"{folder}: not the record expected (recorded={recorded})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project = make(tmp / "project", args.models)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XLM_", "GIT_"))}
        env.update(XLM_CACHE_DIR=str(tmp / "cache"), XLM_DATA_DIR=str(tmp / "data"), OMP_NUM_THREADS="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed xlm has its bytecode cached
        modes = {"on": [], "off": ["record_models=false"]}
        for key, extra in modes.items():  # warm caches, task data, bytecode; check the outcome
            check(run(project, env, extra)[2], key == "on", args.models)
        wall: dict[str, list[float]] = {k: [] for k in modes}
        cpu: dict[str, list[float]] = {k: [] for k in modes}
        for i in range(args.runs):
            for key in (("on", "off") if i % 2 else ("off", "on")):
                w, c, folder = run(project, env, modes[key])
                wall[key].append(w)
                cpu[key].append(c)
        check(folder, key == "on", args.models)
        work = [record_work(project, env) for _ in range(args.runs)]

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    result = {
        "models": args.models,
        "runs_each": args.runs,
        "train_wall_ms": {k: med(v) for k, v in wall.items()},
        "train_cpu_ms": {k: med(v) for k, v in cpu.items()},
        "ratio_wall": round(statistics.median(wall["on"]) / statistics.median(wall["off"]), 3),
        "ratio_cpu": round(statistics.median(cpu["on"]) / statistics.median(cpu["off"]), 3),
        "record_work_ms": {"wall": med([w["wall_ms"] for w in work]), "cpu_with_git": med([w["cpu_ms"] for w in work]),
                           "models": work[0]["models"], "git_work_trees": work[0]["git_trees"]},
        "target_ratio": TARGET,
        "machine": machine(),
    }
    save("provenance", result)
    print(json.dumps(result, indent=2))
    return 0 if result["ratio_wall"] <= TARGET and result["ratio_cpu"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
