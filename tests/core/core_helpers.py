"""Helpers of the core end-to-end tests (a module with a unique name: several test folders
have a conftest.py, so `from conftest import ...` would pick whichever was imported first)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def xlm_env(folder: Path) -> dict:
    """Own task data and validation cache under ``folder``; one thread, since CI machines are
    small and shared and oversubscribed threads make tiny models slower, not faster."""
    env = dict(os.environ, XLM_DATA_DIR=str(folder / "data"), XLM_CACHE_DIR=str(folder / "cache"),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("XLM_MODELS_FILE", None)
    return env


def xlm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "xlm", *args]
