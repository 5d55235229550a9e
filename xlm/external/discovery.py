"""Find the models a project uses, in a fixed order, without importing any model code.

Order (the same inputs always give the same list and so the same search paths):

1. core models (``arlm``, ``mlm``; ``ilm`` is reserved), from ``xlm/models/``;
2. the entries of the project's `.xlm_models`, in file order. A plain name is looked up
   next to the file, then in each folder of ``XLM_MODELS_PATH`` (``:``-separated), then in
   the project's ``xlm_models/`` (the vendored cache ``xpm`` fills); the first folder
   that exists wins. A path (``./examples/zlm``) is relative to the file's folder. A git
   source is looked up in ``xlm_models/<name>/`` only, unless the project's
   ``xlm.overrides.toml`` (`xlm.overrides`, written by ``xpm develop``) names a working copy
   for it: then that folder, and only it, is the model (origin ``override``; a missing
   folder is a problem, never a reason to fall back to the vendored copy);
3. the current folder, when it is itself a model root that nothing above declares (nested:
   ``<folder>/<folder name>/__init__.py`` and ``configs/``; flat: ``<folder>/__init__.py``
   and ``configs/model_type/``): ``cd my_model && xlm train ...`` works in a model's own checkout;
4. installed distributions' entry points in the group ``xlm.models``, sorted by name.

Discovery only records what it finds (and `Problem`s for what it cannot find); deciding
whether a model is usable is validation's and the conflict checks' job.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from xlm.external.errors import Problem
from xlm.external.installed import ModelEntryPoint, installed
from xlm.external.layout import looks_like_model
from xlm.external.models_json import models_json_problem
from xlm.manifest import MODELS_FILE_NAME, Entry, GitSource, ManifestError, find_models_file, parse_line
from xlm.paths import real_path
from xlm.textfile import TextFileError, lines, read_text

CORE_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
CORE_MODEL_NAMES = ("arlm", "mlm")
VENDOR_DIR_NAME = "xlm_models"
MODELS_PATH_ENV = "XLM_MODELS_PATH"


@dataclass(frozen=True)
class FoundModel:
    """One model declaration and the folder it points to."""

    name: str
    root: Path
    origin: str  # core | local | XLM_MODELS_PATH | vendored | path | git | override | cwd | installed
    where: str  # where it was declared: "/p/.xlm_models:3", "/p/xlm.overrides.toml:5", "core", "entry point of zlm 0.1.0"
    package: str | None = None  # set when the declaration names the package (entry points)
    distribution: str | None = None  # the installed distribution that declares it, if any
    entry: Entry | None = None
    importable: bool = False  # True when its package already imports (installed): root stays off sys.path

    @property
    def key(self) -> tuple[str, str]:
        """Identifies one declaration (two declarations may share a name, never a key)."""
        return (self.name, self.where)


@dataclass
class Discovery:
    models_file: Path | None
    project_dir: Path
    search_dirs: list[Path]  # where a plain name is looked up, in order
    models: list[FoundModel] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def core_models() -> list[FoundModel]:
    present = [n for n in CORE_MODEL_NAMES if (CORE_MODELS_DIR / n).is_dir()]
    return [FoundModel(n, CORE_MODELS_DIR / n, "core", "core model", package=n) for n in present]


def search_dirs(project_dir: Path) -> list[tuple[str, Path]]:
    """(origin, folder) where a plain model name is looked up, first match wins."""
    dirs = [("local", project_dir)]
    extra = [p for p in os.environ.get(MODELS_PATH_ENV, "").split(os.pathsep) if p]
    dirs += [(MODELS_PATH_ENV, real_path(Path(p).expanduser())) for p in extra]
    return dirs + [("vendored", project_dir / VENDOR_DIR_NAME)]


def read_models_file(file: Path) -> tuple[list[Entry], list[Problem]]:
    """Entries of ``file``; a line that does not parse is a problem, the others still count.

    Read by `xlm.textfile` (bytes, UTF-8, lines end at "\\n" only), as xpm reads it, so
    both report the same problem with the same file and line.
    """
    entries, problems = [], []
    try:
        text = read_text(file)
    except TextFileError as exc:
        where = f"{file}:{exc.line}" if exc.line is not None else str(file)
        fix = exc.fix
        if exc.line is None and os.environ.get("XLM_MODELS_FILE"):  # the variable chose it: point it elsewhere
            example = f" (e.g. {Path(file) / MODELS_FILE_NAME})" if os.path.isdir(file) else ""  # False, not OSError, for a name too long
            fix = f"point XLM_MODELS_FILE at a models file{example}, or unset it"
        return [], [Problem(None, f"Cannot read the models file: {exc.what}", where, fix, "models_file")]
    if text is None:
        overridden = os.environ.get("XLM_MODELS_FILE")
        fix = "unset XLM_MODELS_FILE or point it at an existing file" if overridden else "create the file, or run xlm elsewhere"
        return [], [Problem(None, "Cannot read the models file: No such file or directory", str(file), fix, "models_file")]
    for number, line in enumerate(lines(text), start=1):
        try:
            if (entry := parse_line(line, file, number)) is not None:
                entries.append(entry)
        except ManifestError as exc:
            what = f"Invalid line in {MODELS_FILE_NAME}: {exc.what}"
            problems.append(Problem(None, what, f"{file}:{number}", exc.fix, "models_file"))
    return entries, problems


DUPLICATE_FIX = "give each model a unique name and list it once (a git source takes another name with #name=NAME)"


def duplicate_entry(first: Entry, later: Entry) -> Problem:
    """The problem of `later`, a second line of `first`'s name in `.xlm_models`."""
    what = f"Duplicate model names found in .xlm_models: ['{later.name}']"
    return Problem(later.name, what, f"{first.where()}, {later.where()}", DUPLICATE_FIX, "duplicate")


