"""A job's config from a checkpoint (resume, eval, generate) and the summary of a sweep, in-process.

The checkpoints here are real files written with torch.save, holding the resolved config of a
real composed experiment, as the harness stores it; the sweep folders are laid out as Hydra
lays them out. The end-to-end runs are in test_core_train_e2e.py.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch
from omegaconf import OmegaConf

from xlm.errors import UserError
from xlm.from_checkpoint import checkpoint_config, memorised_note
from xlm.sweep import format_table, summary_rows, write_summary

OLD_RUN, OLD_DATA = "/elsewhere/outputs/train/star_easy_arlm/old", "/elsewhere/data"


@pytest.fixture
def checkpoint(compose, tmp_path):
    """A checkpoint of star_easy_arlm debug=overfit with a small model, trained on another machine."""
    stored = compose("experiment=star_easy_arlm", "debug=overfit", "model.d_model=32",
                     f"paths.output_dir={OLD_RUN}", f"paths.data_dir={OLD_DATA}")
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"cfg": OmegaConf.to_container(stored, resolve=True)}}, path)
    return path


def from_checkpoint(compose, checkpoint, job, *overrides):
    """What the job does: compose the command line, then take the checkpoint's config under it."""
    from hydra import initialize_config_module

    cfg = compose(f"job_type={job}", f"ckpt_path={checkpoint}", *overrides)
    with initialize_config_module("xlm.configs", version_base="1.3"):  # group selections compose their files
        merged = checkpoint_config(cfg, str(checkpoint), [f"ckpt_path={checkpoint}", *overrides], job)
    OmegaConf.resolve(merged)
    return merged


def test_resume_takes_the_whole_run_config_but_not_its_places(compose, checkpoint, tmp_path):
    cfg = from_checkpoint(compose, checkpoint, "train")
    assert (cfg.model.d_model, cfg.trainer.max_steps, cfg.job_name) == (32, 300, "star_easy_arlm")
    assert cfg.datamodule.overfit_examples == 32 and cfg.tags.debug is True
    out, data = str(tmp_path / "out"), str(tmp_path / "data")  # the compose fixture's places
    assert cfg.trainer.default_root_dir == out and cfg.loggers.csv.save_dir == out
    assert cfg.callbacks.checkpoint.dirpath == f"{out}/checkpoints"
    assert cfg.datamodule.task.data_dir == data  # not the stored /elsewhere/data
    assert OLD_RUN not in OmegaConf.to_yaml(cfg) and OLD_DATA not in OmegaConf.to_yaml(cfg)
    assert cfg.ckpt_path == str(checkpoint) and cfg.job_type == "train"


@pytest.fixture
def checkpoint_with_places(compose, tmp_path):
    """A checkpoint whose run wrote its checkpoints and logs outside its run folder."""
    stored = compose("experiment=star_easy_arlm", "debug=overfit", f"paths.output_dir={OLD_RUN}",
                     "callbacks.checkpoint.dirpath=/big/disk/ckpts", "loggers.csv.save_dir=/big/logs",
                     "trainer.default_root_dir=/big", "+callbacks.extra.dirpath=/big/extra",
                     f"loggers.tensorboard.save_dir={OLD_RUN}/../../big", "loggers=[csv,tensorboard]")
    path = tmp_path / "places.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"cfg": OmegaConf.to_container(stored, resolve=True)}}, path)
    return path


def test_resume_writes_into_its_own_folder_wherever_the_old_run_wrote(compose, checkpoint_with_places, tmp_path, caplog):
    cfg = from_checkpoint(compose, checkpoint_with_places, "train")
    out = str(tmp_path / "out")
    assert (cfg.callbacks.checkpoint.dirpath, cfg.loggers.csv.save_dir, cfg.trainer.default_root_dir) == (f"{out}/checkpoints", out, out)
    assert cfg.loggers.tensorboard.save_dir == out  # a stored path that climbs out of the old run folder
    assert cfg.callbacks.extra.dirpath == f"{out}/extra"  # a callback this command does not compose
    assert "/big" not in OmegaConf.to_yaml(cfg)
    assert "wrote callbacks.checkpoint.dirpath to '/big/disk/ckpts'" in caplog.text
    cfg = from_checkpoint(compose, checkpoint_with_places, "train", "callbacks.checkpoint.dirpath=/mine")
    assert cfg.callbacks.checkpoint.dirpath == "/mine"  # the command line names a place
    assert from_checkpoint(compose, checkpoint_with_places, "eval").trainer.default_root_dir == out


