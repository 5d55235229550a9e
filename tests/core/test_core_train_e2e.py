"""End to end: `xlm train ... debug=overfit` in a subprocess, then eval, generate, resume, DDP, multirun.

Each run gets its own working folder (outputs/) and task data; runs are shrunk to a few
steps, and one thread per process keeps them quick on small shared CI machines.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from core_helpers import xlm_command, xlm_env

pytestmark = pytest.mark.slow


def run_xlm(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(xlm_command(*args), cwd=cwd, env=xlm_env(cwd), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def only_run_dir(cwd: Path, job_type: str) -> Path:
    """The one run folder outputs/<job_type>/<job_name>/<time>/ under ``cwd``."""
    (run,) = [p for p in (cwd / "outputs" / job_type).glob("*/*") if p.is_dir()]
    return run


def train_losses(metrics_csv: Path) -> list[float]:
    with open(metrics_csv) as handle:
        return [float(row["train/loss"]) for row in csv.DictReader(handle) if row.get("train/loss")]


@pytest.fixture(scope="module", params=["arlm", "mlm"])
def trained(request, tmp_path_factory):
    """One overfit run per core model, shared by the tests that use its checkpoint."""
    model = request.param
    cwd = tmp_path_factory.mktemp(f"train_{model}")
    proc = run_xlm(cwd, "train", f"experiment=star_easy_{model}", "debug=overfit", "trainer.max_steps=100")
    return model, cwd, only_run_dir(cwd, "train"), proc


def test_overfit_run_learns_and_leaves_checkpoint_and_logs(trained):
    model, cwd, run, proc = trained
    assert run.parent.name == f"star_easy_{model}"
    losses = train_losses(run / "metrics.csv")
    assert len(losses) >= 10
    assert losses[-1] < losses[0] / 10, losses
    record = json.loads((run / "train.json").read_text())
    assert record["global_step"] == 100
    assert record["metrics"]["val/prediction/exact_match"] == 1.0
    assert Path(record["last_checkpoint"]) == run / "checkpoints" / "last.ckpt"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / ".hydra" / "config.yaml").is_file()
    assert "`Trainer.fit` stopped" in (log := (run / "train.log").read_text()) and str(run / "train.json") in log
    assert "Epoch 0" in proc.stdout + proc.stderr  # the progress bar


def test_eval_reads_model_and_data_from_the_checkpoint(trained):
    model, cwd, run, _ = trained
    run_xlm(cwd, "eval", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "eval.split=val")
    record = json.loads((only_run_dir(cwd, "eval") / "eval.json").read_text())
    assert record["split"] == "val"
    assert record["metrics"]["val/prediction/exact_match"] == 1.0  # the memorised batch
    assert record["metrics"]["val/loss"] < 0.5


@pytest.mark.parametrize("trained", ["arlm"], indirect=True)
def test_generate_in_hydra_form_writes_predictions(trained):
    model, cwd, run, _ = trained
    out = cwd / "preds.jsonl"
    run_xlm(cwd, "job_type=generate", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"generate.output_file={out}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 32 and all(r["prediction"] == r["target"] for r in rows)


@pytest.mark.parametrize("trained", ["arlm"], indirect=True)
def test_resume_continues_from_the_checkpoint(trained):
    model, cwd, run, _ = trained
    ckpt = run / "checkpoints" / "last.ckpt"
    run_xlm(cwd, "train", "experiment=star_easy_arlm", "debug=overfit", "trainer.max_steps=110", f"ckpt_path={ckpt}", "job_name=resumed")
    (resumed,) = (cwd / "outputs" / "train" / "resumed").glob("*")
    record = json.loads((resumed / "train.json").read_text())
    assert record["global_step"] == 110 and record["resumed_from"] == str(ckpt)


def test_two_process_cpu_ddp_run_completes(tmp_path):
    run_xlm(tmp_path, "train", "experiment=star_easy_arlm", "debug=overfit", "trainer_strategy=ddp",
            "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_steps=4", "trainer.val_check_interval=2",
            "model.d_model=32", "model.num_layers=1", timeout=400)
    run = only_run_dir(tmp_path, "train")
    record = json.loads((run / "train.json").read_text())
    assert record["global_step"] == 4 and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "train_ddp_process_1.log").is_file()  # the second process ran in the same run folder


def test_multirun_sweeps_one_job_per_value(tmp_path):
    run_xlm(tmp_path, "train", "-m", "experiment=star_easy_arlm", "debug=overfit", "optimizer.lr=1e-3,1e-4",
            "trainer.max_steps=2", "callbacks=none", "model.d_model=32", "model.num_layers=1")
    records = sorted((tmp_path / "multirun").glob("train/star_easy_arlm/*/*/train.json"))
    assert len(records) == 2
    lrs = sorted(OmegaConf.load(r.parent / ".hydra" / "config.yaml").optimizer.lr for r in records)
    assert lrs == pytest.approx([1e-4, 1e-3])
