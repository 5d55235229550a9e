"""``xlm mdlm-schedule``: print the noise schedule the loss trains on and the sampler walks.

A command here is ``fn(args: list[str]) -> int | None`` listed in ``configs/commands.yaml``
and run as ``xlm mdlm-schedule --steps 4``; xlm-core's gets the composed ``DictConfig`` and
runs as ``xlm command=NAME key=value``.
"""

from __future__ import annotations

import argparse


def schedule(args: list[str]) -> int:
    """One line per sampler step: t, sigma(t), move chance, loss weight, share revealed."""
    parser = argparse.ArgumentParser(prog="xlm mdlm-schedule", description=schedule.__doc__)
    parser.add_argument("--steps", type=int, default=8, help="sampler steps (predictor.num_steps)")
    parser.add_argument("--eps", type=float, default=1e-3, help="the schedule's eps (loss.noise_schedule.eps)")
    options = parser.parse_args(args)
    if options.steps < 1:
        parser.error("--steps must be at least 1")

    import torch

    from .noise_mdlm import LogLinearSchedule

    noise = LogLinearSchedule(eps=options.eps)
    times = torch.linspace(1.0, 0.0, options.steps + 1)
    print(f"{'t':>6} {'sigma':>8} {'masked':>7} {'weight':>8} {'revealed':>9}")
    for t, s in zip(times[:-1], times[1:]):
        chance_t, chance_s = noise.move_chance(t), noise.move_chance(s)
        reveal = (chance_t - chance_s) / chance_t  # of the still-masked positions, at this step
        print(f"{t:6.3f} {noise.total_noise(t):8.3f} {chance_t:7.3f} {noise.loss_weight(t):8.3f} {reveal:9.3f}")
    return 0
