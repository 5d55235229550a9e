"""arlm: a decoder-only causal transformer trained seq2seq (prompt -> target) with next-token loss.

A core xlm model laid out exactly as an external model (this package plus ``../configs``), so it
doubles as the reference implementation of the model author's API (:mod:`xlm.api`).
"""

from arlm.collators import ARLMCollator
from arlm.loss import ARLMLoss
from arlm.model import ARLMTransformer
from arlm.predictor import ARLMPredictor

__all__ = ["ARLMCollator", "ARLMLoss", "ARLMPredictor", "ARLMTransformer"]
