"""Which names ``xpm new`` refuses, and where the model named by ``--from`` lives.

The rules are xlm's own (name syntax from `xlm.manifest`, reserved core names, installed
modules and the models a project already uses from `xlm.external`): a name xpm accepts is one
`xlm train` will load. Every refusal says what and where, then how to fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xlm import manifest
from xpm.errors import XpmError

MODELS_FILE_ENV = "XLM_MODELS_FILE"

# Folder names a model or a project already uses for something else: a model's package is a
# folder named after the model, so these would merge with its own configs/ or tests/, be
# ignored by git (the generated .gitignore) and skipped by --from (build and run outputs), or
# take the place where xpm vendors a project's models.
LAYOUT_NAMES = {
    **{name: f"every model has a {name}/ folder of its own" for name in ("configs", "tests")},
    **{name: f"{name}/ holds build or run outputs, which git ignores and xpm does not copy"
       for name in ("build", "dist", "outputs", "multirun", "lightning_logs")},
    "xlm_models": "xlm_models/ is where xpm vendors a project's models",
}


@dataclass(frozen=True)
class SourceModel:
    """A model to copy: its name, its folder and package, and where it is declared (for messages)."""

    name: str
    root: Path
    package: str | None
    where: str
    core: bool = False
    flat: bool = False  # the root is the package (xlm-core's layout): copied into the nested one


def _fix(name: str) -> str:
    if not name.endswith("lm"):
        other = f"{name}_lm"
    else:
        other = f"my_{name}" if not name.startswith("my_") else f"{name}2"
    return f"choose another name, such as {other}"


def project_models(models_file: Path) -> list:
    """The models xlm would find for a project whose models file is ``models_file`` (no imports of model code)."""
    return _discovery(models_file).models


def _discovery(models_file: Path):
    from xlm.external.discovery import discover

    # discover() reads the file `xlm` would read; XLM_MODELS_FILE is how a user points xlm at
    # another file, so point it at ours for the call (a --xlm-models-file such as custom.txt).
    saved = os.environ.get(MODELS_FILE_ENV)
    os.environ[MODELS_FILE_ENV] = str(models_file)
    try:
        return discover(models_file.parent)
    finally:
        if saved is None:
            os.environ.pop(MODELS_FILE_ENV, None)
        else:
            os.environ[MODELS_FILE_ENV] = saved


def skipped_by_xlm(models_file: Path) -> dict:
    """Why xlm skips each model of this project that it skips (a Problem per name): a conflict
    with another model, requirements not met, a local folder that is not a valid model. xlm's
    own checks, importing no model code."""
    from xlm.external.checks import check
    from xlm.external.installed import installed

    found = check(_discovery(models_file), installed().top_level)
    reasons = {m.name: found.reason(m) for m in found.skipped if m.entry is not None}
    return {name: reason for name, reason in reasons.items() if reason is not None}


def why_xlm_skips(models_file: Path, name: str):
    """The conflict with the project's other models (a top-level module two of them put on
    `sys.path`, a config file both define) for which xlm would skip the listed model ``name``,
    or None: its own tree passed validation when it was added, and xpm reports requirements itself."""
    reason = skipped_by_xlm(models_file).get(name)
    return reason if reason is not None and reason.kind in _CONFLICTS else None


_CONFLICTS = ("duplicate", "package_conflict", "config_conflict", "command_conflict")


def check_new_name(name: str, root: Path, models_file: Path) -> None:
    """Raise :class:`XpmError` when ``name`` cannot become a new model at ``root``."""
    from xlm.external.discovery import CORE_MODEL_NAMES, read_models_file

    if problem := manifest.name_problem(name):  # a reserved name, a keyword, too long: another name is the fix
        valid = manifest.name_problem(_fix(name).rpartition(" ")[2]) is None
        raise XpmError(problem, _fix(name) if valid else "choose a lowercase identifier that is not a Python keyword, such as my_model")
    if name in CORE_MODEL_NAMES:
        raise XpmError(
            f"'{name}' is the name of a core model of xlm",
            f"choose another name; to start from the core model, run: xpm new my_{name} --from {name}",
        )
    if name in manifest.RESERVED_NAMES:
        raise XpmError(f"'{name}' is reserved for a core model of xlm", _fix(name))
    if name in LAYOUT_NAMES:
        raise XpmError(f"'{name}' cannot be a model name: {LAYOUT_NAMES[name]}", _fix(name))
    if root.exists() or root.is_symlink():
        raise XpmError(f"{root} already exists", "choose another name, or create the model elsewhere with --dir PATH")
    listed, _ = read_models_file(models_file) if models_file.is_file() else ([], [])
    for entry in listed:  # found on disk or not: a second line for the same name is a conflict
        if entry.name == name:
            raise XpmError(f"'{name}' is already listed in {entry.where()}", _fix(name))
    if problem := _conflict(name, root, models_file):
        raise XpmError(problem, _fix(name))


def _conflict(name: str, root: Path, models_file: Path) -> str | None:
    """xlm's own rules between models, applied to the project's models plus the new one (last)."""
    from xlm.external.conflicts import duplicate_names, package_conflicts
    from xlm.external.discovery import FoundModel
    from xlm.external.installed import installed
    from xlm.external.validation import ModelInfo, inspect_model

    new = FoundModel(name, root, "local", f"new model {root}")
    models = project_models(models_file)
    # xlm would keep the installed or path-found model of that name and skip the new one.
    if same := next((m for m in models if m.name == name), None):
        return f"'{name}' is already a model here: {same.where} ({same.root})"
    pairs = [(m, inspect_model(m.root, m.name, m.package)) for m in models] + [(new, ModelInfo(name, root, package=name, package_dir=root / name))]
    findings = duplicate_names([*models, new]) + package_conflicts(pairs, installed().top_level)
    problem = next((problem for model, problem in findings if model is new), None)
    if problem is None:
        return None
    # Where the new package would be says nothing yet; where another model's package is does.
    return problem.what if problem.where == str(root / name) else f"{problem.what} ({problem.where})"


def check_copy(name: str, built: Path, source: SourceModel, models_file: Path) -> None:
    """Raise :class:`XpmError` when the copy of ``source`` built in ``built`` clashes with the project's models.

    The name was checked before building; what a copy keeps of its source (config files and
    commands whose names do not carry the source's name) can only be checked now.
    """
    from xlm.external.conflicts import command_conflicts, config_conflicts
    from xlm.external.discovery import FoundModel
    from xlm.external.validation import inspect_model

    new = FoundModel(name, built, "local", "new model")
    pairs = [(m, inspect_model(m.root, m.name, m.package)) for m in project_models(models_file)]
    pairs.append((new, inspect_model(built, name)))
    for model, problem in config_conflicts(pairs) + command_conflicts(pairs):
        if model is new:
            example = f"experiment/star_easy_{source.name}.yaml" if problem.kind == "config_conflict" else f"{source.name}-train"
            raise XpmError(
                f"{problem.what}: the copy keeps these names of '{source.name}'",
                f"rename them in {source.root} so that they carry the model's name (e.g. {example}), then run xpm new again",
            )


def find_source_model(model: str, models_file: Path) -> SourceModel:
    """The model ``--from`` names: a core model, or one the project uses (local, vendored, installed)."""
    found = next((m for m in project_models(models_file) if m.name == model), None)
    if found is None:
        raise XpmError(
            f"--from {model}: no model named '{model}' is known here",
            "name a core model (arlm, mlm), a model listed in .xlm_models, or an installed one (see: xlm models)",
        )
    from xlm.external.layout import find_layout

    layout = find_layout(found.root, found.name, found.package)
    package = layout.package if layout else None
    flat = bool(layout and layout.flat)
    return SourceModel(found.name, found.root, package, found.where, core=found.origin == "core", flat=flat)
