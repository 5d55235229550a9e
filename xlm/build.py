"""Objects of a run, built from the composed config: tokenizer, datamodule, harness, trainer.

Every job (train, eval, generate) and the benchmarks build through these functions, so a
config means the same thing everywhere. Mistakes a user can fix become :class:`UserError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from xlm.errors import UserError
from xlm.tokenizer import tokenizer_from_config

# Nodes that define what a checkpoint is (its model, data and metrics), as opposed to how a
# job runs (trainer, loggers, paths); `xlm eval ckpt_path=...` reuses the former.
MODEL_NODES = (
    "tokenizer", "datamodule", "collator", "model", "loss", "predictor",
    "reported_metrics", "lightning_module", "optimizer", "lr_scheduler", "tags",
)


def require_model(cfg: DictConfig) -> None:
    missing = [key for key in ("model", "loss", "collator") if cfg.get(key) is None]
    if missing:
        raise UserError(
            f"no {', '.join(missing)} selected: the config does not say which model to train",
            "pick an experiment (e.g. experiment=star_easy_arlm) or set model_type=, model= and collator=",
        )


def build_tokenizer(cfg: DictConfig) -> Any:
    return tokenizer_from_config(cfg.tokenizer)


def build_datamodule(cfg: DictConfig, tokenizer: Any) -> Any:
    collator = instantiate(cfg.collator, tokenizer=tokenizer)
    return instantiate(cfg.datamodule, tokenizer=tokenizer, collator=collator)


def build_harness(cfg: DictConfig, tokenizer: Any) -> Any:
    """The LightningModule named by ``lightning_module._target_`` (default :class:`xlm.harness.Harness`)."""
    spec = OmegaConf.to_container(cfg.lightning_module, resolve=True)
    cls = get_class(spec.pop("_target_"))
    return cls(cfg=cfg, tokenizer=tokenizer, **spec)


def missing_package(exc: BaseException) -> str | None:
    """The pip name of the package whose absence caused ``exc`` (or one of its causes), if any.

    Lightning reports an optional logger's missing package as ``Requirement 'wandb>=0.12.10'
    not met``, without the module name a plain ``ModuleNotFoundError`` carries.
    """
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if not isinstance(exc, ImportError):
        return None
    if exc.name:
        return exc.name.split(".")[0]
    match = re.search(r"Requirement '([A-Za-z0-9_.\-]+?)(?:[<>=!~;\[ ]|')", str(exc))
    return match.group(1) if match else None


def _instantiate_each(node: Any, what: str, group: str) -> list:
    out = []
    for name, spec in (node or {}).items():
        try:
            out.append(instantiate(spec))
        except Exception as exc:
            if (package := missing_package(exc)) is None:
                raise
            raise UserError(
                f"{what} '{name}' needs the Python package '{package}', which is not installed",
                f"pip install {package}   (or choose {group} without '{name}')",
            ) from None
    return out


def build_trainer(cfg: DictConfig, **overrides: Any) -> Any:
    """The Lightning Trainer of ``cfg.trainer`` with the configured loggers and callbacks."""
    loggers = _instantiate_each(cfg.get("loggers"), "logger", "loggers")
    callbacks = _instantiate_each(cfg.get("callbacks"), "callback", "callbacks")
    try:
        return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, **overrides)
    except InstantiationException as exc:  # a trainer.* value Lightning refuses (accelerator=gpu on a CPU, ...)
        cause = exc.__cause__ or exc
        raise UserError(
            f"Lightning refuses the trainer settings: {type(cause).__name__}: {cause}",
            "check the trainer.* and trainer_strategy= overrides (`--cfg job` prints them)",
        ) from exc


def checkpoint_path(cfg: DictConfig, required: bool) -> str | None:
    path = cfg.get("ckpt_path")
    if not path:
        if required:
            raise UserError(
                f"{cfg.job_type} needs a checkpoint", "pass ckpt_path=<run dir>/checkpoints/last.ckpt"
            )
        return None
    if not Path(path).is_file():
        raise UserError(f"checkpoint '{path}' does not exist", "check ckpt_path= (runs keep theirs in <output_dir>/checkpoints/)")
    return str(path)


def stored_config(path: str) -> dict:
    """The resolved config a checkpoint was trained with (saved there by the harness)."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    cfg = checkpoint.get("hyper_parameters", {}).get("cfg")
    if cfg is None:
        raise UserError(f"checkpoint '{path}' has no stored config (not written by xlm?)", "also pass experiment=<its experiment>")
    return cfg


def with_checkpoint_model(cfg: DictConfig, path: str, overrides: list[str]) -> DictConfig:
    """``cfg`` with the model nodes of the checkpoint's config when the command named no model.

    The user's own ``key=value`` overrides of those nodes still apply on top, so
    ``xlm eval ckpt_path=... datamodule.eval_batch_size=8`` does what it says.
    """
    if cfg.get("model") is not None:
        return cfg
    stored = stored_config(path)
    merged = OmegaConf.to_container(cfg)  # unresolved: run-time interpolations stay live
    merged.update({k: stored[k] for k in MODEL_NODES if k in stored})  # replace whole nodes
    keys = [o.split("=", 1)[0] for o in overrides]
    mine = [o for o, k in zip(overrides, keys) if "." in k and k.split(".", 1)[0] in MODEL_NODES]
    return OmegaConf.merge(OmegaConf.create(merged), OmegaConf.from_dotlist(mine))
