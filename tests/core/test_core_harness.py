"""The harness, the datamodule and the optimizer, built from the real composed configs."""

from __future__ import annotations

import csv

import pytest
import torch

from xlm import build
from xlm.errors import UserError
from xlm.harness import Harness
from xlm.metrics import exact_match
from xlm.optim import lr_lambda, param_groups

SMALL = ["model.d_model=32", "model.num_layers=1", "model.dim_feedforward=64"]


@pytest.mark.parametrize("model", ["arlm", "mlm"])
def test_experiment_composes_and_resolves(compose, model):
    cfg = compose(f"experiment=star_easy_{model}", "debug=overfit")
    assert cfg.job_name == f"star_easy_{model}"
    assert cfg.model.num_embeddings == 25  # ${tokenizer:full_vocab_size}
    assert cfg.trainer.accelerator == "auto"
    assert (cfg.tags.model, cfg.tags.model_type, cfg.tags.dataset) == (model, model, "star_easy")
    assert cfg.datamodule.overfit_examples == cfg.datamodule.batch_size == 32


def test_datasets_of_other_difficulties_compose(compose):
    cfg = compose("experiment=star_easy_arlm", "datamodule=star_hard")
    assert (cfg.datamodule.task.degree, cfg.datamodule.task.path_length, cfg.tokenizer.num_ids) == (5, 10, 100)
    assert cfg.model.num_embeddings == 105


def test_task_data_are_cached_once_per_user(compose, monkeypatch, tmp_path):
    # XLM_CACHE_DIR is the models' validation cache; it must not move the task data.
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "validation"))
    monkeypatch.delenv("XLM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compose(own_data_dir=False).datamodule.task.data_dir == str(tmp_path / "xdg" / "xlm" / "data")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unusable in ("", "relative/cache"):  # the XDG rule: empty or relative means unset
        monkeypatch.setenv("XDG_CACHE_HOME", unusable)
        assert compose(own_data_dir=False).datamodule.task.data_dir == str(tmp_path / "home" / ".cache" / "xlm" / "data")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compose(own_data_dir=False).datamodule.task.data_dir == str(tmp_path / "home" / ".cache" / "xlm" / "data")
    monkeypatch.setenv("XLM_DATA_DIR", str(tmp_path / "env"))
    assert compose(own_data_dir=False).datamodule.task.data_dir == str(tmp_path / "env")
    assert compose("paths.data_dir=/d", own_data_dir=False).datamodule.task.data_dir == "/d"


def test_harness_builds_everything_the_config_names(compose):
    cfg = compose("experiment=star_easy_mlm", *SMALL)
    tokenizer = build.build_tokenizer(cfg)
    harness = build.build_harness(cfg, tokenizer)
    assert isinstance(harness, Harness) and harness.loss_fn.model is harness.model
    assert harness.predictor.tokenizer is tokenizer
    assert set(harness.metrics.keys()) == {
        "train/lm/accumulated_loss",
        "val/lm/accumulated_loss", "val/lm/masked_accuracy", "val/prediction/exact_match",
        "test/lm/accumulated_loss", "test/lm/masked_accuracy", "test/prediction/exact_match",
    }
    # the resolved config travels in the checkpoint's hyper-parameters
    assert harness.hparams["cfg"]["model"]["num_embeddings"] == 25


def test_overfit_datamodule_serves_the_same_batch_everywhere(compose):
    cfg = compose("experiment=star_easy_arlm", "debug=overfit", "datamodule.overfit_repeats=3")
    dm = build.build_datamodule(cfg, build.build_tokenizer(cfg))
    dm.prepare_data()
    train = list(dm.train_dataloader())
    assert len(train) == 3 and all(torch.equal(b["input_ids"], train[0]["input_ids"]) for b in train)
    (val,) = list(dm.val_dataloader())
    assert torch.equal(val["input_ids"], train[0]["input_ids"])


def test_a_few_steps_log_loss_and_metrics(compose, tmp_path):
    cfg = compose("experiment=star_easy_arlm", "debug=overfit", "trainer.max_steps=4", "trainer.val_check_interval=2",
                  "trainer.log_every_n_steps=2", "callbacks=none", "+trainer.enable_progress_bar=false", *SMALL)
    tokenizer = build.build_tokenizer(cfg)
    trainer = build.build_trainer(cfg, enable_model_summary=False)
    trainer.fit(build.build_harness(cfg, tokenizer), datamodule=build.build_datamodule(cfg, tokenizer))
    logged = trainer.callback_metrics
    for key in ("train/loss", "train/lm/accumulated_loss", "val/loss", "val/lm/accumulated_loss",
                "val/prediction/exact_match", "val/prediction/finished"):
        assert key in logged, key
    with open(tmp_path / "out" / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["train/loss"]]
    assert [row["step"] for row in rows] == ["1", "3"]  # every log_every_n_steps, nothing in between


def test_exact_match_compares_whole_sequences_ignoring_padding():
    target = torch.tensor([[5, 6, 7], [5, 6, 0]])
    assert exact_match(torch.tensor([[5, 6, 7], [5, 6, 0]]), target).tolist() == [1.0, 1.0]
    assert exact_match(torch.tensor([[5, 6], [5, 6]]), target).tolist() == [0.0, 1.0]  # narrower prediction
    assert exact_match(torch.tensor([[5, 6, 7, 8], [5, 9, 0, 0]]), target).tolist() == [0.0, 0.0]


def test_tied_weights_are_one_parameter_without_decay(compose):
    cfg = compose("experiment=star_easy_arlm", *SMALL)
    model = build.build_harness(cfg, build.build_tokenizer(cfg)).model
    decay, no_decay = param_groups(model, 0.1)
    ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert any(p is model.token_embedding.weight for p in no_decay["params"])
    assert all(p.ndim == 2 for p in decay["params"])


def test_lr_schedules():
    cosine = lr_lambda("cosine", num_warmup_steps=10, num_training_steps=110, min_lr_ratio=0.1)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.55) and cosine(110) == pytest.approx(0.1)
    assert lr_lambda("constant", 0, 100)(99) == 1.0
    assert lr_lambda("linear", 0, 100)(50) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown lr_scheduler"):
        lr_lambda("step", 0, 1)


