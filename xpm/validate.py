"""Model rules, borrowed from xlm: every fetched tree passes xlm's static validation.

`xlm.external.validation` (owned by the external-models work) never imports model code. Until
it is importable, a minimal structural check stands in: a `configs/` folder with the `model`
and `model_type` groups and a Python package with an `__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xpm.errors import NotAModel


@dataclass(frozen=True)
class Problem:
    model: str
    what: str
    where: str
    fix: str


def _fallback_problems(root: Path, name: str) -> list[Problem]:
    problems = []
    configs = root / "configs"
    if not configs.is_dir():
        problems.append(Problem(name, "no configs/ folder", str(root), "add configs/model/ and configs/model_type/"))
    else:
        missing = [g for g in ("model", "model_type") if not (configs / g).is_dir()]
        if missing:
            problems.append(Problem(name, f"missing required config groups: {missing}", str(configs), "add the folders with a YAML file each"))
    if _fallback_package(root, name) is None:
        problems.append(Problem(name, "no Python package (a folder with __init__.py)", str(root), f"add {name}/__init__.py"))
    return problems


def _fallback_package(root: Path, name: str) -> str | None:
    if (root / name / "__init__.py").is_file():
        return name
    found = sorted(p.parent.name for p in root.glob("*/__init__.py"))
    return found[0] if found else None


def problems(root: Path, name: str) -> list:
    try:
        from xlm.external.validation import validate_model_root
    except ImportError:
        return _fallback_problems(root, name)
    return list(validate_model_root(Path(root), name))


def package(root: Path, name: str) -> str | None:
    try:
        from xlm.external.validation import model_package
    except ImportError:
        return _fallback_package(root, name)
    return model_package(Path(root), name)


def check_model(root: Path, name: str, origin: str) -> str | None:
    """Validate the model at `root`; raise NotAModel listing every problem; return its package."""
    found = problems(root, name)
    if found:
        raise NotAModel(name, origin, found)
    return package(root, name)
