"""Static checks of one model folder: package, config groups, YAML syntax, targets, commands.

Used by ``xlm`` at start-up and by ``xpm add/install/new``, so it imports neither torch,
hydra nor the model's code: YAML is read by `xlm.external.configs` and Python by
`xlm.external.pysource`. Every problem is reported, not just the first.

A model root holds its package in one of two layouts (`xlm.external.layout`): nested
(``<name>/__init__.py``, or the only package in the folder) with ``configs/`` next to it or
inside it (a wheel), or flat (the root is the package, ``configs/`` inside it).

A problem skips the model. A *warning* does not: a ``_target_`` that names nothing (in this
xlm or in the model) matters only to a job whose config uses it, which then fails
(`xlm.external.guard`); `xlm models` lists warnings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

from xlm.config_groups import MAX_CONFIG_FOLDERS, TooManyFolders, walk_config_tree
from xlm.external.cache import FileMemo
from xlm.external.config_files import config_text, read_config
from xlm.external.configs import YamlSyntaxError, command_lines
from xlm.external.errors import Problem
from xlm.external.layout import find_layout, packages_in
from xlm.external.pysource import PackageSource, TargetCheck
from xlm.external.shadowing import shadowing
from xlm.manifest import name_problem

REQUIRED_GROUPS = ("model", "model_type")
# Keys xlm reads at the top of the job's config, by the group whose files set them: such a
# file needs `# @package _global_`, or Hydra nests it under the group (`model.model`).
# An experiment sets the job's own keys (`optimizer`, `trainer`, `job_name`): every key but `defaults`.
_READ_AT_TOP = {"model": {"model"}, "model_type": {"model", "loss", "predictor", "lightning_module", "reported_metrics"},
                "experiment": None}
COMMANDS_FILE = "commands.yaml"
_COMMAND_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class Command(NamedTuple):
    """A command a model adds to ``xlm`` (from ``configs/commands.yaml``)."""

    name: str
    function: str  # dotted path of ``fn(args: list[str]) -> int | None``
    help: str
    model: str
    where: str


class ModelInfo:
    """What static inspection learned about one model folder (and what is wrong with it). A
    plain class, as the records validation imports are: a dataclass imports `inspect` (~6 ms
    of each validation process, `docs/architecture.md`)."""

    def __init__(self, name: str, root: Path, package: str | None = None, package_dir: Path | None = None,
                 flat: bool = False):
        self.name, self.root, self.package, self.package_dir = name, root, package, package_dir
        self.flat = flat  # the root is itself the package (xlm-core's layout)
        self.configs_dir: Path | None = None
        self.config_files: list[str] = []  # posix paths relative to configs_dir
        self.commands: list[Command] = []
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []  # bad targets: only a job that uses one fails
        self.source: PackageSource | None = None  # the package's files, read once

    def __repr__(self) -> str:
        return f"ModelInfo({self.name!r}, {str(self.root)!r}, package={self.package!r}, problems={len(self.problems)})"

    @property
    def import_dir(self) -> Path | None:
        """The folder that goes on ``sys.path`` (None for a flat model: see `xlm.external.layout`)."""
        return None if self.flat or self.package_dir is None else self.package_dir.parent


def model_package(root: Path, name: str) -> str | None:
    """The model's top-level package: ``<name>`` (nested or flat), else the only package in ``root``."""
    layout = find_layout(Path(root), name)
    return layout.package if layout else None


def validate_model_root(root: Path, name: str) -> list[Problem]:
    """Every static problem of the model folder ``root`` named ``name`` (never imports its code)."""
    return inspect_model(Path(root), name).problems


