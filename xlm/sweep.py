"""The summary of a sweep (`xlm train -m ...`): one row per job, in ``<sweep dir>/summary.csv``.

A Hydra callback (configured in config.yaml). The table is read back from the job folders
(each job's ``.hydra/overrides.yaml`` and its record, ``train.json`` / ``eval.json`` /
``generate.json``), so it is right whichever launcher ran the jobs and wherever. It is
rewritten after every job, so a sweep that stops early still leaves the rows of the jobs that
ran; a job without a record is listed as failed. At the end the table is printed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

SUMMARY_FILE = "summary.csv"
RECORDS = ("train.json", "eval.json", "generate.json")


class SweepSummary(Callback):
    def __init__(self) -> None:
        # The sweep folder is named after job_name, which a sweep over experiments
        # (`-m experiment=a,b`) changes from job to job: each experiment's jobs then land in a
        # folder of their own, and the sweep's folder has none. The folders seen here (the
        # local launcher runs every job in this process) are summed up in the sweep's folder.
        self._job_dirs: list[Path] = []

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if _is_multirun(config):
            sweep_dir = Path(config.hydra.sweep.dir)
            self._job_dirs += [] if sweep_dir in self._job_dirs else [sweep_dir]
            write_summary(sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = write_summary(sweep_dir, [d for d in self._job_dirs if d != sweep_dir])
        if rows:
            print(f"\nsweep summary ({sweep_dir / SUMMARY_FILE}):\n{format_table(rows)}")


def _is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN


def summary_rows(sweep_dir: Path, more: list[Path] = ()) -> list[dict[str, Any]]:
    """One row per job folder (of ``sweep_dir`` and the folders ``more``): job, status,
    overrides, final metrics (``metric:NAME``), run folder."""
    rows = []
    found = [path for folder in (sweep_dir, *more) for path in folder.glob("*/.hydra/overrides.yaml")]
    for overrides_file in sorted(found, key=_job_order):
        run_dir = overrides_file.parent.parent
        overrides = [str(o) for o in OmegaConf.load(overrides_file)]
        record = next((_read_record(run_dir / name) for name in RECORDS if (run_dir / name).is_file()), None)
        metrics = (record or {}).get("metrics") or {}
        rows.append({
            "job": run_dir.name,
            "status": "done" if record is not None else "failed",
            "overrides": " ".join(overrides),
            **{f"metric:{name}": value for name, value in sorted(metrics.items())},
            "run_dir": str(run_dir),
        })
    return rows


def _job_order(path: Path) -> tuple:
    name = path.parent.parent.name
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_summary(sweep_dir: Path, more: list[Path] = ()) -> list[dict[str, Any]]:
    """Write ``summary.csv`` of the jobs in ``sweep_dir`` and ``more`` into ``sweep_dir``
    (atomically: parallel launchers may finish jobs together); returns its rows."""
    from xlm.textfile import write_atomic

    rows = summary_rows(sweep_dir, more)
    if not rows:
        return rows
    columns = list(dict.fromkeys(key for row in rows for key in row))
    columns.append(columns.pop(columns.index("run_dir")))  # the folder last: the longest cell
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(sweep_dir / SUMMARY_FILE, text.getvalue())
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned text: the overrides that differ between jobs, then each metric."""
    split = [row["overrides"].split() for row in rows]
    common = set.intersection(*(set(s) for s in split)) if len(split) > 1 else set()
    metrics = list(dict.fromkeys(k for row in rows for k in row if k.startswith("metric:")))
    header = ["job", "status", "overrides", *(m.removeprefix("metric:") for m in metrics), "run_dir"]
    table = [header]
    for row, overrides in zip(rows, split):
        varying = " ".join(o for o in overrides if o not in common) or "-"
        values = [_number(row.get(m)) for m in metrics]
        table.append([row["job"], row["status"], varying, *values, row["run_dir"]])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
