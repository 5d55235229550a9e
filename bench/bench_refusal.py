"""Benchmark: how fast `xlm` refuses a job that cannot run. Target: < 1 s.

    python bench/bench_refusal.py [--runs 11]

Two refusals decided before torch is imported (xlm.preflight): a bare `xlm train` (no model)
and `trainer.accelerator=gpu` on a machine without a GPU (CUDA_VISIBLE_DEVICES="" makes any
machine one). Side by side, the floor the old path had to pay before it could refuse:
importing torch and lightning in a fresh interpreter. Medians of wall and CPU time of fresh
processes, after one warm-up each. Results go to bench/results/refusal.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from core_common import machine, save

TARGET_S = 1.0


def median_seconds(command: list[str], runs: int, cwd: str, env: dict, expect: int) -> dict:
    """Medians of wall time and of the child's CPU time (user + system), which a busy machine
    inflates far less than wall time."""
    subprocess.run(command, cwd=cwd, env=env, capture_output=True)  # warm the file cache
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert proc.returncode == expect, proc.stderr
    return {"wall_s": round(statistics.median(wall), 3), "cpu_s": round(statistics.median(cpu), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    xlm = shutil.which("xlm") or "xlm"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory() as cwd:  # no .xlm_models: the core models only
        cases = {
            "xlm train (no model)": ([xlm, "train"], 2),
            "xlm train experiment=star_easy_arlm trainer.accelerator=gpu (no GPU)":
                ([xlm, "train", "experiment=star_easy_arlm", "trainer.accelerator=gpu"], 2),
            "floor of the old path: python -c 'import torch, lightning'": ([sys.executable, "-c", "import torch, lightning"], 0),
        }
        result = {name: median_seconds(command, args.runs, cwd, env, expect) for name, (command, expect) in cases.items()}
        probe = "import sys; from xlm.cli import main; main(['train']); print([m for m in ('torch', 'lightning') if m in sys.modules])"
        heavy = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True).stdout.strip()
    for name, seconds in result.items():
        print(f"{name}: median {seconds['wall_s']:.3f} s wall, {seconds['cpu_s']:.3f} s CPU over {args.runs} runs")
    print(f"heavy modules imported by the refusal: {heavy} (target < {TARGET_S} s)")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f}")
    print(f"saved {save('refusal', {'median': result, 'runs': args.runs, 'heavy_imports': heavy, 'target_s': TARGET_S, 'machine': machine()})}")


if __name__ == "__main__":
    main()
