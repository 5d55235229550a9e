"""End to end: the example model shared through git, added with xpm, trained with xlm."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xpm import stamp
from xpm_cli import xpm
from xpm_repos import Repo, read_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zlm"


@pytest.mark.slow
def test_add_zlm_from_github_then_train_and_clone_identically(git_env, git_daemon, tmp_path, monkeypatch):
    repo = Repo(git_env.served / "lab" / "zlm")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    repo.commit("zlm 1.0.0")
    repo.tag("v1.0.0")
    project = tmp_path / "project"
    project.mkdir()
    assert xpm(project, "add", "github.com/lab/zlm@v1").stdout.startswith("added zlm v1.0.0 (")

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "xlm.cli", "train", "experiment=star_easy_zlm", "debug=overfit",
         "trainer.max_steps=6", "trainer.val_check_interval=3", "datamodule.num_workers=0"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert stamp.check_vendored(project, "zlm") == []
    xpm(project, "verify")

    clone = tmp_path / "clone"
    clone.mkdir()
    for name in (".xlm_models", "xlm.lock"):
        shutil.copy(project / name, clone / name)
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "another-machine"))
    xpm(clone, "install", "--frozen")
    assert read_tree(clone / "xlm_models" / "zlm", skip=()) == read_tree(project / "xlm_models" / "zlm", skip=())
    assert read_tree(clone / "xlm_models" / "zlm") == repo.tree("v1.0.0")
