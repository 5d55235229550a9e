"""Where xlm keeps generated task data: once per user, not in every folder a job runs in.

Import-light (the CLI and the config resolver use it before anything heavy).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "XLM_DATA_DIR"


def data_dir() -> str:
    """``$XLM_DATA_DIR``, else ``$XDG_CACHE_HOME/xlm/data``, else ``~/.cache/xlm/data``.

    An empty variable counts as unset (the XDG rule), and so does a relative
    ``$XDG_CACHE_HOME``, which the XDG specification declares invalid.
    """
    if os.environ.get(DATA_DIR_ENV):
        return os.path.expanduser(os.environ[DATA_DIR_ENV])
    return str(Path(user_cache_home()) / "xlm" / "data")


def user_cache_home() -> str:
    """``$XDG_CACHE_HOME``, else ``~/.cache``; an empty or relative ``$XDG_CACHE_HOME`` counts
    as unset (the XDG specification declares it invalid). Shared by xlm's and xpm's caches."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return cache if os.path.isabs(cache) else os.path.join(os.path.expanduser("~"), ".cache")


def real_path(path: str | os.PathLike) -> Path:
    """`path` with every link resolved, as `Path.resolve()`, except that a loop of symbolic
    links stays for whoever reads the path to report (`Path.resolve` raises RuntimeError)."""
    return Path(os.path.realpath(path))
