"""A job's record of its models: checked against the checkpoint, taken at start, written by rank 0.

`begin(cfg, job, checkpoint, found)` is called by each job right after it knows its config
and before it builds anything:

1. with a checkpoint (eval, generate, resumed train), the drift check (`xlm.provenance.drift`)
   hashes the models the checkpoint's job used and stops the job on a difference, unless
   `allow_model_drift=true`;
2. on rank 0 (as Lightning's `rank_zero_only` decides), a background thread records every
   registered model (`xlm.provenance.collect`) while torch and Lightning load, and writes
   `<run>/models.lock` (+ `models/`) as soon as it has it. `callback()` puts the same record in
   every checkpoint (`checkpoint["xlm"]["models"]`), waiting for the thread if it must.

`record_models=false` skips step 2's work: `models.lock` then says `recorded = false`, and so
do the checkpoints. A failure to record is a warning, never a failed job: the record is about
the job, not part of it.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from pathlib import Path
from typing import Any

from xlm.records.runs import RunInfo, RunRecord, to_checkpoint, with_drift, write_folder

log = logging.getLogger("xlm.provenance")
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's rank_zero_only reads these


def rank() -> int:
    """This process's rank as Lightning's `rank_zero_only` sees it, before Lightning is imported."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def environment(job: str, checkpoint: str | None, recorded: bool, allowed: bool) -> RunInfo:
    """`[run]`: the job, and the versions of xlm, Python and the stack it runs on."""
    from xlm import __version__
    from xlm.external.installed import installed

    versions = installed().versions
    return RunInfo(job, recorded, os.path.abspath(checkpoint) if checkpoint else None, allowed, __version__,
                   platform.python_version(), versions.get("torch"), versions.get("lightning"), versions.get("hydra-core"))


def used_names(models, cfg: Any) -> set[str]:
    """The models the job's config uses: a target into a model's package, or a selected config
    file that a model (not xlm's own tree) provides."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from xlm.external.guard import config_targets, in_core_configs, selections

    targets = config_targets(OmegaConf.to_container(cfg, resolve=False))
    packages = {target.split(".", 1)[0] for target in targets}
    names = {m.name for m in models if m.info.package in packages}
    choices = OmegaConf.to_container(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    for group, option in selections(choices):  # as the job guard reads them (`xlm.external.guard`)
        rel = f"{group}/{option}.yaml"
        owner = next((m for m in models if m.configs_dir is not None and (m.configs_dir / rel).is_file()), None)
        if owner is not None and owner.found.origin != "core" and not in_core_configs(rel):
            names.add(owner.name)
    return names | imported_models(models, names)


def imported_models(models, used: set[str]) -> set[str]:
    """The models whose package the code of a used model imports (`from alpha.model import
    Alpha`), and what theirs imports: that code runs in the job as much as the used model's,
    so a change to it must be seen. Read from the source (`PackageSource.imported_packages`;
    the job imports it seconds later)."""
    from xlm.external.pysource import PackageSource

    by_package = {m.info.package: m for m in models if m.info.package}
    found: set[str] = set()
    memos = {}
    todo = [m for m in models if m.name in used]
    while todo:
        model = todo.pop()
        if model.info.package_dir is None:
            continue
        source = model.info.source or PackageSource(model.info.package_dir)  # discovery's, with its memo
        memos[id(source.memo)] = source.memo
        for package in sorted(source.imported_packages() & by_package.keys()):
            other = by_package[package]
            if other is not model and other.name not in used | found:
                found.add(other.name)
                todo.append(other)
    for memo in memos.values():
        memo.save()
    return found


class Recording:
    """The record of one job, taken in the background; `wait()` gives it (None when not written here)."""

    def __init__(self, info: RunInfo, models: list, used: set[str], project_dir: Path, output_dir: Path | None,
                 done: dict, drifts: list) -> None:
        self.info, self.models, self.used, self.project_dir, self.output_dir = info, models, used, project_dir, output_dir
        self.done, self.drifts = done, {d.name: d for d in drifts}
        self.stamps = _stamp_identities(models, project_dir)  # what `confirm` compares with
        self.record: RunRecord | None = None
        self.failure: str | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> "Recording":
        self.thread = threading.Thread(target=self._run, name="xlm-record-models")
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            record = RunRecord(self.info)
            if self.info.recorded:
                from xlm.provenance.collect import collect

                missing = [m for m in self.models if m.name not in self.done]
                done = {**self.done, **collect(missing, self.used, self.project_dir)}
                for name, item in sorted(done.items()):
                    model = item.record
                    if name in self.drifts:
                        drift = self.drifts[name]
                        model = with_drift(model, drift.recorded, drift.changed)
                    record.models[name] = model
                    if item.files is not None:
                        record.files[name] = item.files
                    if item.patch is not None:
                        record.patches[name] = item.patch
            if self.output_dir is not None:
                write_folder(self.output_dir, record)
            self.record = record
        except Exception as exc:  # noqa: BLE001 - reported as a warning by finish()
            self.failure = f"{type(exc).__name__}: {exc}"

    def wait(self) -> RunRecord | None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
            self._say()
        return self.record

    def _say(self) -> None:
        if self.failure is not None:
            log.warning("warning: the models of this run could not be recorded: %s", self.failure)
        elif self.record is not None and self.output_dir is not None:
            where = Path(self.output_dir) / "models.lock"
            if not self.info.recorded:
                log.info("models not recorded (record_models=false): %s says so", where)
            else:
                dirty = [n for n, m in self.record.models.items() if m.dirty]
                log.info("models recorded in %s (%d models%s)", where, len(self.record.models),
                         f"; dirty: {', '.join(dirty)}" if dirty else "")

    def callback(self):
        """A Lightning callback that puts the record in every checkpoint (None on other ranks)."""
        if self.thread is None and self.record is None:
            return None
        from xlm.provenance.callback import RecordInCheckpoint

        return RecordInCheckpoint(lambda: to_checkpoint(r) if (r := self.wait()) is not None else None)

    def finish(self) -> None:
        self.wait()

    def confirm(self) -> None:
        """After the job's objects are built (its models' code imported): refuse when `xpm` replaced
        a vendored model since the job checked and recorded it, or the run would record one commit
        and train another's code. The stamp is renamed into place by every install, so the same
        stat data prove nothing changed; otherwise the stamp's commit and hash decide."""
        from xlm.errors import UserError
        from xlm.records.stamps import load_stamp

        for name, (identity, before) in self.stamps.items():
            if _identity(self.project_dir, name) == identity:
                continue
            now = load_stamp(self.project_dir, name)
            if now is None or (now.commit, now.hash) != before:
                state = f"holds commit {now.commit[:12]}" if now is not None else "has no install stamp (removed, or being replaced)"
                raise UserError(f"model '{name}' changed while this job started: xlm_models/{name} now {state}, "
                                f"not the commit {before[0][:12]} the job checked and recorded (`xpm` ran meanwhile?)",
                                "run the job again once xpm has finished")


