"""The tools users wait on import none of the text libraries (nor torch): `xlm --help`, `xpm`."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "datasets", "transformers", "tokenizers", "pyarrow", "huggingface_hub")


@pytest.mark.parametrize("program, argv", [("xlm.cli", ["--help"]), ("xlm.cli", ["tokenizer", "--help"]),
                                           ("xpm.cli", ["--help"]), ("xpm.cli", ["list"])])
def test_cli_imports_no_heavy_library(program, argv, tmp_path):
    code = (f"import sys; sys.argv = ['prog', *{argv!r}]; from {program} import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "HEAVY []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
