"""A model's Python requirements, as it declares them in its own files: read as data.

A model says what it needs the way any Python project does: `[project] dependencies` and
`requires-python` in the `pyproject.toml` at its root (its dependency on `xlm`, with a version
range, is the xlm it was written for), else plain lines of a `requirements.txt` there. Both
are read as data (`tomllib`, `packaging.requirements`); no `setup.py` and no code of the model
ever runs. The files come from anywhere (a fetched repository), so every value is checked and
a bad one is a `DeclarationError` with its file and line.

Whether they hold in an interpreter, and whether two models agree, is `xlm.requirements_check`.
Shared by xlm (start-up checks, `xlm models`, the job guard) and xpm (`xlm.lock`, `--deps`);
it imports nothing heavy, and `packaging` only inside the functions that parse.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from xlm.shown import control_problem

PYPROJECT = "pyproject.toml"
REQUIREMENTS_TXT = "requirements.txt"
MAX_FILE_BYTES = 1024 * 1024  # a declaration file is a few KiB; anything larger is not one
MAX_REQUIREMENTS = 500
MAX_REQUIREMENT_BYTES = 1024  # a real one is tens of bytes; xlm.lock records each on a line of at most 4096
_ARCHIVES = (".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".egg")
# What `xpm install --deps` never replaces: the stack xlm runs on, pinned to what is installed.
CORE_STACK = ("torch", "lightning", "hydra-core", "xlm")
FIX_DECLARATION = "fix the model's {file} (PEP 508 requirements, e.g. \"einops>=0.7\"), upstream for a fetched model"


class DeclarationError(ValueError):
    """A declaration file that cannot be read as requirements: what, where (file:line), how to fix."""

    def __init__(self, what: str, where: str, fix: str):
        super().__init__(f"{where}: {what}")
        self.what, self.where, self.fix = what, where, fix


# Records are NamedTuples, not frozen dataclasses: xlm imports this module at every start, and a
# frozen dataclass costs about ten times as much to define.
class Declared(NamedTuple):
    """What a model declares it needs. ``requires`` are normalised PEP 508 strings, in file order."""

    requires: tuple[str, ...] = ()
    python: str | None = None  # requires-python, normalised
    file: str | None = None  # the file they were read from (None: the model declares nothing)
    lines: tuple[int, ...] = ()  # the line of each requirement in ``file``

    @property
    def empty(self) -> bool:
        return not self.requires and self.python is None


def canonical(name: str) -> str:
    """PEP 503 normal form of a distribution name (``Hydra_Core`` -> ``hydra-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------------- reading
def declaration_files(root: Path) -> tuple[Path, Path]:
    """The files a model root may declare its requirements in, in the order they are looked for."""
    return Path(root) / PYPROJECT, Path(root) / REQUIREMENTS_TXT


def read_declared(root: Path) -> Declared:
    """The requirements the model at ``root`` declares (its root: the nested model's folder, or
    the flat model's package folder). Raises `DeclarationError`."""
    pyproject, requirements_txt = declaration_files(root)
    text = _read(pyproject)
    if text is not None:
        declared = _from_pyproject(text, pyproject, Path(root))
        if declared is not None:
            return declared
    text = _read(requirements_txt)
    if text is not None:
        requires, numbers = _requirement_lines(text, requirements_txt)
        return Declared(requires, None, str(requirements_txt), numbers)
    return Declared()


def _read(path: Path) -> str | None:
    """The UTF-8 text of a regular file at ``path`` (None when absent); never hangs on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DeclarationError(f"cannot be read ({exc.strerror})", str(path), "make the file readable") from None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DeclarationError("is not a regular file", str(path), "replace it with a plain text file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DeclarationError(f"cannot be read ({exc.strerror})", str(path), "make the file readable") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise DeclarationError(f"is larger than {MAX_FILE_BYTES // 1024} KiB", str(path), "declare requirements only")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DeclarationError("is not valid UTF-8", f"{path}:{line}", "save it as UTF-8") from None


def _from_pyproject(text: str, path: Path, root: Path) -> Declared | None:
    """Requirements from `[project]`; None when the file has no `[project]` table (a tool-only file)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except RecursionError:  # arrays or inline tables nested thousands deep: tomllib recurses
        raise DeclarationError("not valid TOML (values nested too deep to read)", str(path),
                               f"fix the TOML syntax of the model's {PYPROJECT}") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer too long for Python
        from xlm.textfile import toml_error

        what, line = toml_error(exc, text)
        line = line or (text.count("\n") + 1 if "end of document" in str(exc) else None)
        raise DeclarationError(what, f"{path}:{line}" if line else str(path), f"fix the TOML syntax of the model's {PYPROJECT}") from None
    project = data.get("project")
    if project is None:
        return None
    fix = FIX_DECLARATION.format(file=PYPROJECT)
    if not isinstance(project, dict):
        raise DeclarationError("`project` is not a table", _where(path, _line_of(text, "project")), fix)
    python = project.get("requires-python")
    if python is not None:
        python = _python_spec(python, _where(path, _line_of(text, "requires-python")), fix)
    dynamic = project.get("dynamic", [])
    if "dependencies" in project:
        raw = project["dependencies"]
        where = _where(path, _line_of(text, "dependencies"))
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            raise DeclarationError("`dependencies` is not a list of strings", where, fix)
        if len(raw) > MAX_REQUIREMENTS:
            raise DeclarationError(f"more than {MAX_REQUIREMENTS} dependencies", where, fix)
        numbers = tuple(_line_of(text, r, quoted=True) or _line_of(text, "dependencies") or 0 for r in raw)
        requires = tuple(_requirement(r, _where(path, n), fix) for r, n in zip(raw, numbers))
        return Declared(requires, python, str(path), numbers)
    if isinstance(dynamic, list) and "dependencies" in dynamic:
        return _dynamic_files(data, text, path, root, python)
    return Declared((), python, str(path), ())


def _dynamic_files(data: dict, text: str, path: Path, root: Path, python: str | None) -> Declared:
    """`dynamic = ["dependencies"]` read from files (setuptools' `[tool.setuptools.dynamic]`), else
    the model's requirements.txt; requirements a build script computes cannot be known."""
    spec = _table(data, "tool", "setuptools", "dynamic").get("dependencies")
    files = spec.get("file") if isinstance(spec, dict) else None
    files = [files] if isinstance(files, str) else files
    if not files:
        files = [REQUIREMENTS_TXT] if (root / REQUIREMENTS_TXT).is_file() else []
    where = _where(path, _line_of(text, "dependencies"))
    requires: list[str] = []
    numbers: list[int] = []
    for name in dict.fromkeys(files) if isinstance(files, list) else files:  # a file listed twice is read once
        if not isinstance(name, str) or name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise DeclarationError(f"dynamic dependencies read from '{name}', which is not a file inside the model",
                                   where, FIX_DECLARATION.format(file=PYPROJECT))
        file = root / name
        found = _read(file)
        if found is None:
            raise DeclarationError(f"dynamic dependencies read from '{name}', which does not exist", where,
                                   f"add {name}, or list the requirements in `dependencies`")
        more, lines_ = _requirement_lines(found, file)
        requires += more
        numbers += lines_
        if len(requires) > MAX_REQUIREMENTS:  # over every file: each alone stays under it
            raise DeclarationError(f"more than {MAX_REQUIREMENTS} requirements in the files of its dynamic dependencies", where,
                                   FIX_DECLARATION.format(file=PYPROJECT))
    # The file the requirements came from, for messages; the pyproject when several.
    shown = str(root / files[0]) if len(files) == 1 else str(path)
    return Declared(tuple(requires), python, shown, tuple(numbers))


def _requirement_lines(text: str, path: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Plain requirement lines of a requirements file. Options (`-r`, `-e`, `--index-url`), URLs
    and paths are refused: they would make an install fetch from elsewhere than the user's index."""
    fix = f"keep only plain requirement lines in {path.name} (e.g. einops>=0.7), one per line"
    requires, numbers = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        line = re.sub(r"(^|\s)#.*$", "", line.rstrip("\r")).strip()
        if not line:
            continue
        where = f"{path}:{number}"
        if line.startswith("-") or line.endswith("\\"):
            raise DeclarationError(f"'{_short(line)}' is an option, not a requirement; only plain requirement lines are read",
                                   where, fix)
        if "://" in line or line.startswith((".", "/", "~")):
            raise DeclarationError(f"'{_short(line)}' is a URL or a path; only requirements by name and version are read",
                                   where, fix)
        requires.append(_requirement(line, where, fix))
        numbers.append(number)
        if len(requires) > MAX_REQUIREMENTS:
            raise DeclarationError(f"more than {MAX_REQUIREMENTS} requirements", where, fix)
    return tuple(requires), tuple(numbers)


def _requirement(text: str, where: str, fix: str) -> str:
    """``text`` as a normalised requirement string; a URL requirement (``pkg @ https://...``) is refused."""
    from packaging.requirements import InvalidRequirement, Requirement

    if problem := control_problem(text):  # C0 and C1 controls, U+2028, bidi and zero-width characters (a tab is fine)
        raise DeclarationError(f"a requirement cannot be read: {problem}", where, fix)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_REQUIREMENT_BYTES:
        raise DeclarationError(f"'{_short(text)}' is longer than the {MAX_REQUIREMENT_BYTES} bytes a requirement may have", where, fix)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise DeclarationError(f"'{_short(text)}' is not a requirement ({reason})", where, fix) from None
    if req.url:
        raise DeclarationError(f"'{_short(text)}' names a URL; only requirements by name and version are read", where,
                               "publish the package to an index and require it by name and version")
    if req.name.lower().endswith(_ARCHIVES) or any("/" in spec.version or ":" in spec.version for spec in req.specifier):
        # pip reads `x-1.0-py3-none-any.whl` or `x===./y.whl` as a file to install, relative to where it runs
        raise DeclarationError(f"'{_short(text)}' reads as a file to install, not a requirement by name and version", where,
                               "require the package by its name and a version range (e.g. einops>=0.7)")
    if req.marker is not None:
        try:  # one that parses yet cannot be evaluated (`python_version ~= "3"`) failed every later check
            req.marker.evaluate()
        except Exception as exc:  # noqa: BLE001  (packaging's UndefinedComparison, UndefinedEnvironmentName, ...)
            raise DeclarationError(f"the marker of '{_short(text)}' cannot be evaluated ({exc})", where,
                                   "write the marker as PEP 508 does (e.g. python_version >= \"3.10\")") from None
    # Normalised, but in the author's order (packaging's own str() sorts the specifiers):
    # no white space or parentheses around the version range, the marker as packaging writes it.
    head = re.sub(r"[\s()]", "", text.split(";", 1)[0])
    return head + (f"; {req.marker}" if req.marker is not None else "")


def _python_spec(value, where: str, fix: str) -> str:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(value, str):
        raise DeclarationError("`requires-python` is not a string", where, fix)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_REQUIREMENT_BYTES:
        raise DeclarationError(f"`requires-python` is longer than {MAX_REQUIREMENT_BYTES} bytes", where, fix)
    try:
        return str(SpecifierSet(value))
    except InvalidSpecifier:
        raise DeclarationError(f"`requires-python = \"{_short(value)}\"` is not a version range", where, fix) from None


def _table(data: dict, *keys: str) -> dict:
    """``data[k1][k2]...``, or {} where a key is missing or holds something else than a table."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def _line_of(text: str, needle: str, quoted: bool = False) -> int | None:
    """The first line of ``text`` that holds ``needle`` (as a quoted string, or as a key)."""
    for number, line in enumerate(text.split("\n"), start=1):
        if (quoted and (f'"{needle}"' in line or f"'{needle}'" in line)) or \
                (not quoted and re.match(rf"\s*\[?\s*\"?{re.escape(needle)}\"?\s*[=\]]", line)):
            return number
    return None


def _short(text: str, limit: int = 80) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
