"""What can be chosen on the command line: the config groups and their options, read from disk.

Hydra can answer this too, but only after importing itself and composing a config; `xlm
--help` and the CLI's check of ``group=option`` overrides need it in milliseconds, so this
module only lists YAML files in xlm's own config tree and in the registered models' trees.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

CORE_CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_SELECTION_RE = re.compile(r"^(?P<group>[A-Za-z_][\w/]*)=(?P<value>.+)$")
_OPTION_RE = re.compile(r"^[\w][\w./-]*$")


def config_dirs() -> list[Path]:
    """xlm's config tree first, then each registered model's ``configs/`` (Hydra's order)."""
    from xlm.external.registration import config_dirs as model_config_dirs

    return [CORE_CONFIG_DIR, *model_config_dirs()]


MAX_CONFIG_FOLDERS = 10_000  # far beyond any config tree; links that fan out (a -> b twice, b -> c twice...) reach it


class TooManyFolders(Exception):
    """A config tree of more than MAX_CONFIG_FOLDERS folders, counted as `walk_config_tree` walks it."""


def walk_config_tree(root: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk(root)` (top-down, folders sorted) as Hydra sees a config tree: a link to a folder
    is followed (a group folder may be one), except to a folder it is already inside (a loop).
    Raises TooManyFolders past MAX_CONFIG_FOLDERS."""
    stack = [(root, frozenset())]
    walked = 0
    while stack:
        folder, inside = stack.pop()
        try:
            real = os.stat(folder)
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue
        key = (real.st_dev, real.st_ino)
        if key in inside:
            continue
        walked += 1
        if walked > MAX_CONFIG_FOLDERS:
            raise TooManyFolders(root)
        dirs, files = [], []
        for entry in listed:
            try:
                (dirs if entry.is_dir() else files).append(entry.name)
            except OSError:
                files.append(entry.name)
        dirs.sort()
        yield folder, dirs, files
        stack += [(os.path.join(folder, d), inside | {key}) for d in reversed(dirs)]


def yaml_files(root: Path) -> Iterator[Path]:
    """The `.yaml` files under ``root``, as Hydra finds them (`walk_config_tree`); a tree too
    large to walk (which validation refuses) is listed as far as it was walked."""
    try:
        for folder, _, files in walk_config_tree(str(root)):
            yield from (Path(folder, f) for f in sorted(files) if f.endswith(".yaml"))
    except TooManyFolders:
        return


def config_groups(dirs: list[Path] | None = None) -> dict[str, list[str]]:
    """``{group: sorted options}`` over ``dirs``; nested groups are named ``a/b``."""
    groups: dict[str, set[str]] = {}
    for root in dirs if dirs is not None else config_dirs():
        for path in yaml_files(root):
            group = path.parent.relative_to(root).as_posix()
            if group != ".":
                groups.setdefault(group, set()).add(path.stem)
    return {group: sorted(options) for group, options in sorted(groups.items())}


def unknown_option_fix(group: str, option: str, choices: list[str]) -> str:
    """How to fix a selection of an option the group does not have: a `.yml` file of that name
    is the cause when there is one (Hydra reads `.yaml` only), else the options that exist."""
    if group and (yml := next((f for d in config_dirs() if (f := d / group / f"{option}.yml").is_file()), None)):
        return f"rename {yml} to {option}.yaml: Hydra reads .yaml files only"
    if group and (unregistered := _installed_without_entry_point(group, option)) is not None:
        return unregistered
    return f"choose one of: {', '.join(choices) or '(none installed)'}"


def _installed_without_entry_point(group: str, option: str) -> str | None:
    """The fix when an installed package ships ``configs/<group>/<option>.yaml`` (in or beside
    it) but its distribution declares no `xlm.models` entry point, so xlm never sees it (a model
    installed with a plain `setup.py`). Packages are found, never imported; only on this error."""
    import importlib.util

    from xlm.external.installed import ENTRY_POINT_GROUP, installed

    found = installed()
    declared = {ep.distribution for ep in found.entry_points}
    for module, distributions in found.top_level.items():
        if not module.isidentifier() or declared.intersection(distributions):
            continue
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            if not (os.path.isabs(folder) and os.path.isdir(folder)):  # an editable install's path hook: `.parent` would be `.`
                continue
            for configs in (Path(folder) / "configs", Path(folder).parent / "configs"):
                if (configs / group / f"{option}.yaml").is_file():
                    return (f"the installed package '{module}' ({folder}) has it, but its distribution '{distributions[0]}' "
                            f"declares no {ENTRY_POINT_GROUP} entry point: add [project.entry-points.\"{ENTRY_POINT_GROUP}\"] "
                            f"{module} = \"{module}\" to its pyproject.toml and install it again, or list its folder in .xlm_models")
    return None


def unknown_selection(override: str, groups: dict[str, list[str]]) -> tuple[str, str, list[str]] | None:
    """``(group, option, choices)`` when ``override`` picks an option its group does not have.

    Checks ``group=option``, lists (``loggers=[csv,tensorboard]``) and sweeps (``a,b``);
    ``+``/``~`` forms, sweep functions (``choice(...)``) and keys that are not groups are left
    for Hydra to judge.
    """
    match = _SELECTION_RE.match(override)
    if not match or match["group"] not in groups:
        return None
    value = match["value"]
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    options = [option.strip() for option in value.split(",")]
    if not all(_OPTION_RE.match(option) for option in options):
        return None
    choices = groups[match["group"]]
    unknown = next((option for option in options if option != "null" and option not in choices), None)
    return None if unknown is None else (match["group"], unknown, choices)
