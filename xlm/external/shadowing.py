"""Import shadowing: what a folder put on ``sys.path`` would hide from every other import.

A nested model's root goes on ``sys.path``, ahead of the standard library and site-packages,
so that its package imports. Everything else importable at the top of that folder comes
along: an ``os.py``, a ``typing.py`` or a ``torch/`` package there would be imported instead
of the real one, by xlm and by every library it uses, in every process of a run. So a model
root may hold no importable top-level module, other than its own package, named like a
module of the standard library, of an installed distribution, or a core model's package (the
core models' folders are on ``sys.path`` in every run).

What Python's path finder takes from a folder is a module file (``x.py``, ``x.pyc``,
``x.pyw``, an extension ``x.so``, ``x.<tag>.so`` or ``x.pyd``) or a regular package
(``x/`` with an ``__init__`` file). A folder without one is a namespace portion, which loses
to any regular package or module of the same name found later, so it hides nothing. A
model's own ``tests/`` (and ``test/``) package is not imported by name outside the model's
own test run and is left alone, as `xlm.external.layout` does.

The rule is `shadowing(folder, package, installed_modules)`: one ``scandir`` of the folder,
and a few ``stat`` calls only for entries that carry such a name, cheap enough for start-up.
Reading the installed distributions is not cheap (~0.1-0.3 s without xlm's cache), so a
caller that has not read them yet (xpm, validating a fetched tree) passes a function instead:
it is called only when the folder holds an importable module the standard library does not
name, which most model roots (a package, ``configs/``, data files) do not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Mapping

from xlm.manifest import RESERVED_NAMES

_MODULE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pyd")
_EXTENSION_ENDINGS = (".so", ".pyd")  # x.cpython-311-x86_64-linux-gnu.so, x.abi3.so, x.cp311-win_amd64.pyd
_LEFT_ALONE = ("tests", "test")
_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
# Names that run code without anyone importing them by name: Python's start-up hooks run in
# every process with the folder on its path (a run's workers get it through PYTHONPATH), and
# Hydra imports every module under `hydra_plugins/` in every job (a namespace portion is enough).
_HOOKS = {
    "sitecustomize": "Python's start-up hook 'sitecustomize' (run by every process with the folder on its path)",
    "usercustomize": "Python's start-up hook 'usercustomize' (run by every process with the folder on its path)",
    "hydra_plugins": "Hydra's plugin namespace 'hydra_plugins' (Hydra imports every module in it, in every job)",
}


RESERVED_PACKAGES = {
    "xlm": "xlm itself",
    "xpm": "xlm's package manager xpm",
    "hydra_plugins": "the Hydra plugins of xlm and hydra-core",
    **{name: f"the core model '{name}'" for name in RESERVED_NAMES},
}


def package_shadows(package: str) -> str | None:
    """What a model's own package named ``package`` would hide whatever is installed: xlm,
    a core model, the standard library (None: nothing). A core model's own package is the
    caller's exception to make."""
    if package in RESERVED_PACKAGES:
        return RESERVED_PACKAGES[package]
    return f"the standard library module '{package}'" if package in _STDLIB else None


def package_suggestion(model: str, package: str) -> str:
    """A package name to suggest in a fix: the model's own, unless that is the one in conflict."""
    return model if model != package else f"{model}_model"


def shadowing(folder: Path, package: str | None,
              installed_modules: Mapping[str, Iterable[str]] | Callable[[], Mapping[str, Iterable[str]]]) -> list[tuple[str, str]]:
    """``(entry name, what it would hide)`` for each importable top-level module of ``folder``
    (the folder that goes on ``sys.path``), other than ``package``, named like a module of the
    standard library, a core model's package or one of ``installed_modules`` (module name -> distributions, or a
    function that returns them, called at most once and only when needed), sorted."""
    found = []
    table = None if callable(installed_modules) else installed_modules
    try:
        entries = os.scandir(folder)
    except OSError:
        return []
    with entries:
        for entry in entries:
            module = entry.name.split(".", 1)[0]  # "x.cpython-311-x86_64-linux-gnu.so" -> "x"
            if module == package or module in _LEFT_ALONE or not module.isidentifier():
                continue
            if module in _HOOKS:
                if _importable(entry, module) or (module == "hydra_plugins" and _is_folder(entry)):
                    found.append((entry.name, _HOOKS[module]))
                continue
            if module in _STDLIB:
                hidden = f"the standard library module '{module}'"
            elif module in RESERVED_NAMES:  # the core models' folders are on sys.path in every run
                hidden = RESERVED_PACKAGES[module]
            else:
                if table is None:
                    if not _importable(entry, module):
                        continue  # hides nothing, whatever is installed
                    table = installed_modules()
                if module not in table:
                    continue
                hidden = f"the installed module '{module}' (from {', '.join(table[module])})"
            if _importable(entry, module):
                found.append((entry.name, hidden))
    return sorted(found)


_TOOLING = ("setup", "conftest", "noxfile")  # a project's tools, run as files, never imported by a model


def module_candidates(folder: Path, package: str | None) -> dict[str, list[os.DirEntry]]:
    """The entries of ``folder`` that may be importable top-level modules other than
    ``package``, a model's own tests and its tooling (`setup.py`), by module name: names only,
    no ``stat``; `importable` tells, for the few a caller cares about."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return {}
    with entries:
        found = {}
        for entry in entries:
            module = entry.name.split(".", 1)[0]
            if (module != package and module not in _LEFT_ALONE and module not in _TOOLING and module.isidentifier()
                    and not module.startswith("__")):
                found.setdefault(module, []).append(entry)
    return found


def importable(entries: list[os.DirEntry], module: str) -> os.DirEntry | None:
    """The entry Python would import ``module`` from, if any of ``entries`` is one."""
    return next((entry for entry in entries if _importable(entry, module)), None)


def _importable(entry: os.DirEntry, module: str) -> bool:
    """Whether Python would import ``module`` from this folder entry (links followed, as Python does)."""
    name = entry.name
    try:
        if entry.is_dir():
            return any(os.path.isfile(os.path.join(entry.path, "__init__" + suffix)) for suffix in _init_suffixes())
        if not entry.is_file():
            return False
    except OSError:
        return False
    if name in (module + suffix for suffix in _MODULE_SUFFIXES):
        return True
    return name.endswith(_EXTENSION_ENDINGS) and name.startswith(module + ".")


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _init_suffixes() -> list[str]:
    from importlib.machinery import EXTENSION_SUFFIXES

    return [".py", ".pyc", ".pyw", ".pyd", *EXTENSION_SUFFIXES]
