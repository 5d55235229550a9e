"""Fixtures of the text-data tests: no network, a private Hugging Face home, the real configs.

The Hugging Face libraries read their settings when first imported, so the variables are set
here, when pytest collects this folder, before any test imports them: every test of the
session then runs offline against an empty cache of its own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

assert "datasets" not in sys.modules, "datasets was imported before tests/data/conftest.py could make it offline"
_HF_HOME = tempfile.mkdtemp(prefix="xlm-test-hf-")
atexit.register(shutil.rmtree, _HF_HOME, True)
os.environ.update(HF_HOME=_HF_HOME, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
                  TOKENIZERS_PARALLELISM="false")
for _name in ("HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parents[2]
for _model in ("arlm", "mlm"):  # the core models' packages import like external ones
    if str(ROOT / "xlm" / "models" / _model) not in sys.path:
        sys.path.insert(0, str(ROOT / "xlm" / "models" / _model))


@pytest.fixture
def hf_home() -> Path:
    return Path(_HF_HOME)


@pytest.fixture
def compose(tmp_path):
    """``compose(*overrides)`` -> the composed config; outputs and data folders in tmp_path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from xlm.external_models import setup_external_models
    from xlm.tokenizer import register_resolvers

    setup_external_models()
    register_resolvers()

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module("xlm.configs", version_base="1.3"):
            base = [f"paths.output_dir={tmp_path / 'out'}", f"paths.data_dir={tmp_path / 'data'}"]
            return hydra_compose("config", overrides=[*base, *overrides])

    yield _compose
    GlobalHydra.instance().clear()
