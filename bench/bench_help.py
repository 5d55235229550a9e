"""Benchmark: wall time of `xlm --help` (fresh interpreter each run), median of N. Target: < 1 s.

    python bench/bench_help.py [--runs 11]

Also records whether the help imported torch, lightning, hydra, datasets or transformers (it must not).
Results go to bench/results/help.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from core_common import machine, save

TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    command = [shutil.which("xlm") or "xlm", "--help"]
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    probe = "import sys; from xlm.cli import main; main(['--help']); print([m for m in ('torch','lightning','hydra','datasets','transformers') if m in sys.modules])"
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    result = {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4), "max_s": round(max(times), 4),
              "runs": args.runs, "heavy_imports": heavy, "target_s": TARGET_S, "machine": machine()}
    print(f"xlm --help: median {result['median_s']:.3f} s over {args.runs} runs (target < {TARGET_S} s); heavy imports: {heavy}")
    print(f"saved {save('help', result)}")


if __name__ == "__main__":
    main()
