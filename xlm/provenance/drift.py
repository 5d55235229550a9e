"""Is the code about to run the code that wrote the checkpoint? (eval, generate, resumed train)

The checkpoint's record (`checkpoint["xlm"]["models"]`) holds the content hash and the file
list of every model its job used. Each of them is hashed now, the same way; a different hash,
or a model that is not registered any more, stops the job before it builds anything, naming
the model and the files that changed (from the two file lists), with the way back (`xpm install
--from-run`) and the explicit way on (`allow_model_drift=true`, which the new run records).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xlm.errors import UserError, first_of
from xlm.records.runs import RUN_FILE, RunRecord
from xlm.shown import show

_SHOWN = 10  # changed files named per model; the rest are counted


@dataclass(frozen=True)
class Drift:
    """A model the checkpoint used whose code is not the recorded one."""

    name: str
    recorded: str | None  # the checkpoint's hash
    now: str | None  # the hash of the code here; None: the model is not registered now
    changed: list[str] | None  # the files that differ; None: unknown (a side has no file list)
    kind: str = ""  # the recorded kind: a `core` model comes with xlm, and xpm cannot put it back
    commit: str | None = None  # the recorded commit (of xlm's work tree, for a core model)
    note: str | None = None  # why the record has no hash, when it has none
    source: str | None = None  # the recorded source (an installed model's distribution)
    version: str | None = None  # an installed model's recorded version

    def detail(self) -> str:
        if self.now is None:
            return "it is not registered now (not listed, skipped, or its folder is gone)"
        if self.recorded is None:
            return (f"its code was not recorded when the checkpoint was written ({self.note or 'no hash'}), so xlm "
                    "cannot tell whether it is that code")
        if self.changed is None:
            files = "changed files unknown (the record has no file list)"
        else:
            files = f"changed files: {first_of([show(f, 120) for f in self.changed], _SHOWN) or 'none (only the hash)'}"
        return f"{files} (recorded {_short(self.recorded)}, now {_short(self.now)})"


def _short(value: str | None) -> str:
    return value[: len("sha256-tree:") + 12] if value else "none"


def changed_files(before: dict | None, after: dict | None) -> list[str] | None:
    """Paths whose mode or content differ, or that only one side has; None when a side is unknown."""
    if before is None or after is None:
        return None
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def checked_names(stored: RunRecord, used_now: set[str]) -> list[str]:
    """The models to compare: those the checkpoint's job used, and those this job uses that it recorded."""
    return sorted(name for name, model in stored.models.items() if model.used or name in used_now)


def find(stored: RunRecord, current: dict, names: list[str]) -> list[Drift]:
    """The drift of each of `names` between the checkpoint's record and `current`
    (name -> `xlm.provenance.collect.Collected`); [] when all are the recorded code."""
    from xlm.records.treehash import parse_tree_text

    drifts = []
    for name in names:
        recorded = stored.models[name]
        now = current.get(name)
        facts = dict(kind=recorded.kind, commit=recorded.commit, note=recorded.note, source=recorded.source,
                     version=recorded.version)
        if now is None:
            drifts.append(Drift(name, recorded.hash, None, None, **facts))
        elif recorded.hash is None or now.record.hash != recorded.hash:
            after = parse_tree_text(now.files) if now.files is not None else None
            drifts.append(Drift(name, recorded.hash, now.record.hash or "none", changed_files(stored.tree(name), after), **facts))
    return drifts


def run_of(checkpoint: str) -> str:
    """What `xpm install --from-run` should be given: the run folder the checkpoint belongs to
    (`RUN/checkpoints/x.ckpt` with `RUN/models.lock`), else the checkpoint itself."""
    path = Path(checkpoint)
    if path.parent.name == "checkpoints" and (path.parent.parent / RUN_FILE).is_file():
        return str(path.parent.parent)
    return str(path)


def message(drifts: list[Drift], checkpoint: str) -> str:
    names = ", ".join(f"'{d.name}'" for d in drifts)
    subject = f"model {names} is" if len(drifts) == 1 else f"models {names} are"
    details = "; ".join(f"'{d.name}': {d.detail()}" for d in drifts) if len(drifts) > 1 else drifts[0].detail()
    return f"{subject} not the code that wrote {checkpoint}: {details}"


def error(drifts: list[Drift], checkpoint: str) -> UserError:
    # xpm puts back what it recorded of models it restores: not xlm's own, not a pip-installed
    # distribution, not code whose hash was never recorded.
    restorable = [d for d in drifts if d.kind not in ("core", "installed") and d.recorded is not None]
    ways = [f"get that code back with `xpm install --from-run {run_of(checkpoint)}`"] if restorable else []
    ways += [f"install the version that wrote it: pip install '{d.source}=={d.version}'"
             for d in drifts if d.kind == "installed" and d.source and d.version]
    core = [d for d in drifts if d.kind == "core"]
    if core:  # xpm restores nothing of xlm itself: only another xlm brings a core model's code back
        commit = next((d.commit for d in core if d.commit), None)
        names = ", ".join(f"'{d.name}'" for d in core)
        ways.append(f"run the xlm that wrote it ({names} {'comes' if len(core) == 1 else 'come'} with xlm"
                    + (f"; it was xlm's commit {commit[:12]})" if commit else ")"))
    fix = ", or ".join([*ways, "run on the code as it is now with allow_model_drift=true (recorded in this run)"])
    return UserError(message(drifts, checkpoint), fix)
