"""Optimizer parameter groups and learning-rate schedules, built from ``optimizer`` and ``lr_scheduler``.

Kept apart from the harness so a hand-written loop (the overhead benchmark) builds exactly
the same optimizer and schedule as a Lightning run.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay only matrices (weights of linear layers); biases, norms and embeddings keep their scale.

    Embeddings are excluded too: decaying rarely-seen token rows towards zero hurts small
    vocabularies like the number tasks'.
    """
    no_decay_modules = (nn.Embedding, nn.LayerNorm)
    decays: dict[int, bool] = {}  # by identity: a tied weight is one parameter, not decayed if any user says so
    params: dict[int, nn.Parameter] = {}
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if param.requires_grad:
                params[id(param)] = param
                wanted = not isinstance(module, no_decay_modules) and param.ndim >= 2
                decays[id(param)] = decays.get(id(param), True) and wanted
    decay = [params[i] for i, d in decays.items() if d]
    no_decay = [params[i] for i, d in decays.items() if not d]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, spec: dict) -> torch.optim.Optimizer:
    """``spec`` is the ``optimizer`` config: ``_target_`` of a torch optimizer and its arguments.
    Built by Hydra's `instantiate` (not `get_class`, which logs a name that does not import
    before it raises), so a mistake reads as any other target's (`xlm.external.diagnose.build_error`)."""
    from hydra.utils import instantiate

    kwargs = {k: v for k, v in spec.items() if not k.startswith("_")}
    weight_decay = float(kwargs.pop("weight_decay", 0.0))
    try:
        return instantiate({"_target_": spec["_target_"], "_convert_": "all", **kwargs}, param_groups(model, weight_decay))
    except Exception as exc:
        from xlm.external.diagnose import build_error

        if (error := build_error(exc, key="optimizer")) is None:  # built from a dict: Hydra cannot name the key
            raise
        raise error from exc


def lr_lambda(name: str, num_warmup_steps: int, num_training_steps: int, min_lr_ratio: float = 0.0) -> Callable[[int], float]:
    """Multiplier of the base LR at each step: linear warmup, then constant, cosine or linear decay."""
    if name not in ("constant", "cosine", "linear"):
        raise ValueError(f"unknown lr_scheduler.name '{name}' (choose constant, cosine or linear)")

    def factor(step: int) -> float:
        if step < num_warmup_steps:
            return (step + 1) / max(1, num_warmup_steps)
        if name == "constant":
            return 1.0
        progress = min(1.0, (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps))
        decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if name == "cosine" else 1.0 - progress
        return min_lr_ratio + (1.0 - min_lr_ratio) * decay

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, spec: dict, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``spec`` is the ``lr_scheduler`` config; ``total_steps`` comes from the trainer when unset."""
    steps = int(spec.get("num_training_steps") or total_steps)
    factor = lr_lambda(
        spec.get("name", "constant"), int(spec.get("num_warmup_steps", 0)), steps, float(spec.get("min_lr_ratio", 0.0))
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

