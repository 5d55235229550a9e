"""End to end: a model made by `xpm new` trains, passes its own tests, installs, ships and travels.

Slow (each trains or installs for real) and few: one test per path of the issue.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from venv_helpers import venv_over_this_environment
from xpm.cli import main
from xpm.new import create_model

pytestmark = pytest.mark.slow
SHORT_RUN = ["trainer.max_steps=60", "trainer.val_check_interval=30", "trainer.log_every_n_steps=5"]


@pytest.fixture(scope="module")
def xlm_cache(tmp_path_factory) -> Path:
    """One task cache for the module: star_easy is generated once."""
    return tmp_path_factory.mktemp("xlm_cache")


def run(args: list, cwd: Path, cache: Path, timeout: int = 900, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "XLM_DATA_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1", **env}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def train(cwd: Path, cache: Path, experiment: str, *overrides: str) -> list[float]:
    """`xlm train experiment=... debug=overfit`; returns the logged training losses in step order."""
    run([sys.executable, "-m", "xlm.cli", "train", f"experiment={experiment}", "debug=overfit", *overrides], cwd, cache)
    (metrics,) = sorted(cwd.glob(f"outputs/train/{experiment}/*/metrics.csv"))[-1:]
    with metrics.open() as handle:
        return [float(row["train/loss"]) for row in csv.DictReader(handle) if row.get("train/loss")]


def test_new_model_trains_on_its_first_run_and_its_tests_pass(project, xlm_cache):
    root = create_model("my_model", project).root
    for experiment in ("my_model_debug", "star_easy_my_model"):
        losses = train(root, xlm_cache, experiment, *SHORT_RUN)
        assert len(losses) >= 5 and losses[-1] < losses[0] / 2, f"{experiment}: loss did not fall: {losses}"
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root, xlm_cache)
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_from_arlm_passes_its_tests_and_trains(project, xlm_cache):
    root = create_model("my_arlm", project, from_model="arlm").root
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root, xlm_cache)
    losses = train(root, xlm_cache, "star_easy_my_arlm", "trainer.max_steps=20", "trainer.val_check_interval=10", "trainer.log_every_n_steps=5")
    assert losses[-1] < losses[0]


DISCOVER = """
import json
from xlm.external_models import find_external_models
found = find_external_models()
model = next(m for m in found.models if m.name == "my_model")
print(json.dumps({"origin": model.found.origin, "configs": str(model.configs_dir),
                  "problems": [p.what for p in found.problems if p.model == "my_model"]}))
