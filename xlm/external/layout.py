"""Where a model's Python package is: the two layouts a model root may have.

- **nested** (the seed's layout, `xpm new`'s): ``<root>/<name>/__init__.py``, with
  ``configs/`` next to the package (or inside it, as a wheel installs it). The root goes on
  ``sys.path``; a root with one package of another name is accepted too.
- **flat** (every model family of xlm-core, e.g. ``xlm-models/mdlm``): ``<root>/__init__.py``.
  The root is itself the package, imported under the model's name, with ``configs/``
  inside it. Its parent folder may hold anything (xlm-core's ``xlm-models/`` holds its own
  ``arlm`` and ``mlm``), so the parent never goes on ``sys.path``: see
  `xlm.external.registration.register_flat_packages`.

When both could apply (``<root>/__init__.py`` and ``<root>/<name>/__init__.py``), the nested
package wins: it is what the seed's rule has always imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

_NOT_PACKAGES = ("tests", "test")


class Layout(NamedTuple):
    """A model's package: its import name, its folder, and whether the root is the package."""

    package: str
    package_dir: Path
    flat: bool = False

    @property
    def import_dir(self) -> Path | None:
        """The folder a nested model puts on ``sys.path`` (None for a flat one: nothing of its parent goes there)."""
        return None if self.flat else self.package_dir.parent


def packages_in(root: Path) -> list[str]:
    """Sub-folders of ``root`` that are regular packages (``tests`` is not a model's package)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    return [
        e.name
        for e in entries
        if e.is_dir()
        and e.name.isidentifier()
        and e.name not in _NOT_PACKAGES
        and os.path.isfile(os.path.join(e.path, "__init__.py"))
    ]


def find_layout(root: Path, name: str, package: str | None = None) -> Layout | None:
    """The package of the model ``name`` at ``root``, or None when it has none (or several).

    ``package`` is the import name when the declaration knows it (an installed model's entry
    point, found with ``find_spec``).
    """
    root = Path(root)
    nested = package or name
    if (root / nested / "__init__.py").is_file() or (package and (root / package).is_dir()):
        return Layout(nested, root / nested)
    if (root / "__init__.py").is_file() and nested.isidentifier():
        return Layout(nested, root, flat=True)
    if package is None:
        found = packages_in(root)
        if len(found) == 1:
            return Layout(found[0], root / found[0])
    return None


def looks_like_model(folder: Path) -> bool:
    """Whether ``folder`` is laid out as a model root (for folders nobody declared).

    Nested: ``<folder>/<folder name>/__init__.py``. Flat: ``<folder>/__init__.py`` with
    ``configs/model_type/``, so that an ordinary package that merely has a ``configs/``
    folder is not taken for a model.
    """
    try:  # `Path.is_file` raises for a name too long (a folder near PATH_MAX) or a folder it may not search
        if (folder / folder.name / "__init__.py").is_file():
            return True
        return (folder / "__init__.py").is_file() and (folder / "configs" / "model_type").is_dir() and folder.name.isidentifier()
    except OSError:
        return False
