"""The arrows run one way: xpm -> xlm.records <- xlm. xlm never imports xpm, and the shared
layer imports only the standard library and xlm's manifest / shown / textfile helpers.

Checked statically (every import statement, lazy ones inside functions included), then in a
fresh interpreter: xlm's start-up path imports no xpm, and the shared layer no hashlib or
tomllib until a file must be read.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_ALLOWED = {"xlm.manifest", "xlm.shown", "xlm.textfile", "xlm.records"}
HEAVY = {"torch", "lightning", "hydra", "omegaconf", "numpy"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}" if not node.module else base) for alias in node.names]
    return found


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_no_module_of_xlm_imports_xpm():
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in sorted((ROOT / "xlm").rglob("*.py"))
                 for line, module in imports_of(path) if _under(module, {"xpm"})]
    assert offenders == []


def test_the_shared_layer_imports_only_the_standard_library_and_xlms_helpers():
    offenders = []
    for path in sorted((ROOT / "xlm" / "records").rglob("*.py")):
        for line, module in imports_of(path):
            top = module.split(".")[0]
            if top == "xlm":
                ok = _under(module, SHARED_ALLOWED) or module == "xlm"
            else:
                ok = top in sys.stdlib_module_names or top in ("__future__", "_sha2")  # _sha2: Python 3.12's builtin sha256
            if not ok:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert offenders == []


def test_xpm_reads_through_the_shared_layer():
    """xpm's lock, stamp and hash modules build on xlm.records (one implementation each)."""
    import xpm.hashing
    import xpm.lock
    import xpm.stamp
    from xlm.records import lockfile, stamps, treehash

    assert xpm.lock.LockEntry is lockfile.LockEntry and xpm.stamp.vendored_state is stamps.vendored_state
    assert xpm.hashing.tree_hash_of is treehash.tree_hash_of


@pytest.mark.parametrize("code", [
    "import xlm.records.lockfile, xlm.records.stamps, xlm.records.treehash, xlm.records.runs, xlm.records.checkpoint",
    "import xlm.external_models, xlm.external.vendored, xlm.cli",
])
def test_importing_xlms_side_imports_no_xpm_and_nothing_heavy(code):
    probe = f"{code}; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY | {'xpm', 'hashlib', 'tomllib'})!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_xlms_start_up_check_of_a_project_imports_no_xpm(tmp_path):
    """Discovery of a project with a vendored model (not installed: the check still reads the
    lock and looks for the stamp) goes through xlm.records only."""
    (tmp_path / ".xlm_models").write_text("github.com/lab/zlm@v1\n")
    code = ("import pathlib, sys; from xlm.external_models import find_external_models as f; "
            f"found = f(pathlib.Path({str(tmp_path)!r})); "
            "print([p.kind for p in found.problems], 'xpm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['not_installed'] False"
