"""Helpers of the provenance tests: real git repositories, xlm and xpm in subprocesses.

(A module with its own name: several test folders have a conftest.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "zlm"
BASE_DATE = 1_700_000_000


def git(cwd: Path, *args: str, date: int = 0) -> str:
    stamp = f"@{BASE_DATE + date} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout.strip()


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit(repo: Path, message: str, tick: int = 1) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=tick)
    return git(repo, "rev-parse", "HEAD")


def copy_example(dest: Path) -> Path:
    """examples/zlm (a real, trainable model) copied to `dest`, without build leftovers."""
    shutil.copytree(EXAMPLE, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def env_for(home: Path) -> dict:
    """An isolated user: git identity and config, xpm's cache, xlm's data and cache, one thread."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XLM_", "XPM_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1", XPM_CACHE_DIR=str(home / "xpm"),
               XLM_DATA_DIR=str(home / "data"), XLM_CACHE_DIR=str(home / "xlm-cache"), XDG_CACHE_HOME=str(home / ".cache"),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")  # bytecode is written: __pycache__ must not count
    return env


# Tiny runs: a few steps of the overfit debug config, one validation, no sanity check.
TINY = ("debug=overfit", "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.num_sanity_val_steps=0",
        "datamodule.num_workers=0")


def run(cwd: Path, env: dict, *args: str, code: int | None = 0, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if code is not None:
        assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def xlm(cwd: Path, env: dict, *args: str, code: int | None = 0) -> subprocess.CompletedProcess:
    return run(cwd, env, sys.executable, "-m", "xlm", *args, code=code)


def xpm(cwd: Path, env: dict, *args: str, code: int | None = 0) -> subprocess.CompletedProcess:
    return run(cwd, env, sys.executable, "-m", "xpm.cli", "-q", *args, code=code)


def runs_of(cwd: Path, job: str) -> list[Path]:
    """The run folders outputs/<job>/<name>/<time>/ under `cwd`, oldest first."""
    return sorted((p for p in (cwd / "outputs" / job).glob("*/*") if p.is_dir()), key=lambda p: p.name)
