"""zlm: a small masked-diffusion language model, the example external model of xlm.

A bidirectional transformer (:mod:`zlm.model`) trained with the masked-diffusion ELBO
(:mod:`zlm.loss`) and sampled by iterative unmasking (:mod:`zlm.predictor`); batches come
from :mod:`zlm.collators` and are described in :mod:`zlm.types`.
"""

from .collators import ZLMCollator
from .loss import ZLMLoss
from .model import ZLMModel
from .predictor import ZLMPredictor
from .types import ZLMBatch, ZLMLossDict, ZLMPredictionDict

__all__ = [
    "ZLMBatch",
    "ZLMCollator",
    "ZLMLoss",
    "ZLMLossDict",
    "ZLMModel",
    "ZLMPredictionDict",
    "ZLMPredictor",
]