"""


def test_pip_install_discovery_through_the_entry_point_and_wheel_contents(project, tmp_path, xlm_cache):
    root = create_model("my_model", project).root
    python = venv_over_this_environment(tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"  # no .xlm_models: only the entry point can find the model
    elsewhere.mkdir()
    pip = [python, "-m", "pip", "--disable-pip-version-check", "-q"]

    run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", root], tmp_path, xlm_cache)
    run([python, "-c", "from my_model import MyModel, MyModelLoss, MyModelPredictor"], elsewhere, xlm_cache)
    editable = json.loads(run([python, "-c", DISCOVER], elsewhere, xlm_cache).stdout)
    assert editable == {"origin": "installed", "configs": str(root / "configs"), "problems": []}

    # The seed documentation's command (setup.py defers to pyproject.toml), then pip's.
    run([python, "setup.py", "-q", "sdist", "bdist_wheel"], root, xlm_cache)
    (sdist,) = (root / "dist").glob("my_model-0.1.0.tar.gz")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"tests/conftest.py", "configs/model/my_model.yaml", "setup.py", "pyproject.toml"} <= in_sdist
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", root], tmp_path, xlm_cache)
    (wheel,) = (tmp_path / "dist").glob("my_model-0.1.0-*.whl")
    (setup_wheel,) = (root / "dist").glob("my_model-0.1.0-*.whl")
    assert set(zipfile.ZipFile(setup_wheel).namelist()) == set(zipfile.ZipFile(wheel).namelist())
    names = set(zipfile.ZipFile(wheel).namelist())
    for config in ("model/my_model.yaml", "model_type/my_model.yaml", "collator/default_my_model.yaml",
                   "collator/seq2seq_my_model.yaml", "experiment/my_model_debug.yaml", "experiment/star_easy_my_model.yaml"):
        assert f"my_model/configs/{config}" in names
    entry_points = zipfile.ZipFile(wheel).read("my_model-0.1.0.dist-info/entry_points.txt").decode()
    assert "[xlm.models]\nmy_model = my_model" in entry_points

    run([*pip, "uninstall", "-y", "my-model"], tmp_path, xlm_cache)
    run([*pip, "install", "--no-deps", wheel], tmp_path, xlm_cache)
    installed = json.loads(run([python, "-c", DISCOVER], elsewhere, xlm_cache).stdout)
    assert installed["origin"] == "installed" and installed["problems"] == []
    assert installed["configs"].endswith("site-packages/my_model/configs")
    # ... and an installed wheel is a valid --from source: configs go back next to the package.
    run([python, "-m", "xpm.cli", "new", "my_copy", "--from", "my_model"], elsewhere, xlm_cache)
    assert (elsewhere / "my_copy" / "configs" / "model" / "my_copy.yaml").is_file()
    assert not (elsewhere / "my_copy" / "my_copy" / "configs").exists()


def test_shared_through_git_then_added_with_xpm_and_trained(project, tmp_path, xlm_cache, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    for var, value in {"HOME": home, "GIT_CONFIG_GLOBAL": home / ".gitconfig", "GIT_CONFIG_NOSYSTEM": "1",
                       "XPM_CACHE_DIR": tmp_path / "xpm_cache", "XDG_CACHE_HOME": home / ".cache"}.items():
        monkeypatch.setenv(var, str(value))
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    root = create_model("my_model", upstream).root
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "my_model 0.1.0"], ["tag", "v0.1.0"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    result = CliRunner().invoke(main, ["-C", str(project), "-q", "add", f"{root.as_uri()}@v0.1.0"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("added my_model v0.1.0 (")
    assert (project / "xlm_models" / "my_model" / "my_model" / "model.py").is_file()
    losses = train(project, xlm_cache, "star_easy_my_model", "trainer.max_steps=10", "trainer.val_check_interval=5", "trainer.log_every_n_steps=5")
    assert losses


def test_xpm_installed_from_a_wheel_finds_its_templates(tmp_path, xlm_cache):
    repo = Path(__file__).resolve().parents[2]
    source = tmp_path / "source"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True, text=True).stdout
    for rel in filter(None, listed.split("\0")):
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (repo / rel).is_symlink():
            target.symlink_to(os.readlink(repo / rel))
        elif (repo / rel).is_file():
            target.write_bytes((repo / rel).read_bytes())
    # The sdist holds real template files, not the xpm/_templates link (a wheel built from it needs them).
    build_sdist = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    run([sys.executable, "-c", build_sdist, tmp_path / "sdist"], source, xlm_cache)
    (sdist,) = (tmp_path / "sdist").glob("xlm-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
    templates = {name: m for name, m in members.items() if name.startswith("xpm/_templates/model/")}
    assert "xpm/_templates/model/{{name}}/model.py" in templates and "xpm/_templates/model/setup.py" in templates
    assert all(m.isfile() or m.isdir() for m in templates.values()) and not members["xpm/_templates"].issym()

    run([sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], tmp_path, xlm_cache)
    (wheel,) = (tmp_path / "dist").glob("xlm-*.whl")
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    assert (installed / "xpm" / "_templates" / "model" / "{{name}}" / "model.py").is_file()

    # -S: no site hooks, so the editable install of this checkout cannot answer for `xpm`;
    # the other dependencies (click, yaml) still come from site-packages, after the wheel.
    import sysconfig

    env = {"PYTHONPATH": f"{installed}{os.pathsep}{sysconfig.get_paths()['purelib']}"}
    where = run([sys.executable, "-S", "-c", "import xpm.templates as t; print(t.MODEL_TEMPLATE)"], tmp_path, xlm_cache, **env)
    assert where.stdout.strip().startswith(str(installed))
    run([sys.executable, "-S", "-m", "xpm.cli", "new", "my_model"], tmp_path, xlm_cache, **env)
    assert (tmp_path / "my_model" / "configs" / "experiment" / "star_easy_my_model.yaml").is_file()
