"""Fixtures of the core tests: the real config tree composed in-process, a tokenizer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The core models' packages (arlm, mlm) import like external ones: from their model root.
for _name in ("arlm", "mlm"):
    if str(ROOT / "xlm" / "models" / _name) not in sys.path:
        sys.path.insert(0, str(ROOT / "xlm" / "models" / _name))


@pytest.fixture
def compose(tmp_path):
    """``compose(*overrides)`` -> the composed, resolvable config, output and task data in tmp_path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from xlm.external_models import setup_external_models
    from xlm.tokenizer import register_resolvers

    setup_external_models()
    register_resolvers()

    def _compose(*overrides: str, own_data_dir: bool = True):
        GlobalHydra.instance().clear()
        with initialize_config_module("xlm.configs", version_base="1.3"):
            base = [f"paths.output_dir={tmp_path / 'out'}"]
            base += [f"paths.data_dir={tmp_path / 'data'}"] if own_data_dir else []
            return hydra_compose("config", overrides=[*base, *overrides])

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def tokenizer():
    from xlm.tokenizer import NumberTokenizer

    return NumberTokenizer(20)
