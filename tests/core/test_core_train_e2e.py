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


def run_xlm(cwd: Path, *args: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(xlm_command(*args), cwd=cwd, env={**xlm_env(cwd), **env}, capture_output=True, text=True,
                          timeout=timeout)
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


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A few steps of a model smaller than its experiment's: only the checkpoint's config can load it."""
    cwd = tmp_path_factory.mktemp("small")
    run_xlm(cwd, "train", "experiment=star_easy_arlm", "debug=overfit", "trainer.max_steps=6", "trainer.val_check_interval=3",
            "trainer.log_every_n_steps=1", "model.d_model=32", "model.num_layers=1")
    return cwd, only_run_dir(cwd, "train") / "checkpoints" / "last.ckpt"


def test_train_with_only_a_checkpoint_resumes_with_its_config(small_run):
    cwd, ckpt = small_run
    run_xlm(cwd, "train", f"ckpt_path={ckpt}", "trainer.max_steps=8")
    (resumed,) = [r for r in (cwd / "outputs" / "train" / "star_easy_arlm").iterdir() if r != ckpt.parent.parent]
    record = json.loads((resumed / "train.json").read_text())
    assert record["global_step"] == 8 and record["resumed_from"] == str(ckpt)
    ran_with = OmegaConf.load(resumed / ".hydra" / "config.yaml")
    assert (ran_with.model.d_model, ran_with.trainer.max_steps, ran_with.trainer.val_check_interval) == (32, 8, 3)
    assert OmegaConf.to_container(ran_with)["callbacks"]["checkpoint"]["dirpath"] == "${paths.output_dir}/checkpoints"
    assert (resumed / "checkpoints" / "last.ckpt").is_file()


def test_eval_of_an_overfit_checkpoint_is_named_after_it_says_so_and_reads_this_machines_data(small_run):
    cwd, ckpt = small_run
    here = cwd / "other_data"
    proc = run_xlm(cwd, "eval", f"ckpt_path={ckpt}", XLM_DATA_DIR=str(here))
    (run,) = (cwd / "outputs" / "eval" / "star_easy_arlm").iterdir()
    assert json.loads((run / "eval.json").read_text())["overfit_examples"] == 32
    note = "note: the data are the 32 memorised training examples of debug=overfit (datamodule.overfit_examples=32), " \
           "not the test split; add datamodule.overfit_examples=null to use the real test split"
    assert note in proc.stderr + proc.stdout and note in (run / "eval.log").read_text()
    assert list((here / "tasks").glob("star_easy-*/.ready"))  # XLM_DATA_DIR, not the path the checkpoint stores

    proc = run_xlm(cwd, "generate", f"ckpt_path={ckpt}", "datamodule.overfit_examples=null", "datamodule.task.num_examples.test=40")
    (run,) = (cwd / "outputs" / "generate" / "star_easy_arlm").iterdir()
    assert json.loads((run / "generate.json").read_text())["examples"] == 40
    assert "note:" not in proc.stderr + proc.stdout


def test_a_checkpoint_of_another_shape_is_two_lines_naming_the_first_tensor(small_run):
    """The experiment's own sizes (d_model 128) against the small run's weights (32): 93 lines of traceback."""
    cwd, ckpt = small_run
    proc = subprocess.run(xlm_command("generate", "experiment=star_easy_arlm", f"ckpt_path={ckpt}"), cwd=cwd,
                          env=xlm_env(cwd), capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[-2].startswith(f"error: the weights of checkpoint '{ckpt}' do not fit the model this config builds: "
                                "the model has 12 tensor(s) the checkpoint lacks (model.layers.layers.1.")
    assert "tensor(s) differ in size (" in lines[-2] and "in the checkpoint, [" in lines[-2]
    assert lines[-1].startswith("  fix: drop the overrides that change the model's shape")


def test_a_relative_checkpoint_is_the_commands_even_when_the_job_changes_folder(small_run):
    """With hydra.job.chdir=true, `ckpt_path=outputs/...` that exists was "does not exist"."""
    cwd, ckpt = small_run
    run_xlm(cwd, "eval", f"ckpt_path={ckpt.relative_to(cwd)}", "hydra.job.chdir=true")
    newest = max((cwd / "outputs" / "eval").glob("*/*/eval.json"), key=lambda r: r.parent.name)
    assert json.loads(newest.read_text())["checkpoint"] == str(ckpt)  # where it is, not relative to the run folder


def test_two_process_cpu_ddp_run_completes(tmp_path):
    run_xlm(tmp_path, "train", "experiment=star_easy_arlm", "debug=overfit", "trainer_strategy=ddp",
            "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_steps=4", "trainer.val_check_interval=2",
            "model.d_model=32", "model.num_layers=1", timeout=400)
    run = only_run_dir(tmp_path, "train")
    record = json.loads((run / "train.json").read_text())
    assert record["global_step"] == 4 and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "train_ddp_process_1.log").is_file()  # the second process ran in the same run folder
    # The model record (docs/reproducibility.md) is taken and written by rank 0 only.
    assert "models recorded in" in (run / "train.log").read_text()
    assert "models recorded in" not in (run / "train_ddp_process_1.log").read_text()
    assert "[[model]]" in (run / "models.lock").read_text()


def test_multirun_sweeps_one_job_per_value_and_summarises_them(tmp_path):
    proc = run_xlm(tmp_path, "train", "-m", "experiment=star_easy_arlm", "debug=overfit", "optimizer.lr=1e-3,1e-4",
                   "trainer.max_steps=2", "trainer.log_every_n_steps=1", "callbacks=none", "model.d_model=32", "model.num_layers=1")
    records = sorted((tmp_path / "multirun").glob("train/star_easy_arlm/*/*/train.json"))
    assert len(records) == 2
    lrs = sorted(OmegaConf.load(r.parent / ".hydra" / "config.yaml").optimizer.lr for r in records)
    assert lrs == pytest.approx([1e-4, 1e-3])

    sweep = records[0].parent.parent
    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["job"], r["status"], r["run_dir"]) for r in rows] == [("0", "done", str(sweep.relative_to(tmp_path) / "0")),
                                                                    ("1", "done", str(sweep.relative_to(tmp_path) / "1"))]
    assert ["optimizer.lr=0.001" in r["overrides"].split() for r in rows] == [True, False]
    for row, record in zip(rows, records):
        assert float(row["metric:train/loss"]) == pytest.approx(json.loads(record.read_text())["metrics"]["train/loss"])
    printed = proc.stdout[proc.stdout.index("sweep summary"):].splitlines()
    assert printed[0] == f"sweep summary ({sweep.relative_to(tmp_path) / 'summary.csv'}):"
    assert printed[1].split()[:4] == ["job", "status", "overrides", "train/lm/accumulated_loss"]
    assert printed[2].split()[:3] == ["0", "done", "optimizer.lr=0.001"] and printed[3].split()[:3] == ["1", "done", "optimizer.lr=0.0001"]


def test_a_sweep_job_that_fails_with_a_user_error_is_listed_failed_and_the_others_run(tmp_path):
    """The first failing job's error ended the whole sweep: no later job ran, no summary was
    printed, and its row was missing (no summary.csv at all when it was the first job)."""
    proc = subprocess.run(xlm_command("train", "-m", "experiment=star_easy_arlm", "trainer.max_steps=1", "callbacks=none",
                                      "model.num_layers=1", "model.d_model=30,32"),
                          cwd=tmp_path, env=xlm_env(tmp_path), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("error: ", "  fix: "))]
    assert errors[0].startswith("error: model 'arlm' raised AssertionError: embed_dim must be divisible by num_heads")
    assert errors[2].startswith("error: 1 job(s) of the sweep failed (their errors are above; summary.csv lists them as failed): ")
    assert errors[2].endswith("model.d_model=30") and len(errors) == 4
    (sweep,) = (tmp_path / "multirun" / "train" / "star_easy_arlm").iterdir()
    with open(sweep / "summary.csv") as handle:
        assert [(r["job"], r["status"]) for r in csv.DictReader(handle)] == [("0", "failed"), ("1", "done")]
    printed = proc.stdout[proc.stdout.index("sweep summary"):].splitlines()
    assert printed[2].split()[:3] == ["0", "failed", "model.d_model=30"] and printed[3].split()[:2] == ["1", "done"]
