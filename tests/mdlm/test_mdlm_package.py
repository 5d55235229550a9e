"""mdlm as a distribution: the flat layout maps this folder to the package `mdlm`."""

import shutil
import subprocess
import sys
import zipfile

import pytest
from mdlm_paths import MDLM_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of examples/mdlm (building in place would leave build/ there)."""
    work = tmp_path_factory.mktemp("mdlm_build")
    source = work / "mdlm"
    shutil.copytree(MDLM_ROOT, source, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    [built] = (work / "dist").glob("*.whl")
    return zipfile.ZipFile(built)


def test_wheel_holds_the_flat_package_with_its_configs_inside(wheel):
    names = set(wheel.namelist())
    for module in ("__init__", "model_mdlm", "loss_mdlm", "predictor_mdlm", "datamodule_mdlm", "noise_mdlm"):
        assert f"mdlm/{module}.py" in names
    for config in ("model/ddit_mdlm.yaml", "model_type/mdlm.yaml", "collator/seq2seq_mdlm.yaml",
                   "experiment/star_easy_mdlm.yaml", "experiment/mdlm_debug.yaml", "commands.yaml"):
        assert f"mdlm/configs/{config}" in names
    assert not any(n.startswith("mdlm/pyproject") or n.startswith("mdlm/README") for n in names)


def test_wheel_declares_its_requirements_and_the_entry_point(wheel):
    metadata = wheel.read("mdlm-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: xlm<0.2,>=0.1" in metadata and "Requires-Dist: torch>=2.2" in metadata
    assert "[xlm.models]\nmdlm = mdlm" in wheel.read("mdlm-0.1.0.dist-info/entry_points.txt").decode()
