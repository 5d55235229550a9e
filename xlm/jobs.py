"""The jobs: ``train(cfg)``, ``evaluate(cfg)``, ``generate(cfg)``, plain functions under Hydra.

``main`` is the thin ``@hydra.main`` entry that `xlm` runs; it picks the job from
``cfg.job_type``. Tests and benchmarks call the job functions directly with a composed config.
Each job writes a small JSON record of what it did next to Hydra's ``.hydra/config.yaml``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from xlm import build
from xlm.errors import EXIT_USER_ERROR, UserError
from xlm.tokenizer import register_resolvers

register_resolvers()
log = logging.getLogger(__name__)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip: For seamless" not in record.getMessage()  # litlogger, litmodels


def _quiet() -> None:
    """Keep the console to what a run says about itself.

    Lightning prints through its own handler *and* propagates to Hydra's, so each line came
    twice; with its handler gone, lines go once, through Hydra, to the console and the run's
    log file. The warnings are advice that does not apply here (small synthetic tasks;
    eval and generate need no checkpoint callback).
    """
    import lightning  # noqa: F401  (adds the handler removed here)

    lightning_logger = logging.getLogger("lightning")
    for handler in [h for h in lightning_logger.handlers if type(h) is logging.StreamHandler]:
        lightning_logger.removeHandler(handler)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropAdverts) for f in handler.filters):
            handler.addFilter(_DropAdverts())
    for message in (
        r".*does not have many workers.*",
        r".*number of training batches.*smaller than the logging interval.*",
        r".*exists and is not empty.*",  # Hydra's .hydra/ is already in the run folder
        r".*isinstance\(treespec, LeafSpec\).*",
        r".*callbacks used to create the checkpoint need to be provided.*",  # eval, generate
    ):
        warnings.filterwarnings("ignore", message=message)


def _prepare(cfg: DictConfig) -> DictConfig:
    import lightning as L

    _quiet()
    OmegaConf.resolve(cfg)
    build.require_model(cfg)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    return cfg


def _write_record(cfg: DictConfig, trainer: Any, name: str, record: dict) -> None:
    """``<output_dir>/<name>``, and the same record as the last line of the run's log."""
    if trainer.is_global_zero:
        out = Path(cfg.paths.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        log.info("%s: %s", out / name, json.dumps(record, sort_keys=True))


def _scalars(metrics: dict) -> dict:
    return {k: float(v) for k, v in sorted(metrics.items())}


def train(cfg: DictConfig) -> dict:
    """Fit the harness; resume from ``ckpt_path`` when given. Returns the run's record."""
    cfg = _prepare(cfg)
    resume = build.checkpoint_path(cfg, required=False)
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    trainer = build.build_trainer(cfg)
    start = time.perf_counter()
    trainer.fit(harness, datamodule=datamodule, ckpt_path=resume)
    checkpoint = next((cb for cb in trainer.checkpoint_callbacks if getattr(cb, "last_model_path", "")), None)
    record = {
        "job_type": "train",
        "global_step": int(trainer.global_step),
        "fit_seconds": round(time.perf_counter() - start, 3),
        "last_checkpoint": checkpoint.last_model_path if checkpoint else None,
        "resumed_from": resume,
        "metrics": _scalars(trainer.callback_metrics),
    }
    _write_record(cfg, trainer, "train.json", record)
    return record


def _load_for_eval(cfg: DictConfig) -> tuple[DictConfig, str]:
    path = build.checkpoint_path(cfg, required=True)
    overrides: list[str] = []
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        overrides = list(HydraConfig.get().overrides.task)
    return build.with_checkpoint_model(cfg, path, overrides), path


def evaluate(cfg: DictConfig) -> dict:
    """Metrics of a checkpoint on ``eval.split`` (val or test); printed and written to eval.json."""
    cfg, path = _load_for_eval(cfg)
    cfg = _prepare(cfg)
    split = cfg.eval.split
    if split not in ("val", "test"):
        raise UserError(f"eval.split={split} is not an evaluation split", "use eval.split=val or eval.split=test")
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    trainer = build.build_trainer(cfg)
    run = trainer.validate if split == "val" else trainer.test
    results = run(harness, datamodule=datamodule, ckpt_path=path, verbose=True)
    record = {"job_type": "eval", "checkpoint": path, "split": split, "metrics": _scalars(results[0] if results else {})}
    _write_record(cfg, trainer, "eval.json", record)
    return record


def generate(cfg: DictConfig) -> dict:
    """Predictions of a checkpoint on ``datamodule.predict_split``, one JSON line per example."""
    cfg, path = _load_for_eval(cfg)
    cfg = _prepare(cfg)
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    trainer = build.build_trainer(cfg)
    batches = trainer.predict(harness, datamodule=datamodule, ckpt_path=path)
    output = Path(cfg.generate.output_file)
    if trainer.world_size > 1:  # each process predicts its share of the examples
        output = output.with_name(f"{output.stem}.rank{trainer.global_rank}{output.suffix}")
    output.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(output, "w", encoding="utf-8") as handle:
        for batch in batches or []:
            for i, text in enumerate(batch["text"]):
                row = {"prediction": text}
                row.update({k: batch[k][i] for k in ("prompt", "target") if k in batch})
                handle.write(json.dumps(row) + "\n")
                count += 1
    record = {"job_type": "generate", "checkpoint": path, "output_file": str(output), "examples": count}
    _write_record(cfg, trainer, "generate.json", record)
    print(f"wrote {count} predictions to {output}")
    return record


JOBS = {"train": train, "eval": evaluate, "generate": generate}


def run(cfg: DictConfig) -> Any:
    """Dispatch on ``cfg.job_type``; a :class:`UserError`, or a ``_target_`` whose model package is
    not registered (see `xlm.external.diagnose`), ends the process with two lines, no traceback."""
    try:
        job = JOBS.get(cfg.job_type)
        if job is None:
            raise UserError(f"unknown job_type '{cfg.job_type}'", f"use one of: {', '.join(JOBS)}")
        return job(cfg)
    except Exception as exc:
        from xlm.external.diagnose import missing_model_error

        error = exc if isinstance(exc, UserError) else missing_model_error(exc)
        if error is None:
            raise
        print(error.render(), file=sys.stderr)
        # SystemExit passes through Hydra's error handler, which would otherwise print a trace
        # (and a line "Error executing job with overrides: ...").
        raise SystemExit(EXIT_USER_ERROR) from None


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    run(cfg)
