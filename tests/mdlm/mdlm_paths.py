"""Where the ported model lives (a uniquely named module: several test folders have a conftest.py)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MDLM_ROOT = REPO_ROOT / "examples" / "mdlm"  # flat layout: this folder is the package `mdlm`
