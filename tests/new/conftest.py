"""A clean project folder per test: no models file, env or import paths inherited from outside."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xlm.external.registration import CONFIG_DIRS_ENV, ROOTS_ENV


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", CONFIG_DIRS_ENV, ROOTS_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def make_model():
    return write_model


def write_model(parent: Path, name: str, package: str | None = None) -> Path:
    """A minimal model folder that passes xlm's static validation."""
    root = parent / name
    pkg = root / (package or name)
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for group in ("model", "model_type"):
        (root / "configs" / group).mkdir(parents=True)
        (root / "configs" / group / f"{name}.yaml").write_text(f"tags:\n  {group}: {name}\n")
    return root
