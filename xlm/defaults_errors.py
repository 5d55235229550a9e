"""Mistakes in a defaults list (a config's or the command line's selections), as Hydra reports
them, turned into two-line errors naming the file and line of the entry (`xlm.config_errors`
decides which exception is which)."""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

from xlm.config_lines import config_file, defaults_entry, file_lines, line_matching, shown_at
from xlm.errors import UserError, did_you_mean


def raised_in(exc: BaseException, module_file: str) -> bool:
    """Whether ``exc`` passed through ``module_file`` (a path's end, `/`-separated) of Hydra's."""
    import traceback

    return any(frame.filename.replace(os.sep, "/").endswith(module_file) for frame in traceback.extract_tb(exc.__traceback__))


_DEFAULTS_KEY = re.compile(r"^defaults\s*:")
_DEFAULTS_FIX = "a defaults list is a list of `group: option` entries (or `override /group: option`), with `_self_` at most once"


def defaults_list_error(exc: BaseException) -> UserError | None:
    """A defaults list Hydra cannot read (not a list, an entry of two keys, `_self_` twice) or
    that includes its own config again: raised while Hydra builds the defaults tree, so it
    names a config, not the job. Anything raised elsewhere keeps its traceback."""
    if not raised_in(exc, "hydra/_internal/defaults_list.py"):
        return None
    if isinstance(exc, RecursionError):
        return defaults_loop(exc)
    if not isinstance(exc, ValueError) and type(exc).__name__ != "ConfigCompositionException":
        return None
    message = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    if message.startswith("Config group override must be a string or a list"):  # `model=null` on the command line
        import sys

        given = next((arg for arg in sys.argv[1:] if re.fullmatch(r"[\w/]+=(null|~)", arg)), "GROUP=null")
        group = given.split("=", 1)[0]
        return UserError(f"`{given}`: a config group takes an option's name, not null",
                         f"pick one ({group}=NAME; `xlm --help` lists them), or leave the group out")
    named = re.search(r"(?:in '|In |defined in )([\w./-]+?)'?(?:[:,]|$)", message)
    path = config_file(named.group(1)) if named else None
    where = f"{shown_at(path, line_matching(path, _DEFAULTS_KEY) or 1)}: " if path else ""
    return UserError(f"{where}{message}", _DEFAULTS_FIX)


def defaults_loop(exc: RecursionError) -> UserError:
    """Which config's defaults list brings a config back in, read from the frames Hydra left:
    each level of its recursion loads one config (`path`) and builds its defaults tree."""
    path, tb = [], exc.__traceback__
    while tb is not None and len(path) < 200:
        name = tb.tb_frame.f_locals.get("path") if tb.tb_frame.f_code.co_name == "_create_defaults_tree_impl" else None
        if isinstance(name, str):  # the config this level loaded
            if name in path:  # the loop: `path[-1]`'s defaults list names `name` again
                loop = " -> ".join([*path[path.index(name):], name])
                file = config_file(path[-1])
                group, _, option = name.rpartition("/")  # the entry selects its group (a command-line `group=` wins over it)
                entry = re.compile(rf"^\s*-\s*(?:(?:override\s+)?/?{re.escape(group)}\s*:|{re.escape(option)}\s*$)")  # or `- x` in x's group
                where = shown_at(file, line_matching(file, entry)) if file else f"config '{path[-1]}'"
                return UserError(f"{where}: the defaults list brings '{name}' in again, and it comes back without end ({loop})",
                                 "remove that entry: a config cannot include itself, directly or through the configs it "
                                 "includes (and `GROUP=X` on the command line makes every `/GROUP:` entry X)")
            path.append(name)
        tb = tb.tb_next
    return UserError("a defaults list includes its own config again, directly or through other configs (Hydra recursed without end)",
                     "remove the entry that brings the config back in (`xlm -v` shows where Hydra was)")


