"""Do the models' declared requirements hold in this interpreter? Checked at every `xlm` start.

`xlm.requirements` reads declarations and `xlm.requirements_check` compares versions; this
module makes that cheap enough for every start (and for `xpm install`): the answer is
remembered in `requirements.json` in xlm's cache and trusted while (a) each model's declaration files keep
their modification time and size and (b) the installed distributions keep the key of
`xlm.external.installed` (the Python and every `sys.path` folder's mtime, which a
`pip install` changes). A warm start so reads one small JSON file and stats two files per
model: it imports neither `tomllib` nor `packaging`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xlm.external import cache
from xlm.requirements import DeclarationError, Declared, declaration_files
from xlm.requirements_check import Conflict, Report, Unmet

CACHE_FILE = "requirements.json"
CACHE_VERSION = 1
_MAX_ENTRIES = 2000  # per table; a bound, not a policy


_signature = cache.FileMemo.signature  # [mtime_ns, size], or None when the file is gone


def _version() -> list:
    """The cache's format, and the code that reads and judges declarations: a change to it starts afresh."""
    from xlm import requirements, requirements_check

    return [CACHE_VERSION, _signature(requirements.__file__), _signature(requirements_check.__file__)]


def _environment_key() -> list:
    from xlm import __version__
    from xlm.external.installed import state_key

    machine = os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")
    return [state_key(), __version__, machine]  # markers read the platform; the key has the Python


class _Memo:
    """The remembered declarations (per model root) and verdicts (per declaration, per set of models)."""

    def __init__(self, persist: bool):
        self.persist, self.changed = persist, False
        data = cache.load(CACHE_FILE, _version()) if persist else {}
        self.env = _environment_key()
        same_env = data.get("env") == self.env
        self.roots: dict = data.get("roots", {}) if isinstance(data.get("roots"), dict) else {}
        self.unmet: dict = data.get("unmet", {}) if same_env and isinstance(data.get("unmet"), dict) else {}
        self.conflicts: dict = data.get("conflicts", {}) if same_env and isinstance(data.get("conflicts"), dict) else {}

    def declared(self, root: Path) -> Declared | DeclarationError:
        entry = self.roots.get(str(root))
        try:
            if entry is not None and all(_signature(p) == s for p, s in entry["sig"].items()):
                if entry.get("error"):
                    return DeclarationError(*entry["error"])
                requires, python, file, lines = entry["declared"]
                return Declared(tuple(requires), python, file, tuple(lines))
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # a damaged entry: read the files again
        from xlm.requirements import read_declared

        paths = [str(p) for p in declaration_files(root)]
        before = {p: _signature(p) for p in paths}
        try:
            found: Declared | DeclarationError = read_declared(root)
        except DeclarationError as exc:
            found = exc
        if isinstance(found, Declared) and found.file is not None and found.file not in before:
            before[found.file] = _signature(found.file)  # a file named by `dynamic` dependencies
        if isinstance(found, DeclarationError):
            value = {"sig": before, "error": [found.what, found.where, found.fix]}
        else:
            value = {"sig": before, "declared": [list(found.requires), found.python, found.file, list(found.lines)]}
        self.roots[str(root)] = value
        self.changed = True
        return found

    def unmet_of(self, declared: Declared, env_of) -> list[Unmet]:
        key = json.dumps([declared.requires, declared.python])
        stored = self.unmet.get(key)
        if isinstance(stored, list):
            try:
                return [Unmet(*item) for item in stored]
            except TypeError:
                pass
        from xlm.requirements_check import unmet

        found = unmet(declared, env_of())
        self.unmet[key] = [[u.requirement, u.name, u.found, u.kind, u.spec] for u in found]
        self.changed = True
        return found

    def conflicts_of(self, declared: dict[str, Declared]) -> list[Conflict]:
        key = json.dumps([[name, d.requires] for name, d in declared.items() if d.requires])
        stored = self.conflicts.get(key)
        if isinstance(stored, list):
            try:
                return [Conflict(name, tuple(a), tuple(b)) for name, a, b in stored]
            except (TypeError, ValueError):
                pass
        from xlm.requirements_check import conflicts

        found = conflicts(declared)
        self.conflicts[key] = [[c.name, list(c.first), list(c.second)] for c in found]
        self.changed = True
        return found

    def save(self) -> None:
        if not (self.persist and self.changed):
            return
        trim = lambda table: dict(list(table.items())[-_MAX_ENTRIES:])  # noqa: E731  (oldest entries go first)
        cache.store(CACHE_FILE, _version(), {"env": self.env, "roots": trim(self.roots), "unmet": trim(self.unmet),
                                                "conflicts": trim(self.conflicts)})


def declarations(roots: list[Path]) -> list[Declared | DeclarationError]:
    """What the model at each of ``roots`` declares (remembered like `check_models`' reads)."""
    memo = _Memo(persist=True)
    found = [memo.declared(Path(root)) for root in roots]
    memo.save()
    return found


def check_models(models: list[tuple[str, Path]], persist: bool = True) -> Report:
    """The requirements check of ``models`` ((name, root) pairs) against this interpreter.

    ``report.declared`` holds each readable declaration, ``report.errors`` each unreadable one."""
    if not models:
        return Report()  # nothing to read the remembered answers for
    memo = _Memo(persist)
    env = None

    def environment():
        nonlocal env
        if env is None:
            from xlm.external.installed import installed
            from xlm.requirements_check import current_environment

            env = current_environment(installed().versions)
        return env

    report = Report()
    for name, root in models:
        found = memo.declared(Path(root))
        if isinstance(found, DeclarationError):
            report.errors[name] = found
            continue
        report.declared[name] = found
        if not found.empty and (items := memo.unmet_of(found, environment)):
            report.unmet[name] = items
    if sum(1 for d in report.declared.values() if d.requires) > 1:
        report.conflicts = memo.conflicts_of(report.declared)
    memo.save()
    return report


def where_of(report: Report, name: str) -> str | None:
    """file:line of the first unmet requirement of model ``name`` (the declaration file, else None)."""
    declared = report.declared.get(name)
    if declared is None or declared.file is None:
        return None
    wanted = {u.requirement for u in report.unmet.get(name, [])}
    for requirement, line in zip(declared.requires, declared.lines):
        if requirement in wanted and line:
            return f"{declared.file}:{line}"
    return declared.file
