"""Static checks of one model folder: package, config groups, YAML syntax, targets, commands.

Used by ``xlm`` at start-up and by ``xpm add/install/new``, so it imports neither torch,
hydra nor the model's code: YAML is read by `xlm.external.configs` and Python by
`xlm.external.pysource`. Every problem is reported, not just the first.

A model root holds its package (``<name>/__init__.py``, or the only package in the folder)
and ``configs/`` next to it, or inside the package (the layout a wheel installs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from xlm.external.cache import FileMemo
from xlm.external.configs import YamlSyntaxError, command_lines, read_config
from xlm.external.errors import Problem
from xlm.external.pysource import PackageSource, read_text
from xlm.manifest import name_problem

REQUIRED_GROUPS = ("model", "model_type")
COMMANDS_FILE = "commands.yaml"
_COMMAND_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_NOT_PACKAGES = ("tests", "test")


@dataclass(frozen=True)
class Command:
    """A command a model adds to ``xlm`` (from ``configs/commands.yaml``)."""

    name: str
    function: str  # dotted path of ``fn(args: list[str]) -> int | None``
    help: str
    model: str
    where: str


@dataclass
class ModelInfo:
    """What static inspection learned about one model folder (and what is wrong with it)."""

    name: str
    root: Path
    package: str | None = None
    configs_dir: Path | None = None
    config_files: list[str] = field(default_factory=list)  # posix paths relative to configs_dir
    commands: list[Command] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _packages(root: Path) -> list[str]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    return [
        e.name
        for e in entries
        if e.is_dir()
        and e.name.isidentifier()
        and e.name not in _NOT_PACKAGES
        and os.path.isfile(os.path.join(e.path, "__init__.py"))
    ]


def model_package(root: Path, name: str) -> str | None:
    """The model's top-level package: ``<name>`` if ``root/<name>/__init__.py`` exists, else the only one."""
    if (Path(root) / name / "__init__.py").is_file():
        return name
    found = _packages(Path(root))
    return found[0] if len(found) == 1 else None


def validate_model_root(root: Path, name: str) -> list[Problem]:
    """Every static problem of the model folder ``root`` named ``name`` (never imports its code)."""
    return inspect_model(Path(root), name).problems


def inspect_model(root: Path, name: str, package: str | None = None, memo: FileMemo | None = None) -> ModelInfo:
    """Inspect ``root``; ``package`` overrides `model_package` (an installed model names it).

    ``memo`` remembers verdicts of unchanged files across runs (default: nothing remembered).
    """
    memo = memo or FileMemo("", 0, persist=False)
    info = ModelInfo(name, root)
    add = info.problems.append
    if problem := name_problem(name):
        fix = "rename the model (its folder and its line in .xlm_models)"
        add(Problem(name, f"Invalid model name: {problem}", str(root), fix, "name"))
    if not root.is_dir():
        what = f"External model '{name}' not found: {root} is not a folder"
        add(Problem(name, what, str(root), "create the model folder or fix its entry", "not_found"))
        return info
    info.package = package or model_package(root, name)
    if info.package is None:
        others = _packages(root)
        seen = f"found several packages: {others}" if others else "found no folder with an __init__.py"
        fix = f"create {root / name / '__init__.py'} (the package is named like the model)"
        add(Problem(name, f"External model '{name}' has no Python package ({seen})", str(root), fix, "no_package"))
    # inside the package first: a wheel ships configs there, and site-packages/configs may be anyone's
    candidates = ([root / info.package / "configs"] if info.package else []) + [root / "configs"]
    info.configs_dir = next((c for c in candidates if c.is_dir()), None)
    if info.configs_dir is None:
        what = f"External model '{name}' missing required config groups: {list(REQUIRED_GROUPS)}"
        fix = f"create configs/model/{name}.yaml and configs/model_type/{name}.yaml"
        add(Problem(name, what, str(root / "configs"), fix, "missing_configs"))
        return info
    _inspect_configs(info, memo)
    return info


def _inspect_configs(info: ModelInfo, memo: FileMemo) -> None:
    configs = str(info.configs_dir)
    groups: set[str] = set()
    targets: list[tuple[str, str]] = []  # (dotted, where)
    for folder, dirs, files in os.walk(configs):
        dirs.sort()
        rel_dir = folder[len(configs) + 1 :].replace(os.sep, "/") or "."
        for file in sorted(f for f in files if f.endswith((".yaml", ".yml"))):
            path = os.path.join(folder, file)
            rel = file if rel_dir == "." else f"{rel_dir}/{file}"
            if rel_dir != ".":
                groups.add(rel_dir.split("/", 1)[0])
            try:
                if rel == COMMANDS_FILE:
                    targets += _read_commands(info, path, read_text(path))
                    continue
                error, found = read_config(path, memo)
            except YamlSyntaxError as exc:
                error = exc
            except (OSError, UnicodeDecodeError) as exc:
                error = YamlSyntaxError(str(exc), None)
            if error is not None:
                what = f"External model '{info.name}' has a config file that does not parse: {error.problem}"
                where = f"{path}:{error.line}" if error.line else path
                info.problems.append(Problem(info.name, what, where, "fix the YAML syntax of this file", "invalid_config"))
                continue
            info.config_files.append(rel)
            targets += [(value, f"{path}:{line}") for value, line in found]
    if missing := [g for g in REQUIRED_GROUPS if g not in groups]:
        what = f"External model '{info.name}' missing required config groups: {missing}"
        fix = "create " + " and ".join(f"configs/{g}/{info.name}.yaml" for g in missing)
        info.problems.append(Problem(info.name, what, os.path.join(configs, missing[0]), fix, "missing_configs"))
    _check_targets(info, targets, memo)


def _read_commands(info: ModelInfo, path: str, text: str) -> list[tuple[str, str]]:
    """Commands from ``name: pkg.module.fn`` or ``name: {function: pkg.module.fn, help: ...}``."""
    what = f"External model '{info.name}' has a malformed {COMMANDS_FILE}"
    fix = "map each command name to a function: `my-command: my_model.commands.main` (or {function: ..., help: ...})"
    entries = command_lines(text)
    if entries is None:
        info.problems.append(Problem(info.name, what, path, fix, "invalid_config"))
        return []
    targets = []
    for entry in entries:
        where = f"{path}:{entry.line}"
        if entry.function is None or not _COMMAND_RE.match(entry.name):
            name_fix = fix + "; names use a-z, 0-9, '-' and '_'"
            info.problems.append(Problem(info.name, f"{what}: command '{entry.name}'", where, name_fix, "invalid_config"))
            continue
        info.commands.append(Command(entry.name, entry.function, entry.help, info.name, where))
        targets.append((entry.function, where))
    return targets


def _check_targets(info: ModelInfo, targets: list[tuple[str, str]], memo: FileMemo) -> None:
    """Targets that point into the model's own package must name an existing class or function."""
    if info.package is None:
        return
    source = PackageSource(info.root / info.package, memo)
    fix = "point it at a class or function that exists in the model's package (check spelling and module)"
    for dotted, where in targets:
        if dotted.split(".", 1)[0] != info.package:
            continue  # xlm.harness.Harness, torch.optim.AdamW, ...: not this model's to check
        if (why := source.check_dotted(dotted)) is not None:
            what = f"External model '{info.name}' has a bad target '{dotted}': {why}"
            info.problems.append(Problem(info.name, what, where, fix, "bad_target"))