def test_missing_model_is_a_user_error(compose):
    from xlm.errors import UserError

    with pytest.raises(UserError, match="which model to train"):
        build.require_model(compose())


def test_a_logger_whose_package_is_missing_says_what_to_install(compose):
    try:
        import wandb  # noqa: F401
        pytest.skip("wandb is installed")
    except ImportError:
        pass
    cfg = compose("experiment=star_easy_arlm", "loggers=[csv,wandb]")
    with pytest.raises(UserError) as caught:
        build.build_trainer(cfg)
    assert caught.value.what == "logger 'wandb' needs the Python package 'wandb', which is not installed"
    assert caught.value.fix.startswith("pip install wandb")


def test_missing_package_names_what_to_pip_install():
    assert build.missing_package(ModuleNotFoundError("No module named 'foo.bar'", name="foo.bar")) == "foo"
    lightning_style = ModuleNotFoundError("Requirement 'wandb>=0.12.10' not met. HINT: Try running ...")
    assert build.missing_package(lightning_style) == "wandb"
    wrapped = RuntimeError("instantiate failed")
    wrapped.__cause__ = lightning_style
    assert build.missing_package(wrapped) == "wandb"
    assert build.missing_package(ValueError("no")) is None


def test_tensorboard_logger_writes_event_files(compose, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = compose("experiment=star_easy_arlm", "debug=overfit", "loggers=[csv,tensorboard]", "callbacks=none",
                  "trainer.max_steps=2", "trainer.log_every_n_steps=1", "trainer.val_check_interval=2",
                  "+trainer.enable_progress_bar=false", *SMALL)
    trainer = build.build_trainer(cfg)
    tokenizer = build.build_tokenizer(cfg)
    trainer.fit(build.build_harness(cfg, tokenizer), datamodule=build.build_datamodule(cfg, tokenizer))
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "out" / "metrics.csv").is_file()


def test_trainer_settings_lightning_refuses_are_a_user_error(compose):
    cfg = compose("experiment=star_easy_arlm", "trainer.max_steps=abc")
    with pytest.raises(UserError, match="Lightning refuses the trainer settings: TypeError"):
        build.build_trainer(cfg)


def test_the_run_log_takes_a_path_that_is_not_utf8(tmp_path, capsys):
    """A run folder whose name holds a byte that is not UTF-8: Hydra's train.log (strict UTF-8)
    printed `--- Logging error ---` with a traceback and lost the line."""
    import logging

    from xlm import jobs

    handler = logging.FileHandler(tmp_path / "train.log", encoding="utf-8")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        jobs._quiet()
        logging.getLogger("xlm.test").warning("wrote %s", "/runs/t r\udcffé/train.json")
        handler.flush()
    finally:
        root.removeHandler(handler)
        handler.close()
    assert "Logging error" not in capsys.readouterr().err
    assert "wrote /runs/t r\\udcffé/train.json" in (tmp_path / "train.log").read_text()
