"""Make models usable: model roots on the import path, model configs on Hydra's search path.

State lives in environment variables, not module globals, so that every process of a run
(DDP workers started by Lightning, spawned data-loader workers, Hydra launchers) sees the
same models as the process that discovered them.

A flat model (the root is the package, `xlm.external.layout`) cannot put its parent on the
import path: the parent may hold anything (xlm-core's ``xlm-models/`` holds packages named
like xlm's core models). Instead its package gets a private folder in xlm's cache holding
one symbolic link, ``<cache>/packages/<key>/<package> -> <root>``, and that folder goes on
``sys.path`` and PYTHONPATH, for child processes. In this process an import finder maps the
package to its real folder first, so tracebacks and debuggers show the model's own files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

from xlm.external.cache import cache_dir
from xlm.paths import real_path

CONFIG_DIRS_ENV = "XLM_MODEL_CONFIG_DIRS"
ROOTS_ENV = "XLM_MODEL_ROOTS"


def _env_paths(var: str) -> list[str]:
    return [p for p in os.environ.get(var, "").split(os.pathsep) if p]


def _prepend_env_path(var: str, items: list[str]) -> None:
    current = _env_paths(var)
    merged = [p for p in items if p not in current] + current
    os.environ[var] = os.pathsep.join(merged)


def register_model_roots(roots: Iterable[Path], config_dirs: Iterable[Path] | None = None) -> None:
    """Put each root on ``sys.path`` (and PYTHONPATH) and each config folder on Hydra's path.

    Order is kept: earlier roots win both imports and config lookups. ``config_dirs``
    defaults to each root's ``configs/``; pass it for models whose configs live elsewhere
    (an installed model ships them inside its package and needs no root on the path).
    The config folders replace those of an earlier call: they are the models of this run.
    """
    roots = [str(real_path(r)) for r in roots]
    if config_dirs is None:
        config_dirs = [Path(r) / "configs" for r in roots if (Path(r) / "configs").is_dir()]
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)
    _prepend_env_path("PYTHONPATH", roots)
    _prepend_env_path(ROOTS_ENV, roots)
    os.environ[CONFIG_DIRS_ENV] = os.pathsep.join(dict.fromkeys(str(real_path(d)) for d in config_dirs))


def registered_roots() -> list[Path]:
    """Model roots this process (or its parent) put on the import path."""
    return [Path(p) for p in _env_paths(ROOTS_ENV)]


def config_dirs() -> list[Path]:
    """The registered models' config folders, in search order (read by the Hydra plugin)."""
    return [Path(p) for p in _env_paths(CONFIG_DIRS_ENV)]


class _FlatPackages:
    """A ``sys.meta_path`` finder: flat models' packages, imported from their real folders.

    Only the top-level name is answered; its sub-modules are found through the package's
    ``__path__`` (the real folder) by Python's own path finder.
    """

    def __init__(self) -> None:
        self.folders: dict[str, str] = {}

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        from importlib.util import spec_from_file_location

        return spec_from_file_location(fullname, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])

    def invalidate_caches(self) -> None:
        pass


_FINDER = _FlatPackages()


def _link_folder(package: str, folder: str) -> str | None:
    """The private folder whose only entry ``package`` links to ``folder`` (made when missing), or None."""
    import hashlib  # only projects with flat models pay for it

    key = hashlib.sha256(f"{package}\0{folder}".encode()).hexdigest()[:20]
    home = cache_dir() / "packages" / key
    link = home / package
    try:
        if os.path.islink(link) and os.readlink(link) == folder:
            return str(home)
        home.mkdir(parents=True, exist_ok=True)
        # A new link under a unique name, renamed over the old one: processes starting
        # together (DDP workers) each see a complete link, never a missing one.
        temp = home / f".{package}.{os.getpid()}.tmp"
        if os.path.lexists(temp):
            os.unlink(temp)
        os.symlink(folder, temp, target_is_directory=True)
        os.replace(temp, link)
    except OSError as exc:
        import logging

        logging.getLogger("xlm.external").warning(
            "Warning: cannot link the flat model package '%s' into %s (%s): this process imports it, "
            "but processes started without `xlm` (spawned data-loader workers) will not", package, home, exc
        )
        return None
    return str(home)


def register_flat_packages(packages: dict[str, Path]) -> None:
    """Make each flat model's package (import name -> its folder) importable here and in child processes."""
    folders = {name: str(real_path(folder)) for name, folder in packages.items()}
    _FINDER.folders = folders  # the models of this run, as for the config folders
    if not folders:
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    links = [home for name, folder in folders.items() if (home := _link_folder(name, folder)) is not None]
    for home in reversed(links):
        if home not in sys.path:
            sys.path.insert(0, home)
    _prepend_env_path("PYTHONPATH", links)
    _prepend_env_path(ROOTS_ENV, links)
