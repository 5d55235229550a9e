"""Make models usable: model roots on the import path, model configs on Hydra's search path.

State lives in environment variables, not module globals, so that every process of a run
(DDP workers started by Lightning, spawned data-loader workers, Hydra launchers) sees the
same models as the process that discovered them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

CONFIG_DIRS_ENV = "XLM_MODEL_CONFIG_DIRS"


def _prepend_env_path(var: str, items: list[str]) -> None:
    current = [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    merged = [p for p in items if p not in current] + current
    os.environ[var] = os.pathsep.join(merged)


def register_model_roots(roots: Iterable[Path]) -> None:
    """Put each model root on ``sys.path`` (and PYTHONPATH) and its ``configs/`` on Hydra's path.

    Order is kept: earlier roots win both imports and config lookups.
    """
    roots = [str(Path(r).resolve()) for r in roots]
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)
    _prepend_env_path("PYTHONPATH", roots)
    config_dirs = [str(Path(r) / "configs") for r in roots if (Path(r) / "configs").is_dir()]
    current = [p for p in os.environ.get(CONFIG_DIRS_ENV, "").split(os.pathsep) if p]
    os.environ[CONFIG_DIRS_ENV] = os.pathsep.join(current + [d for d in config_dirs if d not in current])


def config_dirs() -> list[Path]:
    """The registered models' config folders, in search order (read by the Hydra plugin)."""
    return [Path(p) for p in os.environ.get(CONFIG_DIRS_ENV, "").split(os.pathsep) if p]
