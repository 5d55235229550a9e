"""The port's acceptance run: a scratch project lists the flat folder and trains it.

`xlm train experiment=mdlm_debug debug=overfit` from a project whose `.xlm_models` names
`examples/mdlm` by path: discovery, validation and registration of the flat layout, then
a real training run that must memorise its batch.
"""

import csv
import os
import subprocess

import pytest
from mdlm_paths import MDLM_ROOT


def _column(rows, key):
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]


@pytest.mark.slow
def test_a_project_listing_the_flat_folder_trains_it_to_memorise_a_batch(isolated_env):
    project, run_dir = isolated_env / "project", isolated_env / "run"
    project.mkdir()
    (project / ".xlm_models").write_text(f"# scratch project\n{MDLM_ROOT}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLM_") and k != "PYTHONPATH"}
    env.update(XLM_CACHE_DIR=str(isolated_env / "cache"), XLM_DATA_DIR=str(isolated_env / "data"))

    models = subprocess.run(["xlm", "models"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert models.returncode == 0, models.stdout + models.stderr
    assert any(line.split()[:3] == ["mdlm", "ok", "path"] for line in models.stdout.splitlines()), models.stdout

    command = ["xlm", "train", "experiment=mdlm_debug", "debug=overfit", "trainer.max_steps=200", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    train_loss, val_loss = _column(rows, "train/loss"), _column(rows, "val/loss")
    exact_match = _column(rows, "val/prediction/exact_match")
    assert train_loss[-1][0] == 199 and val_loss[-1][0] == 199
    # from about 4 (the 1/t-weighted cross entropy of a fresh network) to under a tenth of it
    assert val_loss[-1][1] < train_loss[0][1] / 10, (train_loss, val_loss)
    assert exact_match[-1][1] >= 0.5, exact_match
