"""mdlm's real configs, composed the way `xlm train` composes them, wired to real star data.

The model is registered by hand here (its parent folder on the import path, its configs on
Hydra's search path), so these tests do not depend on how discovery treats the flat layout.
"""

from pathlib import Path

import pytest
import torch
from hydra.utils import get_method, instantiate
from mdlm_paths import MDLM_ROOT

import xlm
from xlm import build
from xlm.external.registration import CONFIG_DIRS_ENV

XLM_CONFIGS = Path(xlm.__file__).resolve().parent / "configs"
SMALL_DATA = "datamodule.task.num_examples={train: 64, val: 8, test: 8}"


def compose(*overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(XLM_CONFIGS), version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def registered(isolated_env, monkeypatch):
    # what registration does for a model: its configs on Hydra's search path (read by
    # hydra_plugins/xlm_searchpath); conftest.py already made `mdlm` importable
    monkeypatch.setenv(CONFIG_DIRS_ENV, str(MDLM_ROOT / "configs"))
    return isolated_env


def test_experiments_compose_with_targets_into_the_flat_package(registered):
    star = compose("experiment=star_easy_mdlm")
    assert (star.model._target_, star.loss._target_, star.predictor._target_, star.collator._target_) == (
        "mdlm.model_mdlm.MDLMModel", "mdlm.loss_mdlm.MDLMLoss", "mdlm.predictor_mdlm.MDLMPredictor",
        "mdlm.datamodule_mdlm.MDLMSeq2SeqCollator")
    assert (star.collator.block_size, star.job_name, star.tags.model_type) == (8, "star_easy_mdlm", "mdlm")
    # one schedule for training and sampling: the predictor's interpolates the loss's
    assert star.predictor.noise_schedule == star.loss.noise_schedule
    debug = compose("experiment=mdlm_debug", "debug=overfit")
    assert (debug.model.d_model, debug.datamodule.overfit_examples, debug.trainer.max_steps) == (64, 32, 300)
    assert compose("experiment=mdlm_debug", "collator=default_mdlm").collator._target_.endswith("DefaultMDLMCollator")


def test_harness_runs_loss_predictor_and_metrics_on_star_batches(registered):
    cfg = compose("experiment=star_easy_mdlm", SMALL_DATA, "model.d_model=32", "model.num_layers=1",
                  f"paths.data_dir={registered / 'data'}", f"paths.output_dir={registered}")
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    datamodule.prepare_data()
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["target_mask"].sum(dim=1).tolist() == [8] * 8  # block_size 8: path, <eos>, 2 <pad>s
    harness = build.build_harness(cfg, tokenizer)

    loss_dict = harness.loss_fn(batch)
    assert loss_dict["loss"].ndim == 0 and loss_dict["batch_loss"].shape == (8,)
    loss_dict["loss"].backward()
    assert harness.model.token_embedding.weight.grad is not None
    predictions = harness.predictor(batch)
    assert len(predictions["text"]) == 8 and predictions["ids"].shape == (8, 8)
    assert not (predictions["ids"] == tokenizer.mask_token_id).any()
    for split in ("train", "val"):
        for group in cfg.reported_metrics[split].values():
            for spec in group.values():
                kwargs = get_method(spec.update_fn)(batch, loss_dict, predictions if split == "val" else None)
                if kwargs is not None:
                    instantiate(spec.get("metric") or {"_target_": "torchmetrics.MeanMetric"}).update(**kwargs)
    assert torch.isfinite(loss_dict["loss"])


def test_schedule_command_prints_the_schedule_the_sampler_walks(capsys):
    from mdlm.commands_mdlm import schedule

    assert schedule(["--steps", "4"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1.000", "0.750", "0.500", "0.250"]
    assert [row[3] for row in rows] == ["1.000", "1.333", "2.000", "4.000"]  # weight 1/t
    assert rows[-1][4] == "1.000"  # the last step reveals every position still masked
    with pytest.raises(SystemExit):
        schedule(["--steps", "0"])
