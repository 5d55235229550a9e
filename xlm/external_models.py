"""Public entry point of the external-model system (the seed documentation's import path).

`setup_external_models()` discovers the models a project uses, validates them statically and
registers them (import path + Hydra config search path). Called by `xlm` before Hydra runs.
"""

from __future__ import annotations

from pathlib import Path

CORE_MODELS_DIR = Path(__file__).resolve().parent / "models"
CORE_MODEL_NAMES = ("arlm", "mlm")


def core_model_roots() -> list[Path]:
    return [CORE_MODELS_DIR / name for name in CORE_MODEL_NAMES if (CORE_MODELS_DIR / name).is_dir()]


def setup_external_models(strict_validation: bool = False) -> None:
    """Register the core models (discovery of external ones arrives with the external-models work)."""
    from xlm.external.registration import register_model_roots

    register_model_roots(core_model_roots())
