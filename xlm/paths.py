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
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return str(Path(cache) / "xlm" / "data")
