"""`xlm runs show PATH` and `xlm runs diff A B`: a run's record of its models, as a person reads it.

PATH is a run folder, its `models.lock`, or a checkpoint; all three are read with the
standard library only (a checkpoint by `xlm.records.checkpoint`, which runs nothing of it):
no torch.
"""

from __future__ import annotations

from xlm.errors import UserError, first_of
from xlm.records.runs import ModelRecord, RunRecord
from xlm.shown import show

USAGE = """usage: xlm runs show PATH        the models a run used (PATH: a run folder or a checkpoint)
       xlm runs diff A B        which models, commits, hashes and versions differ between two runs

Exit status of diff: 0 when the runs used the same models and versions, 1 when they differ.
The record's format: docs/reproducibility.md."""

ENVIRONMENT = ("xlm", "python", "torch", "lightning", "hydra_core")
COMPARED = ("used", "kind", "source", "overrides", "requested", "resolved", "version", "commit", "subdir", "dirty", "hash",
            "requires", "requires_python", "installed")


def read_run(path: str) -> RunRecord:
    """The record of a run folder, a `models.lock`, or a checkpoint; `UserError` when there is none."""
    from xlm.records.find import find_record
    from xlm.records.lockfile import LockFileError

    try:
        return find_record(path)
    except LockFileError as exc:
        raise UserError(exc.what, exc.fix) from None


# ----------------------------------------------------------------------------- show
def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _short_hash(value: str | None) -> str:
    return value[: len("sha256-tree:") + 12] if value else "-"


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def _source(model: ModelRecord) -> str:
    text = model.source
    if model.kind == "vendored" or model.requested:
        text += f"@{model.requested}" if model.requested else ""
    if model.overrides:
        text += f" (instead of {model.overrides})"
    if model.version:
        text += f" {model.version}"
    return show(text, 200)


def format_record(record: RunRecord) -> str:
    run = record.run
    lines = [f"run: {show(record.origin, 300)} ({run.job})"]
    versions = [f"{name.replace('_', '-')} {getattr(run, name)}" for name in ENVIRONMENT if getattr(run, name)]
    lines.append(show(", ".join(versions), 300))
    if run.checkpoint:
        lines.append(f"started from: {show(run.checkpoint, 300)}")
    if run.allow_model_drift:
        lines.append("allow_model_drift=true: the models marked 'drift' below are not the code that wrote that checkpoint")
    if not run.recorded:
        lines.append("models: not recorded (the run was started with record_models=false)")
        return "\n".join(lines)
    rows = [["NAME", "KIND", "USED", "COMMIT", "DIRTY", "HASH", "SOURCE"]]
    for name, model in sorted(record.models.items()):
        rows.append([name + (" (drift)" if model.drift_from else ""), model.kind, _yes(model.used),
                     (model.commit or "-")[:12], _yes(model.dirty), _short_hash(model.hash), _source(model)])
    lines += ["", _table(rows)]
    details = []
    for name, model in sorted(record.models.items()):
        if model.patch:
            details.append(f"  {name}: {show(model.repository or '', 300)} is dirty; its changes against "
                           f"{(model.commit or 'no commit')[:12]}: {model.patch}"
                           + (" (saved inside the checkpoint)" if record.in_checkpoint else ""))
        if model.requires:
            installed = f" (installed: {', '.join(model.installed)})" if model.installed else ""
            details.append(show(f"  {name} needs {', '.join(model.requires)}{installed}", 600))
        if model.drift_from:
            files = show(", ".join(model.drift_files), 300) if model.drift_files else "unknown files"
            details.append(f"  {name}: ran instead of {_short_hash(model.drift_from)} (changed: {files})")
        if model.note:
            details.append(f"  {name}: note: {show(model.note, 300)}")
    if details:
        lines += ["", *details]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- diff
def _text(name: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return show("[" + ", ".join(value) + "]", 300)
    return show(str(value), 120)


def diff_records(a: RunRecord, b: RunRecord) -> list[str]:
    """One line per difference, models first (sorted by name), then `[run]`'s versions; [] when none."""
    from xlm.provenance.drift import changed_files

    out = []
    for name in sorted(a.models.keys() | b.models.keys()):
        left, right = a.models.get(name), b.models.get(name)
        if left is None or right is None:
            out.append(f"{name}: only in {'B' if left is None else 'A'}")
            continue
        changes = []
        for key in COMPARED:
            before, after = getattr(left, key), getattr(right, key)
            if before != after:
                changes.append(f"{key.replace('_', '-')} {_text(key, before)} -> {_text(key, after)}")
        if left.hash != right.hash:
            files = changed_files(a.tree(name), b.tree(name))
            if files is not None:
                changes.append("changed files: " + first_of([show(f, 120) for f in files], 20))
        if left.dirty and right.dirty and a.patches.get(name) != b.patches.get(name):
            changes.append("patches differ")
        if changes:
            out.append(f"{name}: " + "; ".join(changes))
    for key in ("recorded", *ENVIRONMENT):
        before, after = getattr(a.run, key), getattr(b.run, key)
        if before != after:
            out.append(f"{key.replace('_', '-')}: {_text(key, before)} -> {_text(key, after)}")
    return out


def runs_command(argv: list[str]) -> int:
    """``xlm runs show PATH`` / ``xlm runs diff A B``."""
    if not argv or argv[0] == "help" or any(arg in ("-h", "--help") for arg in argv):  # `xlm runs show --help` too
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "show" and len(rest) == 1:
        print(format_record(read_run(rest[0])))
        return 0
    if command == "diff" and len(rest) == 2:
        a, b = read_run(rest[0]), read_run(rest[1])
        lines = diff_records(a, b)
        print(f"A: {show(a.origin, 300)}\nB: {show(b.origin, 300)}")
        print("\n".join(lines) if lines else "same models, commits, hashes and versions")
        return 1 if lines else 0
    if command in ("show", "diff"):  # a runs command, with too few or too many paths
        wanted = "one PATH" if command == "show" else "two PATHs, A and B"
        raise UserError(f"`xlm runs {command}` takes {wanted}, not {len(rest)}",
                        "run: xlm runs show PATH, or xlm runs diff A B (PATH: a run folder or a checkpoint)")
    raise UserError(f"`xlm runs {' '.join(argv)}` is not a runs command",
                    "run: xlm runs show PATH, or xlm runs diff A B (PATH: a run folder or a checkpoint)")