def inspect_model(root: Path, name: str, package: str | None = None, memo: FileMemo | None = None,
                  on_path: bool = True, installed_modules: Mapping[str, Iterable[str]] | None = None) -> ModelInfo:
    """Inspect ``root``; ``package`` overrides `model_package` (an installed model names it).

    ``memo`` remembers verdicts of unchanged files across runs (default: nothing remembered).
    ``on_path``: the model's import folder goes on ``sys.path`` (not for an installed model,
    which imports already), so it must not shadow the standard library or ``installed_modules``
    (module -> distributions; default: those of `xlm.external.installed`).
    """
    memo, root = memo or FileMemo("", 0, persist=False), Path(root)  # a str root too, as validate_model_root takes
    info = ModelInfo(name, root)
    add = info.problems.append
    if problem := name_problem(name):
        fix = "rename the model (its folder and its line in .xlm_models)"
        add(Problem(name, f"Invalid model name: {problem}", str(root), fix, "name"))
    if not root.is_dir():
        what = f"External model '{name}' not found: {root} is not a folder"
        add(Problem(name, what, str(root), "create the model folder or fix its entry", "not_found"))
        return info
    layout = find_layout(root, name, package)
    if layout is None:
        others = packages_in(root)
        seen = f"found several packages: {others}" if others else "found no folder with an __init__.py"
        fix = f"create {root / name / '__init__.py'} (the package is named like the model), or {root / '__init__.py'} (the root is the package)"
        if (root / "src" / name / "__init__.py").is_file():  # a pip project's src layout: never searched
            seen = f"found {Path('src', name, '__init__.py')}: a src/ layout is not searched"
            fix = f"move {root / 'src' / name} to {root / name} (the model's root goes on sys.path, so its package sits at the top)"
        add(Problem(name, f"External model '{name}' has no Python package ({seen})", str(root), fix, "no_package"))
    else:
        info.package, info.package_dir, info.flat = layout.package, layout.package_dir, layout.flat
        info.source = PackageSource(layout.package_dir, memo)
        for path, line, message in info.source.compile_errors():
            what = f"External model '{name}' has a Python file that does not compile: {message}"
            where = f"{path}:{line}" if line else path
            fix = ("make it a readable file of Python source, or delete it" if message.startswith(("cannot be read", "compiling it ran out"))
                   else "fix its coding declaration (a codec Python knows, no byte order mark before a non-UTF-8 one), or save "
                   "it as UTF-8 and delete the declaration" if message.startswith(("unknown encoding", "encoding problem"))
                   else "fix the syntax (xlm compiles the file, it does not run it)")
            add(Problem(name, what, where, fix, "syntax_error"))
    if on_path and info.import_dir is not None:
        _check_shadowing(info, installed_modules)
    info.configs_dir = configs_dir_of(root, info.package_dir, info.flat)
    if info.configs_dir is None:
        what = f"External model '{name}' missing required config groups: {list(REQUIRED_GROUPS)}"
        fix = f"create configs/model/{name}.yaml and configs/model_type/{name}.yaml"
        if os.path.lexists(root / "configs"):  # a file, or a loop of links
            what, fix = what + ": configs is not a folder", "make configs a folder that holds model/ and model_type/"
        add(Problem(name, what, str(root / "configs"), fix, "missing_configs"))
        return info
    _inspect_configs(info, memo)
    return info


def configs_dir_of(root: Path, package_dir: Path | None, flat: bool) -> Path | None:
    """The model's ``configs/``: inside the package first (a wheel ships configs there, and
    site-packages/configs may be anyone's), then next to it. Passed over: an empty folder (a
    leftover must not hide the other) and a Python package of the model's own with no
    `model/` or `model_type/` group (dataclass configs, as research code often has)."""
    candidates = [c for c in ([package_dir / "configs"] if package_dir and not flat else []) + [root / "configs"] if c.is_dir()]
    return next((c for c in candidates if _holds_configs(c)), candidates[0] if candidates else None)


