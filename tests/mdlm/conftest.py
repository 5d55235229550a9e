"""Make the ported model importable as ``mdlm``: in the flat layout the folder is the package,
so its *parent* goes on the import path."""

import sys

import pytest
from mdlm_paths import MDLM_ROOT

if str(MDLM_ROOT.parent) not in sys.path:
    sys.path.insert(0, str(MDLM_ROOT.parent))


@pytest.fixture
def tokenizer():
    from xlm.tokenizer import NumberTokenizer

    return NumberTokenizer(20)


@pytest.fixture
def examples():
    # Star-task shaped: the prompt ends with <sep> (id 4), targets of different lengths.
    return [
        {"prompt_ids": [5, 6, 7, 4], "target_ids": [8, 9, 10]},
        {"prompt_ids": [11, 4], "target_ids": [12]},
    ]


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """No model registration, env var or import path leaks out of (or into) the test."""
    from xlm.external.registration import CONFIG_DIRS_ENV, ROOTS_ENV

    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", CONFIG_DIRS_ENV, ROOTS_ENV, "PYTHONPATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path
