"""The jobs: ``train(cfg)``, ``evaluate(cfg)``, ``generate(cfg)``, plain functions under Hydra.

``main`` is the thin ``@hydra.main`` entry that `xlm` runs; it picks the job from
``cfg.job_type``. Tests and benchmarks call the job functions directly with a composed config.
Each job writes a small JSON record of what it did next to Hydra's ``.hydra/config.yaml``,
and the record of the models it used (`xlm.provenance`: ``models.lock``, and in every
checkpoint); a job that starts from a checkpoint first checks that those models are the code
that wrote it (docs/reproducibility.md).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from xlm import build, from_checkpoint
from xlm.errors import EXIT_USER_ERROR, UserError, verbose
from xlm.run_folder import forget_unstarted_run, holds_only, run_folder
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
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:  # Hydra's train.log: strict UTF-8
            handler.stream.reconfigure(errors="backslashreplace")  # a path that is no UTF-8 lost its lines, with a traceback each
    for message in (
        r".*does not have many workers.*",
        r".*number of training batches.*smaller than the logging interval.*",
        r".*exists and is not empty.*",  # Hydra's .hydra/ is already in the run folder
        r".*isinstance\(treespec, LeafSpec\).*",
        r".*callbacks used to create the checkpoint need to be provided.*",  # eval, generate
    ):
        warnings.filterwarnings("ignore", message=message)


def _choices() -> dict:
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def _resolve(cfg: DictConfig) -> None:
    """Resolve every interpolation in place; one that fails names its file, line and key."""
    unresolved = copy.deepcopy(cfg)  # a failed resolve leaves cfg half-resolved
    try:
        OmegaConf.resolve(cfg)
    except Exception as exc:
        from xlm.config_errors import explain

        if (error := explain(exc, unresolved, _choices())) is None:
            raise
        raise error from exc


def _prepare(cfg: DictConfig) -> DictConfig:
    import lightning as L

    _quiet()
    _resolve(cfg)
    build.require_model(cfg)
    L.seed_everything(build.seed_of(cfg), workers=True, verbose=False)
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


def _command_line() -> list[str]:
    """The overrides of this job (Hydra's), empty when a test calls a job directly."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _with_checkpoint(cfg: DictConfig, job: str) -> tuple[DictConfig, str | None]:
    """``(config, checkpoint)``: a config that names no model is the checkpoint's (`xlm.from_checkpoint`)."""
    path = build.checkpoint_path(cfg, required=job != "train")
    if path is None or cfg.get("model") is not None:
        return cfg, path
    cfg = from_checkpoint.checkpoint_config(cfg, path, _command_line(), job)
    _replace_saved_config(cfg)
    return cfg, path


def _replace_saved_config(cfg: DictConfig) -> None:
    """Hydra saved the composed config in .hydra/config.yaml; the job runs with this one instead."""
    from hydra.core.hydra_config import HydraConfig

    from xlm.textfile import write_atomic

    if HydraConfig.initialized() and HydraConfig.get().output_subdir is not None:
        hydra = HydraConfig.get()
        write_atomic(Path(hydra.runtime.output_dir) / hydra.output_subdir / "config.yaml", OmegaConf.to_yaml(cfg))


def _say_if_memorised(cfg: DictConfig, split: str) -> int | None:
    """Warn when the data are debug=overfit's memorised batch; returns its size for the record."""
    if (note := from_checkpoint.memorised_note(cfg, split)) is not None:
        log.warning("note: %s", note)
    return cfg.datamodule.get("overfit_examples") or None


def _begin(cfg: DictConfig, job: str, checkpoint: str | None, found: Any):
    """The drift check against the checkpoint (may stop the job), then this job's model record."""
    from xlm.provenance.recorder import begin

    return begin(cfg, job, checkpoint, found)


def train(cfg: DictConfig, found: Any = None) -> dict:
    """Fit the harness; resume from ``ckpt_path`` when given (with its config when no model is named).
    ``found``: the job's registered models (`xlm.external_models`), discovered when None.
    Returns the run's record."""
    cfg, resume = _with_checkpoint(cfg, "train")
    recording = _begin(cfg, "train", resume, found)
    cfg = _prepare(cfg)
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    recording.confirm()  # the models' code is imported now: is it what the job checked and records?
    trainer = build.build_trainer(cfg, extra_callbacks=(recording.callback(), _interrupt_watch("train")))
    start = time.perf_counter()
    trainer.fit(harness, datamodule=datamodule, ckpt_path=resume)
    recording.finish()
    record = {
        "job_type": "train",
        "global_step": int(trainer.global_step),
        "fit_seconds": round(time.perf_counter() - start, 3),
        "last_checkpoint": _newest_checkpoint(trainer),
        "resumed_from": resume,
        "metrics": _scalars(trainer.callback_metrics),
    }
    _write_record(cfg, trainer, "train.json", record)
    return record


def evaluate(cfg: DictConfig, found: Any = None) -> dict:
    """Metrics of a checkpoint on ``eval.split`` (val or test); printed and written to eval.json."""
    cfg, path = _with_checkpoint(cfg, "eval")
    recording = _begin(cfg, "eval", path, found)
    cfg = _prepare(cfg)
    split = cfg.eval.split
    if split not in ("val", "test"):
        raise UserError(f"eval.split={split} is not an evaluation split", "use eval.split=val or eval.split=test")
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    recording.confirm()  # the models' code is imported now: is it what the job checked and records?
    trainer = build.build_trainer(cfg, extra_callbacks=(_interrupt_watch("eval"),))
    run = trainer.validate if split == "val" else trainer.test
    results = run(harness, datamodule=datamodule, ckpt_path=path, verbose=True)
    recording.finish()
    memorised = _say_if_memorised(cfg, split)
    record = {"job_type": "eval", "checkpoint": path, "split": split, "overfit_examples": memorised,
              "metrics": _scalars(results[0] if results else {})}
    _write_record(cfg, trainer, "eval.json", record)
    return record


def generate(cfg: DictConfig, found: Any = None) -> dict:
    """Predictions of a checkpoint on ``datamodule.predict_split``, one JSON line per example."""
    cfg, path = _with_checkpoint(cfg, "generate")
    recording = _begin(cfg, "generate", path, found)
    cfg = _prepare(cfg)
    output = _output_file(cfg.generate.output_file)  # before a model predicts for an hour
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    harness = build.build_harness(cfg, tokenizer)
    recording.confirm()  # the models' code is imported now: is it what the job checked and records?
    trainer = build.build_trainer(cfg, extra_callbacks=(_interrupt_watch("generate"),))
    batches = trainer.predict(harness, datamodule=datamodule, ckpt_path=path)
    recording.finish()
    if trainer.world_size > 1:  # each process predicts its share of the examples
        output = output.with_name(f"{output.stem}.rank{trainer.global_rank}{output.suffix}")
    output.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(output, "w", encoding="utf-8") as handle:
        for batch in batches or []:
            for i, text in enumerate(batch["text"]):
                row = {"prediction": text}
                row.update({k: batch[k][i] for k in ("prompt", "target") if k in batch})
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")  # decoded text stays readable
                count += 1
    record = {"job_type": "generate", "checkpoint": path, "output_file": str(output), "examples": count,
              "overfit_examples": cfg.datamodule.get("overfit_examples") or None}
    _write_record(cfg, trainer, "generate.json", record)
    print(f"wrote {count} predictions to {output}")
    _say_if_memorised(cfg, cfg.datamodule.get("predict_split", "test"))
    return record


def _output_file(value: Any) -> Path:
    """`generate.output_file`, absolute (the record says where it went), checked before anything
    is predicted: a folder, or a path through a file, failed only once every prediction was made."""
    output = Path(str(value)).expanduser().absolute()
    blocking = next((p for p in (output, *output.parents) if p.exists() and not p.is_dir()), None)
    if output.is_dir() or (blocking is not None and blocking != output):
        what = "is a folder" if output.is_dir() else f"runs through the file {blocking}"
        raise UserError(f"generate.output_file={value} {what}", "give a file path: generate.output_file=predictions.jsonl")
    if os.path.lexists(output):  # another run's predictions, the checkpoint itself: never overwritten
        raise UserError(f"generate.output_file={value}: {output} already exists", "give a new file, or move that one away first")
    return output


JOBS = {"train": train, "eval": evaluate, "generate": generate}


def run(cfg: DictConfig) -> Any:
    """Dispatch on ``cfg.job_type``. A :class:`UserError`, a config value that cannot be resolved
    (see `xlm.config_errors`), a ``_target_`` whose model package is not registered, or a
    model or target that fails while the job's objects are built (see `xlm.external.diagnose`)
    ends the process with two lines, no traceback (unless ``-v``)."""
    folder = run_folder()
    fresh = folder if folder is not None and holds_only(folder) else None  # Hydra made it for this job
    try:
        job = JOBS.get(cfg.job_type)
        if job is None:
            raise UserError(f"unknown job_type '{cfg.job_type}'", f"use one of: {', '.join(JOBS)}")
        from xlm.external.guard import check_job

        found = check_job(cfg)  # a skipped model's config or a target that names nothing stops the job here
        return job(cfg, found)
    except Exception as exc:
        from xlm.config_errors import explain
        from xlm.external.diagnose import build_error, missing_model_error

        error = exc if isinstance(exc, UserError) else (explain(exc, choices=_choices()) or missing_model_error(exc)
                                                         or build_error(exc) or from_checkpoint.weights_error(exc, cfg.get("ckpt_path")))
        if error is None and _in_sweep():  # a crash (a bug, out of memory): its traceback, and the other jobs still run
            import traceback

            traceback.print_exc()
            _FAILED_SWEEP_JOBS.append((_command_line(), True))
            return None
        if error is None:
            raise
        if verbose():
            import traceback

            traceback.print_exc()
        print(error.render(), file=sys.stderr)
        if _in_sweep():  # the other jobs still run; this one is listed as failed (no record), and the exit says so
            _FAILED_SWEEP_JOBS.append((_command_line(), False))
            return None
        forget_unstarted_run(fresh)
        # SystemExit passes through Hydra's error handler, which would otherwise print a trace
        # (and a line "Error executing job with overrides: ...").
        raise SystemExit(EXIT_USER_ERROR) from None


_FAILED_SWEEP_JOBS: list[tuple[list[str], bool]] = []  # each failed sweep job's overrides, and whether it crashed


def _in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def failed_sweep_jobs() -> list[tuple[list[str], bool]]:
    """The sweep jobs that failed, (overrides, crashed) each (each said why when it ended), and forgets them."""
    failed = list(_FAILED_SWEEP_JOBS)
    _FAILED_SWEEP_JOBS.clear()
    return failed


def _newest_checkpoint(trainer: Any) -> str | None:
    """The newest checkpoint the trainer saved. Lightning's own checkpointing (callbacks=none)
    keeps no `last` path: its newest file is its `best`."""
    saved = [getattr(cb, "last_model_path", "") or getattr(cb, "best_model_path", "") for cb in trainer.checkpoint_callbacks]
    return next((path for path in saved if path), None)


_INTERRUPTED: list[tuple[str, str]] = []  # (job type, the newest checkpoint it saved, or "") of a job Ctrl-C stopped


def _interrupt_watch(job: str) -> Any:
    """A callback that notes a Ctrl-C inside Lightning, which handles it itself and exits with
    status 1, as a crash does: `interrupted` then lets the CLI say so and exit 130."""
    from lightning.pytorch.callbacks import Callback

    class InterruptWatch(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            if isinstance(exception, KeyboardInterrupt):
                _INTERRUPTED.append((job, _newest_checkpoint(trainer) or ""))

    return InterruptWatch()


def interrupted() -> str | None:
    """What to say when Lightning ended a job Ctrl-C stopped (None: it did not)."""
    if not _INTERRUPTED:
        return None
    job, checkpoint = _INTERRUPTED[-1]
    if job == "train" and checkpoint:
        return f"interrupted; its newest checkpoint is {checkpoint}: resume with xlm train ckpt_path={checkpoint}"
    return "interrupted" + ("; it saved no checkpoint" if job == "train" else "")


_STARTED: list[bool] = []  # a job function began: what fails before it is Hydra's setup (run folder, log file)


def started() -> bool:
    return bool(_STARTED)


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def main(cfg: DictConfig) -> None:
    _STARTED.append(True)
    run(cfg)
    _end_process_group()


def _end_process_group() -> None:
    """A finished DDP run's process group, destroyed before the interpreter exits: left to the
    exit, gloo's threads were once torn down under it and the process aborted after writing
    its results (`terminate called without an active exception`, seen in a fresh-venv CI run)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
