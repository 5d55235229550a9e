"""Make the ported model importable as ``mdlm``.

In the flat layout the folder is the package. Its parent, ``examples/``, is not put on the
import path (it would also expose ``examples/zlm`` as a namespace package ``zlm`` to every
test of the session); the package is loaded from its folder under its name instead.
"""

import importlib.util
import sys

import pytest
from mdlm_paths import MDLM_ROOT

if "mdlm" not in sys.modules:
    spec = importlib.util.spec_from_file_location("mdlm", MDLM_ROOT / "__init__.py", submodule_search_locations=[str(MDLM_ROOT)])
    sys.modules["mdlm"] = module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


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
