"""External models inside Hydra: composing their experiments, the troubleshooting cases, migration.

These compose xlm's real config tree with Hydra's compose API after
`setup_external_models()`, exactly as `xlm train` does before Hydra runs.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest

import xlm
from xlm.external_models import setup_external_models

from .builders import write

XLM_CONFIGS = Path(xlm.__file__).resolve().parent / "configs"
ARLM_ROOT = Path(xlm.__file__).resolve().parent / "models" / "arlm"


@contextmanager
def hydra_config_tree():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(XLM_CONFIGS), version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()


def compose(*overrides: str):
    from hydra import compose as hydra_compose

    with hydra_config_tree():
        return hydra_compose("config", overrides=list(overrides))


def importable_model(project, name):
    """A model whose package imports cleanly (the default test model refuses to be imported)."""
    return project.model(name, files={f"{name}/__init__.py": "LOADED = True\n"})


def test_compose_an_experiment_of_an_external_model(project):
    importable_model(project, "my_model")
    project.models_file("my_model")
    setup_external_models(strict_validation=True)
    cfg = compose("experiment=my_model_debug")
    assert cfg.model._target_ == "my_model.model.MyModelModel"
    assert cfg.loss._target_ == "my_model.loss.MyModelLoss"
    assert cfg.collator._target_ == "my_model.collators.DefaultMyModelCollator"
    assert (cfg.job_name, cfg.tags.model, cfg.tags.model_type) == ("my_model_debug", "my_model", "my_model")
    assert cfg.datamodule is not None  # xlm's own groups still compose around it
    assert compose("model_type=my_model", "model=my_model").model.d_model == 8


def test_not_listed_model_is_neither_importable_nor_composable(project):
    """The docs' troubleshooting: `ModuleNotFoundError` and a missing config until it is listed."""
    from hydra.errors import MissingConfigException

    importable_model(project, "my_model")
    project.models_file("# my_model is not listed yet")
    setup_external_models(strict_validation=True)
    with pytest.raises(ModuleNotFoundError, match="No module named 'my_model'"):
        __import__("my_model")
    with pytest.raises(MissingConfigException, match="experiment/my_model_debug"):
        compose("experiment=my_model_debug")
    project.models_file("my_model")
    setup_external_models(strict_validation=True)
    assert __import__("my_model").LOADED
    assert compose("experiment=my_model_debug").model._target_ == "my_model.model.MyModelModel"


def test_missing_module_is_explained(project):
    """What xlm says for `No module named 'my_model'`: skipped, not listed, or unknown."""
    from xlm.external.diagnose import explain_missing_module

    importable_model(project, "my_model")
    project.model("broken", files={"configs/model_type/broken.yaml": None})
    file = project.models_file("# my_model is not listed yet", "broken")
    assert explain_missing_module("my_model.model") == (
        f"No module named 'my_model': the model at {project.root / 'my_model'} is not listed in .xlm_models",
        f"add the line 'my_model' to {file}",
    )
    assert explain_missing_module("broken") == (
        "No module named 'broken': model 'broken' was skipped: External model 'broken' missing required config groups: ['model_type']",
        "create configs/model_type/broken.yaml",
    )
    what, fix = explain_missing_module("nowhere")
    assert what == "No module named 'nowhere': no model provides it" and "xlm models" in fix
    project.models_file("my_model")
    assert explain_missing_module("my_model") is None  # registered: not a discovery problem


def test_a_package_no_model_provides_is_named_with_the_configs_that_name_it(project):
    """A job that fails on `No module named 'mdlm'` says which config's `_target_` asked for it."""
    from xlm.external.diagnose import explain_missing_module

    model = project.model("my_model", files={
        "my_model/__init__.py": "LOADED = True\n",
        "configs/model/other.yaml": "# another model's parts\nhead:\n  _target_: 'mdlm.model.Head'\n",
        "configs/model/again.yaml": "update_fn: mdlm.updates.step  # its own\nx: mdlmx.y\n",
    })
    project.models_file("my_model")
    what, fix = explain_missing_module("mdlm")
    assert what == (f"No module named 'mdlm': no model provides it ({model / 'configs/model/again.yaml'}:1 names it, "
                    "and 1 more)") and "xlm models" in fix
    assert explain_missing_module("nowhere")[0] == "No module named 'nowhere': no model provides it"


