"""Mistakes in configs, as Hydra and OmegaConf report them, turned into two-line errors.

Hydra explains a failed composition over several lines, and OmegaConf's interpolation errors
arrive under a long traceback. A mistake on the command line names the override; one inside
a config file (a model's experiment, say) names the file, line and key, found by reading the
config trees in Hydra's search order. Anything else returns None and keeps its traceback.
Imports Hydra and OmegaConf only when called, once one of them has already failed.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from xlm.config_lines import config_file, defaults_entry, file_lines, line_matching, shown_at, text_line, value_line
from xlm.defaults_errors import bad_defaults_override, defaults_list_error, missing_config, raised_in, relative_entry
from xlm.errors import UserError, causes

_SHOW_CONFIG = "`--cfg job` prints the composed config"


# xlm-core's resolvers, which a port meets (docs/porting_from_xlm_core.md, section 9)
_XLM_CORE_RESOLVERS = frozenset({"global_components", "lightning_module", "datamodule", "eval", "device_count",
                                  "find_grad_accum", "div_up", "num_cpus"})


def explain(exc: BaseException, cfg: Any = None, choices: Mapping[str, Any] | None = None) -> UserError | None:
    """The user's mistake behind ``exc`` (or one of its causes), if it is one.

    ``cfg`` is the composed config being resolved (it locates a failing interpolation);
    ``choices`` maps config groups to the options the run selected, so that their files are
    searched first.
    """
    chain = list(causes(exc))
    for error in chain:  # raised by a resolver (${tokenizer:...} building a tokenizer): already explained
        if isinstance(error, UserError):
            return error
    for error in chain:
        explained = _from_hydra(error, choices or {}) or _from_omegaconf(error, cfg, choices or {})
        if explained is not None:
            return explained
    return next((e for e in (*map(defaults_list_error, chain), *map(_override_value_error, chain)) if e is not None), None)


# ----------------------------------------------------------------------------- Hydra


def _from_hydra(exc: BaseException, choices: Mapping[str, Any]) -> UserError | None:
    """Composition errors: an override Hydra cannot parse, a key the config lacks, a ``+`` on a
    key it has, a config that does not exist, an ``override`` of a group not in the defaults."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first, rest = (lines[0], lines[1:]) if lines else (type(exc).__name__, [])
    in_config, _, message = first.partition("': ") if first.startswith("In '") else ("", "", first)
    in_config = in_config[len("In '"):]
    if isinstance(exc, OverrideParseException):
        reason = next((line for line in lines if not line.startswith(("Error parsing", "See "))), "bad syntax")
        key, _, value = str(exc.override).partition("=")
        if value.startswith("~"):  # bash leaves ~ after KEY= unexpanded, and Hydra's grammar refuses it
            return UserError(f"cannot parse the override `{exc.override}`: the shell did not expand ~ in it",
                             f"write the path in full: {key}=$HOME{value[1:]}")
        # a path such as epoch=0-step=50.ckpt, a value with characters Hydra's grammar takes unquoted in no
        # form (é漢字, a backslash): quoted, it is a plain string
        if (re.search(r"[=:,\[\]{}()\s\\]", value) or not value.isascii()) and not value.startswith(("'", '"', "[", "{")):
            return UserError(f"cannot parse the override `{exc.override}`: {reason}",
                             f"quote the value for Hydra, and that in quotes for the shell: \"{key}='{value}'\"")
        return UserError(
            f"cannot parse the override `{exc.override}`: {reason}",
            "write overrides as KEY=VALUE (optimizer.lr=1e-4); +KEY=VALUE adds a key, ~KEY removes one; "
            "quote lists in the shell: 'loggers=[csv,tensorboard]'",
        )
    if isinstance(exc, MissingConfigException):
        return missing_config(exc, in_config, message, choices)
    if not isinstance(exc, ConfigCompositionException):
        return None
    if message.startswith("Could not override '") and in_config:
        return bad_defaults_override(in_config, message.split("'")[1], choices)
    if message.startswith("Could not override '"):
        key = message.split("'")[1]
        add = next((line for line in rest if line.startswith("To append")), "").rpartition(" use ")[2]
        return UserError(
            f"the config has no key '{key}'",
            f"check the spelling ({_SHOW_CONFIG}){f', or add it with {add}' if add else ''}",
        )
    if first.startswith("In ") and "' is defined before '" in first:  # `- /x: y` after an override entry
        config = first[3:].split(":", 1)[0].strip("'")
        entry = first.rsplit("before '", 1)[1].split("'", 1)[0]
        group, _, option = (part.strip() for part in entry.partition(":"))
        if (relative := relative_entry(config, group, option)) is not None:  # `experiment/collator@collator`: `- collator: x`
            return relative
        path = config_file(config)
        pattern = re.compile(rf"^\s*-\s*/?{re.escape(group.lstrip('/'))}\s*:\s*{re.escape(option)}\s*$")
        where = shown_at(path, line_matching(path, pattern)) if path else f"config '{config}'"
        return UserError(f"{where}: `{group}: {option}` comes after an `override` entry; overrides must end the defaults list",
                         f"move it above the override entries, or make it `- override /{group.lstrip('/')}: {option}`")
    if message.startswith("Multiple values for ") and "override " in message:  # `- /model: x` without override
        group, _, option = message.rsplit("'override ", 1)[1].rstrip("'.").partition(": ")
        entry = defaults_entry(group.lstrip("/"), option, choices)
        import sys

        bare = group.lstrip("/")
        if entry is None and f"+{bare}={option}" in sys.argv[1:]:  # `+callbacks=none` on the command line, not a file
            return UserError(f"`+{bare}={option}` adds {bare} a second time (the defaults list already selects it)",
                             f"drop the +: {bare}={option}")
        where = f"{shown_at(*entry)}: " if entry else ""
        return UserError(f"{where}`{group}: {option}` selects {group} a second time (the defaults list already does)",
                         f"write `- override /{bare}: {option}`")
    if message.startswith("Ambiguous value for argument '"):  # a sweep without -m
        override = message.split("'", 1)[1].rsplit("'", 1)[0]
        key = override.split("=", 1)[0]
        import sys

        job = next((arg.removeprefix("job_type=") for arg in sys.argv[1:]  # `xlm eval ...`, or the Hydra form xlm runs
                    if arg in ("train", "eval", "generate") or arg.startswith("job_type=")), "train")
        return UserError(
            f"`{override}` is a sweep, and this is one run",
            f"sweep with -m (xlm {job} -m ... {override})" + ("" if key == "ckpt_path" else f"; for a list write {key}=[...]")
            + ", for a string quote it",
        )
    if message.startswith("Could not delete from config."):  # `~KEY` on a key the config lacks
        key = message.split("'")[1] if "'" in message else "the key"
        return UserError(f"the config has no key '{key}' to remove (~{key})", f"check the spelling ({_SHOW_CONFIG})")
    if message.startswith("Could not append to config"):
        key = message.split("'")[1] if "'" in message else "the key"
        plain = next((line.split("'")[1] for line in rest if "remove + prefix" in line and "'" in line), "KEY=VALUE")
        return UserError(f"'{key}' is already in the config, and +KEY=VALUE only adds new keys", f"drop the +: {plain}")
    return None