def relative_entry(config: str, resolved: str, option: str) -> UserError | None:
    """`- collator: x` in an experiment's defaults list: Hydra reads a group without a leading `/`
    inside the config's own group (``resolved``: `experiment/collator`, or `experiment/collator@collator`),
    where no config is. None for any other group."""
    from xlm.config_groups import config_groups

    own, _, group = resolved.split("@", 1)[0].partition("/")
    if not group or not config.startswith(own + "/") or group not in config_groups():
        return None
    path = config_file(config)
    entry = re.compile(rf"^\s*-\s*(?:override\s+)?{re.escape(group)}\s*:\s*{re.escape(option)}\b")
    line = line_matching(path, entry) if path else None
    where = shown_at(path, line) if path and line else f"config '{config}'"
    return UserError(f"{where}: `{group}: {option}` names {own}/{group}/{option}: in a config of group '{own}', a group "
                     f"without a leading `/` is one inside '{own}'", f"write `- override /{group}: {option}` (or `- /{group}: "
                     f"{option}` if nothing before it selects {group})")


def missing_config(exc: Any, in_config: str, message: str, choices: Mapping[str, Any]) -> UserError:
    """A config named in a defaults list (or on the command line) that no config folder has."""
    group, _, option = (exc.missing_cfg_file or "").rpartition("/")
    from xlm.config_groups import unknown_option_fix

    fix = unknown_option_fix(group, option, exc.options) if exc.options else "run `xlm --help` to see the config groups"
    if not group:
        return UserError(message, fix)
    if not exc.options and group.split("/")[0] == "metrics":  # xlm-core's `- /metrics@reported_metrics...: NAME`
        fix = ("xlm has no `metrics` group: write the metric under reported_metrics in the model_type config "
               "(docs/porting_from_xlm_core.md, section 7)")
    if (relative := relative_entry(in_config, group, option)) is not None:
        return relative
    # Hydra names the config whose defaults list was being *applied* ('config' for an
    # experiment's `override /model: x`); the line that names the option says more.
    entry = defaults_entry(group, option, choices)
    if entry is not None:
        return UserError(f"{shown_at(*entry)}: unknown {group} '{option}' in the defaults list", fix)
    import sys

    # A group a config selects, overridden on the command line: Hydra names the config, the user typed the override.
    typed = re.compile(rf"^[+~]*/?{re.escape(group)}(?:@[\w.]+)?={re.escape(option)}$")
    if (given := next((arg for arg in sys.argv[1:] if typed.match(arg)), None)) is not None:
        return UserError(f"unknown {group} '{option}' (in `{given}`)", fix)
    named_in = f" (named in {in_config})" if in_config and in_config != "config" else ""
    return UserError(f"unknown {group} '{option}'{named_in}", fix)


def bad_defaults_override(config: str, group: str, choices: Mapping[str, Any]) -> UserError:
    """``override /GROUP: x`` in ``config``'s defaults list, where nothing selects GROUP."""
    from xlm.config_groups import config_groups

    path = config_file(config)
    base, _, package = group.partition("@")
    if (old := package.split(".")[0]) in ("_group_", "_name_"):  # `/datamodule@_group_.datamodule`
        where = shown_at(path, 1) if path else f"config '{config}'"
        return UserError(f"{where}: the config's `# @package` header is Hydra 1.0's: Hydra 1.1 and later take `{old}` "
                         f"literally, so its keys, and its `override /{base}`, land under a key named `{old}`",
                         "write `# @package _global_` as its first line, as in xlm's own experiment configs")
    if package.split(".")[0] == config.split("/")[0] and config.count("/") == 1:  # `/datamodule@experiment.datamodule`
        where = shown_at(path, 1) if path else f"config '{config}'"
        return UserError(f"{where}: the config has no `# @package _global_` line, so Hydra puts it, and its "
                         f"`override /{base}`, under `{package.split('.')[0]}`",
                         "make `# @package _global_` its first line, as in xlm's own experiment configs")
    pattern = re.compile(rf"override\s+/?{re.escape(group)}\b(?:@[\w.]+)?\s*:\s*([\w./-]*)")
    line = line_matching(path, pattern) if path else None
    where = shown_at(path, line) if path else f"config '{config}'"
    groups = config_groups()
    if group in groups:
        named = pattern.search(file_lines(path)[line - 1].split("#", 1)[0]).group(1) if line else ""
        option = named or (groups[group][0] if groups[group] else "OPTION")  # the option the entry asked for
        return UserError(
            f"{where}: `override /{group}` overrides a group that the defaults list does not select",
            f"select it instead: `- /{group}: {option}` (without override)",
        )
    hint = did_you_mean(group, groups)
    return UserError(f"{where}: `override /{group}` names no config group", f"{hint}the groups are: {', '.join(groups)}")
