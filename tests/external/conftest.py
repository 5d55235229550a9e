"""A clean project folder per test: no inherited models, env or import paths leak between tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xlm.external import discovery, installed, registration
from xlm.external.registration import CONFIG_DIRS_ENV, ROOTS_ENV

from .builders import make_model, write

TEST_DIST_PREFIX = "xlmtest"


class Project:
    """A project folder: write its `.xlm_models`, create models in it."""

    def __init__(self, root: Path):
        self.root = root

    def models_file(self, *lines: str) -> Path:
        return write(self.root / ".xlm_models", "".join(f"{line}\n" for line in lines))

    def model(self, name: str, parent: Path | None = None, **kwargs) -> Path:
        return make_model(parent or self.root, name, **kwargs)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("xlm_cache")


@pytest.fixture
def project(tmp_path, monkeypatch, cache_dir) -> Project:
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", CONFIG_DIRS_ENV, ROOTS_ENV, "PYTHONPATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XLM_CACHE_DIR", str(cache_dir))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(registration._FINDER, "folders", {})  # flat packages registered by an earlier test
    real = installed.installed

    def only_test_distributions():
        # The machine may have real models pip-installed; tests see only the ones they create.
        found = real()
        eps = tuple(e for e in found.entry_points if e.distribution.startswith(TEST_DIST_PREFIX))
        return installed.Installed(eps, found.top_level, found.versions)

    monkeypatch.setattr(discovery, "installed", only_test_distributions)
    modules = set(sys.modules)
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    yield Project(root)
    for name in set(sys.modules) - modules:  # model packages imported by a test
        if getattr(sys.modules[name], "__file__", None) and str(tmp_path) in sys.modules[name].__file__:
            del sys.modules[name]
