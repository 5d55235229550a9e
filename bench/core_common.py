"""Shared by the core benchmarks: the machine they ran on, and the real configs composed in-process."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def machine() -> dict:
    """What the numbers depend on: CPU, cores, load, library versions, torch threads."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    try:
        import lightning
        import torch

        info.update(torch=torch.__version__, lightning=lightning.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        pass
    return info


def compose(out_dir: Path, *overrides: str):
    """The composed config of ``overrides``, as `xlm train` would build it, writing under ``out_dir``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from xlm.external_models import setup_external_models
    from xlm.tokenizer import register_resolvers

    setup_external_models()
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module("xlm.configs", version_base="1.3"):
        base = [f"paths.output_dir={out_dir}", f"paths.data_dir={out_dir / 'data'}"]
        return hydra_compose("config", overrides=[*base, *overrides])


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
