"""A job's run folder while Hydra runs it: the one Hydra made for it (`run_folder`), and its
deletion when a mistake stops the job before it trained or evaluated anything, so that it never
passes for the newest run (`forget_unstarted_run`)."""

from __future__ import annotations

from pathlib import Path

_HYDRA_FILES = frozenset({"config.yaml", "hydra.yaml", "overrides.yaml"})


def run_folder() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None


def holds_only(folder: Path, extra: frozenset = frozenset()) -> bool:
    """Whether `folder` holds nothing but what Hydra writes for a job (its config files, a log)
    and the names in `extra`."""
    from hydra.core.hydra_config import HydraConfig

    subdir = HydraConfig.get().output_subdir
    try:
        for entry in folder.iterdir():
            if entry.is_symlink():
                return False
            if entry.name == subdir and entry.is_dir():
                if any(p.name not in _HYDRA_FILES or not p.is_file() or p.is_symlink() for p in entry.iterdir()):
                    return False
            elif not (entry.suffix == ".log" and entry.is_file()) and entry.name not in extra:
                return False
    except OSError:
        return False
    return True


_RECORD = frozenset({"models.lock", "models", "tokenizer"})  # the model record, and the tokenizer a text job saves, before it trains


def forget_unstarted_run(folder: Path | None) -> None:
    """Delete the run folder of a job refused before it trained or evaluated anything (a drift
    check, a checkpoint's config, a wrong value): it holds Hydra's config files, a log of the
    lines the terminal showed, at most the model record, and would pass for the newest run.
    `folder` is None when it held more than Hydra's files when the job began: nothing is deleted."""
    if folder is not None and holds_only(folder, _RECORD):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)  # the refusal is what matters; a folder that stays is harmless
        here = Path.cwd()
        for parent in folder.parents:  # outputs/train/<job_name>/ made for it: gone too when empty (never above here)
            if parent == here or not parent.is_relative_to(here):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty: other runs
                break