def _override_value_error(exc: BaseException) -> UserError | None:
    """A value Hydra's override grammar accepts but Python refuses to convert (an integer of more
    than 4,300 digits): raised while the command line is read, so it names the override."""
    import sys

    if not isinstance(exc, ValueError) or not raised_in(exc, "hydra/core/override_parser/overrides_visitor.py"):
        return None
    given = next((arg for arg in sys.argv[1:] if "=" in arg and re.search(r"\d{4301}", arg)), "KEY=VALUE")
    key, _, value = given.partition("=")
    shown = given if len(given) <= 60 else f"{given[:40]}... ({len(value)} characters)"
    reason = str(exc).split(";")[0].split(": value has")[0]
    return UserError(f"cannot parse the override `{shown}`: {reason}",
                     f"write a smaller value, or quote it to pass it as a string: \"{key}='...'\"")


# ----------------------------------------------------------------------------- OmegaConf


def _from_omegaconf(exc: BaseException, cfg: Any, choices: Mapping[str, Any]) -> UserError | None:
    """A value that cannot be resolved: an interpolation to a missing key, an unknown resolver,
    a ``???`` left unset, an interpolation with bad syntax."""
    from omegaconf.errors import (
        GrammarParseError,
        InterpolationKeyError,
        InterpolationResolutionError,
        InterpolationToMissingValueError,
        MissingMandatoryValue,
        UnsupportedInterpolationType,
    )

    if not isinstance(exc, (InterpolationResolutionError, GrammarParseError, MissingMandatoryValue)):
        return None
    message = str(exc).splitlines()[0]
    key, raw = getattr(exc, "full_key", None) or None, None
    if isinstance(exc, MissingMandatoryValue):
        raw = "???"
    elif key is None and cfg is not None:
        key, raw = _failing_value(cfg, exc)  # OmegaConf.resolve does not say which key failed
    elif key is not None and cfg is not None:
        raw = _get_raw(cfg, key)
    elif key is not None and isinstance(exc, GrammarParseError):
        # Composition failed, so there is no config to read the value from; the parser's
        # message quotes the value's text up to the error, which finds its line (a search by
        # the key's name alone found another file's `max_steps:`).
        text = next(iter(re.findall(r"input '([^']+)'", message)), None)
        found = value_line(key, text, choices) if text else None
        return UserError(f"{shown_at(*found) + ': ' if found else ''}{key} is not a valid interpolation: {message}",
                         "write interpolations as ${key.path} or ${resolver:args}")
    if isinstance(exc, MissingMandatoryValue) and (given := _missing_on_command_line(key)) is not None:
        full = given.split("=", 1)[0].lstrip("+~")
        return UserError(f"`{given}` on the command line leaves {full} without a value", f"give it one: {full}=VALUE")
    given = _given_on_command_line(key, raw)  # `seed=${seed}`: the command line's, not a file's that holds the same text
    found = value_line(key, raw, choices) if key and given is None else None
    shown = f"{key}: {raw}" if key and raw else key or "a config value"
    if key is None and (needle := _interpolation_text(exc, message)) and (found := text_line(needle, choices)):
        shown = file_lines(found[0])[found[1] - 1].split("#", 1)[0].strip()  # no config to read the key from (`--cfg job --resolve`)
    where = f"{shown_at(*found)}: " if found else f"`{given}` on the command line: " if given else ""
    if isinstance(exc, MissingMandatoryValue):
        return UserError(f"{where}{key or 'a key'} has no value (???)", f"give it one: {key or 'KEY'}=VALUE, or set it in the experiment")
    if isinstance(exc, UnsupportedInterpolationType):
        name = message.rpartition(" ")[2]
        fix = ("correct its name; the resolvers are OmegaConf's (oc.env, oc.select, ...), Hydra's (now, hydra) "
               "and xlm's (tokenizer, xlm.data_dir)")
        if name.split(".")[0] in _XLM_CORE_RESOLVERS:
            fix = f"'{name}' is xlm-core's: docs/porting_from_xlm_core.md, section 9, says what replaces it"
        return UserError(f"{where}{shown} uses the resolver '{name}', which is not registered", fix)
    if isinstance(exc, InterpolationKeyError):
        target = message.split("'")[1] if "'" in message else "?"
        return UserError(
            f"{where}{shown} refers to '{target}', which the config does not have",
            f"correct the key or give the config one ({_SHOW_CONFIG})",
        )
    if isinstance(exc, InterpolationToMissingValueError):
        target = message.rpartition(": ")[2]
        return UserError(f"{where}{shown} refers to '{target}', which has no value (???)",
                         f"give it one: {target}=VALUE, or set it in the experiment")
    if isinstance(exc, GrammarParseError):
        return UserError(f"{where}{shown} is not a valid interpolation: {message}", "write interpolations as ${key.path} or ${resolver:args}")
    return UserError(f"{where}{shown}: {message}", f"correct the value ({_SHOW_CONFIG})")


