"""Where a config says something: the file Hydra loads for a config name, and the line of a
defaults-list entry or of a value, searched in Hydra's order (this run's files first). Used by
`xlm.config_errors` to point an error at `file:line`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping


def run_files(choices: Mapping[str, Any]) -> list[Path]:
    """The config files of this run: config.yaml and each selected option's file."""
    from xlm.config_groups import CORE_CONFIG_DIR, config_dirs

    dirs = config_dirs()
    files = [CORE_CONFIG_DIR / "config.yaml"]
    for group, option in choices.items():
        options = option if isinstance(option, (list, tuple)) else [option]
        for name in options:
            if name and not str(group).startswith("hydra"):
                path = config_file(f"{group}/{name}", dirs)
                files += [path] if path else []
    return list(dict.fromkeys(path.resolve() for path in files))


def config_files(choices: Mapping[str, Any]) -> list[Path]:
    """This run's files first, then every other config file of xlm and the models."""
    from xlm.config_groups import config_dirs, yaml_files

    rest = [path.resolve() for folder in config_dirs() for path in sorted(yaml_files(folder))]
    return list(dict.fromkeys([*run_files(choices), *rest]))


def text_line(text: str, choices: Mapping[str, Any]) -> tuple[Path, int] | None:
    """The first line that holds ``text`` before any comment, this run's files first."""
    for path in config_files(choices):
        if (line := next((i for i, line in enumerate(file_lines(path), 1) if text in line.split("#", 1)[0]), None)) is not None:
            return path, line
    return None


def config_file(name: str, dirs: list[Path] | None = None) -> Path | None:
    """The file Hydra loads for config ``name`` (``experiment/x``): the first folder that has it."""
    from xlm.config_groups import config_dirs

    return next((d / f"{name}.yaml" for d in (dirs or config_dirs()) if (d / f"{name}.yaml").is_file()), None)


def file_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def line_matching(path: Path, pattern: re.Pattern) -> int | None:
    return next((i for i, line in enumerate(file_lines(path), 1) if pattern.search(line.split("#", 1)[0])), None)


def defaults_entry(group: str, option: str, choices: Mapping[str, Any]) -> tuple[Path, int] | None:
    """The file and line of a defaults-list entry that selects ``group: option``."""
    pattern = re.compile(rf"^\s*-\s*(?:override\s+)?/?{re.escape(group)}(?:@[\w.]+)?\s*:\s*{re.escape(option)}\s*$")
    for path in config_files(choices):
        if (line := line_matching(path, pattern)) is not None:
            return path, line
    return None


def value_line(key: str, raw: str | None, choices: Mapping[str, Any]) -> tuple[Path, int] | None:
    """The file and line that set ``key`` to ``raw``: a line holding the value, best with the key's name.

    Without the value, only the key's name is known: then only this run's own files are
    searched (a name such as ``steps:`` is common in other configs).
    """
    name = re.escape(str(key).rsplit(".", 1)[-1])
    if not raw:
        patterns, files = [re.compile(rf"^\s*{name}\s*:")], run_files(choices)
    else:
        patterns, files = [re.compile(rf"\b{name}\s*:.*{re.escape(raw)}")], config_files(choices)
        if raw != "???":  # a value alone finds its line; `???` is in many files, under other keys
            patterns.append(re.compile(re.escape(raw)))
    for pattern in patterns:
        for path in files:
            if (line := next((i for i, text in enumerate(file_lines(path), 1) if pattern.search(text)), None)) is not None:
                return path, line
    return None


def shown_at(path: Path, line: int | None) -> str:
    """``path:line``, relative to the current folder when the file is under it."""
    shown = os.path.relpath(path)
    shown = str(path) if shown.startswith("..") else shown
    return f"{shown}:{line}" if line else shown
