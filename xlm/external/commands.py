"""Commands that models add to ``xlm`` through ``configs/commands.yaml``.

A model maps a command name to a function ``fn(args: list[str]) -> int | None``::

    # configs/commands.yaml
    zlm-sample: zlm.commands.sample                 # short form
    zlm-export: {function: zlm.commands.export, help: write the weights as safetensors}

``xlm zlm-sample --steps 8`` then calls ``zlm.commands.sample(["--steps", "8"])``. The names
are read (and checked against built-in commands and each other) at start-up; the model's
module is imported only when its command runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from xlm.external.validation import Command


def find_command(name: str) -> Command | None:
    """The command called ``name`` among the models' commands (discovers and registers the models)."""
    from xlm.external_models import setup_external_models

    return next((c for c in setup_external_models().commands if c.name == name), None)


def load_function(dotted: str) -> Callable:
    """Import the object ``pkg.module.fn`` (or ``pkg.module.Class.method``) names."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name is not None and not ".".join(parts[:cut]).startswith(exc.name):
                raise  # a missing dependency inside the module: not ours to hide
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(f"No module named '{parts[0]}'", name=parts[0])


def run_command(command: Command, args: list[str]) -> int:
    """Run a model command; its return value (None counts as success) is the exit code.

    A package missing from the model's imports is a `UserError` naming the file and line.
    """
    try:
        function = load_function(command.function)
    except ModuleNotFoundError as exc:
        from xlm.external.diagnose import missing_model_error

        if (error := missing_model_error(exc)) is None:
            raise
        raise error from exc
    return int(function(list(args)) or 0)


def help_lines(width: int, commands: list[Command]) -> list[str]:
    """One help line per model command, for ``xlm --help``."""
    return [f"  {c.name:<{width}}  {c.help or 'command of model ' + c.model} (model {c.model})" for c in commands]
