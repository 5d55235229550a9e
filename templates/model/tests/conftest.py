"""Make the model importable as `{{name}}` without installing it (as xlm does for a listed model)."""

import sys
from pathlib import Path

import pytest

MODEL_ROOT = Path(__file__).resolve().parents[1]
if str(MODEL_ROOT) not in sys.path:
    sys.path.insert(0, str(MODEL_ROOT))


@pytest.fixture
def tokenizer():
    from xlm.tokenizer import NumberTokenizer

    return NumberTokenizer(20)


@pytest.fixture
def examples():
    # Shaped like the star task: the prompt ends with <sep> (id 4); targets of different lengths.
    return [
        {"prompt_ids": [5, 6, 7, 4], "target_ids": [8, 9, 10]},
        {"prompt_ids": [11, 4], "target_ids": [12]},
    ]
