"""Running xpm in-process for tests: the real click command, output captured."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from xpm.cli import main

GOLDEN = Path(__file__).parent / "golden"


def xpm(project: Path, *args: str, code: int = 0):
    """Run `xpm -C project -q ARGS`; assert the exit code; return click's Result."""
    result = CliRunner().invoke(main, ["-C", str(project), "-q", *args], catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    return result


def golden(name: str, text: str) -> None:
    """Compare with tests/xpm/golden/NAME; XPM_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("XPM_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"differs from {path} (XPM_UPDATE_GOLDEN=1 to accept)"
