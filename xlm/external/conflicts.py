"""Rules between models: unique names, unique packages and top-level modules, no shadowing, unique configs and commands.

Each rule takes the models in discovery order and returns ``(model, problem)`` pairs; the
model named in a pair is the one to skip, always the later one, so the first declaration
wins and the outcome does not depend on anything but the order of discovery.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from xlm.config_groups import CORE_CONFIG_DIR
from xlm.external.discovery import DUPLICATE_FIX, FoundModel
from xlm.external.errors import Problem
from xlm.external.shadowing import importable, module_candidates, package_shadows, package_suggestion
from xlm.external.validation import ModelInfo
from xlm.manifest import RESERVED_NAMES

Finding = tuple[FoundModel, Problem]

BUILTIN_COMMANDS = ("train", "eval", "evaluate", "generate", "models", "completion", "runs", "help")
_RESERVED_FIX = f"rename the model: {', '.join(RESERVED_NAMES)} are reserved for core models"


DECLARED_INSTEAD = "declared instead"  # the kind of a finding that skips a model without a problem: a note


def _rank(model: FoundModel) -> int:
    return {"core": 0, "installed": 2}.get(model.origin, 1)


def duplicate_names(models: list[FoundModel]) -> list[Finding]:
    """Two declarations of one name: within `.xlm_models`, then across sources (core wins, then the file)."""
    findings: list[Finding] = []
    by_name: dict[str, list[FoundModel]] = {}
    for model in models:
        by_name.setdefault(model.name, []).append(model)
    for name, group in by_name.items():
        listed = [m for m in group if m.entry is not None]
        for later in listed[1:]:
            where = ", ".join(m.where for m in listed)
            what = f"Duplicate model names found in .xlm_models: ['{name}']"
            fix = DUPLICATE_FIX
            findings.append((later, Problem(name, what, where, fix, "duplicate")))
        survivors = sorted((m for m in group if m.entry is None or m is listed[0]), key=_rank)
        for later in survivors[1:]:
            where = "; ".join(f"{m.where} ({m.root})" for m in survivors)
            if survivors[0].entry is not None and later.origin == "installed":  # e.g. the author's `pip install -e`
                what = (f"the installed model '{name}' ({later.distribution or later.where}) is not used: the project's "
                        f".xlm_models declares a model of that name, which is what the project asked for")
                fix = "nothing to do; to use the installed one instead, remove its line from .xlm_models"
                findings.append((later, Problem(name, what, where, fix, DECLARED_INSTEAD)))
                continue
            if survivors[0].origin == "core":
                fix = _RESERVED_FIX
            else:
                dists = sorted({m.distribution for m in survivors if m.distribution})
                uninstall = f"pip uninstall {' '.join(dists)}"
                fix = f"keep one: remove its line from .xlm_models, uninstall it ({uninstall}), or rename one"
            what = f"Duplicate model names found across sources: ['{name}']"
            findings.append((later, Problem(name, what, where, fix, "duplicate")))
        if name in RESERVED_NAMES and not any(m.origin == "core" for m in group):
            for model in group:
                what = f"Model name '{name}' is reserved for a core model"
                findings.append((model, Problem(name, what, model.where, _RESERVED_FIX, "name")))
    return findings


def package_conflicts(
    models: list[tuple[FoundModel, ModelInfo]],
    top_level: dict[str, tuple[str, ...]],
    declared: dict[str, set[str]] | None = None,
) -> list[Finding]:
    """Two models with one top-level package, or a package that would shadow another module.

    ``top_level`` maps installed module names to their distributions; ``declared`` maps a
    model name to the distributions whose entry points declare it: a model's own
    distribution (or a duplicate of it, reported as such) installing its package is no shadowing.
    """
    declared = declared or {}
    findings: list[Finding] = []
    owners: dict[str, tuple[FoundModel, ModelInfo]] = {}
    for model, info in models:
        package = info.package
        if package is None:
            continue
        fix = f"rename the package to a model-specific name (such as '{package_suggestion(model.name, package)}') and update its _target_ paths"
        if package in owners:
            first, first_info = owners[package]
            what = f"Python package conflict: Both '{first.name}' and '{model.name}' define package '{package}'"
            where = f"{first_info.package_dir} and {info.package_dir}"
            findings.append((model, Problem(model.name, what, where, fix, "package_conflict")))
            continue
        shadowed = None if model.origin == "core" and package == model.name else package_shadows(package)
        if shadowed is None and package in top_level and not set(top_level[package]) <= {model.distribution, *declared.get(model.name, ())}:
            shadowed = f"the installed module '{package}' (from {', '.join(top_level[package])})"
        if shadowed:
            what = f"Python package conflict: Model '{model.name}' defines package '{package}'"
            what += f", which would shadow {shadowed}"
            findings.append((model, Problem(model.name, what, str(info.package_dir), fix, "package_conflict")))
            continue
        owners[package] = (model, info)
    return findings


def module_conflicts(models: list[tuple[FoundModel, ModelInfo]]) -> list[Finding]:
    """A top-level module beside a model's package (`common.py`) that another model also puts
    on ``sys.path``, as its package or beside its own: every import of it gets the first one,
    so a model would silently run another model's file. Names are compared first; only a
    shared name costs a ``stat``."""
    findings: list[Finding] = []
    packages = {info.package: (model.name, str(info.package_dir)) for model, info in models if info.package}
    beside: dict[str, tuple[str, list]] = {}  # module -> (model, its entries of that name), of the models kept so far
    for model, info in models:
        if info.import_dir is None or model.origin == "installed":
            continue  # flat: xlm puts no folder of its own on sys.path; installed: pip put its packages there
        candidates = module_candidates(info.import_dir, info.package)
        clashes = [(module, entry, first) for module, entries in candidates.items()
                   if (first := _first_owner(module, model.name, packages, beside)) is not None
                   and (entry := importable(entries, module)) is not None]
        for module, entry, (owner, where) in clashes:
            what = f"Python module conflict: Both '{owner}' and '{model.name}' put a top-level module '{module}' on sys.path"
            fix = f"move {entry.name} into the package ({info.package}/{entry.name}, imported as {info.package}.{module}) or rename it"
            findings.append((model, Problem(model.name, what, f"{where} and {entry.path}", fix, "package_conflict")))
        if not clashes:
            for module, entries in candidates.items():
                beside.setdefault(module, (model.name, entries))
    return findings


def _first_owner(module: str, name: str, packages: dict, beside: dict) -> tuple[str, str] | None:
    """(model, path) of what another model already puts on ``sys.path`` as ``module``."""
    if module in packages and packages[module][0] != name:
        return packages[module]
    if module in beside and beside[module][0] != name and (entry := importable(beside[module][1], module)) is not None:
        return beside[module][0], entry.path
    return None


def _xlm_config_files() -> set[str]:
    found = set()
    for folder, _, files in os.walk(CORE_CONFIG_DIR):
        rel = Path(folder).relative_to(CORE_CONFIG_DIR)
        found.update((rel / f).as_posix() for f in files if f.endswith((".yaml", ".yml")))
    return found


def config_conflicts(models: list[tuple[FoundModel, ModelInfo]]) -> list[Finding]:
    """Two models (or a model and xlm) with the same config file: Hydra would silently pick one."""
    findings: list[Finding] = []
    owners: dict[str, str] = {rel: "xlm" for rel in _xlm_config_files()}
    for model, info in models:
        clashes: dict[str, list[str]] = {}
        for rel in info.config_files:
            owner = owners.get(rel)
            if owner is not None and not (owner in RESERVED_NAMES and model.origin == "core"):
                clashes.setdefault(owner, []).append(rel)
        for owner, files in clashes.items():
            what = f"Config conflict: Both '{owner}' and '{model.name}' define config files {files}"
            example = f"experiment/star_easy_{model.name}.yaml"
            fix = f"rename the files; names that carry the model's name stay unique (e.g. {example})"
            findings.append((model, Problem(model.name, what, str(info.configs_dir), fix, "config_conflict")))
        if not clashes:
            owners.update({rel: model.name for rel in info.config_files if rel not in owners})
    return findings


def command_conflicts(
    models: list[tuple[FoundModel, ModelInfo]],
    builtin: Iterable[str] = BUILTIN_COMMANDS,
) -> list[Finding]:
    """A model command that reuses a built-in command's name or another model's command."""
    findings: list[Finding] = []
    owners = {name: "xlm" for name in builtin}
    for model, info in models:
        clashes = [(c, owners[c.name]) for c in info.commands if c.name in owners]
        for command, owner in clashes:
            shown = owner if owner == "xlm" else repr(owner)
            what = f"Command conflict: '{command.name}' of model '{model.name}' is already a command of {shown}"
            fix = f"rename the command in configs/commands.yaml (e.g. {model.name}-{command.name})"
            findings.append((model, Problem(model.name, what, command.where, fix, "command_conflict")))
        if not clashes:
            owners.update({c.name: model.name for c in info.commands})
    return findings
