"""Make the example model importable as ``zlm`` (as xlm's discovery does for a listed model)."""

import sys
from pathlib import Path

import pytest

ZLM_ROOT = Path(__file__).resolve().parents[2] / "examples" / "zlm"
if str(ZLM_ROOT) not in sys.path:
    sys.path.insert(0, str(ZLM_ROOT))


@pytest.fixture
def tokenizer():
    from xlm.tokenizer import NumberTokenizer

    return NumberTokenizer(20)


@pytest.fixture
def examples():
    # Star-task shaped: prompt ends with <sep> (id 4), targets of different lengths.
    return [
        {"prompt_ids": [5, 6, 7, 4], "target_ids": [8, 9, 10]},
        {"prompt_ids": [11, 4], "target_ids": [12]},
    ]
