"""Which discovered models load: every check in a fixed order, each on the models the last one kept.

The order is: names (duplicates, reserved), then each model folder on its own
(`xlm.external.validation`, then its declared Python requirements against this interpreter,
`xlm.external.deps`), then rules between folders (packages, configs, commands). A
model with a problem is skipped and later checks do not see it, so one broken model
neither hides nor causes problems of the others; why it was skipped stays with it
(`ExternalModels.reason`), so a job that asks for it can say so. Warnings (a config's bad
target) do not skip a model. A new check is one function added to
`NAME_CHECKS` or to the list `_pair_checks` returns (`vendored_integrity` checks git-sourced
models against `xlm.lock` right after the duplicate names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from xlm.external.cache import FileMemo
from xlm.external.conflicts import (
    BUILTIN_COMMANDS, DECLARED_INSTEAD, command_conflicts, config_conflicts, duplicate_names, module_conflicts, package_conflicts,
)
from xlm.external.discovery import Discovery, FoundModel
from xlm.external.errors import Problem
from xlm.external.validation import Command, ModelInfo, inspect_model
from xlm.external.vendored import vendored_integrity


@dataclass(frozen=True)
class Model:
    """A model that passed every check: its declaration and what inspection found."""

    found: FoundModel
    info: ModelInfo

    @property
    def name(self) -> str:
        return self.found.name

    @property
    def root(self) -> Path:
        return self.found.root

    @property
    def configs_dir(self) -> Path:
        return self.info.configs_dir


@dataclass
class ExternalModels:
    """What `setup_external_models` found: the models that load, the skipped ones, every problem."""

    models_file: Path | None
    project_dir: Path
    search_dirs: list[Path]
    models: list[Model] = field(default_factory=list)
    skipped: list[FoundModel] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # of models that load; they do not skip them
    notes: list[Problem] = field(default_factory=list)  # a model skipped as asked (a declared one of its name): no problem
    reasons: dict[tuple[str, str], Problem] = field(default_factory=dict)  # skipped model's key -> first problem

    def reason(self, model: FoundModel) -> Problem | None:
        """The (first) problem that made xlm skip ``model``."""
        return self.reasons.get(model.key)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    @property
    def commands(self) -> list[Command]:
        return [c for m in self.models for c in m.info.commands]

    def get(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)


MEMO_FILE = "verdicts.json"


def verdicts() -> FileMemo:
    """The remembered verdicts on model files (``verdicts.json`` in xlm's cache)."""
    # Verdicts are only as good as the code that reached them: a change to it starts afresh.
    from xlm.external import config_files, configs, pysource, yaml_values

    return FileMemo(MEMO_FILE, [2, *(FileMemo.signature(module.__file__) for module in (config_files, configs, pysource, yaml_values))])


Pair = tuple[FoundModel, ModelInfo]
Findings = list[tuple[FoundModel, Problem]]
NAME_CHECKS: list[Callable[[Discovery, list[FoundModel]], Findings]] = [
    lambda d, models: duplicate_names(models),
    vendored_integrity,
]


def _pair_checks(discovery: Discovery, top_level: dict, builtin: Iterable[str]) -> list[Callable[[list[Pair]], Findings]]:
    declared: dict[str, set[str]] = {}
    for model in discovery.models:
        if model.distribution:
            declared.setdefault(model.name, set()).add(model.distribution)
    return [
        lambda pairs: package_conflicts(pairs, top_level, declared),
        module_conflicts,
        config_conflicts,
        lambda pairs: command_conflicts(pairs, builtin),
    ]


def check(
    discovery: Discovery,
    top_level: dict[str, tuple[str, ...]],
    builtin_commands: Iterable[str] = BUILTIN_COMMANDS,
) -> ExternalModels:
    """Run every check over ``discovery``; ``top_level`` maps installed modules to distributions."""
    result = ExternalModels(discovery.models_file, discovery.project_dir, discovery.search_dirs)
    result.problems = list(discovery.problems)

    def keep(findings: Findings, items: list, found_of: Callable) -> list:
        bad = set()
        for model, problem in findings:
            (result.notes if problem.kind == DECLARED_INSTEAD else result.problems).append(problem)
            result.reasons.setdefault(model.key, problem)
            bad.add(model.key)
        result.skipped += [found_of(i) for i in items if found_of(i).key in bad]
        return [i for i in items if found_of(i).key not in bad]

    models = list(discovery.models)
    for name_check in NAME_CHECKS:
        models = keep(name_check(discovery, models), models, lambda m: m)
    memo = verdicts()
    pairs = [(m, inspect_model(m.root, m.name, m.package, memo, not m.importable, _others(top_level, m))) for m in models]
    memo.save()
    pairs = keep([(m, p) for m, info in pairs for p in info.problems], pairs, lambda pair: pair[0])
    findings, conflicts = requirement_problems(pairs)
    pairs = keep(findings, pairs, lambda pair: pair[0])
    result.problems += conflicts  # a conflict skips no model by itself: the ones it leaves unmet are skipped above
    for pair_check in _pair_checks(discovery, top_level, builtin_commands):
        pairs = keep(pair_check(pairs), pairs, lambda pair: pair[0])
    result.models = [Model(m, info) for m, info in pairs]
    result.warnings = [w for _, info in pairs for w in info.warnings]
    order = {m.key: i for i, m in enumerate(discovery.models)}
    result.skipped.sort(key=lambda m: order[m.key])  # discovery order, not the order of the checks
    return result


# Models whose requirements pip already resolved (installed distributions), or that are xlm's own.
_REQUIREMENTS_CHECKED_BY_PIP = ("core", "installed")


def requirement_problems(pairs: list[Pair]) -> tuple[Findings, list[Problem]]:
    """(a problem per model whose declared requirements this interpreter does not meet, or whose
    declaration cannot be read; a problem per pair of models whose requirements exclude each other)."""
    from xlm.external.deps import check_models, where_of
    from xlm.requirements_check import fix_message, unmet_message

    models = {m.name: m for m, _ in pairs if m.origin not in _REQUIREMENTS_CHECKED_BY_PIP}
    # Two stats per model, before importing anything: most projects' models declare nothing
    # (the files are `xlm.requirements.declaration_files`).
    if not any((m.root / "pyproject.toml").exists() or (m.root / "requirements.txt").exists() for m in models.values()):
        return [], []
    report = check_models([(name, m.root) for name, m in models.items()])
    findings: Findings = []
    for name, error in report.errors.items():
        what = f"model '{name}' declares requirements that cannot be read: {error.what}"
        findings.append((models[name], Problem(name, what, error.where, error.fix, "requirements")))
    for name, items in report.unmet.items():
        where = where_of(report, name) or models[name].where
        findings.append((models[name], Problem(name, unmet_message(name, items), where, fix_message(items), "requirements")))
    conflicts = []
    for conflict in report.conflicts:
        (a, _), (b, _) = conflict.first, conflict.second
        where = ", ".join(str(report.declared[n].file) for n in (a, b))
        fix = (f"use versions of '{a}' and '{b}' that agree on {conflict.name} (another ref: `xpm update`, "
               f"or change one's requirement), or list only one of them in .xlm_models")
        conflicts.append(Problem(a, conflict.describe(), where, fix, "requirements"))
    order = {name: i for i, name in enumerate(models)}
    findings.sort(key=lambda finding: order[finding[0].name])
    return findings, conflicts


def _others(top_level: dict[str, tuple[str, ...]], model: FoundModel) -> dict[str, tuple[str, ...]]:
    """Installed modules but those only the model's own distribution installs (an editable install of it)."""
    if not model.distribution:
        return top_level
    return {module: owners for module, owners in top_level.items() if set(owners) != {model.distribution}}
