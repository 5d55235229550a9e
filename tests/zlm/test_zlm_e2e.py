"""The issue's acceptance run: `cd examples/zlm && xlm train experiment=zlm_debug debug=overfit`."""

import csv
import os
import subprocess

import pytest
from zlm_paths import ZLM_ROOT


def _column(rows, key):
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]


@pytest.mark.slow
def test_overfit_run_from_the_model_folder_memorises_its_batch(isolated_env):
    run_dir = isolated_env / "run"
    command = ["xlm", "train", "experiment=zlm_debug", "debug=overfit", "trainer.max_steps=200",
               f"hydra.run.dir={run_dir}"]
    # xlm finds zlm by walking up from examples/zlm to the repository's .xlm_models
    env = {**os.environ, "XLM_DATA_DIR": str(isolated_env / "data")}  # not ./.xlm_data inside the repository
    result = subprocess.run(command, cwd=ZLM_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    train_loss = _column(rows, "train/loss")
    val_loss = _column(rows, "val/loss")
    exact_match = _column(rows, "val/prediction/exact_match")
    assert train_loss[-1][0] == 199 and val_loss[-1][0] == 199
    # from ~2.5 (a random guess is ln 24 = 3.2) to well under 0.5 on the memorised batch
    assert val_loss[-1][1] < train_loss[0][1] / 5, (train_loss, val_loss)
    # and the sampler, starting from an all-mask canvas, writes most memorised paths exactly
    assert exact_match[-1][1] >= 0.5, exact_match
