"""The user's mistakes, as one exception type the CLI catches once at the top.

A :class:`UserError` prints as two lines (what is wrong and where; how to fix it) and exits
non-zero without a traceback. Anything else is the tool's own failure and keeps its traceback.
Import-light: the CLI imports it before anything heavy (``from_hydra`` imports Hydra only
when called, once Hydra has already failed).
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Something the user can fix: a bad override, a missing checkpoint, an unknown option."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        return f"error: {self.what}\n  fix: {self.fix}"


def from_hydra(exc: BaseException) -> UserError | None:
    """The user's mistake behind an exception Hydra raised while composing the config, if it is one.

    Hydra explains these over several lines (and often with a traceback); the ones a user
    makes with a command line are: an override it cannot parse, a key the config does not
    have, a ``+`` on a key that exists, and a config file that does not exist. Anything
    else returns None and keeps its traceback.
    """
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first, rest = (lines[0], lines[1:]) if lines else (type(exc).__name__, [])
    if isinstance(exc, OverrideParseException):
        reason = next((line for line in lines if not line.startswith(("Error parsing", "See "))), "bad syntax")
        return UserError(
            f"cannot parse the override `{exc.override}`: {reason}",
            "write overrides as KEY=VALUE (optimizer.lr=1e-4); +KEY=VALUE adds a key, ~KEY removes one; "
            "quote lists in the shell: 'loggers=[csv,tensorboard]'",
        )
    if isinstance(exc, MissingConfigException):
        group, _, option = (exc.missing_cfg_file or "").rpartition("/")
        where = first.split("'")[1] if first.startswith("In '") else "config"
        what = f"unknown {group} '{option}'" if group else first
        what += "" if where == "config" else f" (named in {where})"  # a model's config, not the command line
        fix = f"choose one of: {', '.join(exc.options)}" if exc.options else "run `xlm --help` to see the config groups"
        return UserError(what, fix)
    if isinstance(exc, ConfigCompositionException) and first.startswith("Could not override '"):
        key = first.split("'")[1]
        add = next((line for line in rest if line.startswith("To append")), "").rpartition(" use ")[2]
        return UserError(
            f"the config has no key '{key}'",
            f"check the spelling (`--cfg job` prints every key){f', or add it with {add}' if add else ''}",
        )
    if isinstance(exc, ConfigCompositionException) and first.startswith("Could not append to config"):
        key = first.split("'")[1] if "'" in first else "the key"
        plain = next((line.split("'")[1] for line in rest if "remove + prefix" in line and "'" in line), "KEY=VALUE")
        return UserError(f"'{key}' is already in the config, and +KEY=VALUE only adds new keys", f"drop the +: {plain}")
    return None
