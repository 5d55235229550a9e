"""xpm: the git-based package manager for xlm models.

Sources live in `.xlm_models` (parsed by `xlm.manifest`), exact commits and content hashes in
`xlm.lock`, vendored trees in `xlm_models/`. Importing xpm must stay cheap and must never pull
in torch, lightning or hydra: every heavy or rarely needed import is done inside functions.
"""

__all__: list[str] = []