def resolve_entry(entry: Entry, dirs: list[tuple[str, Path]], project_dir: Path) -> FoundModel | Problem:
    """The folder of one `.xlm_models` entry, or the problem of not finding it."""
    where = entry.where()
    if isinstance(entry.source, GitSource):
        root = project_dir / VENDOR_DIR_NAME / entry.name
        if root.is_dir():
            return FoundModel(entry.name, real_path(root), "git", where, entry=entry)
        what = f"External model '{entry.name}' ({entry.source.spec()}) is not installed in {VENDOR_DIR_NAME}/"
        return Problem(entry.name, what, f"{where} (expected {root})", "run: xpm install", "not_installed")
    if entry.source.path is not None:
        root = Path(os.path.expanduser(entry.source.path))
        root = real_path(root if root.is_absolute() else project_dir / root)
        if root.is_dir():
            return FoundModel(entry.name, root, "path", where, entry=entry)
        what = f"External model '{entry.name}' not found at {entry.source.path}"
        fix = f"create the model there, fix the path (relative to {project_dir}), or remove the line"
        return Problem(entry.name, what, f"{where} (no folder {root})", fix, "not_found")
    for origin, folder in dirs:
        if (folder / entry.name).is_dir():
            return FoundModel(entry.name, real_path(folder / entry.name), origin, where, entry=entry)
    looked = ", ".join(str(folder / entry.name) for _, folder in dirs)
    fix = f"create the model folder next to {MODELS_FILE_NAME}, add its parent folder to {MODELS_PATH_ENV}, or fix the name"
    what = f"External model '{entry.name}' not found"
    return Problem(entry.name, what, f"{where} (looked in: {looked})", fix, "not_found")


def read_project_overrides(project_dir: Path) -> tuple[dict, Problem | None]:
    """The project's overrides by name (`xlm.overrides`), or the problem of reading them."""
    from xlm.overrides import OVERRIDES_NAME, read_overrides

    try:
        return read_overrides(project_dir), None
    except TextFileError as exc:
        where = f"{exc.file}:{exc.line}" if exc.line is not None else str(exc.file or project_dir / OVERRIDES_NAME)
        return {}, Problem(None, f"Cannot read the overrides file: {exc.what}", where, exc.fix, "models_file")


def resolve_override(entry: Entry, override, project_dir: Path) -> FoundModel | Problem:
    """The working copy `xpm develop` put in place of a vendored model, or why it cannot be used."""
    where = override.where(project_dir)
    name, root = entry.name, override.root(project_dir)
    off = f"xpm develop --off {name}"
    if not isinstance(entry.source, GitSource):
        what = f"Override of model '{name}': it is a local model ({entry.text}, {entry.where()}), not a vendored one"
        return Problem(name, what, where, f"edit it where .xlm_models points, and end the override: {off}", "not_found")
    if not root.is_dir():
        what = f"Override of model '{name}' points to {root}, which is not a folder (xlm does not fall back to xlm_models/{name})"
        fix = f"restore the working copy there, point the override elsewhere (xpm develop {name} PATH), or end it: {off}"
        return Problem(name, what, where, fix, "not_installed")  # stops every job, as a vendored model not installed does
    vendored = real_path(project_dir / VENDOR_DIR_NAME)
    if real_path(root) == vendored or vendored in real_path(root).parents:  # as `xpm develop` refuses it
        what = f"Override of model '{name}' points to {root}, inside {VENDOR_DIR_NAME}/, which xpm installs and checks"
        fix = f"work in a clone of the model's repository elsewhere (xpm develop {name} PATH), or end the override: {off}"
        return Problem(name, what, where, fix, "not_installed")
    return FoundModel(name, real_path(root), "override", where, entry=entry)


def _unknown_override(entry: Entry, unread: Problem) -> Problem:
    what = f"Model '{entry.name}' may be overridden by a working copy, but the overrides file cannot be read"
    return Problem(entry.name, what, unread.where, unread.fix, "not_installed")


def unlisted_override(override, project_dir: Path) -> Problem:
    what = f"Override of model '{override.name}', which .xlm_models does not list (nothing is overridden)"
    fix = f"end it: xpm develop --off {override.name}"
    return Problem(None, what, override.where(project_dir), fix, "models_file")


