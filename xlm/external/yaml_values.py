"""What OmegaConf can hold of a composed YAML document (libyaml's nodes, nothing resolved):
how deep it nests, which integers Python converts, which keys two spellings make one.

`xlm.external.configs` reads a config file and refuses what OmegaConf or Hydra would fail on
only when a job composes it; these are its rules about values, each a pure function of the
nodes (the problem and its line, or None), so that the reader keeps the reading.
"""

from __future__ import annotations

import re
import sys

# How deep collections may nest in a config OmegaConf loads: OmegaConf and Hydra recurse several
# frames per level, and Python's stack ends before 100 levels (a RecursionError that Hydra's
# message blames on the defaults list). `configs.MAX_DEPTH` is libyaml's bound, checked before composing.
OMEGACONF_DEPTH = 32


def too_deep(root) -> tuple[str, int] | None:
    """No collection nests more than `OMEGACONF_DEPTH` levels, counted as OmegaConf copies them
    (through aliases: each node's height is computed once; the caller refused cycles). The
    problem and its line, or None."""
    heights: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in heights or node.id == "scalar":
            continue
        children = [part for pair in node.value for part in pair] if node.id == "mapping" else node.value
        children = [child for child in children if child.id != "scalar"]
        if not children_done:
            stack.append((node, True))
            stack += [(child, False) for child in children if id(child) not in heights]
            continue
        heights[id(node)] = height = 1 + max((heights[id(child)] for child in children), default=0)
        if height > OMEGACONF_DEPTH:
            return (f"collections nested more than {OMEGACONF_DEPTH} levels deep (OmegaConf and Hydra recurse "
                    "once per level, and Python's stack ends before 100)", node.start_mark.line + 1)
    return None


_INT_TAG = "tag:yaml.org,2002:int"
# What YAML 1.1 reads as an integer (PyYAML's resolver, which OmegaConf's loader keeps): binary,
# hexadecimal, octal, decimal and base 60 (1:30:00); underscores are ignored.
_YAML_INT = re.compile(r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|0|[1-9][0-9_]*|[1-9][0-9_]*(?::[0-5]?[0-9])+)")


def too_long_integer(root, text: str) -> tuple[str, int] | None:
    """No integer Python cannot read or write in decimal (`sys.get_int_max_str_digits`, 4,300
    digits by default): loading a decimal one fails, and printing or saving the job's config
    fails for any other base, each with Python's message and no file. The nodes are walked
    only when the text holds a run of characters long enough for such a number. The problem
    and its line, or None."""
    limit = sys.get_int_max_str_digits()
    if not limit or not re.search(rf"[0-9a-fA-F_:]{{{int(limit * 0.83)},}}", text):  # 0.83: a hexadecimal digit's worth
        return None
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias shares its node
            continue
        seen.add(id(node))
        if node.id == "mapping":
            stack += [part for pair in node.value for part in pair]
        elif node.id == "sequence":
            stack += node.value
        elif node.tag == _INT_TAG or not node.style:  # tagged !!int (quoted too), or plain: libyaml says "", PyYAML None
            digits = _decimal_digits(node.value) if _YAML_INT.fullmatch(node.value) else None
            if digits is not None and digits > limit:
                return (f"an integer of {digits:,} digits: Python reads and writes at most {limit:,} (quote it "
                        "to keep it as a string, or write a smaller number)", node.start_mark.line + 1)
    return None


def _decimal_digits(value: str) -> int:
    """How many decimal digits the YAML integer `value` has (as PyYAML reads it), computed
    without converting it to or from decimal."""
    digits = value.replace("_", "").lstrip("+-")
    if digits.isdigit() and not (digits.startswith("0") and len(digits) > 1):  # decimal
        return len(digits)
    number = _unsigned_int(digits)
    return len(digits) if number == 0 else int(number.bit_length() * 0.30103) + 1  # log10(2)


def _unsigned_int(digits: str) -> int:
    """A YAML integer without sign or underscores, as PyYAML reads it: base 60 (`1:30`),
    binary, hexadecimal, octal (a leading 0), else decimal."""
    if ":" in digits:
        number = 0
        for part in digits.split(":"):
            number = number * 60 + int(part)
        return number
    if digits.startswith(("0b", "0x")):
        return int(digits[2:], 2 if digits[1] == "b" else 16)
    return int(digits, 8) if digits.startswith("0") and len(digits) > 1 else int(digits)


_BOOLS = {word: value for value, words in ((True, "yes true on"), (False, "no false off"))
          for word in words.split() for word in (word, word.capitalize(), word.upper())}  # YAML 1.1, as PyYAML reads them
# Plain scalars that load as floats: PyYAML's rule, then the one OmegaConf's loader adds (`1e3`, no dot).
_YAML_FLOAT = re.compile(r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)""", re.X)
_OMEGACONF_FLOAT = re.compile(r"""[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
    |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?|[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*""", re.X)
_TAG = "tag:yaml.org,2002:"
_NUMBER_START = tuple("-+0123456789.")  # where an integer or a float can start (PyYAML's resolvers)


def loaded_key(key, text: str):
    """What a scalar key of the document ``text`` is once OmegaConf's loader has read it, as
    far as two spellings can meet in the mapping it builds: a boolean, integer or float
    (`True == 1 == 1.0` in Python too), else its text. A tag written on it decides its type (the
    node's span in ``text`` starts at its anchor or tag); a key quoted without one is text."""
    value, start = key.value, key.start_mark.index
    tag = _written_tag(key, text[start:key.end_mark.index]) if text[start:start + 1] in ("!", "&") else None
    if tag is None and (key.style or value[:1] not in _NUMBER_START and value not in _BOOLS):  # most keys: a name
        return ("text", value)
    if tag == _TAG + "str" or len(value) > 100:  # no one writes a longer number twice
        return ("text", value)
    if tag in (None, _TAG + "bool") and value in _BOOLS:
        return _BOOLS[value]
    if tag in (None, _TAG + "int") and _YAML_INT.fullmatch(value):
        digits = value.replace("_", "")
        return (-1 if digits.startswith("-") else 1) * _unsigned_int(digits.lstrip("+-"))
    if tag in (None, _TAG + "float") and (_YAML_FLOAT.fullmatch(value) or _OMEGACONF_FLOAT.fullmatch(value) or tag):
        try:
            return _float(value)
        except ValueError:  # `!!float x`: the loader refuses it, not as a key written twice
            pass
    return ("text", value)


def _written_tag(key, written: str) -> str | None:
    """The key's tag when the file writes one (`!!str 1`, `&a !!int 2`), else None."""
    for word in written.split():
        if word.startswith("!"):
            return key.tag
        if not word.startswith("&"):
            return None
    return None


def _float(value: str):
    """A YAML float as PyYAML's constructor reads it; every `.nan` is its one NaN object."""
    value = value.replace("_", "").lower()
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    if value == ".inf":
        return sign * float("inf")
    if value == ".nan":
        return ("float", "nan")  # one key, as PyYAML's single NaN makes it; equal to no number
    if ":" in value:
        number = 0.0
        for part in value.split(":"):
            number = number * 60 + float(part)
        return sign * number
    return sign * float(value)
