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


class _Unnamed(LookupError):
    """The dotted path of a command names nothing: no such module (`pkg.mod`) or attribute."""


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
        for depth, attr in enumerate(parts[cut:], cut):
            if not hasattr(obj, attr):
                raise _Unnamed(f"{'.'.join(parts[:depth])} has no attribute '{attr}'")
            obj = getattr(obj, attr)
        return obj
    raise _Unnamed(f"no module named '{parts[0]}'")


def skipped_command(name: str):
    """A `UserError` when ``name`` is a command of a model that was skipped (why, and the fix), else None."""
    from xlm.errors import UserError
    from xlm.external.config_files import config_text
    from xlm.external.configs import YamlSyntaxError, command_lines
    from xlm.external.guard import model_configs_dir
    from xlm.external.validation import COMMANDS_FILE
    from xlm.external_models import find_external_models

    found = find_external_models()  # a lookup: find_command has already warned about the skipped models
    for model in found.skipped:
        configs = model_configs_dir(model)
        try:
            entries = command_lines(config_text(str(configs / COMMANDS_FILE))) if configs is not None else None
        except (OSError, YamlSyntaxError):
            continue
        if entries and any(entry.name == name for entry in entries):
            reason = found.reason(model)
            why = reason.what if reason else "see `xlm models`"
            return UserError(f"'{name}' is a command of model '{model.name}' ({model.where}), which was skipped because: {why}",
                             reason.fix if reason else "run `xlm models` to see why")
    return None


def run_command(command: Command, args: list[str]) -> int:
    """Run a model command; its return value (None counts as success) is the exit code.

    A package missing from the model's imports is a `UserError` naming the file and line.
    """
    from xlm.errors import UserError

    try:
        function = load_function(command.function)
    except _Unnamed as exc:  # validation checks only the paths into the model's own package
        raise UserError(f"command '{command.name}' of model '{command.model}' ({command.where}) names {command.function}: {exc}",
                        "give the command a function that exists (package.module.function) in the model's commands.yaml") from None
    except ModuleNotFoundError as exc:
        from xlm.external.diagnose import missing_model_error

        if (error := missing_model_error(exc)) is None:
            raise
        raise error from exc
    try:
        returned = function(list(args))
    except Exception as exc:  # noqa: BLE001 - the model's code: named, with its traceback under -v
        raise _crashed(command, function, exc) from exc
    return exit_status(command, returned)


def _crashed(command: Command, function: Callable, exc: Exception):
    """A `UserError` (exit 1: a crash) naming the command, the model and the file:line of its code
    that raised; a function written for xlm-core (it took the composed config) is told so."""
    from xlm.errors import UserError
    from xlm.external.diagnose import model_frame
    from xlm.external_models import find_external_models

    _, where = model_frame(exc, find_external_models())
    at = f" (at {where})" if where else ""
    fix = "fix the command's code there (xlm -v ... prints the traceback)"
    first = next(iter(getattr(function, "__annotations__", {}).items()), (None, None))
    if "DictConfig" in str(first[1]) or isinstance(exc, AttributeError) and "'list' object has no attribute" in str(exc):
        fix = ("the function gets the command line's arguments (a list of str), not a config as in xlm-core: "
               "take `args: list[str]` (docs/porting_from_xlm_core.md, section 11)")
    error = UserError(f"command '{command.name}' of model '{command.model}' raised {type(exc).__name__}: {exc}{at}", fix)
    error.exit_code = 1
    return error


def exit_status(command: Command, returned) -> int:
    """The exit status a command's return value means: None is 0; an int from 0 to 255 is
    itself (a larger one would wrap around: 256 is success to the shell); nothing else is one."""
    if returned is None:
        return 0
    if isinstance(returned, int) and not isinstance(returned, bool) and 0 <= returned <= 255:
        return returned
    from xlm.errors import UserError
    from xlm.shown import show

    raise UserError(f"command '{command.name}' of model '{command.model}' returned {show(repr(returned), 80)}, not an exit status",
                    f"make {command.function} return None (success) or an int from 0 to 255")


def help_lines(width: int, commands: list[Command]) -> list[str]:
    """One help line per model command, for ``xlm --help``: its help on one line, with
    control characters (escape sequences, line breaks a model could forge lines with) shown escaped."""
    from xlm.shown import show

    def shown(c: Command) -> str:
        return show(" ".join(c.help.split()), 200) if c.help.strip() else f"command of model {c.model}"

    return [f"  {c.name:<{width}}  {shown(c)} (model {c.model})" for c in commands]
