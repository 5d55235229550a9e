"""Why a model's package does not import: the seed's troubleshooting case, answered by xlm.

``ModuleNotFoundError: No module named 'my_model'`` (or Hydra's "Error locating target
'my_model.model.MyModel'") means the model was not registered. `explain_missing_module`
says which of the usual causes it is, from the same discovery `xlm models` prints: the
model was skipped for a problem, its folder exists but is not listed, or nothing provides it.
"""

from __future__ import annotations

from pathlib import Path

from xlm.external.checks import ExternalModels
from xlm.external.validation import model_package
from xlm.manifest import MODELS_FILE_NAME


def unlisted_models(found: ExternalModels) -> list[Path]:
    """Model folders (``<dir>/<name>/<name>/__init__.py``) in the lookup folders that no source declares."""
    known = {m.root for m in found.models} | {m.root for m in found.skipped}
    roots = []
    for folder in found.search_dirs:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            continue
        roots += [p for p in children if (p / p.name / "__init__.py").is_file() and p.resolve() not in known]
    return roots


def listing_fix(found: ExternalModels, name: str) -> str:
    return f"add the line '{name}' to {found.models_file or found.project_dir / MODELS_FILE_NAME}"


def unlisted_option(group: str, option: str, found: ExternalModels | None = None) -> tuple[str, str] | None:
    """(what, fix) when config ``group/option`` exists only in a model folder nobody lists."""
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    for root in unlisted_models(found):
        if (root / "configs" / group / f"{option}.yaml").is_file():
            what = f"unknown {group} '{option}': it is in the model at {root}, which is not listed in {MODELS_FILE_NAME}"
            return what, listing_fix(found, root.name)
    return None


def explain_missing_module(module: str, found: ExternalModels | None = None) -> tuple[str, str] | None:
    """(what, fix) for ``module`` (``my_model`` or ``my_model.loss``) failing to import; None if not a model's.

    ``found`` defaults to a fresh `find_external_models()` of the current folder.
    """
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    package = module.split(".", 1)[0]
    head = f"No module named '{package}'"
    if any((m.info.package or m.name) == package for m in found.models):
        return None  # registered: the import failed for another reason (inside the model's code)
    for skipped in found.skipped:
        if skipped.name == package or model_package(skipped.root, skipped.name) == package:
            problem = next((p for p in found.problems if p.model == skipped.name), None)
            why = f": {problem.what}" if problem else ""
            fix = problem.fix if problem else "run `xlm models` to see its problem"
            return f"{head}: model '{skipped.name}' was skipped{why}", fix
    for root in unlisted_models(found):
        if root.name == package:
            return f"{head}: the model at {root} is not listed in {MODELS_FILE_NAME}", listing_fix(found, package)
    fix = f"list the model in {MODELS_FILE_NAME} (a name or ./path) or pip install it; `xlm models` shows what xlm finds"
    return f"{head}: no model provides it", fix


def missing_model_error(exc: BaseException):
    """A `UserError` when ``exc`` comes from a ``_target_`` whose model package does not import.

    Hydra reports this as "Error loading 'my_model.model.MyModel'" caused by
    ``ModuleNotFoundError: No module named 'my_model'``. Only a missing *top* package of the
    target counts: a dependency missing inside the model's own code keeps Python's error.
    """
    from xlm.errors import UserError

    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    missing = next((e for e in chain if isinstance(e, ModuleNotFoundError) and e.name), None)
    if missing is None or "." in missing.name:
        return None
    if not any(f"'{missing.name}." in str(e) or f"'{missing.name}'" in str(e) for e in chain if e is not missing):
        return None  # not raised while locating a target that starts with this package
    explained = explain_missing_module(missing.name)
    return UserError(*explained) if explained else None

