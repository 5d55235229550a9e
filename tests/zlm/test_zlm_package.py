"""zlm as a distribution: the seed's `python setup.py sdist bdist_wheel`, then found by its entry point.

Each check runs xlm in a fresh interpreter whose only zlm is the installed one, from an
empty project (no `.xlm_models` entry): the `xlm.models` entry point alone must make it a model.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from zlm_paths import ZLM_ROOT

PROBE = """
import json
from xlm.external_models import setup_external_models
found = setup_external_models(strict_validation=True)
model = found.get("zlm")
from zlm import ZLMCollator, ZLMLoss, ZLMModel, ZLMPredictor
import zlm
print(json.dumps({"origin": model.found.origin, "root": str(model.root), "configs": str(model.configs_dir),
                  "package": zlm.__file__, "problems": [p.what for p in found.problems]}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of examples/zlm with its sdist and wheel built the way the seed shows."""
    source = tmp_path_factory.mktemp("zlm_build") / "zlm"
    shutil.copytree(ZLM_ROOT, source, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"))
    command = [sys.executable, "setup.py", "-q", "sdist", "bdist_wheel"]
    result = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return source


def probe(tmp_path, python_path):
    """Run PROBE from an empty project with ``python_path`` as the only extra import path."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".xlm_models").write_text("# nothing listed: zlm comes from its entry point\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLM_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=os.pathsep.join(map(str, python_path)), XLM_CACHE_DIR=str(tmp_path / "cache"), XLM_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sdist_and_wheel_ship_the_configs_and_the_entry_point(built):
    assert [p.name for p in (built / "dist").glob("*.tar.gz")] == ["zlm-0.1.0.tar.gz"]
    [wheel] = (built / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for config in ("model/zlm.yaml", "model_type/zlm.yaml", "collator/seq2seq_zlm.yaml", "experiment/star_easy_zlm.yaml"):
        assert f"zlm/configs/{config}" in names
    entry_points = zipfile.ZipFile(wheel).read("zlm-0.1.0.dist-info/entry_points.txt").decode()
    assert "[xlm.models]\nzlm = zlm" in entry_points


def test_installed_wheel_is_found_by_its_entry_point(built, tmp_path):
    site = tmp_path / "site"
    [wheel] = (built / "dist").glob("*.whl")
    zipfile.ZipFile(wheel).extractall(site)  # what `pip install zlm-0.1.0-py3-none-any.whl` puts in site-packages
    found = probe(tmp_path, [site])
    assert found["problems"] == []
    assert (found["origin"], found["root"], found["configs"]) == ("installed", str(site), str(site / "zlm" / "configs"))
    assert found["package"] == str(site / "zlm" / "__init__.py")


def test_editable_install_keeps_configs_next_to_the_package(built, tmp_path):
    # `pip install -e .` leaves the code where it is and installs only the metadata.
    site = tmp_path / "site"
    [wheel] = (built / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site, [n for n in archive.namelist() if n.startswith("zlm-0.1.0.dist-info/")])
    found = probe(tmp_path, [site, built])
    assert found["problems"] == []
    assert (found["origin"], found["root"], found["configs"]) == ("installed", str(built), str(built / "configs"))
