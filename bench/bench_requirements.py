"""Benchmark: what checking the models' declared requirements adds to `xlm models`.

Two projects of N renamed copies of the example model (examples/zlm), identical but for one
thing: in one, each model declares 5 requirements in its pyproject.toml (all installed, as in
a working project); in the other, none. `xlm models` runs in fresh processes, alternating
between the two so that load on a shared machine hits both alike; each project keeps its own
xlm cache, warmed once (the normal case: a command after the first). Also checks that
`xlm --help` in the project with requirements imports no torch, lightning or hydra.

    python bench/bench_requirements.py [--models 20] [--runs 21]

Results go to bench/results/requirements.json. Target: ratio of medians <= 1.2. Where
PYTHONDONTWRITEBYTECODE is set, run `python -m compileall -q xlm xpm` first, or every changed
module is compiled at each start (in both projects alike, but it hides what is measured).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discovery import build_project  # noqa: E402  (N renamed copies of examples/zlm)
from core_common import machine, save  # noqa: E402

REQUIREMENTS = ["xlm>=0.1,<0.2", "torch>=2.2", "pyyaml>=6", "click>=8.1", "packaging>=23"]
TARGET = 1.2
HELP_CHILD = r"""
import sys
from xlm.cli import main
main(["--help"])
print("HEAVY", sorted(m for m in ("torch", "lightning", "hydra") if m in sys.modules), file=sys.stderr)
"""


def make(root: Path, count: int, declared: bool) -> Path:
    build_project(root, count)
    for model in sorted(p for p in root.iterdir() if p.is_dir()):
        deps = ", ".join(json.dumps(r) for r in REQUIREMENTS) if declared else ""
        text = f'[project]\nname = "{model.name}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n'
        if declared:
            (model / "pyproject.toml").write_text(text, encoding="utf-8")
        else:
            (model / "pyproject.toml").unlink(missing_ok=True)
    return root


def run(project: Path, cache: Path, args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLM_")}
    env["XLM_CACHE_DIR"] = str(cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    models_cmd = ["-m", "xlm.cli", "models"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        projects = {"with": make(tmp / "with", args.models, True), "without": make(tmp / "without", args.models, False)}
        caches = {k: tmp / f"cache-{k}" for k in projects}
        for key, project in projects.items():  # warm each cache and the OS file cache; check the outcome
            _, _, out = run(project, caches[key], models_cmd)
            loaded = sum(1 for line in out.stdout.splitlines() if " ok " in f" {line} ")
            if out.returncode != 0 or loaded != args.models + 2:
                print(out.stdout, out.stderr, file=sys.stderr)
                raise SystemExit(f"`xlm models` in the project {key} requirements: exit {out.returncode}, {loaded} models ok")
        wall: dict[str, list[float]] = {k: [] for k in projects}
        cpu: dict[str, list[float]] = {k: [] for k in projects}
        for i in range(args.runs):
            for key in (("with", "without") if i % 2 else ("without", "with")):
                w, c, _ = run(projects[key], caches[key], models_cmd)
                wall[key].append(w)
                cpu[key].append(c)
        cold = []
        for _ in range(3):  # the first `xlm models` after a change: no requirements cache
            (caches["with"] / "requirements.json").unlink(missing_ok=True)
            cold.append(run(projects["with"], caches["with"], models_cmd)[0])
        _, _, helped = run(projects["with"], caches["with"], ["-c", HELP_CHILD])
        heavy = json.loads(helped.stderr.strip().splitlines()[-1].split(" ", 1)[1].replace("'", '"'))

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    result = {
        "models": args.models,
        "requirements_per_model": len(REQUIREMENTS),
        "runs_each": args.runs,
        "xlm_models_wall_ms": {"with": med(wall["with"]), "without": med(wall["without"])},
        "xlm_models_cpu_ms": {"with": med(cpu["with"]), "without": med(cpu["without"])},
        "ratio_wall": round(statistics.median(wall["with"]) / statistics.median(wall["without"]), 3),
        "ratio_cpu": round(statistics.median(cpu["with"]) / statistics.median(cpu["without"]), 3),
        "cold_with_wall_ms": med(cold),
        "help_heavy_imports": heavy,
        "target_ratio": TARGET,
        "machine": machine(),
    }
    save("requirements", result)
    print(json.dumps(result, indent=2))
    # CPU time decides: on a shared machine wall time also counts other processes' turns.
    return 0 if result["ratio_cpu"] <= TARGET and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
