"""mlm: a bidirectional transformer that predicts the masked target tokens all at once.

Trained by masking a random fraction of the target and predicting it; decoded by starting
from an all-masked target and unmasking the most confident positions step by step. A core xlm
model laid out exactly as an external model (this package plus ``../configs``).
"""

from mlm.collators import MLMCollator
from mlm.loss import MLMLoss
from mlm.model import MLMTransformer
from mlm.predictor import MLMPredictor

__all__ = ["MLMCollator", "MLMLoss", "MLMPredictor", "MLMTransformer"]
