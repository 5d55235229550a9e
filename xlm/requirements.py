"""A model's Python requirements: declared in its own files, read as data, checked against an interpreter.

A model says what it needs the way any Python project does: `[project] dependencies` and
`requires-python` in the `pyproject.toml` at its root (its dependency on `xlm`, with a version
range, is the xlm it was written for), else plain lines of a `requirements.txt` there. Both
are read as data (`tomllib`, `packaging.requirements`); no `setup.py` and no code of the model
ever runs. The files come from anywhere (a fetched repository), so every value is checked and
a bad one is a `DeclarationError` with its file and line.

Shared by xlm (start-up checks, `xlm models`, the job guard) and xpm (`xlm.lock`, `--deps`);
it imports nothing heavy, and `packaging` only inside the functions that parse or compare.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

PYPROJECT = "pyproject.toml"
REQUIREMENTS_TXT = "requirements.txt"
MAX_FILE_BYTES = 1024 * 1024  # a declaration file is a few KiB; anything larger is not one
MAX_REQUIREMENTS = 500
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
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else text.count("\n") + 1 if "end of document" in str(exc) else None
        raise DeclarationError(f"not valid TOML ({exc})", f"{path}:{line}" if line else str(path),
                               f"fix the TOML syntax of the model's {PYPROJECT}") from None
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
    for name in files:
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

    if any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in text):
        raise DeclarationError("a requirement holds a control character", where, fix)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise DeclarationError(f"'{_short(text)}' is not a requirement ({reason})", where, fix) from None
    if req.url:
        raise DeclarationError(f"'{_short(text)}' names a URL; only requirements by name and version are read", where,
                               "publish the package to an index and require it by name and version")
    # Normalised, but in the author's order (packaging's own str() sorts the specifiers):
    # no white space or parentheses around the version range, the marker as packaging writes it.
    head = re.sub(r"[\s()]", "", text.split(";", 1)[0])
    return head + (f"; {req.marker}" if req.marker is not None else "")


def _python_spec(value, where: str, fix: str) -> str:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(value, str):
        raise DeclarationError("`requires-python` is not a string", where, fix)
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


# ----------------------------------------------------------------------------- checking
class Environment(NamedTuple):
    """What requirements are checked against: an interpreter's distributions, its Python, this xlm."""

    versions: Mapping[str, str]  # canonical distribution name -> installed version
    python: str  # "3.11.7"
    xlm: str  # xlm.__version__


def current_environment(versions: Mapping[str, str] | None = None) -> Environment:
    """This interpreter; ``versions`` (canonical name -> version) default to `importlib.metadata`'s."""
    from xlm import __version__

    if versions is None:
        versions = installed_versions()
    python = ".".join(str(p) for p in sys.version_info[:3])
    return Environment(versions, python, __version__)


def installed_versions(paths: Iterable[str] | None = None) -> dict[str, str]:
    """Canonical name -> version of each distribution on ``paths`` (sys.path); the first one found wins,
    as it is the one Python imports."""
    import importlib.metadata as metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions(**({"path": list(paths)} if paths is not None else {})):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version or "")
    return found


class Unmet(NamedTuple):
    """One requirement this interpreter does not satisfy."""

    requirement: str  # as declared, normalised ("einops>=0.7")
    name: str  # canonical name ("einops"); "python" for requires-python
    found: str | None  # the installed version, None when not installed
    kind: str  # package (pip can install it), core (torch/lightning/hydra-core), xlm, xlm-core, python
    spec: str  # its version range (">=0.3"), "" for any version

    def describe(self) -> str:
        if self.kind == "python":
            return f"Python {self.requirement} (this is Python {self.found})"
        if self.kind == "xlm":
            return f"{self.requirement} (this is xlm {self.found})"
        if self.kind == "xlm-core":
            return f"{self.requirement} (this is xlm {self.found}, not xlm-core)"
        return f"{self.requirement} ({'not installed' if self.found is None else f'{self.found} is installed'})"


def unmet(declared: Declared, env: Environment) -> list[Unmet]:
    """The requirements of ``declared`` that ``env`` does not satisfy, in declaration order.

    A requirement whose marker does not hold here (`; sys_platform == "win32"`) does not apply;
    extras (`pkg[cuda]`) are checked as `pkg` (their own requirements are pip's to resolve)."""
    if declared.empty:
        return []
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    found = []
    if declared.python is not None and not SpecifierSet(declared.python).contains(env.python, prereleases=True):
        found.append(Unmet(declared.python, "python", env.python, "python", declared.python))
    for text in declared.requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonical(req.name)
        if name == "xlm-core":  # xlm-core's own distribution also installs a package `xlm`
            found.append(Unmet(text, name, env.xlm, "xlm-core", _spec_text(text)))
            continue
        version = env.xlm if name == "xlm" else env.versions.get(name)
        if version is not None and (not req.specifier or req.specifier.contains(version, prereleases=True)):
            continue
        kind = "xlm" if name == "xlm" else "core" if name in CORE_STACK else "package"
        found.append(Unmet(text, name, version, kind, _spec_text(text)))
    return found


