"""A config file of a model, read as Hydra reads it: its text (UTF-8, a regular file of at most
`MAX_CONFIG_BYTES`), the package its header names, and the verdict of
`xlm.external.configs` on it, remembered per file (`read_config`)."""

from __future__ import annotations

import re
from typing import NamedTuple

from xlm.external.cache import FileMemo
from xlm.external.configs import YamlSyntaxError, check_syntax
from xlm.textfile import read_regular


MAX_CONFIG_BYTES = 1024 * 1024  # far beyond any config; validating one this large takes ~80 MB and ~0.5 s


def _yaml_verdict(value) -> bool:
    """The shape `read_config` stores: [problem or None, line or None, [[value, line], ...], [key, ...], package or None]."""
    return (isinstance(value, list) and len(value) == 5 and isinstance(value[0], (str, type(None)))
            and isinstance(value[1], (int, type(None))) and isinstance(value[2], list)
            and all(isinstance(t, list) and len(t) == 2 and isinstance(t[0], str) and isinstance(t[1], int) for t in value[2])
            and isinstance(value[3], list) and all(isinstance(k, str) for k in value[3]) and isinstance(value[4], (str, type(None))))


class ConfigVerdict(NamedTuple):
    error: YamlSyntaxError | None
    targets: list[tuple[str, int]]
    unplaced: list[str]  # top-level keys of a file whose header is not `# @package _global_`: Hydra nests them under its group
    package: str | None = None  # what its `# @package` header says, if it has one


def read_config(path: str, memo: FileMemo) -> ConfigVerdict:
    """What validation needs of one config file, from ``memo`` while the file is unchanged."""
    signature = memo.signature(path)
    cached = memo.get(path, signature, "yaml", _yaml_verdict) if signature is not None else None
    if cached is not None:
        problem, line, targets, unplaced, package = cached
        return ConfigVerdict(YamlSyntaxError(problem, line) if problem is not None else None, [tuple(t) for t in targets], unplaced,
                             package)
    try:
        text = config_text(path)
        facts = check_syntax(text)  # a header Hydra refuses is its error
        verdict = ConfigVerdict(None, facts.targets, [] if facts.package == "_global_" else facts.keys, facts.package)
    except YamlSyntaxError as exc:
        verdict = ConfigVerdict(exc, [], [])
    if signature is not None:
        memo.put(path, signature, "yaml", [verdict.error and verdict.error.problem, verdict.error and verdict.error.line,
                                           verdict.targets, verdict.unplaced, verdict.package])
    return verdict


def config_text(path: str) -> str:
    """A config file's text, as Hydra will read it: UTF-8, or a `YamlSyntaxError` at the line
    of the first byte that is not (Hydra fails on it with a traceback). A byte order mark
    before a `# @package` header is refused too: Hydra then does not see the header. So is a
    file over `MAX_CONFIG_BYTES`: composing YAML takes ~80 bytes of memory per byte of text."""
    data = read_regular(path, MAX_CONFIG_BYTES)  # OSError for a fifo or a device: never a hang
    if len(data) > MAX_CONFIG_BYTES:
        raise YamlSyntaxError(f"it is larger than {MAX_CONFIG_BYTES // 2**20} MiB; a config holds settings, and data "
                              "belongs in files the model reads", None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(f"it is not valid UTF-8 (byte 0x{data[exc.start]:02x}); Hydra reads configs as UTF-8", line) from None
    if text.startswith("\ufeff") and _PACKAGE_HEADER.search(text[1:]):
        raise YamlSyntaxError("it starts with a byte order mark, which hides its `# @package` header from Hydra", 1)
    return text


_PACKAGE_HEADER = re.compile(r"^#\s*@package\b", re.MULTILINE)
