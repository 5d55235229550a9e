"""External models: discovery, static validation and registration. Imports nothing heavy.

One layer per module, the arrows pointing down:

- ``discovery``: which models a project declares (core, `.xlm_models`, current folder, entry points);
- ``installed``: what installed distributions provide (cached);
- ``validation`` (with ``configs`` for YAML and ``pysource`` for Python): one model folder's problems;
- ``conflicts``: rules between models (names, packages, config files, commands);
- ``checks``: runs every check in order and decides which models load;
- ``registration``: import path and Hydra search path;
- ``report`` / ``commands``: ``xlm models`` and the commands models add to ``xlm``;
- ``diagnose``: why a model's package does not import (skipped, not listed, unknown);
- ``errors``: `Problem` and the exceptions of strict mode; ``cache``: the start-up caches.

`xlm.external_models` is the facade over all of it.
"""
