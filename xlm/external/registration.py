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
ROOTS_ENV = "XLM_MODEL_ROOTS"


def _env_paths(var: str) -> list[str]:
    return [p for p in os.environ.get(var, "").split(os.pathsep) if p]


def _prepend_env_path(var: str, items: list[str]) -> None:
    current = _env_paths(var)
    merged = [p for p in items if p not in current] + current
    os.environ[var] = os.pathsep.join(merged)


def register_model_roots(roots: Iterable[Path], config_dirs: Iterable[Path] | None = None) -> None:
    """Put each root on ``sys.path`` (and PYTHONPATH) and each config folder on Hydra's path.

    Order is kept: earlier roots win both imports and config lookups. ``config_dirs``
    defaults to each root's ``configs/``; pass it for models whose configs live elsewhere
    (an installed model ships them inside its package and needs no root on the path).
    The config folders replace those of an earlier call: they are the models of this run.
    """
    roots = [str(Path(r).resolve()) for r in roots]
    if config_dirs is None:
        config_dirs = [Path(r) / "configs" for r in roots if (Path(r) / "configs").is_dir()]
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)
    _prepend_env_path("PYTHONPATH", roots)
    _prepend_env_path(ROOTS_ENV, roots)
    os.environ[CONFIG_DIRS_ENV] = os.pathsep.join(dict.fromkeys(str(Path(d).resolve()) for d in config_dirs))


def registered_roots() -> list[Path]:
    """Model roots this process (or its parent) put on the import path."""
    return [Path(p) for p in _env_paths(ROOTS_ENV)]


def config_dirs() -> list[Path]:
    """The registered models' config folders, in search order (read by the Hydra plugin)."""
    return [Path(p) for p in _env_paths(CONFIG_DIRS_ENV)]
