"""Model rules, borrowed from xlm: every fetched tree passes xlm's static validation.

`xlm.external.validation` never imports the model's code (YAML is parsed, Python read with
`ast`), so running it on a freshly fetched tree is safe.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xpm.errors import NotAModel


def check_model(root: Path, name: str, origin: str, label: str | None = None) -> str | None:
    """Validate the model at `root`; raise NotAModel listing every problem; return its package.

    Paths in the report name the model (`label:configs/...`, e.g. `zlm@1ad421f:`), not the
    staging folder it was exported to; paths in a fix are relative to the model's root.
    """
    from xlm.external.validation import model_package, validate_model_root

    problems = validate_model_root(Path(root), name)
    if problems:
        prefix, label = str(root), label or name
        shown = [
            replace(
                p,
                where=p.where.replace(prefix + "/", f"{label}:").replace(prefix, label),
                fix=p.fix.replace(prefix + "/", "").replace(prefix, label),
            )
            for p in problems
        ]
        raise NotAModel(name, origin, shown)
    return model_package(Path(root), name)
