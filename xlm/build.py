"""Objects of a run, built from the composed config: tokenizer, datamodule, harness, trainer.

Every job (train, eval, generate) and the benchmarks build through these functions, so a
config means the same thing everywhere. Mistakes a user can fix become :class:`UserError`.
"""

from __future__ import annotations

import os

import re
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from xlm.errors import UserError
from xlm.tokenizer import tokenizer_from_config


def require_model(cfg: DictConfig, experiment: str | None = None) -> None:
    """Refuse a config without a model, loss or collator; `experiment`: the one the command line chose."""
    missing = [key for key in ("model", "loss", "collator") if cfg.get(key) is None]
    groups = {"model": "model", "loss": "model_type", "collator": "collator"}
    if missing and (old := next((key for key in ("_group_", "_name_") if key in cfg), None)):
        raise _hydra10_header(old, missing[0], groups[missing[0]])
    if missing and experiment:
        wanted = ", ".join(f"- override /{groups[key]}: NAME" for key in missing)
        raise UserError(
            f"experiment '{experiment}' selects no {', '.join(missing)}: it does not say which model to train",
            f"add {wanted} to the defaults list of configs/experiment/{experiment}.yaml (or give {groups[missing[0]]}= on the command line)",
        )
    if missing:
        raise UserError(
            f"no {', '.join(missing)} selected: the config does not say which model to train",
            "pick an experiment (e.g. experiment=star_easy_arlm), set model_type=, model= and collator=, "
            "or resume a run: ckpt_path=<run dir>/checkpoints/last.ckpt",
        )


def _hydra10_header(old: str, key: str, group: str) -> UserError:
    """No `key` because a selected config's `# @package _group_` (Hydra 1.0) put its keys under a
    key named `_group_`: named with the file validation warned about, rather than blaming the
    experiment for a selection it makes."""
    from xlm.external_models import find_external_models

    warnings = [w for w in find_external_models().warnings if w.kind == "hydra10_package"]
    warning = next((w for w in warnings if f"{os.sep}configs{os.sep}{group}{os.sep}" in w.where), warnings[0] if warnings else None)
    where = f"{warning.where}: " if warning is not None else ""
    return UserError(f"{where}a config's `# @package` header is Hydra 1.0's: Hydra 1.1 and later take `{old}` literally, "
                     f"so its keys land under a key named `{old}`, and the job has no {key}",
                     warning.fix if warning is not None else "write `# @package _global_` as the first line of the config")


def seed_of(cfg: DictConfig) -> int:
    """`seed`, a whole number (`seed=`, `seed=abc`, `seed=null` were a traceback)."""
    seed = cfg.seed  # `???` raises here, and is named with the override or file that left it unset
    if isinstance(seed, bool) or not isinstance(seed, int):
        shown = "null" if seed is None else repr(seed)
        raise UserError(f"seed={shown} is not a whole number", "give one: seed=42")
    return seed


def build_tokenizer(cfg: DictConfig) -> Any:
    return tokenizer_from_config(cfg.tokenizer)


def build_datamodule(cfg: DictConfig, tokenizer: Any) -> Any:
    _check_block_fits(cfg)
    collator = instantiate(cfg.collator, tokenizer=tokenizer)
    return instantiate(cfg.datamodule, tokenizer=tokenizer, collator=collator)


def _check_block_fits(cfg: DictConfig) -> None:
    """A packed block reaches the model with its <bos> (docs/data.md): `block_size + 1` tokens
    must fit `model.max_length`, or the first batch fails deep in the model."""
    data, model = cfg.get("datamodule") or {}, cfg.get("model") or {}
    block, longest = data.get("block_size"), model.get("max_length")
    if data.get("mode", "lm") != "lm" or not isinstance(block, int) or not isinstance(longest, int):
        return
    if block + 1 > longest:
        raise UserError(f"datamodule.block_size={block} does not fit model.max_length={longest}: the model sees <bos> "
                        f"and the block, {block + 1} tokens",
                        f"use datamodule.block_size={longest - 1} or less, or raise model.max_length")


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


def _instantiate_each(node: Any, what: str, group: str, kind: type | None = None) -> list:
    """One object per entry of ``node``; with ``kind``, each must be one (Lightning fails far
    later, with a traceback, on a callback that is not a `Callback`)."""
    out = []
    for name, spec in (node or {}).items():
        try:
            built = instantiate(spec)
        except Exception as exc:
            if (package := missing_package(exc)) is None:
                raise
            raise UserError(
                f"{what} '{name}' needs the Python package '{package}', which is not installed",
                f"pip install {package}   (or choose {group} without '{name}')",
            ) from None
        if kind is not None and not isinstance(built, kind):
            target = spec.get("_target_") if isinstance(spec, DictConfig) else None
            raise UserError(f"{group}.{name} builds {target or type(built).__name__}, which is not a Lightning {kind.__name__}",
                            f"give {group}.{name}._target_ a {kind.__name__} class (lightning.pytorch.callbacks.*), or drop it: ~{group}.{name}")
        out.append(built)
    return out


def build_trainer(cfg: DictConfig, extra_callbacks: tuple = (), **overrides: Any) -> Any:
    """The Lightning Trainer of ``cfg.trainer`` with the configured loggers and callbacks, plus
    ``extra_callbacks`` (the jobs' own, e.g. the model record of every checkpoint; None skipped)."""
    loggers = _instantiate_each(cfg.get("loggers"), "logger", "loggers")
    from lightning.pytorch.callbacks import Callback

    callbacks = _instantiate_each(cfg.get("callbacks"), "callback", "callbacks", Callback)
    callbacks += [c for c in extra_callbacks if c is not None]
    try:
        return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, **overrides)
    except InstantiationException as exc:  # a trainer.* value Lightning refuses (accelerator=gpu on a CPU, ...)
        import sys

        cause = exc.__cause__ or exc
        given = [arg for arg in sys.argv[1:] if arg.startswith(("trainer.", "trainer_strategy="))]  # Lightning names none
        raise UserError(
            f"Lightning refuses the trainer settings: {type(cause).__name__}: {cause}"
            + (f" (the command line set {', '.join(given)})" if given else ""),
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
    if not isinstance(path, (str, Path)):  # ckpt_path=[a,b]: a traceback from pathlib
        raise UserError("ckpt_path takes one checkpoint, not a list", f"one job per checkpoint: xlm {cfg.job_type} -m ckpt_path=A,B")
    launched = _launch_dir()  # a relative path is the command's, though hydra.job.chdir=true moved the job
    found = Path(path) if launched == Path.cwd() else launched / path
    if not os.path.isfile(found):  # os.path: a name over 255 bytes is no file, not an OSError
        what = "is not a regular file" if os.path.exists(found) else "does not exist"  # a folder, a fifo
        raise UserError(f"checkpoint '{path}' {what}", "check ckpt_path= (runs keep theirs in <output_dir>/checkpoints/)")
    return str(found)


def _launch_dir() -> Path:
    """The folder the command ran in (Hydra's `runtime.cwd`; the current one outside a job)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()