def _holds_configs(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            names = {entry.name for entry in entries}
    except OSError:
        return False
    return bool(names) and ("__init__.py" not in names or any(group in names for group in REQUIRED_GROUPS))


def _check_shadowing(info: ModelInfo, installed_modules: Mapping[str, Iterable[str]] | None) -> None:
    """No importable top-level module but the model's package next to it (see `xlm.external.shadowing`)."""
    folder = info.import_dir
    # Without a table, the installed distributions are read only if the folder holds a module that could hide one.
    for entry, hidden in shadowing(folder, info.package, _installed_top_level if installed_modules is None else installed_modules):
        what = f"External model '{info.name}' has a top-level module '{entry}' that would shadow {hidden} (its folder goes on sys.path)"
        fix = f"move it into the package ({info.package}/{entry}, imported as {info.package}.{entry.split('.', 1)[0]}), rename it, or delete it"
        info.problems.append(Problem(info.name, what, str(folder / entry), fix, "package_conflict"))


def _installed_top_level() -> Mapping[str, Iterable[str]]:
    from xlm.external.installed import installed

    return installed().top_level


def _inspect_configs(info: ModelInfo, memo: FileMemo) -> None:
    configs = str(info.configs_dir)
    try:
        _inspect_config_files(info, memo, configs)
    except TooManyFolders:
        what = (f"External model '{info.name}' has more than {MAX_CONFIG_FOLDERS} folders under its configs/, "
                "counted through its links to folders")
        fix = "replace links that lead into each other with the folders they stand for, or delete them"
        info.problems.append(Problem(info.name, what, configs, fix, "invalid_config"))


def _inspect_config_files(info: ModelInfo, memo: FileMemo, configs: str) -> None:
    groups: set[str] = set()
    targets: list[tuple[str, str]] = []  # (dotted, where)
    command_targets: list[tuple[str, str]] = []
    for folder, _, files in walk_config_tree(configs):  # group folders may be links, as Hydra reads them
        rel_dir = folder[len(configs) + 1 :].replace(os.sep, "/") or "."
        # Hydra looks up NAME.yaml only: .yml, and .YAML on a file system that tells case apart
        for file in sorted(f for f in files if f.lower().endswith((".yml", ".yaml")) and not f.endswith(".yaml")):
            path = os.path.join(folder, file)
            what = f"External model '{info.name}' has a config file Hydra never reads (it reads .yaml files only)"
            info.warnings.append(Problem(info.name, what, path, f"rename it to {file.rsplit('.', 1)[0]}.yaml", "ignored_config"))
        for file in sorted(f for f in files if f.endswith(".yaml")):
            path = os.path.join(folder, file)
            rel = file if rel_dir == "." else f"{rel_dir}/{file}"
            if rel_dir != ".":
                groups.add(rel_dir.split("/", 1)[0])
            try:
                if rel == COMMANDS_FILE:
                    command_targets += _read_commands(info, path, config_text(path))
                    continue
                error, found, unplaced, package = read_config(path, memo)
            except YamlSyntaxError as exc:
                error = exc
            except UnicodeDecodeError as exc:
                error = YamlSyntaxError(str(exc), None)
            except OSError as exc:  # a dangling link, a folder named x.yaml, no permission: as for a Python file
                what = f"External model '{info.name}' has a config file that cannot be read: {exc.strerror or exc}"
                fix = "make it a readable file, or delete it (a symbolic link to nothing?)"
                info.problems.append(Problem(info.name, what, path, fix, "invalid_config"))
                continue
            if error is not None:
                what = f"External model '{info.name}' has a config file that does not parse: {error.problem}"
                where = f"{path}:{error.line}" if error.line else path
                info.problems.append(Problem(info.name, what, where, _config_fix(error.problem), "invalid_config"))
                continue
            info.config_files.append(rel)
            targets += [(value, f"{path}:{line}") for value, line in found]
            read = _READ_AT_TOP.get(rel_dir, ())
            old = next((word for word in ("_group_", "_name_") if word in (package or "")), None)
            if old is not None:
                what = (f"External model '{info.name}' has a config whose `# @package {package}` header Hydra 1.0 read, but "
                        f"Hydra 1.1 and later take `{old}` literally: its keys land under a key named `{old}`")
                fix = ("write `# @package _global_`, as xlm's own configs do" + (
                    f", or the group's path (`# @package {rel_dir.replace('/', '.')}`)" if rel_dir != "." else ""))
                info.warnings.append(Problem(info.name, what, f"{path}:1", fix, "hydra10_package"))
            elif rel_dir in _READ_AT_TOP and (keys := [k for k in unplaced if k != "defaults" and (read is None or k in read)]):
                what = (f"External model '{info.name}' has a config without a `# @package _global_` line: Hydra puts it "
                        f"under `{rel_dir}`, so its `{keys[0]}` becomes `{rel_dir}.{keys[0]}`, which xlm never reads")
                fix = "make `# @package _global_` its first line, as in xlm's own configs (or move the keys under the group's own)"
                info.warnings.append(Problem(info.name, what, f"{path}:1", fix, "unplaced_config"))
    misnamed = misnamed_groups(groups)
    for folder, group in misnamed.items():
        if group not in REQUIRED_GROUPS or group in groups:  # a missing required group says it below
            what = (f"External model '{info.name}' has a config folder configs/{folder}/, a group xlm never selects: "
                    f"the group is `{group}`")
            info.warnings.append(Problem(info.name, what, os.path.join(configs, folder), f"rename it to configs/{group}/",
                                         "misnamed_group"))
    if missing := [g for g in REQUIRED_GROUPS if g not in groups]:
        what = f"External model '{info.name}' missing required config groups: {missing}"
        fix = "create " + " and ".join(f"configs/{g}/{info.name}.yaml" for g in missing)
        renames = [f"configs/{folder}/ to configs/{group}/" for folder, group in misnamed.items() if group in missing]
        if renames:
            fix = "rename " + " and ".join(renames)
        where = os.path.join(configs, missing[0])
        if os.path.lexists(where) and not os.path.isdir(where):  # a file (or a loop of links) where the group belongs
            what += f": configs/{missing[0]} is not a folder"
            fix = f"make configs/{missing[0]} a folder that holds {info.name}.yaml"
        elif os.path.isdir(folder := os.path.join(where, f"{info.name}.yaml")):  # walked as a folder: say so, not "create it"
            what += f": configs/{missing[0]}/{info.name}.yaml is a folder (or a symbolic link to one), not a file"
            fix, where = f"make configs/{missing[0]}/{info.name}.yaml a YAML file", folder
        info.problems.append(Problem(info.name, what, where, fix, "missing_configs"))
    _check_targets(info, targets, command_targets, memo)


_MODEL_GROUPS = ("model", "model_type", "collator", "experiment")  # the groups models add to xlm's own
_core_groups: tuple[str, ...] | None = None


def misnamed_groups(groups: set[str]) -> dict[str, str]:
    """folder -> the group it was meant to be, for each config folder named like one of the groups
    xlm selects but not as it (`experiments`, `Model_Type`, `model-type`): Hydra reads it as a group
    of its own, which no job selects."""
    global _core_groups
    if _core_groups is None:
        from xlm.config_groups import CORE_CONFIG_DIR

        try:
            _core_groups = tuple(e.name for e in os.scandir(CORE_CONFIG_DIR) if e.is_dir() and not e.name.startswith("_"))
        except OSError:
            _core_groups = ()
    known = {*_MODEL_GROUPS, *_core_groups}
    out = {}
    for folder in sorted(groups - known):
        plain = folder.lower().replace("-", "_")
        meant = next((g for g in sorted(known) if plain in (g, g + "s", g + "es") or g.endswith("s") and plain == g[:-1]), None)
        if meant is not None:
            out[folder] = meant
    return out


# The fix for a config that does not parse, by what `xlm.external.configs` found (docs/external_models.md).
_CONFIG_FIXES = (
    ("collections nested", "flatten it"),
    ("Hydra refuses the header line", "write the header as `# @package _global_`: two words separated by spaces, nothing after them"),
    ("it is larger than", "keep settings in the config; move the data into a file the model reads"),
    ("its aliases expand", "write the values out, or use fewer aliases of aliases"),
    ("an alias refers to a node that holds it", "remove the alias that refers to its own node"),
    ("the key '", "keep one of the two keys"),
    ("it is not valid UTF-8", "save the file as UTF-8"),
    ("it starts with a byte order mark", "save the file as UTF-8 without a byte order mark"),
)


def _config_fix(problem: str) -> str:
    return next((fix for start, fix in _CONFIG_FIXES if problem.startswith(start)), "fix the YAML syntax of this file")


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
        if entry.unknown:  # a misspelt `help` would be lost without a word
            info.warnings.append(Problem(info.name, f"External model '{info.name}' has unknown keys {list(entry.unknown)} in "
                                         f"command '{entry.name}' of {COMMANDS_FILE}, which are ignored", where,
                                         "a command reads only `function` and `help`: fix the spelling or remove them",
                                         "ignored_key"))
        info.commands.append(Command(entry.name, entry.function, entry.help, info.name, where))
        targets.append((entry.function, where))
    return targets


def _check_targets(info: ModelInfo, targets: list[tuple[str, str]], commands: list[tuple[str, str]], memo: FileMemo) -> None:
    """Targets into the model's own package or into xlm must name an existing class or function.

    A bad command is a problem (commands are read at every start); a bad config target is a
    warning, since only a job whose config uses it fails (`xlm.external.guard`).
    """
    packages = {info.package: info.source or info.package_dir} if info.package and info.package != "xlm" else {}
    check = TargetCheck(packages, memo)  # torch.optim.AdamW, ...: not ours to check without importing it
    for found, dotted_list in ((info.problems, commands), (info.warnings, targets)):
        for dotted, where in dotted_list:
            if (why := check.why(dotted)) is not None:
                found.append(bad_target(info.name, dotted, why, where))
    if info.flat:
        _check_flat_name(info, targets + commands)


def _check_flat_name(info: ModelInfo, targets: list[tuple[str, str]]) -> None:
    """A flat model is imported under its name: one listed under another name than its package's
    (a repository `xlm-mdlm` holding xlm-core's `mdlm`) loads, and then every job fails on its
    `mdlm.*` targets. Warned when no target names the model's package and one names a package
    nothing provides (found, not imported: a target into another model is one that names its own too)."""
    from importlib.util import find_spec

    if any(dotted.split(".", 1)[0] == info.package for dotted, _ in targets):
        return
    seen: set[str] = set()
    for dotted, where in targets:
        top = dotted.split(".", 1)[0]
        if top in seen or top in (info.package, "xlm") or not top.isidentifier() or "." not in dotted:
            continue
        seen.add(top)
        try:
            missing = find_spec(top) is None
        except (ImportError, ValueError):
            missing = True
        if missing:
            what = (f"External model '{info.name}' is flat, so it is imported as `{info.name}`, but its configs name "
                    f"`{top}.*`, which nothing provides: listed under another name than its package's?")
            fix = (f"list it under that name: add #name={top} to its line in .xlm_models (a git model), or name its folder "
                   f"{top} (a local one)")
            info.warnings.append(Problem(info.name, what, where, fix, "flat_name"))


def bad_target(model: str, dotted: str, why: str, where: str) -> Problem:
    owner = "this xlm" if dotted.split(".", 1)[0] == "xlm" else "the model's package"
    fix = f"point it at a class or function that exists in {owner} (check spelling and module)"
    return Problem(model, f"External model '{model}' has a bad target '{dotted}': {why}", where, fix, "bad_target")