def _package_spec(top: str):
    """The spec of a real (not namespace) module ``top``, asking every import finder in turn.

    ``importlib.util.find_spec`` takes the first answer, and a folder named like the package
    in the current directory (``python -m xlm`` puts it first on ``sys.path``) answers with a
    namespace package, while an editable install's finder comes later in ``sys.meta_path``.
    """
    module = sys.modules.get(top)
    if module is not None and getattr(module, "__spec__", None) is not None and module.__spec__.origin:
        return module.__spec__
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        try:
            spec = find_spec(top, None) if find_spec is not None else None
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin not in (None, "namespace"):
            return spec
    return None


def resolve_entry_point(ep: ModelEntryPoint) -> FoundModel | Problem:
    """An installed model's folder, from its entry point value: a package (``zlm``) or a folder path.

    Only locates files (``find_spec`` of a top-level name runs no code of the model).
    """
    where = f"entry point '{ep.name} = {ep.value}' of {ep.distribution} {ep.version}"
    target = ep.value.split(":", 1)[0].strip()
    root, package, importable = None, None, False
    if "/" in target or os.sep in target:
        path = Path(target).expanduser()
        root = path if path.is_absolute() and path.is_dir() else None
    elif target:
        top, *rest = target.split(".")
        spec = _package_spec(top)  # a namespace package is just some folder named like it
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if locations:
            folder = Path(locations[0]).joinpath(*rest)
            if rest and folder.is_dir():  # a folder inside a distribution holding a model root
                root = folder
            elif not rest:  # the model's own package: its root is the folder around it
                root, package, importable = Path(locations[0]).parent, top, True
    if root is None:
        fix = f"reinstall it (pip install --force-reinstall {ep.distribution}) or fix its entry point value"
        what = f"Installed model '{ep.name}' points to '{ep.value}', which cannot be found"
        return Problem(ep.name, what, where, fix, "not_found")
    return FoundModel(
        ep.name, real_path(root), "installed", where, package=package, distribution=ep.distribution, importable=importable
    )


def current_folder_model(start: Path | None, models: list[FoundModel]) -> FoundModel | None:
    """The current folder as a model, if it is laid out as one and not declared already."""
    here = real_path(start or Path.cwd())
    if not (looks_like_model(here) and (here / "configs").is_dir()) or here == CORE_MODELS_DIR.parent:
        return None  # xlm's own package folder (a package with configs/) is never a model
    if any(m.root == here for m in models):
        return None
    return FoundModel(here.name, here, "cwd", "the current folder")


def _merge_installed(models: list[FoundModel], found: FoundModel) -> bool:
    """A listed model that is also pip-installed (editable) from the same folder is one model.

    The installed one's root is the folder around its package: a listed flat model's root is the package.
    """
    for i, model in enumerate(models):
        same = model.root == found.root or (found.package is not None and model.root == found.root / found.package)
        if model.name == found.name and same and model.origin != "core":
            models[i] = replace(model, distribution=found.distribution, package=model.package or found.package)
            return True
    return False


def discover(start: Path | None = None) -> Discovery:
    """Everything `.xlm_models` (found from ``start``), entry points and core declare, in order."""
    models_file = find_models_file(start)
    project_dir = models_file.parent if models_file is not None else real_path(start or Path.cwd())
    dirs = search_dirs(project_dir)
    result = Discovery(models_file, project_dir, [d for _, d in dirs], core_models())
    if models_file is not None:
        entries, result.problems = read_models_file(models_file)
        overrides, unread = read_project_overrides(project_dir)
        if unread is not None:
            result.problems.append(unread)
        first: dict[str, tuple[Entry, bool]] = {}  # name -> its first entry, and whether that one was found
        lines_of = Counter(e.name for e in entries)
        for entry in entries:
            if unread is not None and isinstance(entry.source, GitSource):
                found = _unknown_override(entry, unread)  # which folder is meant cannot be known
            elif entry.name in overrides:
                found = resolve_override(entry, overrides.pop(entry.name), project_dir)
            else:
                found = resolve_entry(entry, dirs, project_dir)
            # Two lines of one name: the duplicate is the problem to fix first (xpm refuses the file
            # for it), never "not installed" or "not found" for either line; two lines that both
            # have folders are left to `conflicts.duplicate_names`, as any two models of one name.
            if entry.name in first and (isinstance(found, Problem) or not first[entry.name][1]):
                found = duplicate_entry(first[entry.name][0], entry)
            first.setdefault(entry.name, (entry, isinstance(found, FoundModel)))
            if isinstance(found, FoundModel):
                result.models.append(found)
            elif found.kind == "duplicate" or lines_of[entry.name] == 1:
                result.problems.append(found)
        result.problems += [unlisted_override(o, project_dir) for o in overrides.values()]
    listed = [m.name for m in result.models] + [p.model for p in result.problems if p.model]
    if (json := models_json_problem(start, models_file, listed)) is not None:
        result.problems.append(json)
    if (here := current_folder_model(start, result.models)) is not None:
        result.models.append(here)
    for ep in installed().entry_points:
        found = resolve_entry_point(ep)
        if isinstance(found, Problem):
            result.problems.append(found)
        elif not _merge_installed(result.models, found):
            result.models.append(found)
    return result
