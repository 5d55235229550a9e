"""What installed distributions provide: `xlm.models` entry points and top-level module names.

Reading distribution metadata costs ~100 ms (``packages_distributions`` opens every RECORD),
twice the whole start-up budget of discovery. So the answer is cached on disk, keyed by
every ``sys.path`` folder and its modification time: installing or removing a distribution
changes its site folder's mtime, which misses the cache. ``importlib.metadata`` is imported
only on a miss. Registered model roots are left out of the key (and of the scan), so
registering models does not invalidate the cache.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from xlm.external import cache

ENTRY_POINT_GROUP = "xlm.models"
CACHE_FILE = "installed.json"
CACHE_VERSION = 2  # 2: distribution versions (for models' requirements)


@dataclass(frozen=True)
class ModelEntryPoint:
    """One ``[project.entry-points."xlm.models"]`` line of an installed distribution."""

    name: str
    value: str
    distribution: str
    version: str


@dataclass(frozen=True)
class Installed:
    entry_points: tuple[ModelEntryPoint, ...]
    top_level: dict[str, tuple[str, ...]]  # module name -> distributions that install it
    versions: dict[str, str]  # canonical distribution name -> version (the first on sys.path: the one imported)


def _search_paths() -> list[str]:
    from xlm.external.registration import registered_roots

    skip = {str(p) for p in registered_roots()}
    paths = []
    for entry in sys.path:
        full = os.path.abspath(entry or os.curdir)
        if full not in skip and full not in paths and os.path.isdir(full):
            paths.append(full)
    return paths


def _key(paths: list[str]) -> list:
    key: list = [sys.version]
    for path in paths:
        try:
            key.append([path, os.stat(path).st_mtime_ns])
        except OSError:
            key.append([path, None])
    return key


def _scan(paths: list[str]) -> Installed:
    import importlib.metadata as metadata

    from xlm.requirements import canonical

    entry_points, top_level, versions = [], {}, {}
    for dist in metadata.distributions(path=paths):
        name = dist.metadata["Name"] or "?"
        versions.setdefault(canonical(name), dist.version or "")
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                entry_points.append(ModelEntryPoint(ep.name, ep.value, name, dist.version or "?"))
        text = dist.read_text("top_level.txt")
        if text is not None:
            modules = text.split()
        else:  # no top_level.txt (flit, hatch, ...): the first part of each installed file
            modules = [f.parts[0] if len(f.parts) > 1 else f.stem for f in dist.files or () if f.suffix in ("", ".py")]
            modules = [m for m in modules if m.isidentifier()]
        for module in dict.fromkeys(modules):
            owners = top_level.setdefault(module, [])
            if name not in owners:
                owners.append(name)
    entry_points.sort(key=lambda e: (e.name, e.distribution))
    top_level = {k: tuple(v) for k, v in sorted(top_level.items())}
    return Installed(tuple(dict.fromkeys(entry_points)), top_level, dict(sorted(versions.items())))


def _from_json(data: dict) -> Installed:
    eps = tuple(ModelEntryPoint(*e) for e in data["entry_points"])
    versions = data["versions"]
    if not isinstance(versions, dict):
        raise TypeError("versions")
    return Installed(eps, {k: tuple(v) for k, v in data["top_level"].items()}, versions)


def _to_json(found: Installed) -> dict:
    entry_points = [[e.name, e.value, e.distribution, e.version] for e in found.entry_points]
    return {"entry_points": entry_points, "top_level": found.top_level, "versions": found.versions}


_memo: tuple[list, Installed] | None = None
_filling = threading.Lock()  # the threads of a parallel `xpm install` validate at once: one reads, the others wait


def installed() -> Installed:
    """Entry points in the `xlm.models` group and top-level modules of the installed distributions."""
    global _memo
    paths = _search_paths()
    key = _key(paths)
    with _filling:
        if _memo is not None and _memo[0] == key:
            return _memo[1]
        stored = cache.load(CACHE_FILE, CACHE_VERSION)
        try:
            found = _from_json(stored) if stored.get("key") == key else None
        except (KeyError, TypeError, ValueError):
            found = None
        if found is None:
            found = _scan(paths)
            cache.store(CACHE_FILE, CACHE_VERSION, {"key": key, **_to_json(found)})
        _memo = (key, found)
        return found


def state_key() -> list:
    """What `installed()`'s answer depends on (the Python, each sys.path folder and its mtime):
    a cache of anything derived from installed distributions is valid while it is unchanged.
    A few `stat` calls: `installed.json` is not read for it."""
    return _key(_search_paths())
