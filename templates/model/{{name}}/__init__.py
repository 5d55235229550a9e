"""{{name}}: an xlm model (a small causal transformer baseline; see README.md).

The configs refer to the modules directly (``{{name}}.model.{{Name}}``); these exports are
for people who use the model from Python: ``from {{name}} import {{Name}}``.
"""

from .collators import Default{{Name}}Collator, Seq2Seq{{Name}}Collator
from .loss import {{Name}}Loss
from .model import {{Name}}
from .predictor import {{Name}}Predictor
from .types import {{Name}}Batch, {{Name}}LossDict, {{Name}}PredictionDict

__version__ = "0.1.0"

__all__ = [
    "{{Name}}",
    "{{Name}}Batch",
    "{{Name}}Loss",
    "{{Name}}LossDict",
    "{{Name}}PredictionDict",
    "{{Name}}Predictor",
    "Default{{Name}}Collator",
    "Seq2Seq{{Name}}Collator",
]
