"""External models: discovery, static validation and registration. Imports nothing heavy.

One layer per module, the arrows pointing down:

- ``discovery``: which models a project declares (core, `.xlm_models`, current folder, entry points);
- ``installed``: what installed distributions provide (cached);
- ``layout``: where a model's package is (nested, or flat as xlm-core's models are);
- ``shadowing``: what a model folder put on ``sys.path`` would hide (stdlib, installed modules);
- ``models_json``: xlm-core's ``xlm_models.json`` (recognised, converted by ``xpm import-json``);
- ``validation`` (with ``configs`` for YAML and ``pysource`` for Python): one model folder's problems
  and warnings;
- ``deps``: each model's declared requirements against this interpreter (``xlm.requirements``
  reads, ``xlm.requirements_check`` compares; the verdict is cached);
- ``conflicts``: rules between models (names, packages, config files, commands);
- ``checks``: runs every check in order and decides which models load;
- ``registration``: import path and Hydra search path;
- ``report`` / ``commands``: ``xlm models`` and the commands models add to ``xlm``;
- ``diagnose``: why a model's package does not import (skipped, not listed, unknown), or
  which package a model's code imports that is not installed;
- ``guard``: a job that would use a skipped model, or a target that names nothing, stops;
- ``errors``: `Problem` and the exceptions of strict mode; ``cache``: the start-up caches.

`xlm.external_models` is the facade over all of it.
"""