def test_a_flat_model_listed_under_another_name_is_named_when_its_package_is_missing(project):
    """xlm-core's `fmdl` listed as `./xlm_fmdl` loads; its `fmdl.*` targets then failed with "no
    model provides it" and the fix "list the model", which is listed (fuzz_layouts L4)."""
    from xlm.external.diagnose import explain_missing_module

    from .builders import make_flat_model

    root = make_flat_model(project.root, "fmdl", root=project.root / "xlm_fmdl")
    project.models_file("./xlm_fmdl")
    what, fix = explain_missing_module("fmdl.model")
    assert what.startswith("No module named 'fmdl': model 'xlm_fmdl' is flat, so it is imported as `xlm_fmdl`, and its "
                           f"configs name `fmdl.*` ({root / 'configs'}")
    assert fix.startswith("list it under that name: add #name=fmdl to its line in .xlm_models (a git model), or name its folder fmdl")


def copy_core_model(source: Path, old: str, new: str, dest: Path) -> Path:
    """The docs' migration recipe, done mechanically: copy, rename the package and every file
    and config name, and point imports and targets at the new package."""
    word = re.compile(rf"(?<![A-Za-z0-9]){old}(?![A-Za-z0-9])")
    for path in sorted(source.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        rel = Path(*[word.sub(new, part) for part in path.relative_to(source).parts])
        text = path.read_text(encoding="utf-8")
        write(dest / rel, word.sub(new, text) if path.suffix in (".py", ".yaml", ".md") else text)
    return dest


@pytest.fixture
def arlm_copy(project):
    if not (ARLM_ROOT / "configs").is_dir():
        pytest.skip("xlm/models/arlm is not there yet")
    root = copy_core_model(ARLM_ROOT, "arlm", "arlm_copy", project.root / "arlm_copy")
    project.models_file("arlm_copy")
    found = setup_external_models(strict_validation=True)
    assert found.get("arlm_copy").found.origin == "local"
    return root


def test_renamed_copy_of_arlm_works_as_an_external_model(arlm_copy):
    import torch
    from hydra.utils import instantiate
    from xlm.tokenizer import register_resolvers, tokenizer_from_config

    register_resolvers()
    cfg = compose("experiment=star_easy_arlm_copy")
    assert cfg.model._target_.startswith("arlm_copy.") and cfg.loss._target_.startswith("arlm_copy.")
    tokenizer = tokenizer_from_config(cfg.tokenizer)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    loss_fn = instantiate(cfg.loss, model=model, tokenizer=tokenizer)
    collator = instantiate(cfg.collator, tokenizer=tokenizer)
    batch = collator([{"prompt_ids": [5, 6, 7, 4], "target_ids": [8, 9]}, {"prompt_ids": [10, 4], "target_ids": [11]}])
    out = loss_fn(batch)
    assert type(model).__module__ == "arlm_copy.model"  # the copy, not the core model
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert out["batch_loss"].shape == (2,)


@pytest.mark.slow
def test_renamed_copy_of_arlm_trains(arlm_copy, tmp_path):
    from xlm.jobs import train

    steps = 40
    cfg = compose(
        "experiment=star_easy_arlm_copy",
        "debug=overfit",
        f"trainer.max_steps={steps}",
        "trainer.val_check_interval=20",
        "trainer.log_every_n_steps=5",
        "loggers=csv",
        "model.d_model=32",
        "model.dim_feedforward=64",
        "model.num_layers=1",
        "optimizer.lr=0.003",
        f"paths.output_dir={tmp_path / 'run'}",
        f"paths.data_dir={tmp_path / 'cache'}",
    )
    record = train(cfg)
    assert record["global_step"] == steps
    rows = (tmp_path / "run").rglob("metrics.csv")
    losses = _train_losses(next(rows))
    assert losses[-1] < losses[0] * 0.8, losses


def _train_losses(csv_file: Path) -> list[float]:
    import csv

    with open(csv_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    key = "train/loss"
    return [float(r[key]) for r in rows if r.get(key)]
