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

import re
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from xpm.templates import class_prefix

# Build outputs and caches are not part of a model: never copied.
_SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", "build", "dist", "outputs", "multirun", "lightning_logs"}


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


def _skipped(rel: PurePosixPath) -> bool:
    return any(part in _SKIPPED_DIRS or part.endswith(".egg-info") for part in rel.parts) or rel.suffix == ".pyc"


def model_files(root: Path, package: str | None) -> list[tuple[Path, PurePosixPath]]:
    """(file, its path in a model folder) for every file of the model at ``root``.

    An installed wheel keeps configs/ inside the package and its root is site-packages: then
    only the package is taken, and its configs/ goes back next to it (the source layout).
    Symbolic links are skipped: xpm never follows them out of a model.
    """
    in_package = package is not None and (root / package / "configs").is_dir()
    base = root / package if in_package else root
    files = []
    for path in sorted(base.rglob("*")):
        rel = PurePosixPath(path.relative_to(base).as_posix())
        if _skipped(rel) or path.is_symlink() or not path.is_file():
            continue
        if in_package and rel.parts[0] != "configs":
            rel = PurePosixPath(package) / rel
        files.append((path, rel))
    return files


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
