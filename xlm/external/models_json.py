"""xlm-core's ``xlm_models.json``: recognised, never read silently, converted by ``xpm import-json``.

xlm-core lists a project's models in ``xlm_models.json``, an object mapping each model's
name to its root folder, relative to the file's folder::

    {"mdlm": "mdlm", "relay": "models/relay"}

xlm-core looks for it in the current folder and in ``xlm-models/`` below it (its standard
models folder); a project's JSON file is one of those two, in the project's folder.

xlm reads one models file, `.xlm_models`, so that xpm can lock and vendor what it lists.
A project that still has only the JSON file gets a problem that names the command that
converts it (`xpm import-json`), and a project with both gets one when the JSON file lists a
model `.xlm_models` does not. ``xpm import-json`` writes the lines `entry_text` returns into
the project's `.xlm_models` (`project_dir`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from xlm.external.errors import Problem
from xlm.manifest import MODELS_FILE_NAME, name_problem
from xlm.paths import real_path
from xlm.shown import show
from xlm.textfile import read_regular

JSON_FILE_NAME = "xlm_models.json"
XLMCORE_MODELS_DIR = "xlm-models"  # xlm-core's standard models folder, searched like the current one
MAX_BYTES = 1024 * 1024


class ModelsJsonError(ValueError):
    """``xlm_models.json`` cannot be read or is not a ``{name: folder}`` object."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what, self.fix = what, fix


class _Pairs(list):
    """A JSON object's (key, value) pairs, told apart from a JSON array."""


def read_models_json(path: Path) -> list[tuple[str, str]]:
    """``(name, folder as written)`` pairs of ``path``, in file order."""
    try:
        data = read_regular(path, MAX_BYTES)  # a fifo would block, /dev/zero never end
    except OSError as exc:
        raise ModelsJsonError(f"cannot read it: {exc.strerror or exc}", "check the file and its permissions") from None
    if len(data) > MAX_BYTES:
        raise ModelsJsonError(f"larger than {MAX_BYTES // 1024} KiB: not a list of models", "check the file")
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_Pairs)  # keeps order and duplicate keys
    except RecursionError:  # `[[[[...` within the size limit
        raise ModelsJsonError("not valid JSON: nested too deeply", 'fix the file: an object such as {"mdlm": "mdlm"}') from None
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ModelsJsonError(f"not valid JSON{where}: {exc}", 'fix the file: an object such as {"mdlm": "mdlm"}') from None
    if not isinstance(value, _Pairs) or not all(isinstance(folder, str) and folder for _, folder in value):
        raise ModelsJsonError(
            "not an object of model names and folders",
            'write {"model_name": "folder relative to this file", ...}',
        )
    seen: set[str] = set()
    if twice := next((name for name, _ in value if name in seen or seen.add(name)), None):  # one pass: a 1 MiB file holds ~50,000
        last = next(folder for name, folder in reversed(value) if name == twice)
        raise ModelsJsonError(f"model '{show(twice)}' is listed twice (xlm-core reads only the last: '{show(last)}')",
                              "delete the entry you do not want")
    return value


def entry_text(name: str, folder: str, json_dir: Path, models_dir: Path) -> str:
    """The `.xlm_models` line for the JSON entry ``name: folder`` (raises ModelsJsonError).

    A folder next to `.xlm_models` is written as its bare name, any other folder as a path
    (``./models/relay``); either way the folder's name is the model's name in xlm.
    """
    target = Path(os.path.normpath(json_dir / os.path.expanduser(folder)))
    if problem := name_problem(target.name):
        raise ModelsJsonError(
            f"the model {name!r} is the folder {show(str(target))}, and {problem}",
            "rename the folder (a model's name is its folder's name in .xlm_models) and its entry",
        )
    if target.parent == Path(os.path.normpath(models_dir)):
        return target.name
    rel = os.path.relpath(target, models_dir)
    if rel.startswith(".."):
        return rel if not os.path.isabs(folder) else str(target)
    return "./" + PurePosixPath(Path(rel).as_posix()).as_posix()


def _folder_name(json_dir: Path, folder: str) -> str:
    """The name a JSON entry's folder gives its model in `.xlm_models` (its last component)."""
    return Path(os.path.normpath(json_dir / os.path.expanduser(folder))).name


def project_json_files(folder: Path) -> list[Path]:
    """The JSON files xlm-core would read for a project in ``folder`` (``./`` and ``./xlm-models/``)."""
    candidates = (folder / JSON_FILE_NAME, folder / XLMCORE_MODELS_DIR / JSON_FILE_NAME)
    return [c for c in candidates if c.is_file()]


def project_dir(json_file: Path) -> Path:
    """The project folder of a JSON file: its folder, or the folder above ``xlm-models/``."""
    folder = Path(json_file).parent
    return folder.parent if folder.name == XLMCORE_MODELS_DIR else folder


def find_models_json(start: Path) -> Path | None:
    """The nearest project's ``xlm_models.json`` walking up from ``start`` (see `project_json_files`)."""
    here = real_path(start)
    for folder in (here, *here.parents):
        if found := project_json_files(folder):
            return found[0]
    return None


def models_json_problem(start: Path | None, models_file: Path | None, listed: list[str]) -> Problem | None:
    """Why an ``xlm_models.json`` of the project is not (fully) what xlm reads, or None.

    ``models_file`` is the `.xlm_models` discovery read (None when there is none) and
    ``listed`` the names it lists. Without `.xlm_models` the nearest JSON file counts; with
    one, only a JSON file next to it.
    """
    if os.environ.get("XLM_MODELS_FILE"):
        return None  # the user chose the file to read
    if models_file is None:
        found = find_models_json(Path(start or Path.cwd()))
        if found is None:
            return None
        what = f"{found} lists models in xlm-core's format, which xlm does not read (it reads {MODELS_FILE_NAME})"
        fix = f"run: xpm import-json {found}   (writes {project_dir(found) / MODELS_FILE_NAME} from it)"
        return Problem(None, what, str(found), fix, "models_file")
    for found in project_json_files(models_file.parent):
        if (problem := _unlisted_in(found, models_file, listed)) is not None:
            return problem
    return None


def _unlisted_in(found: Path, models_file: Path, listed: list[str]) -> Problem | None:
    """A problem when the JSON file ``found`` lists a model that ``models_file`` does not."""
    try:
        pairs = read_models_json(found)
    except ModelsJsonError as exc:
        what = f"{found}: {exc.what} (the file is not read: xlm reads {models_file.name})"
        return Problem(None, what, str(found), exc.fix, "models_file")
    missing = [name for name, folder in pairs if _folder_name(found.parent, folder) not in listed]
    if not missing:
        return None
    what = f"{found} lists models that {models_file} does not: {missing} (xlm reads only {models_file.name})"
    fix = f"run: xpm import-json {found}   (adds them), or delete the JSON file"
    return Problem(None, what, str(found), fix, "models_file")
