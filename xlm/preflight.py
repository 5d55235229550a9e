"""Refusals before heavy work: what the composed config alone proves will fail.

A job imports torch and Lightning before it builds anything (several seconds), so `xlm train`
without a model, or on a GPU the machine does not have, used to answer only after 10 s.
Hydra's compose API gives the same config in a fraction of a second, without torch; these
checks run on it first. A check that cannot be sure (there is a GPU device, but CUDA may not
work) leaves the decision to Lightning.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from xlm.errors import UserError, did_you_mean

GPU_ACCELERATORS = ("gpu", "cuda")


def compose(overrides: list[str]) -> Any:
    """The config `xlm` would run (without Hydra's own node); composition mistakes are `UserError`s."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    try:
        with initialize_config_module("xlm.configs", version_base="1.3"):
            return hydra_compose("config", overrides=overrides)
    except Exception as exc:
        from xlm.config_errors import explain

        if (error := explain(exc, choices=selections(overrides))) is None:
            raise
        raise error from exc


def selections(overrides: list[str]) -> dict[str, str]:
    """``{group: option}`` of plain ``group=option`` overrides (where config files are searched first)."""
    pairs = (o.split("=", 1) for o in overrides if "=" in o and not o.startswith(("+", "~")))
    return {key: value for key, value in pairs if "." not in key}


_NEEDED = ("seed", "trainer", "lightning_module", "optimizer")  # what every job reads directly


def check(cfg: Any, jobs: Mapping[str, str], chosen: Mapping[str, str] | None = None, overrides: list[str] = ()) -> None:
    """Refuse a job that cannot run: unknown job type, no model nor checkpoint, a GPU that is not
    there. `chosen`: the command line's `group=option` selections (`selections`); `overrides`: all of it."""
    from xlm import build

    job_type = _value(cfg, "job_type")
    if job_type not in jobs:
        raise UserError(f"unknown job_type '{job_type}'", f"{did_you_mean(str(job_type), jobs)}use one of: {', '.join(jobs)}")
    if missing := [key for key in _NEEDED if key not in cfg.keys()]:  # `~optimizer` (not `seed=???`: keys() lists it)
        raise UserError(f"the job needs `{missing[0]}`, which the config no longer has (removed with ~{missing[0]}?)",
                        f"keep {missing[0]}: drop ~{missing[0]} from the command line, or give it a value")
    if not _interpolated(cfg, "job_name") and ".." in str(_value(cfg, "job_name")).replace("\\", "/").split("/"):
        raise UserError(f"job_name={_value(cfg, 'job_name')} climbs out of the runs' folder: it names the run folder "
                        "(outputs/<job_type>/<job_name>/<time>), and '..' would put it elsewhere",
                        "give a name without '..' (to choose the folder itself: hydra.run.dir=PATH)")
    path = build.checkpoint_path(cfg, required=job_type != "train")
    if path is None:
        if removed := next((key for key in ("model", "loss", "collator") if cfg.get(key) is None
                            and any(o == f"~{key}" or o.startswith(f"~{key}=") for o in overrides)), None):
            raise UserError(f"`~{removed}` on the command line removed the {removed} the job needs",  # it blamed the experiment
                            f"drop ~{removed} (to use another one, select it: {'model_type' if removed == 'loss' else removed}=NAME)")
        build.require_model(cfg, (chosen or {}).get("experiment"))
    if not _interpolated(cfg, "seed"):  # refused before torch is imported
        build.seed_of(cfg)
    from xlm.provenance.recorder import switch

    for key, default in (("allow_model_drift", False), ("record_models", True)):
        if not _interpolated(cfg, key, unset_too=False):  # an unset switch is no choice: `switch` refuses it
            switch(cfg, key, default)
    accelerator = str(_value(cfg, "trainer.accelerator") or "").lower()
    if accelerator in GPU_ACCELERATORS and (reason := no_gpu_reason()) is not None:
        raise UserError(
            f"trainer.accelerator={accelerator} (from the command line or trainer_strategy=), but {reason}",
            "run on the CPU: trainer.accelerator=cpu (or auto, which takes a GPU when there is one)",
        )


def _given(overrides: list[str], key: str) -> str | None:
    """The value the command line gives `key` (its last `key=VALUE`), None when none."""
    return next((o.split("=", 1)[1] for o in reversed(overrides) if o.startswith(key + "=")), None)


def check_not_in_vendored(overrides: list[str]) -> None:
    """Refuse a job started inside `xlm_models/`: its run folder (relative to the current
    folder) would be written into a vendored model, which then no longer matches xlm.lock, and
    the job would blame its own files on the user. A run folder given on the command line is
    the user's choice."""
    if _given(overrides, "hydra.run.dir") or _given(overrides, "hydra.sweep.dir"):
        return
    from xlm.external.discovery import VENDOR_DIR_NAME
    from xlm.manifest import find_models_file

    if (found := find_models_file(Path.cwd())) is None:
        return
    vendored, here = found.parent / VENDOR_DIR_NAME, Path(os.path.realpath(os.getcwd()))
    if here == vendored or vendored in here.parents:
        raise UserError(f"jobs run from the project folder, not from inside {vendored}: the run folder (outputs/...) would be "
                        "written into a vendored model",
                        f"cd {found.parent} and run the command again (or give the run folder: hydra.run.dir=PATH)")


def check_sweep_dir(overrides: list[str]) -> None:
    """Refuse a sweep folder given on the command line (`hydra.sweep.dir=`) that holds an earlier
    sweep: its job folders would be reused (two runs' checkpoints and logs in one) and its
    summary would list the earlier sweep's jobs as this one's."""
    if not (given := _given(overrides, "hydra.sweep.dir")):
        return
    from xlm.sweep import RECORDS, SUMMARY_FILE

    folder = Path(os.path.expanduser(given))
    try:
        done = (folder / SUMMARY_FILE).is_file() or any((job / name).is_file() for job in folder.iterdir() for name in RECORDS)
    except OSError:  # no such folder yet (or not one: Hydra says so)
        return
    if done:
        raise UserError(f"hydra.sweep.dir={given} holds an earlier sweep: a second one there would mix their jobs' files "
                        "and summaries", "choose another folder (hydra.sweep.dir=...), or move that sweep away first")


def check_run_dir(overrides: list[str]) -> None:
    """Refuse a run folder given on the command line (`hydra.run.dir=`) that holds a finished
    run: a second run there mixes the two (its config and record over the first's, while
    `checkpoints/last.ckpt` stays the first's). Checked before Hydra writes anything there."""
    if not (given := _given(overrides, "hydra.run.dir")):
        return
    from xlm.sweep import RECORDS

    folder = Path(os.path.expanduser(given))
    if done := next((name for name in RECORDS if os.path.isfile(folder / name)), None):  # os.path: a too long name is none
        raise UserError(f"hydra.run.dir={given} holds a finished run ({done}): a second run there would mix their files "
                        "(checkpoints/last.ckpt would stay the first run's)",
                        "choose another folder (hydra.run.dir=...), or move that run away first")


def _interpolated(cfg: Any, key: str, unset_too: bool = True) -> bool:
    """Whether ``key`` is an interpolation (``${...}``) or (``unset_too``) ``???``, which only a
    running job resolves, or says it cannot (naming where it was left unset)."""
    from omegaconf import OmegaConf

    try:  # `key in cfg` is false for a `???` value
        return (unset_too and OmegaConf.is_missing(cfg, key)) or OmegaConf.is_interpolation(cfg, key)
    except Exception:  # noqa: BLE001  (no such key: the check of its value decides)
        return False


def _value(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.select(cfg, key)
    except Exception:  # noqa: BLE001  (an interpolation only a running job resolves: not ours to judge)
        return None


def no_gpu_reason(dev: Path = Path("/dev"), environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why this machine certainly has no GPU for torch, or None when it may have one.

    Cheap and one-sided, like a stat: device files that are absent prove there is no GPU;
    present ones prove nothing (a driver may be broken), so Lightning decides then.
    """
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if not platform.startswith("linux"):
        return None  # macOS has MPS, other systems their own drivers: leave it to Lightning
    for pattern in ("nvidia[0-9]*", "kfd", "dxg"):  # NVIDIA, AMD ROCm, WSL
        if any(dev.glob(pattern)):
            return None
    return "this machine has no GPU (no NVIDIA, AMD or WSL GPU device in /dev)"