def test_the_command_line_applies_on_top_of_the_checkpoint(compose, checkpoint):
    cfg = from_checkpoint(compose, checkpoint, "train", "trainer.max_steps=310", "~optimizer.weight_decay",
                          "trainer_strategy=cpu", "loggers=[csv,tensorboard]", "seed=7")
    assert (cfg.trainer.max_steps, cfg.trainer.accelerator, cfg.seed) == (310, "cpu", 7)
    assert cfg.trainer.val_check_interval == 50  # the rest of the stored trainer stays
    assert "weight_decay" not in cfg.optimizer and cfg.optimizer.lr == 0.001
    assert set(cfg.loggers) == {"csv", "tensorboard"}
    assert cfg.model.d_model == 32


def test_a_selection_sets_what_its_file_sets(compose, checkpoint):
    cfg = from_checkpoint(compose, checkpoint, "eval", "datamodule=star_hard")
    assert (cfg.datamodule.task.name, cfg.datamodule.task.path_length, cfg.tokenizer.num_ids) == ("star_hard", 10, 100)
    assert cfg.tags.dataset == "star_hard" and cfg.tags.model == "arlm"  # only the keys star_hard sets
    cfg = from_checkpoint(compose, checkpoint, "train", "~loggers")
    assert "loggers" not in cfg
    with pytest.raises(UserError, match="~debug cannot undo what debug set in the checkpoint's config"):
        from_checkpoint(compose, checkpoint, "train", "~debug")


def test_eval_takes_only_the_model_nodes(compose, checkpoint):
    cfg = from_checkpoint(compose, checkpoint, "eval", "datamodule.eval_batch_size=8")
    assert (cfg.model.d_model, cfg.datamodule.eval_batch_size, cfg.datamodule.overfit_examples) == (32, 8, 32)
    assert cfg.trainer.max_steps == 10000 and cfg.job_name == "run"  # how the job runs: this command's
    assert "memorised training examples of debug=overfit" in memorised_note(cfg, "test")
    cfg = from_checkpoint(compose, checkpoint, "eval", "datamodule.overfit_examples=null")
    assert memorised_note(cfg, "test") is None


def test_data_dir_from_the_environment_wins_over_the_checkpoints(compose, checkpoint, monkeypatch, tmp_path):
    from hydra import initialize_config_module

    monkeypatch.setenv("XLM_DATA_DIR", str(tmp_path / "mine"))
    cfg = compose("job_type=eval", f"ckpt_path={checkpoint}", own_data_dir=False)
    with initialize_config_module("xlm.configs", version_base="1.3"):
        merged = checkpoint_config(cfg, str(checkpoint), [], "eval")
    assert OmegaConf.select(merged, "datamodule.task.data_dir") == str(tmp_path / "mine")


def test_a_checkpoint_without_a_stored_config_is_refused(compose, tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UserError, match="has no stored config"):
        checkpoint_config(compose(), str(path), [], "eval")


# ----------------------------------------------------------------------------- sweeps


def make_job(sweep, number, overrides, metrics=None):
    run = sweep / str(number)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (run / "train.json").write_text(json.dumps({"job_type": "train", "metrics": metrics}))
    return run


def test_summary_has_a_row_per_job_in_job_order_failed_ones_too(tmp_path):
    sweep = tmp_path / "sweep"
    common = ["job_type=train", "experiment=star_easy_arlm"]
    make_job(sweep, 10, [*common, "optimizer.lr=0.01"])  # no record: it failed
    make_job(sweep, 2, [*common, "optimizer.lr=0.0001"], {"val/loss": 0.25, "train/loss": 0.5})
    make_job(sweep, 1, [*common, "optimizer.lr=0.001"], {"val/loss": 0.125})
    rows = write_summary(sweep)
    assert [r["job"] for r in rows] == ["1", "2", "10"]
    with open(sweep / "summary.csv") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == ["job", "status", "overrides", "metric:val/loss", "metric:train/loss", "run_dir"]
    assert [(r["status"], r["metric:val/loss"], r["metric:train/loss"]) for r in written] == [
        ("done", "0.125", ""), ("done", "0.25", "0.5"), ("failed", "", "")]
    assert written[0]["overrides"] == "job_type=train experiment=star_easy_arlm optimizer.lr=0.001"
    assert written[2]["run_dir"] == str(sweep / "10")
    table = format_table(rows).splitlines()
    assert table[0].split() == ["job", "status", "overrides", "val/loss", "train/loss", "run_dir"]
    assert table[1].split() == ["1", "done", "optimizer.lr=0.001", "0.125", "-", str(sweep / "1")]
    assert table[3].split()[:3] == ["10", "failed", "optimizer.lr=0.01"]


