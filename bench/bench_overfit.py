"""Benchmark: steps and seconds for `debug=overfit` on star_easy to reach exact match 1.0.

Runs the real job (``xlm.jobs.train`` on the composed config ``experiment=star_easy_<model>
debug=overfit``) with validation on the memorised batch every ``--every`` steps and an
early stop at ``val/prediction/exact_match == 1.0``. Seconds are the trainer's fit time,
validation (greedy or iterative decoding) included; steps are training steps.

    python bench/bench_overfit.py [--models arlm mlm] [--every 5] [--seeds 3] [--threads 1]

Results go to bench/results/overfit.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from core_common import compose, machine, save


def time_to_overfit(model: str, seed: int, every: int, out: Path) -> dict:
    from omegaconf import open_dict

    from xlm.jobs import train

    cfg = compose(out, f"experiment=star_easy_{model}", "debug=overfit", f"seed={seed}", "trainer_strategy=cpu",
                  f"trainer.val_check_interval={every}", "~callbacks.checkpoint")
    with open_dict(cfg):
        cfg.callbacks.stop_at_exact_match = {
            "_target_": "lightning.pytorch.callbacks.EarlyStopping",
            "monitor": "val/prediction/exact_match", "mode": "max",
            "stopping_threshold": 0.999,  # stops when strictly above, i.e. at 1.0
            "patience": 10_000, "check_on_train_epoch_end": False,
        }
    record = train(cfg)
    reached = record["metrics"].get("val/prediction/exact_match") == 1.0
    return {"seed": seed, "steps": record["global_step"] if reached else None, "seconds": record["fit_seconds"], "reached": reached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["arlm", "mlm"])
    parser.add_argument("--every", type=int, default=5, help="validate (and check exact match) every N steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    results = {}
    for model in args.models:
        runs = [time_to_overfit(model, seed, args.every, Path(tempfile.mkdtemp(prefix="xlm-overfit-"))) for seed in range(args.seeds)]
        steps = [r["steps"] for r in runs if r["reached"]]
        results[model] = {
            "runs": runs,
            "median_steps": statistics.median(steps) if steps else None,
            "median_seconds": statistics.median(r["seconds"] for r in runs),
        }
        print(f"{model}: exact match 1.0 after median {results[model]['median_steps']} steps, "
              f"{results[model]['median_seconds']:.1f} s ({len(steps)}/{len(runs)} seeds reached it)")
    result = {"every": args.every, "models": results, "machine": machine()}
    print(f"saved {save('overfit', result)}")


if __name__ == "__main__":
    main()
