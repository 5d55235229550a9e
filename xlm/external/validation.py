"""Static checks of one model folder: package, config groups, YAML syntax, targets, commands.

Used by ``xlm`` at start-up and by ``xpm add/install/new``, so it imports neither torch,
hydra nor the model's code: YAML is parsed (composed, to keep line numbers) and Python is
read with `xlm.external.pysource`. Every problem is reported, not just the first.

A model root holds its package (``<name>/__init__.py``, or the only package in the folder)
and ``configs/`` next to it, or inside the package (the layout a wheel installs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from xlm.external.errors import Problem
from xlm.external.pysource import check_dotted
from xlm.manifest import name_problem

REQUIRED_GROUPS = ("model", "model_type")
COMMANDS_FILE = "commands.yaml"
TARGET_KEYS = ("_target_", "update_fn")  # values that name Python objects
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
        if e.is_dir() and e.name.isidentifier() and e.name not in _NOT_PACKAGES and os.path.isfile(os.path.join(e.path, "__init__.py"))
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


def inspect_model(root: Path, name: str, package: str | None = None) -> ModelInfo:
    """Inspect ``root``; ``package`` overrides `model_package` (an installed model names it)."""
    info = ModelInfo(name, root)
    add = info.problems.append
    if problem := name_problem(name):
        add(Problem(name, f"Invalid model name: {problem}", str(root), "rename the model (its folder and its line in .xlm_models)", "name"))
    if not root.is_dir():
        add(Problem(name, f"External model '{name}' not found: {root} is not a folder", str(root), "create the model folder or fix its entry", "not_found"))
        return info
    info.package = package or model_package(root, name)
    if info.package is None:
        others = _packages(root)
        seen = f"found several packages: {others}" if others else "found no folder with an __init__.py"
        add(Problem(name, f"External model '{name}' has no Python package ({seen})", str(root), f"create {root / name / '__init__.py'} (the package is named like the model)", "no_package"))
    # inside the package first: a wheel ships configs there, and site-packages/configs may be anyone's
    candidates = ([root / info.package / "configs"] if info.package else []) + [root / "configs"]
    info.configs_dir = next((c for c in candidates if c.is_dir()), None)
    if info.configs_dir is None:
        missing = list(REQUIRED_GROUPS)
        add(Problem(name, f"External model '{name}' missing required config groups: {missing}", str(root / "configs"), f"create configs/model/{name}.yaml and configs/model_type/{name}.yaml", "missing_configs"))
        return info
    _inspect_configs(info)
    return info


def _inspect_configs(info: ModelInfo) -> None:
    import yaml  # deferred: `xpm --help` and `xlm --help` need not pay for it

    configs = info.configs_dir
    groups: set[str] = set()
    targets: list[tuple[str, str]] = []  # (dotted, where)
    for folder, dirs, files in os.walk(configs):
        dirs.sort()
        for file in sorted(f for f in files if f.endswith((".yaml", ".yml"))):
            path = Path(folder) / file
            rel = path.relative_to(configs).as_posix()
            if "/" in rel:
                groups.add(rel.split("/", 1)[0])
            try:
                node = yaml.compose(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark else str(path)
                what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                info.problems.append(Problem(info.name, f"External model '{info.name}' has a config file that does not parse: {what}", where, "fix the YAML syntax of this file", "invalid_config"))
                continue
            if rel == COMMANDS_FILE:
                targets += _read_commands(info, path, node)
                continue
            info.config_files.append(rel)
            targets += [(value, f"{path}:{line}") for value, line in _target_values(node)]
    if missing := [g for g in REQUIRED_GROUPS if g not in groups]:
        fix = " and ".join(f"configs/{g}/{info.name}.yaml" for g in missing)
        add_where = str(configs / missing[0])
        info.problems.append(Problem(info.name, f"External model '{info.name}' missing required config groups: {missing}", add_where, f"create {fix}", "missing_configs"))
    _check_targets(info, targets)


def _target_values(node) -> list[tuple[str, int]]:
    """(value, line) of every ``_target_``/``update_fn`` scalar in a composed YAML tree."""
    found, stack = [], [node] if node is not None else []
    while stack:
        current = stack.pop()
        value = getattr(current, "value", None)
        if current.tag.endswith(":map"):
            for key, item in value:
                if getattr(key, "value", None) in TARGET_KEYS and item.tag.endswith(":str"):
                    found.append((item.value, item.start_mark.line + 1))
                else:
                    stack.append(item)
        elif current.tag.endswith(":seq"):
            stack.extend(value)
    return sorted(found, key=lambda f: f[1])


def _read_commands(info: ModelInfo, path: Path, node) -> list[tuple[str, str]]:
    """Commands from ``name: pkg.module.fn`` or ``name: {function: pkg.module.fn, help: ...}``."""
    bad = Problem(info.name, f"External model '{info.name}' has a malformed {COMMANDS_FILE}", str(path), "map each command name to a function: `my-command: my_model.commands.main` (or {function: ..., help: ...})", "invalid_config")
    if node is None:
        return []
    if not node.tag.endswith(":map"):
        info.problems.append(bad)
        return []
    targets = []
    for key, item in node.value:
        where = f"{path}:{key.start_mark.line + 1}"
        fields = {k.value: v.value for k, v in item.value if isinstance(v.value, str)} if item.tag.endswith(":map") else {}
        function = item.value if item.tag.endswith(":str") else fields.get("function")
        if not isinstance(function, str) or not _COMMAND_RE.match(str(key.value)):
            info.problems.append(Problem(bad.model, f"{bad.what}: command '{key.value}'", where, bad.fix + "; names use a-z, 0-9, '-' and '_'", bad.kind))
            continue
        info.commands.append(Command(key.value, function, fields.get("help", ""), info.name, where))
        targets.append((function, where))
    return targets


def _check_targets(info: ModelInfo, targets: list[tuple[str, str]]) -> None:
    """Targets that point into the model's own package must name an existing class or function."""
    if info.package is None:
        return
    package_dir = info.root / info.package
    for dotted, where in targets:
        if dotted.split(".", 1)[0] != info.package:
            continue  # xlm.harness.Harness, torch.optim.AdamW, ...: not this model's to check
        if (why := check_dotted(package_dir, dotted)) is not None:
            info.problems.append(
                Problem(info.name, f"External model '{info.name}' has a bad target '{dotted}': {why}", where, "point it at a class or function that exists in the model's package (check spelling and module)", "bad_target")
            )
