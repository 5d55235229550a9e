"""Model rules, borrowed from xlm: every fetched tree passes xlm's static validation.

`xlm.external.validation` never imports the model's code (YAML is parsed, Python compiled
and read with `ast`, never run), so running it on a freshly fetched tree is safe.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from xpm.errors import NotAModel

if TYPE_CHECKING:
    from collections.abc import Callable

# (problems, warnings, package) of one model folder, as `xlm.external.validation` finds them
Inspection = tuple[list, list, "str | None"]


def inspect_here(root: Path, name: str) -> Inspection:
    """Validate in the calling thread (`xpm.validation_worker` does it in a child process)."""
    from xlm.external.validation import inspect_model

    info = inspect_model(Path(root), name)  # thread-safe: a parallel install may validate on several threads
    return info.problems, info.warnings, info.package


def check_model(root: Path, name: str, origin: str, label: str | None = None, warnings: list[str] | None = None,
                inspect: Callable[[Path, str], Inspection] = inspect_here) -> str | None:
    """Validate the model at `root`; raise NotAModel listing every problem; return its package.

    Paths in the report name the model (`label:configs/...`, e.g. `zlm@1ad421f:`), not the
    staging folder it was exported to; paths in a fix are relative to the model's root.
    Warnings (a config's target that names nothing: xlm loads the model and fails only a job
    that uses it) are appended to ``warnings`` as text, in the same form.
    """
    problems, found, package = inspect(Path(root), name)
    prefix, label = str(root), label or name
    if package is not None:
        refused, warned = _package_findings(root, name, package)
        problems, found = [*problems, *refused], [*found, *warned]

    def shown(p):
        return replace(
            p,
            where=p.where.replace(prefix + "/", f"{label}:").replace(prefix, label),
            fix=p.fix.replace(prefix + "/", "").replace(prefix, label),
        )

    if problems:
        raise NotAModel(name, origin, [shown(p) for p in problems])
    if warnings is not None:
        warnings += [f"{w.what} ({w.where})" for w in map(shown, found)]
    return package



def _package_findings(root: Path, name: str, package: str) -> tuple[list, list]:
    """(problems, warnings) about the name of the model's package, as xlm will judge it:
    - a package that hides xlm, a core model or the standard library: xlm refuses the model in
      any environment (`xlm.external.conflicts`), so xpm refuses it before it is added;
    - one named like an installed module: xlm refuses the model where that module is installed,
      unless it is the model's own install (its author's `pip install -e`): a warning. One
      lookup on `sys.path` but its first entry (the script's folder, or the current one), as
      an import would find it, without importing it; a namespace portion hides nothing."""
    import sys
    from importlib.machinery import PathFinder

    from xlm.external.errors import Problem
    from xlm.external.shadowing import package_shadows, package_suggestion

    nested = Path(root) / package
    where = str(nested if nested.is_dir() else root)
    what = f"Python package conflict: Model '{name}' defines package '{package}'"
    rename = f"rename the package to a model-specific name (such as '{package_suggestion(name, package)}')"
    if (hidden := package_shadows(package)) is not None:
        return [Problem(name, f"{what}, which would shadow {hidden}", where, f"{rename} and update its _target_ paths", "package_conflict")], []
    try:
        spec = PathFinder.find_spec(package, sys.path[1:])
    except (ImportError, ValueError, OSError):
        spec = None
    if spec is None or spec.origin is None:
        return [], []
    what += (f", and an installed module of that name ({spec.origin}) would be shadowed: xlm refuses the model "
             "in this environment unless that module is the model's own install")
    return [], [Problem(name, what, where, f"ask its authors to {rename}", "package_conflict")]
