"""Benchmark: time per training step, Harness under Lightning vs a hand-written PyTorch loop.

Both train the same model (same config, same initial weights) on the same batches (the
memorised batch of ``debug=overfit`` on star_easy) with the same optimizer, LR schedule and
gradient clipping, in one process, alternating rounds so machine load hits both alike.
The harness runs as users run it (CSV logger, train metrics, progress bar, LR monitor) minus
checkpoint writing and validation, which the hand loop does not do. Target: <= 1.10x.

    python bench/bench_harness_overhead.py [--model arlm] [--steps 120] [--warmup 20] [--rounds 3] [--threads 1]

Results go to bench/results/harness_overhead_<model>.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from core_common import compose, machine, save

TARGET = 1.10


def steady_seconds_per_step(stamps: list[float], warmup: int) -> float:
    """Mean step time after ``warmup`` steps, from the start time of every step."""
    return (stamps[-1] - stamps[warmup]) / (len(stamps) - 1 - warmup)


def hand_loop(cfg, tokenizer, state, batches, steps: int) -> list[float]:
    import torch
    from hydra.utils import instantiate

    from xlm.optim import build_optimizer, build_scheduler
    from omegaconf import OmegaConf

    model = instantiate(cfg.model)
    model.load_state_dict(state)
    loss_fn = instantiate(cfg.loss, model=model, tokenizer=tokenizer)
    optimizer = build_optimizer(model, OmegaConf.to_container(cfg.optimizer, resolve=True))
    scheduler = build_scheduler(optimizer, OmegaConf.to_container(cfg.lr_scheduler, resolve=True), steps)
    model.train()
    stamps = []
    for step in range(steps + 1):
        stamps.append(time.perf_counter())
        if step == steps:
            break
        batch = batches[step % len(batches)]
        loss = loss_fn(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        scheduler.step()
    return stamps


def harness_run(cfg, tokenizer, state, datamodule, steps: int) -> list[float]:
    import lightning as L

    from xlm import build

    class Stamps(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def on_train_batch_start(self, *args) -> None:
            self.stamps.append(time.perf_counter())

        def on_train_end(self, *args) -> None:
            self.stamps.append(time.perf_counter())

    harness = build.build_harness(cfg, tokenizer)
    harness.model.load_state_dict(state)
    stamps = Stamps()
    trainer = build.build_trainer(cfg, enable_model_summary=False)
    trainer.callbacks.append(stamps)
    trainer.fit(harness, datamodule=datamodule)
    return stamps.stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="arlm", choices=["arlm", "mlm"])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady numbers on shared machines)")
    args = parser.parse_args()

    import torch
    from hydra.utils import instantiate

    from xlm import build

    torch.set_num_threads(args.threads)
    out = Path(tempfile.mkdtemp(prefix="xlm-bench-"))
    cfg = compose(
        out, f"experiment=star_easy_{args.model}", "debug=overfit", f"trainer.max_steps={args.steps}",
        f"trainer.val_check_interval={args.steps + 1}", "+trainer.limit_val_batches=0", "trainer_strategy=cpu",
        "~callbacks.checkpoint", f"datamodule.overfit_repeats={args.steps}",
    )
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    datamodule.prepare_data()
    batches = list(datamodule.train_dataloader())
    torch.manual_seed(0)
    state = instantiate(cfg.model).state_dict()

    hand, harness = [], []
    for _ in range(args.rounds):
        hand.append(steady_seconds_per_step(hand_loop(cfg, tokenizer, state, batches, args.steps), args.warmup))
        harness.append(steady_seconds_per_step(harness_run(cfg, tokenizer, state, datamodule, args.steps), args.warmup))
    ratio = statistics.median(harness) / statistics.median(hand)
    result = {
        "model": args.model, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
        "hand_ms_per_step": [round(1000 * t, 2) for t in hand],
        "harness_ms_per_step": [round(1000 * t, 2) for t in harness],
        "ratio_of_medians": round(ratio, 3), "target": TARGET, "machine": machine(),
    }
    print(f"{args.model}: hand loop {1000 * statistics.median(hand):.1f} ms/step, harness {1000 * statistics.median(harness):.1f} ms/step, "
          f"ratio {ratio:.3f} (target <= {TARGET})")
    print(f"saved {save(f'harness_overhead_{args.model}', result)}")


if __name__ == "__main__":
    main()
