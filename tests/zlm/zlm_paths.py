"""Where the example model lives (a uniquely named module: several test folders have a conftest.py)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ZLM_ROOT = REPO_ROOT / "examples" / "zlm"
