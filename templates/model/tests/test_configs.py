"""Every experiment of the model composes with xlm's configs and runs one step end to end.

It reads only the model's configs (targets, metrics, experiments), so it keeps holding while
you change the code, and catches what a training run would hit first: a misspelt
``_target_``, a missing argument, a batch the loss or the predictor cannot read.
"""

from pathlib import Path

import pytest
import torch

MODEL_ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (MODEL_ROOT / "configs" / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def registered_model():
    """Put this model on the import path and its configs on Hydra's search path, as `xlm` does."""
    from xlm.external.registration import register_model_roots

    register_model_roots([MODEL_ROOT])


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("xlm.configs", version_base=None):
        return hydra_compose("config", overrides=overrides)


CORPUS = "The quick brown fox jumps over the lazy dog.\n\nÉtoile, 星, and a second paragraph of text.\n"


def examples(tokenizer):
    """Two examples of different lengths, shaped as the experiment's datamodule makes them."""
    first = tokenizer.special_token_ids[-1] + 1
    sep = getattr(tokenizer, "sep_token_id", None)
    if sep is None:  # a text tokenizer: packed blocks of text, no prompt
        return [{"prompt_ids": [], "target_ids": [first, first + 1, first + 2, first + 3], "add_eos": False},
                {"prompt_ids": [], "target_ids": [first + 4, first + 5], "add_eos": False}]
    # Star-task shaped (prompt ending in <sep>), within any vocabulary.
    return [
        {"prompt_ids": [first, first + 1, first + 2, sep], "target_ids": [first + 3, first + 4]},
        {"prompt_ids": [first + 5, sep], "target_ids": [first + 6]},
    ]


def experiment_config(experiment, tmp_path):
    """The experiment's config; one that reads a text corpus (datamodule.files) gets a tiny one."""
    from omegaconf import OmegaConf

    overrides = [f"experiment={experiment}", f"paths.output_dir={tmp_path}", f"paths.data_dir={tmp_path}"]
    cfg = compose(overrides)
    datamodule = cfg.get("datamodule") or {}
    if "files" in datamodule.keys() and OmegaConf.is_missing(datamodule, "files"):
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "a.txt").write_text(CORPUS * 20, encoding="utf-8")
        cfg = compose([*overrides, f"datamodule.files={corpus}"])
    return cfg


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_one_step(experiment, tmp_path):
    from hydra.utils import get_method, instantiate

    from xlm import build

    cfg = experiment_config(experiment, tmp_path)
    tokenizer = build.build_tokenizer(cfg)
    harness = build.build_harness(cfg, tokenizer)
    batch = instantiate(cfg.collator, tokenizer=tokenizer)(examples(tokenizer))

    loss_dict = harness.loss_fn(batch)
    assert loss_dict["loss"].shape == () and torch.isfinite(loss_dict["loss"])
    assert loss_dict["batch_loss"].shape == (2,)
    loss_dict["loss"].backward()
    assert any(p.grad is not None for p in harness.model.parameters())

    with torch.no_grad():
        predictions = harness.predictor(batch)
    assert len(predictions["text"]) == 2 and predictions["ids"].shape[0] == 2

    for split, groups in (cfg.reported_metrics or {}).items():
        for group, metrics in groups.items():
            for name, spec in (metrics or {}).items():  # a group set to null is switched off
                kwargs = get_method(spec.update_fn)(batch, loss_dict, predictions if split != "train" else None)
                assert kwargs is None or isinstance(kwargs, dict), f"{split}/{group}/{name}"