def switch(cfg: Any, key: str, default: bool) -> bool:
    """A true/false setting, strictly: `allow_model_drift=no` was a non-empty string, so true,
    and switched the drift check off."""
    from omegaconf import DictConfig, OmegaConf

    # `DictConfig.get` gives the default for `???`, which would turn an unset switch into a choice
    value = "???" if isinstance(cfg, DictConfig) and OmegaConf.is_missing(cfg, key) else cfg.get(key, default)
    if not isinstance(value, bool):
        from xlm.errors import UserError

        raise UserError(f"{key}={value!r} is not true or false", f"write {key}=true or {key}=false")
    return value


def _identity(project_dir: Path, name: str) -> tuple | None:
    from xlm.records.stamps import stamp_path

    try:
        st = os.stat(stamp_path(project_dir, name))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _stamp_identities(models: list, project_dir: Path) -> dict[str, tuple]:
    """name -> (the stamp's stat identity, (commit, hash)) of each vendored model, as the job starts."""
    from xlm.records.stamps import load_stamp

    found = {}
    for model in models:
        if model.found.origin == "git" and (stamp := load_stamp(project_dir, model.name)) is not None:
            found[model.name] = (_identity(project_dir, model.name), (stamp.commit, stamp.hash))
    return found


def begin(cfg: Any, job: str, checkpoint: str | None, found=None) -> Recording:
    """Check the checkpoint's models (may raise `UserError`), then start recording this job's."""
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    models = list(found.models)
    used = used_names(models, cfg)
    allowed = switch(cfg, "allow_model_drift", False)
    done, drifts = {}, []
    if checkpoint:
        done, drifts = _check_drift(checkpoint, models, used, found.project_dir, allowed)
    recorded = switch(cfg, "record_models", True)
    info = environment(job, checkpoint, recorded, allowed)
    output = cfg.get("paths", {}).get("output_dir") if rank() == 0 else None
    recording = Recording(info, models, used, found.project_dir, Path(output) if output else None, done, drifts)
    return recording.start() if rank() == 0 else recording


def _check_drift(checkpoint: str, models: list, used: set[str], project_dir: Path, allowed: bool) -> tuple[dict, list]:
    from xlm import from_checkpoint
    from xlm.errors import UserError
    from xlm.provenance import drift
    from xlm.provenance.collect import collect
    from xlm.records.lockfile import LockFileError

    try:
        stored = from_checkpoint.stored_models(checkpoint)
    except LockFileError as exc:
        if not allowed:
            newer = exc.fix.startswith("upgrade ")  # a record of a newer xlm: the checkpoint is fine
            raise UserError(f"the record of the models that wrote {checkpoint} cannot be read: {exc.what}",
                            f"{exc.fix if newer else 'use a checkpoint xlm wrote'}, or run without checking the models: "
                            "allow_model_drift=true") from None
        log.warning("warning: the record of the models that wrote %s cannot be read (%s); allow_model_drift=true: running", checkpoint, exc.what)
        return {}, []
    if stored is None or not stored.run.recorded:
        why = "written before xlm recorded models" if stored is None else "written with record_models=false"
        log.warning("warning: %s records no models (%s): the code it ran cannot be compared with this code", checkpoint, why)
        return {}, []
    names = drift.checked_names(stored, used)
    current = collect([m for m in models if m.name in names], used, project_dir)
    drifts = drift.find(stored, current, names)
    if drifts and not allowed:
        raise drift.error(drifts, checkpoint)
    if drifts:
        log.warning("warning: allow_model_drift=true: %s (recorded in this run's models.lock)", drift.message(drifts, checkpoint))
    return current, drifts