def _interpolation_text(exc: BaseException, message: str) -> str | None:
    """What the failing interpolation's text holds, when OmegaConf names neither key nor config:
    `${nope:` for an unknown resolver, `${a.b}` for a key the config lacks."""
    from omegaconf.errors import InterpolationKeyError, UnsupportedInterpolationType

    if isinstance(exc, UnsupportedInterpolationType):
        return "${" + message.rpartition(" ")[2] + ":"
    if isinstance(exc, InterpolationKeyError) and "'" in message:
        return "${" + message.split("'")[1] + "}"
    return None


def _given_on_command_line(key: str | None, raw: str | None) -> str | None:
    """The override of this run that set `key` (its full dotted name) to exactly `raw`."""
    import sys

    if not key or not raw:
        return None
    return next((arg for arg in sys.argv[1:] if arg.lstrip("+").partition("=")[::2] == (key, raw)), None)


def _missing_on_command_line(key: str | None) -> str | None:
    """The override of this run (`sys.argv`: the Hydra form `xlm` runs) that set `key` to `???`."""
    import sys

    name = str(key).rsplit(".", 1)[-1] if key else None
    for arg in sys.argv[1:]:
        dotted, _, value = arg.lstrip("+~").partition("=")
        if value.strip() == "???" and name is not None and (dotted == key or dotted.rsplit(".", 1)[-1] == name):
            return arg
    return None


def _get_raw(cfg: Any, key: str) -> str | None:
    from omegaconf import OmegaConf

    node: Any = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else node[int(part)] if isinstance(node, list) and part.isdigit() else None
    return node if isinstance(node, str) else None


def _failing_value(cfg: Any, exc: BaseException) -> tuple[str | None, str | None]:
    """(dotted key, raw text) of the value of ``cfg`` whose resolution fails as ``exc`` did.

    ``OmegaConf.resolve`` does not say which key failed. Each unresolved value is tried
    alone; one that fails with the same message and whose own text names the culprit wins
    over one that fails only because it refers to the culprit.
    """
    from omegaconf import OmegaConf

    message = str(exc).splitlines()[0]
    culprit = re.findall(r"'([^']+)'", message)[:1] or message.rsplit(" ", 1)[-1:]
    failing = []
    for key, raw in _raw_values(OmegaConf.to_container(cfg, resolve=False)):
        if "${" not in raw and raw != "???":
            continue
        try:
            OmegaConf.select(cfg, key, throw_on_resolution_failure=True, throw_on_missing=True)
        except Exception as error:  # noqa: BLE001  (any failure is a candidate; the message decides)
            if str(error).splitlines()[0] == message:
                failing.append((key, raw))
    own = [item for item in failing if culprit and culprit[0] in item[1]]
    return (own or failing or [(None, None)])[0]


def _raw_values(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        dotted = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            yield from _raw_values(value, dotted + ".")
        elif isinstance(value, str):
            yield dotted, value
