"""A virtual environment over the one running the tests, for tests that need an interpreter of
their own (another `sys.prefix`, a place to install into) with this xlm and xpm in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def venv_over_this_environment(venv: Path) -> Path:
    """A venv whose Python also sees every package of the interpreter running the tests; its python.

    Not ``--system-site-packages``: that would add the *base* interpreter's packages, which
    differ from ours when the tests run in a virtual environment (the README's set-up). pip,
    setuptools, xlm come from here; what gets installed goes into the venv, found first.
    """
    import site

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    ours = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    (purelib,) = venv.glob("lib/python*/site-packages")
    # addsitedir, not a bare path: it also runs the .pth files there (editable installs, xlm's own).
    lines = [f"import site; site.addsitedir({str(folder)!r})" for folder in ours if Path(folder).is_dir()]
    (purelib / "_tests_outer_environment.pth").write_text("\n".join(lines) + "\n")
    return venv / "bin" / "python"
