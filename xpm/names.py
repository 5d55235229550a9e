"""Which names ``xpm new`` refuses, and where the model named by ``--from`` lives.

The rules are xlm's own (name syntax from `xlm.manifest`, reserved core names, installed
modules and the models a project already uses from `xlm.external`): a name xpm accepts is one
`xlm train` will load. Every refusal says what and where, then how to fix it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from xlm import manifest
from xpm.errors import XpmError

MODELS_FILE_ENV = "XLM_MODELS_FILE"


@dataclass(frozen=True)
class SourceModel:
    """A model to copy: its name, its folder and package, and where it is declared (for messages)."""

    name: str
    root: Path
    package: str | None
    where: str


def _fix(name: str) -> str:
    return f"choose another name (for example {name}_lm or my_{name})"


def shadowed_module(name: str) -> str | None:
    """Who already provides a top-level module ``name`` (standard library or a distribution)."""
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        return "the Python standard library"
    from xlm.external.installed import installed

    owners = installed().top_level.get(name)
    return f"the installed distribution {', '.join(owners)}" if owners else None


def project_models(models_file: Path) -> list:
    """The models xlm would find for a project whose models file is ``models_file`` (no imports of model code)."""
    from xlm.external.discovery import discover

    # discover() reads the file `xlm` would read; XLM_MODELS_FILE is how a user points xlm at
    # another file, so point it at ours for the call (a --xlm-models-file such as custom.txt).
    saved = os.environ.get(MODELS_FILE_ENV)
    os.environ[MODELS_FILE_ENV] = str(models_file)
    try:
        return discover(models_file.parent).models
    finally:
        if saved is None:
            os.environ.pop(MODELS_FILE_ENV, None)
        else:
            os.environ[MODELS_FILE_ENV] = saved


def check_new_name(name: str, root: Path, models_file: Path) -> None:
    """Raise :class:`XpmError` when ``name`` cannot become a new model at ``root``."""
    from xlm.external.discovery import RESERVED_NAMES
    from xlm.external.validation import model_package

    if problem := manifest.name_problem(name):
        raise XpmError(problem, "use lowercase letters, digits and underscores, starting with a letter: my_model")
    if name in RESERVED_NAMES:
        raise XpmError(
            f"'{name}' is the name of a core model of xlm",
            f"{_fix(name)}; to start from the core model, run: xpm new my_{name} --from {name}",
        )
    if root.exists() or root.is_symlink():
        raise XpmError(f"{root} already exists", f"{_fix(name)}, or create the model elsewhere with --dir PATH")
    for model in project_models(models_file):
        if model.name == name:
            raise XpmError(f"a model named '{name}' is already used by this project ({model.where}: {model.root})", _fix(name))
        if (model.package or model_package(model.root, model.name)) == name:
            raise XpmError(f"'{name}' is already the Python package of model '{model.name}' ({model.where}: {model.root})", _fix(name))
    if owner := shadowed_module(name):
        raise XpmError(f"a model named '{name}' would shadow the module '{name}' of {owner}", _fix(name))


def find_source_model(model: str, models_file: Path) -> SourceModel:
    """The model ``--from`` names: a core model, or one the project uses (local, vendored, installed)."""
    found = next((m for m in project_models(models_file) if m.name == model), None)
    if found is None:
        raise XpmError(
            f"--from {model}: no model named '{model}' is known here",
            "name a core model (arlm, mlm), a model listed in .xlm_models, or an installed one (see: xlm models)",
        )
    from xlm.external.validation import model_package

    return SourceModel(found.name, found.root, found.package or model_package(found.root, found.name), found.where)
