"""zlm's real configs, composed the way `xlm train` composes them, wired to real star data."""

from pathlib import Path

import torch
from zlm_paths import REPO_ROOT, ZLM_ROOT
from hydra.utils import get_method, instantiate

import xlm
from xlm import build
from xlm.external.validation import validate_model_root
from xlm.external_models import setup_external_models

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


def test_zlm_passes_static_validation():
    assert validate_model_root(ZLM_ROOT, "zlm") == []


def test_experiments_compose_from_the_repository_models_file(isolated_env, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    found = setup_external_models(strict_validation=True)
    assert found.get("zlm").root == ZLM_ROOT
    star = compose("experiment=star_easy_zlm")
    assert (star.model._target_, star.loss._target_, star.predictor._target_) == (
        "zlm.model.ZLMModel", "zlm.loss.ZLMLoss", "zlm.predictor.ZLMPredictor")
    assert (star.collator.loss_on_prompt, star.job_name, star.tags.model_type) == (False, "star_easy_zlm", "zlm")
    debug = compose("experiment=zlm_debug", "debug=overfit")
    assert (debug.model.d_model, debug.datamodule.overfit_examples) == (64, 32)
    assert compose("experiment=zlm_debug", "collator=default_zlm").collator.loss_on_prompt is True


def test_a_project_listing_zlm_by_name_composes_star_easy_zlm(isolated_env, monkeypatch):
    """The issue's second run: a project whose `.xlm_models` lists `zlm` (found via XLM_MODELS_PATH)."""
    project = isolated_env / "project"
    project.mkdir()
    (project / ".xlm_models").write_text("zlm  # the example model\n")
    monkeypatch.setenv("XLM_MODELS_PATH", str(ZLM_ROOT.parent))
    monkeypatch.chdir(project)
    found = setup_external_models(strict_validation=True)
    assert (found.get("zlm").found.origin, found.get("zlm").root) == ("XLM_MODELS_PATH", ZLM_ROOT)
    cfg = compose("experiment=star_easy_zlm", "debug=overfit")
    assert (cfg.model._target_, cfg.job_name, cfg.datamodule.overfit_examples) == ("zlm.model.ZLMModel", "star_easy_zlm", 32)


def test_harness_runs_loss_predictor_and_metrics_on_star_batches(isolated_env, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    setup_external_models(strict_validation=True)
    cfg = compose(
        "experiment=zlm_debug", SMALL_DATA, f"paths.data_dir={isolated_env / 'data'}", f"paths.output_dir={isolated_env}"
    )
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    datamodule.prepare_data()
    batch = next(iter(datamodule.val_dataloader()))
    harness = build.build_harness(cfg, tokenizer)

    loss_dict = harness.loss_fn(batch)
    assert loss_dict["loss"].ndim == 0 and loss_dict["batch_loss"].shape == (8,)
    loss_dict["loss"].backward()
    predictions = harness.predictor(batch)
    assert len(predictions["text"]) == 8
    assert predictions["ids"].shape[0] == 8 and not (predictions["ids"] == tokenizer.mask_token_id).any()
    for split in ("train", "val"):
        for group in cfg.reported_metrics[split].values():
            for spec in group.values():
                kwargs = get_method(spec.update_fn)(batch, loss_dict, predictions if split == "val" else None)
                if kwargs is not None:
                    instantiate(spec.get("metric") or {"_target_": "torchmetrics.MeanMetric"}).update(**kwargs)
    assert torch.isfinite(loss_dict["loss"])
