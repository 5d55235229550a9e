"""``xpm new`` / ``xlm-scaffold``: create a model that trains on its first run.

The work is :func:`create_model` (tests call it directly); the click command only maps flags
onto it. A new model is rendered from the template (or copied, renamed, from ``--from``
MODEL) into a staging folder next to its destination, checked with xlm's static validation,
moved into place with one rename, and only then listed in `.xlm_models`: an interrupted or
refused run leaves no half-made model and no dangling line.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xlm import manifest
from xpm import names
from xpm.errors import XpmError
from xpm.rename import copy_renamed, model_files
from xpm.templates import MODEL_TEMPLATE, render, render_tree, template_values

# What a copied model gets from the template when it has none of its own: packaging, docs,
# and the tests that only read the model's configs (so they hold for any model).
GENERIC_TEMPLATE_FILES = ("pyproject.toml", "README.md", "tests/conftest.py", "tests/test_configs.py")


@dataclass(frozen=True)
class NewModel:
    """What :func:`create_model` made: the model's folder and files, and the models-file line."""

    name: str
    root: Path
    files: tuple[Path, ...]
    models_file: Path
    entry: str
    models_file_created: bool


def _entry_text(root: Path, models_file: Path) -> str:
    """How the models file names the model: its bare name next to the file, else a ./relative path."""
    base = models_file.parent.resolve()
    if root.parent.resolve() == base:
        return root.name
    rel = os.path.relpath(root.resolve(), base)
    return rel if rel.startswith("..") else "./" + rel


def _add_generic_files(dest: Path, values: dict[str, str]) -> list[Path]:
    written = []
    for rel in GENERIC_TEMPLATE_FILES:
        target = dest / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render((MODEL_TEMPLATE / rel).read_text(encoding="utf-8"), values, where=rel), encoding="utf-8")
        written.append(target)
    return written


def _build(staging: Path, name: str, from_model: names.SourceModel | None) -> list[Path]:
    values = template_values(name)
    if from_model is None:
        return render_tree(staging, values)
    staging.mkdir()
    files = copy_renamed(model_files(from_model.root, from_model.package), staging, from_model.name, name)
    return files + _add_generic_files(staging, values)


def _validate(root: Path, name: str) -> None:
    """The new model must pass the same static checks as any model xlm loads."""
    from xlm.external.validation import validate_model_root

    problems = validate_model_root(root, name)
    if problems:
        details = "\n    - ".join(f"{p.what} ({p.where})" for p in problems)
        raise XpmError(
            f"the model generated for '{name}' does not pass validation:\n    - {details}",
            "this is a bug in the template or in the --from model; please report it",
        )


def create_model(
    name: str,
    parent: Path | str = ".",
    models_file: Path | str | None = None,
    from_model: str | None = None,
) -> NewModel:
    """Create model ``name`` in ``parent/name`` and list it in the models file.

    ``models_file`` defaults to the project's `.xlm_models` (``$XLM_MODELS_FILE``, else the
    nearest one walking up from ``parent``), else a new `.xlm_models` in ``parent``.
    Raises :class:`XpmError` for every refusal, before anything is written.
    """
    parent = Path(parent).expanduser().resolve()
    if not parent.is_dir():
        raise XpmError(f"--dir {parent} is not a folder", "create it first, or pass an existing folder")
    if models_file is not None:
        models_file = Path(models_file).expanduser().resolve()
    else:
        models_file = manifest.find_models_file(parent) or parent / manifest.MODELS_FILE_NAME
    root = parent / name
    names.check_new_name(name, root, models_file)
    source = names.find_source_model(from_model, models_file) if from_model else None

    text = models_file.read_text(encoding="utf-8") if models_file.is_file() else None
    entry = _entry_text(root, models_file)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.xpm-new-", dir=parent))
    try:
        built = _build(staging / name, name, source)
        _validate(staging / name, name)
        os.replace(staging / name, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = tuple(root / path.relative_to(staging / name) for path in built)
    if text is None:
        header = "# Models this project uses, one per line (see docs/new_model.md); '#' starts a comment.\n"
        manifest.write_atomic(models_file, manifest.add_entry_text(header, entry))
    else:
        manifest.write_atomic(models_file, manifest.add_entry_text(text, entry))
    return NewModel(name, root, tuple(sorted(files)), models_file, entry, text is None)
