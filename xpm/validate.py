"""Model rules, borrowed from xlm: every fetched tree passes xlm's static validation.

`xlm.external.validation` never imports the model's code (YAML is parsed, Python compiled
and read with `ast`, never run), so running it on a freshly fetched tree is safe.
"""

from __future__ import annotations

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


def inspect_now(root: Path, name: str) -> Callable[[], Inspection]:
    """`inspect_here` as a verdict to wait for (see `xpm.validation_worker`): already in."""
    found = inspect_here(root, name)
    return lambda: found


def check_model(root: Path, name: str, origin: str, label: str | None = None, warnings: list[str] | None = None,
                inspection: Inspection | None = None) -> str | None:
    """Validate the model at `root` (or judge its `inspection`, done elsewhere); raise NotAModel
    listing every problem; return its package.

    Paths in the report name the model (`label:configs/...`, e.g. `zlm@1ad421f:`), not the
    staging folder it was exported to; paths in a fix are relative to the model's root.
    Warnings (a config's target that names nothing: xlm loads the model and fails only a job
    that uses it) are appended to ``warnings`` as text, in the same form.
    """
    problems, found, package = inspection if inspection is not None else inspect_here(Path(root), name)
    prefix, label = str(root), label or name
    if package is not None:
        problems = [*problems, *_package_problems(root, name, package)]

    def shown(p):
        return p._replace(
            where=p.where.replace(prefix + "/", f"{label}:").replace(prefix, label),
            fix=p.fix.replace(prefix + "/", "").replace(prefix, label),
        )

    if problems:
        raise NotAModel(name, origin, [shown(p) for p in problems])
    if warnings is not None:
        warnings += [f"{w.what} ({w.where})" for w in map(shown, found)]
    return package


def _package_problems(root: Path, name: str, package: str) -> list:
    """A package that hides xlm, a core model or the standard library: xlm refuses the model in
    any environment (`xlm.external.conflicts`), so xpm refuses it before it is added. One
    named like an installed module is xlm's to judge (it may be the model's own install):
    `xpm add` warns with xlm's verdict (`names.why_xlm_skips`)."""
    from xlm.external.errors import Problem
    from xlm.external.shadowing import package_shadows, package_suggestion

    if (hidden := package_shadows(package)) is None:
        return []
    nested = Path(root) / package
    what = f"Python package conflict: Model '{name}' defines package '{package}', which would shadow {hidden}"
    fix = f"rename the package to a model-specific name (such as '{package_suggestion(name, package)}') and update its _target_ paths"
    return [Problem(name, what, str(nested if nested.is_dir() else root), fix, "package_conflict")]
