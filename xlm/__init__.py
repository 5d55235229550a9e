"""xlm: train (mostly non-autoregressive) language models from Hydra configs.

Kept import-light on purpose: `xlm --help` and `xpm` import this package, and neither may
pull in torch, lightning or hydra.
"""

__version__ = "0.1.0"
