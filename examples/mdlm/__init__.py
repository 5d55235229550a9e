"""mdlm: masked diffusion language model (Sahoo et al., 2024), ported from xlm-core to xlm.

The folder is the package (xlm-core's flat layout): network :mod:`mdlm.model_mdlm`, noise
schedule :mod:`mdlm.noise_mdlm`, ELBO loss :mod:`mdlm.loss_mdlm`, ancestral sampler
:mod:`mdlm.predictor_mdlm`, collators :mod:`mdlm.datamodule_mdlm`, batch types
:mod:`mdlm.types_mdlm`; its Hydra configs are in ``configs/`` next to these files.
"""

from .datamodule_mdlm import DefaultMDLMCollator, MDLMSeq2SeqCollator
from .loss_mdlm import MDLMLoss
from .model_mdlm import MDLMModel
from .noise_mdlm import LogLinearSchedule
from .predictor_mdlm import MDLMPredictor
from .types_mdlm import MDLMBatch, MDLMLossDict, MDLMPredictionDict

__all__ = [
    "DefaultMDLMCollator",
    "LogLinearSchedule",
    "MDLMBatch",
    "MDLMLoss",
    "MDLMLossDict",
    "MDLMModel",
    "MDLMPredictionDict",
    "MDLMPredictor",
    "MDLMSeq2SeqCollator",
]
