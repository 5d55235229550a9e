"""mdlm as a distribution: the flat layout maps this folder to the package `mdlm`."""

import json
import os
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


PROBE = """
import json
from xlm.external_models import setup_external_models
found = setup_external_models(strict_validation=True)
model = found.get("mdlm")
from mdlm import MDLMLoss, MDLMModel, MDLMPredictor
import mdlm
print(json.dumps({"origin": model.found.origin, "configs": str(model.configs_dir), "package": mdlm.__file__}))
"""


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


def test_installed_wheel_is_found_by_its_entry_point_alone(wheel, tmp_path):
    site, project = tmp_path / "site", tmp_path / "project"
    wheel.extractall(site)  # what `pip install mdlm-0.1.0-py3-none-any.whl` puts in site-packages
    project.mkdir()
    (project / ".xlm_models").write_text("# nothing listed: mdlm comes from its entry point\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLM_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), XLM_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert (found["origin"], found["configs"]) == ("installed", str(site / "mdlm" / "configs"))
    assert found["package"] == str(site / "mdlm" / "__init__.py")