def test_a_sweep_over_experiments_is_summarised_in_the_sweeps_own_folder(tmp_path, capsys):
    """`-m experiment=a,b`: the sweep folder is named after job_name, which each experiment sets,
    so the jobs land in one folder per experiment; the summary of all of them goes to the
    sweep's folder (the one Hydra made at launch) and is printed at the end."""
    from hydra.types import RunMode

    from xlm.sweep import SweepSummary

    def config(folder):
        return OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(folder)}}})

    launch, arlm, mlm = tmp_path / "run" / "t", tmp_path / "star_easy_arlm" / "t", tmp_path / "star_easy_mlm" / "t"
    launch.mkdir(parents=True)
    callback = SweepSummary()
    make_job(arlm, 0, ["experiment=star_easy_arlm"], {"val/loss": 0.5})
    callback.on_job_end(config(arlm))
    make_job(mlm, 1, ["experiment=star_easy_mlm"], {"val/loss": 0.25})
    callback.on_job_end(config(mlm))
    callback.on_multirun_end(config(launch))
    with open(launch / "summary.csv") as handle:
        assert [(r["job"], r["run_dir"]) for r in csv.DictReader(handle)] == [("0", str(arlm / "0")), ("1", str(mlm / "1"))]
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == f"sweep summary ({launch / 'summary.csv'}):" and len(printed) == 4
    assert [line.split()[:3] for line in printed[2:]] == [["0", "done", "experiment=star_easy_arlm"],
                                                          ["1", "done", "experiment=star_easy_mlm"]]


def test_an_empty_sweep_folder_writes_nothing(tmp_path):
    assert write_summary(tmp_path) == [] and not (tmp_path / "summary.csv").exists()
    assert summary_rows(tmp_path / "missing") == []


def test_a_sweep_job_that_crashes_prints_its_traceback_and_the_sweep_goes_on(monkeypatch, capsys):
    """A bug or out-of-memory in one job of a long sweep re-raised through Hydra: the later jobs
    never ran and the summary was not printed."""
    from xlm import jobs
    from xlm.external import guard

    def crash(cfg, found):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(jobs, "_in_sweep", lambda: True)
    monkeypatch.setattr(guard, "check_job", lambda cfg: None)
    monkeypatch.setitem(jobs.JOBS, "train", crash)
    assert jobs.run(OmegaConf.create({"job_type": "train"})) is None  # Hydra then runs the next job
    assert "RuntimeError: CUDA out of memory" in capsys.readouterr().err
    assert jobs.failed_sweep_jobs() == [([], True)] and jobs.failed_sweep_jobs() == []


def test_a_sweep_with_a_crashed_job_exits_1_as_a_crash_and_one_stopped_by_a_mistake_2(monkeypatch, capsys):
    """Both exited 2, the code of a mistake the user can fix; a crash is 1, as for a single job."""
    from xlm import cli, jobs

    monkeypatch.setattr(cli, "_setup_models_for_job", lambda: None)
    for failed, code in (([(["a=1"], False)], 2), ([(["a=1"], False), (["a=2"], True)], 1)):
        monkeypatch.setattr(jobs, "main", lambda: jobs._FAILED_SWEEP_JOBS.extend(failed))
        assert cli.main(["train", "-m", "a=1,2"]) == code
        assert capsys.readouterr().err.startswith(f"error: {len(failed)} job(s) of the sweep failed (")


def test_ctrl_c_inside_lightning_exits_130_and_says_where_to_resume(monkeypatch, capsys):
    """Lightning handles Ctrl-C itself and exits 1, as a crash does; nothing said where to resume."""
    from types import SimpleNamespace

    from xlm import cli, jobs

    monkeypatch.setattr(jobs, "_INTERRUPTED", [])
    trainer = SimpleNamespace(checkpoint_callbacks=[SimpleNamespace(last_model_path="run/checkpoints/last.ckpt")])
    jobs._interrupt_watch("train").on_exception(trainer, None, KeyboardInterrupt())

    def lightning_exits(argv):
        raise SystemExit(1)

    monkeypatch.setattr(cli, "_dispatch", lightning_exits)
    assert cli.main(["train"]) == 130
    assert capsys.readouterr().err == ("interrupted; its newest checkpoint is run/checkpoints/last.ckpt: "
                                       "resume with xlm train ckpt_path=run/checkpoints/last.ckpt\n")
    monkeypatch.setattr(jobs, "_INTERRUPTED", [])
    with pytest.raises(SystemExit):  # a crash that exits 1 stays one
        cli.main(["train"])


def test_generates_output_file_is_checked_before_anything_is_predicted(tmp_path, monkeypatch):
    """A folder failed with IsADirectoryError once every prediction was made; a relative path was
    recorded as typed, so the run folder could not tell where the predictions went."""
    from xlm.jobs import _output_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    with pytest.raises(UserError, match="generate.output_file=adir is a folder"):
        _output_file("adir")
    with pytest.raises(UserError, match=f"generate.output_file=afile/p.jsonl runs through the file {tmp_path / 'afile'}"):
        _output_file("afile/p.jsonl")
    assert _output_file("out/p.jsonl") == tmp_path / "out" / "p.jsonl"
    with pytest.raises(UserError, match=f"generate.output_file=afile: {tmp_path / 'afile'} already exists"):
        _output_file("afile")  # another run's predictions, or the checkpoint itself: overwritten silently
