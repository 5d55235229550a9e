"""Copy a model folder under a new name (``xpm new NAME --from MODEL``).

Renaming is textual, on identifier boundaries, in file contents and path components alike:

- ``arlm`` -> ``my_model`` where it stands alone or between underscores and dots (the package,
  ``configs/model/arlm.yaml``, ``default_arlm``, ``star_easy_arlm``, ``arlm.model.X``);
- ``ARLM``/``Arlm`` -> ``MyModel`` as part of a CamelCase name (``ARLMLoss``,
  ``DefaultARLMCollator``), and ``ARLM_`` -> ``MY_MODEL_`` in constants.

Other words that merely contain the name (``xlm`` for ``lm``, ``mlmx``) are left alone. All
forms are replaced in one pass, so a replacement is never renamed again (``ARLM_X`` ->
``MY_MODEL_X``, not ``MY_MyModel_X``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from xpm.templates import class_prefix

# Build outputs, run outputs, caches and virtual environments are not part of a model: never
# copied (a model that has been trained in place holds its task cache and runs).
_SKIPPED_DIRS = {".git", "__pycache__", ".xlm_data", "build", "dist", "outputs", "multirun", "lightning_logs", ".venv", "venv", ".tox"}
# A flat model's packaging describes its flat layout; the copy, in the nested layout, gets the template's.
_FLAT_BUILD_FILES = {"setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in"}
_ROOT_FILES = ("README", "LICENSE", "CHANGELOG", ".gitignore")


def renamer(old: str | Iterable[str], new: str):
    """A function ``text -> text`` that renames model ``old`` to ``new`` (see the module doc).

    ``old`` may be several names (a model and its package, when they differ): each becomes ``new``.
    """
    olds = [old] if isinstance(old, str) else list(old)
    lower = {o: new for o in olds}
    upper = {o.upper(): new.upper() for o in olds}
    camel = {form: class_prefix(new) for o in olds for form in (class_prefix(o), o.upper().replace("_", ""))}

    def alternatives(words) -> str:  # longest first: a longer old name wins over its prefix
        return "|".join(map(re.escape, sorted(words, key=len, reverse=True)))

    pattern = re.compile(
        rf"(?<![A-Za-z0-9])(?P<upper>{alternatives(upper)})(?=_)"
        rf"|(?<![A-Za-z0-9])(?P<lower>{alternatives(lower)})(?![a-z0-9])"
        rf"|(?<![A-Z0-9])(?P<camel>{alternatives(camel)})(?![a-z])"
    )
    table = {"upper": upper, "lower": lower, "camel": camel}

    def replace(match: re.Match) -> str:
        return table[match.lastgroup][match.group()]

    return lambda text: pattern.sub(replace, text)


def _skipped_dir(name: str) -> bool:
    return name in _SKIPPED_DIRS or name.endswith(".egg-info") or (name.startswith(".") and name.endswith("cache"))


def _from_flat(rel: PurePosixPath, package: str) -> PurePosixPath | None:
    """Where a file of a flat model (the root is the package) goes in the nested layout; None: left out."""
    top = rel.parts[0]
    if top in ("configs", "tests"):
        return rel
    if len(rel.parts) == 1 and top in _FLAT_BUILD_FILES:
        return None
    if len(rel.parts) == 1 and top.startswith(_ROOT_FILES):
        return rel
    return PurePosixPath(package) / rel


def model_files(root: Path, package: str | None, flat: bool = False) -> list[tuple[Path, PurePosixPath]]:
    """(file, its path in a model folder) for every file of the model at ``root``.

    An installed wheel keeps configs/ inside the package and its root is site-packages: then
    only the package is taken, and its configs/ goes back next to it (the source layout).
    A ``flat`` model (the root is the package, xlm-core's layout) is copied into that layout
    too: its modules go into the package folder; configs/, tests/, README and LICENSE stay
    at the root; its packaging files (setup.py, pyproject.toml, ...) are left out.
    Skipped folders (see ``_SKIPPED_DIRS``; also .pytest_cache, ...) are not even
    walked, and symbolic links are skipped: xpm never follows them out of a model.
    """
    in_package = package is not None and (root / package / "configs").is_dir()
    base = root / package if in_package else root
    files = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if not _skipped_dir(d)]
        for file_name in names:
            path = Path(folder) / file_name
            if path.suffix == ".pyc" or path.is_symlink() or not path.is_file():
                continue
            rel = PurePosixPath(path.relative_to(base).as_posix())
            if in_package and rel.parts[0] != "configs":
                rel = PurePosixPath(package) / rel
            elif flat and package is not None and (rel := _from_flat(rel, package)) is None:
                continue
            files.append((path, rel))
    return sorted(files, key=lambda item: item[1])


def copy_renamed(files: list[tuple[Path, PurePosixPath]], dest: Path, old: str | Iterable[str], new: str) -> list[Path]:
    """Copy ``files`` (see `model_files`) into ``dest``, renaming model ``old`` (see `renamer`) to ``new``.

    Text files are renamed inside; other files are copied byte for byte.
    """
    rename = renamer(old, new)
    written = []
    for path, rel in files:
        target = dest / rename(rel.as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        try:
            target.write_text(rename(data.decode("utf-8")), encoding="utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(path, target)
        written.append(target)
    return written