def _spec_text(requirement: str) -> str:
    """The version range of a normalised requirement, as written (``xlm>=0.3,<0.4`` -> ``>=0.3,<0.4``)."""
    return re.sub(r"^[A-Za-z0-9._-]+(\[[^\]]*\])?\s*", "", requirement.split(";", 1)[0]).strip()


def unmet_message(model: str, items: list[Unmet]) -> str:
    """``model 'zlm' needs einops>=0.7 (not installed), jaxtyping (not installed)``."""
    return f"model '{model}' needs " + ", ".join(u.describe() for u in items)


def fix_message(items: list[Unmet]) -> str:
    """One command (or advice, for what pip must not change) that satisfies ``items``."""
    parts = []
    installable = [u for u in items if u.kind in ("package", "core")]
    if installable:
        parts.append(pip_command(u.requirement for u in installable))
        moved = [u for u in installable if u.kind == "core" and u.found is not None]
        if moved:
            parts[-1] += " (it replaces the installed " + ", ".join(f"{u.name} {u.found}" for u in moved) + ")"
    for u in items:
        if u.kind == "xlm":
            parts.append(f"use an xlm in {u.spec or 'any version'} (this is {u.found}), or a version of the model made for xlm {u.found}")
        elif u.kind == "xlm-core":
            parts.append("the model was written for xlm-core: require \"xlm\" instead of \"xlm-core\" "
                         "(see docs/porting_from_xlm_core.md)")
        elif u.kind == "python":
            parts.append(f"run it with a Python in {u.requirement} (this is {u.found})")
    return "; ".join(parts)


def pip_command(requirements: Iterable[str]) -> str:
    """``pip install 'einops>=0.7' jaxtyping``: each requirement quoted where a shell needs it."""
    import shlex

    return "pip install " + " ".join(shlex.quote(r) for r in requirements)


# ----------------------------------------------------------------------------- conflicts
class Conflict(NamedTuple):
    """Two models' requirements on one distribution that no version satisfies together."""

    name: str  # the distribution
    first: tuple[str, str]  # (model, requirement)
    second: tuple[str, str]

    def describe(self) -> str:
        (a, ra), (b, rb) = self.first, self.second
        return f"models '{a}' and '{b}' need {self.name} versions that cannot both hold: '{a}' needs {ra}, '{b}' needs {rb}"


def conflicts(declared: Mapping[str, Declared]) -> list[Conflict]:
    """Every pair of models (in the order given) whose requirements on one distribution exclude each other."""
    from packaging.requirements import Requirement

    by_name: dict[str, list[tuple[str, str, object]]] = {}
    for model, decl in declared.items():
        for text in decl.requires:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            by_name.setdefault(canonical(req.name), []).append((model, text, req.specifier))
    found = []
    for name, wanted in by_name.items():
        for i, (model_a, text_a, spec_a) in enumerate(wanted):
            for model_b, text_b, spec_b in wanted[i + 1:]:
                if model_a != model_b and not satisfiable([spec_a, spec_b]):
                    found.append(Conflict(name, (model_a, text_a), (model_b, text_b)))
    return found


def satisfiable(specifier_sets: list) -> bool:
    """Whether some version satisfies every one of ``specifier_sets`` (packaging `SpecifierSet`s).

    The versions a specifier set allows form intervals whose ends are the versions it names.
    So it is enough to try each named version, a version just above each (its release with a
    `.1` appended deeper than any named release: above it, below the next one), the next
    release at each level (the upper end of `~=2.2` and `==1.4.*`) and `0`. An arbitrary
    equality (`===`) is not reasoned about: it counts as satisfiable."""
    from packaging.version import InvalidVersion, Version

    named: list[Version] = []
    for spec_set in specifier_sets:
        for spec in spec_set:
            if spec.operator == "===":
                return True
            try:
                named.append(Version(spec.version.removesuffix(".*")))
            except InvalidVersion:
                return True
    bounds = set(named)
    for version in named:  # the other end of a prefix match or a compatible release
        release = version.release
        bounds.update(Version(".".join(map(str, release[:i] + (release[i] + 1,)))) for i in range(len(release)))
    depth = max((len(v.release) for v in bounds), default=1)
    candidates = set(bounds) | {Version("0")}
    for version in bounds:
        padded = version.release + (0,) * (depth - len(version.release))
        candidates.add(Version(".".join(map(str, padded + (1,)))))
    return any(all(s.contains(c, prereleases=True) for s in specifier_sets) for c in sorted(candidates))


class Report:
    """The requirements check of several models: what each lacks, and which pairs conflict."""

    def __init__(self, declared: dict[str, Declared] | None = None):
        self.unmet: dict[str, list[Unmet]] = {}  # model -> its unmet requirements
        self.conflicts: list[Conflict] = []
        self.errors: dict[str, DeclarationError] = {}  # model -> why its declaration is unreadable
        self.declared: dict[str, Declared] = declared or {}  # model -> what it declares (readable ones)

    @property
    def ok(self) -> bool:
        return not (self.unmet or self.conflicts or self.errors)


def check(declared: Mapping[str, Declared], env: Environment) -> Report:
    """Check each model's declaration against ``env``, and the declarations against each other."""
    report = Report(declared=dict(declared))
    for model, decl in declared.items():
        if items := unmet(decl, env):
            report.unmet[model] = items
    report.conflicts = conflicts(declared)
    return report
