"""Reading a model's YAML files for validation: syntax, the dotted paths they name, commands.

Validation reads every config file of every model at every start, so it must be cheap. Each
file is composed into YAML nodes by libyaml's C composer, without resolving scalars into
Python values (~30 us for a typical config), which is what finds repeated keys, unknown tags
and aliases that expand without end (all of which OmegaConf refuses, or never finishes, only
when a job composes its config), and the ``_target_``/``update_fn`` values as YAML reads
them. PyYAML is imported on first use only, and not at all when every file's verdict is
remembered (`FileMemo`) from the last start: `xlm.external.config_files` reads the files.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from xlm.external.yaml_values import loaded_key, too_deep, too_long_integer

TARGET_KEYS = ("_target_", "update_fn")  # the keys whose values name Python objects


class YamlSyntaxError(ValueError):
    """A YAML file that does not parse: ``problem`` at 1-based ``line`` (None when unknown)."""

    def __init__(self, problem: str, line: int | None):
        super().__init__(problem)
        self.problem, self.line = problem, line


def _yaml():
    """PyYAML, and what composes a document into nodes: libyaml's composer with no implicit
    resolver (every plain scalar is a string: only collections, keys and explicit tags matter
    here, and resolving each scalar cost ~40% of the time), else PyYAML's own."""
    global _COMPOSER
    import yaml

    if _COMPOSER is None:
        if hasattr(yaml, "CSafeLoader"):
            from yaml._yaml import CParser

            class _Composer(CParser, yaml.resolver.BaseResolver):
                def __init__(self, stream):
                    CParser.__init__(self, stream)
                    yaml.resolver.BaseResolver.__init__(self)

                def descend_resolver(self, current_node, current_index):
                    pass

                def ascend_resolver(self):
                    pass

                def resolve(self, kind, value, implicit):
                    return _DEFAULT_TAGS[kind.id]

            _COMPOSER = _Composer
        else:
            _COMPOSER = yaml.SafeLoader
    return yaml, _COMPOSER


_COMPOSER = None
_DEFAULT_TAGS = {"scalar": "tag:yaml.org,2002:str", "sequence": "tag:yaml.org,2002:seq", "mapping": "tag:yaml.org,2002:map"}


# How deep flow (`[`, `{`) and block collections may each nest: far beyond any config, and far
# below where libyaml's time (quadratic in the flow depth) or its composer, which recurses on the
# C stack (tens of thousands of levels crash the process, a thread's smaller stack sooner), hurt.
MAX_DEPTH = 200
# libyaml's line breaks besides "\n": a column, and so a block depth, restarts after each.
_BREAK = re.compile("[\r\x85\u2028\u2029]")
# What may precede a block collection on its line: a byte-order mark, blanks and the indicators
# that open one in compact form (`- - x`, `? - x`, `: - x`).
_LEAD = re.compile("[\ufeff \t]*(?:[-?:](?:[ \t]+|$))*")


def _too_deep(text: str) -> int | None:
    """The line where flow (`[`, `{`) or block collections first nest deeper than `MAX_DEPTH`,
    else None. libyaml's parser, which keeps its own stack, decides; a bound that holds for
    every file spares parsing twice the files it proves shallow, which are nearly all."""
    if _surely_shallow(text):
        return None
    yaml, _ = _yaml()
    flow = block = 0  # open collections of each kind; flow ones only ever nest inside block ones
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, yaml.CollectionStartEvent):
                if event.flow_style:
                    flow += 1
                else:
                    block += 1
                if max(flow, block) > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                if flow:
                    flow -= 1
                else:
                    block -= 1
    except yaml.YAMLError as exc:  # else composing reports it, with its line
        if "nesting depth" in (getattr(exc, "problem", None) or ""):  # the limit of a newer libyaml, hit as it scans ahead
            mark = getattr(exc, "problem_mark", None)
            return mark.line + 1 if mark is not None else 1
    except UnicodeDecodeError:
        pass
    return None


def _surely_shallow(text: str) -> bool:
    """Whether neither kind can nest too deep. Flow collections nest no deeper than twice the
    brackets that open them (an entry `a: b` or `? a` of a flow sequence is a mapping). A
    block collection starts at a greater column than the one that holds it, but for a
    sequence under a mapping's key, which may start at the key's column; so one that starts
    at column c is at most 2c + 2 deep, and only a line that is long and opens with blanks
    and indicators (`- - - x`) can start one too deep. Splitting on "\n" alone only makes
    lines longer; the long ones are split on every break before their leads are measured."""
    if 2 * (text.count("[") + text.count("{")) > MAX_DEPTH:
        return False
    lines = text.split("\n")
    if 2 * max(map(len, lines)) + 2 <= MAX_DEPTH:
        return True  # the common case, answered in C
    return all(2 * len(_LEAD.match(part).group()) + 2 <= MAX_DEPTH
               for line in lines if 2 * len(line) + 2 > MAX_DEPTH for part in _BREAK.split(line))


def _check_depth(text: str) -> None:
    if (line := _too_deep(text)) is not None:
        raise YamlSyntaxError(f"collections nested more than {MAX_DEPTH} levels deep", line)


def _syntax_error(exc: Exception) -> YamlSyntaxError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return YamlSyntaxError(problem, mark.line + 1 if mark is not None else None)


def _explained(error: YamlSyntaxError, text: str) -> YamlSyntaxError:
    """libyaml's words for two common slips, made plain: a character it refuses (a NUL) gets
    its line, which a reader error lacks; a tab in the indentation is named."""
    if error.line is None and "unacceptable character" in error.problem and (at := re.search(r"#x([0-9a-f]+)", error.problem)):
        char = chr(int(at.group(1), 16))
        if char in text:
            return YamlSyntaxError(error.problem, text.count("\n", 0, text.index(char)) + 1)
    if error.line is not None and "cannot start any token" in error.problem:
        line = text.split("\n")[error.line - 1] if error.line <= text.count("\n") + 1 else ""
        if "\t" in line[: len(line) - len(line.lstrip())]:
            return YamlSyntaxError(f"{error.problem} (a tab: YAML indents with spaces only)", error.line)
    return error


class ConfigFacts(NamedTuple):
    """What validation reads from a config file besides its syntax."""

    targets: list[tuple[str, int]]  # (value, line) of each `_target_`/`update_fn`
    keys: list[str]  # its top-level keys (a mapping's; [] for anything else)
    package: str | None = None  # what its `# @package` header says, if it has one


def check_syntax(text: str) -> ConfigFacts:
    """The `ConfigFacts` of ``text``; raise `YamlSyntaxError`
    when ``text`` is not one YAML document that OmegaConf and Hydra load: a header line Hydra
    refuses, nesting deeper than they recurse, text that does not parse, a key twice in a
    mapping or one OmegaConf cannot hold, a tag no safe loader knows (`!!python/...`) or whose
    value OmegaConf cannot hold, an integer Python will not convert, or aliases that expand
    without end (a "billion laughs" file, on which composing the job's config would never
    end). A target's value is read as YAML reads it (quoted, folded,
    through an anchor); one that is not a plain string is given as its text (`[a, b]`)."""
    package = hydra_header(text).get("package")
    _check_depth(text)
    yaml, loader = _yaml()
    try:
        composer = loader(text)
        try:
            node = composer.get_single_node()
        finally:
            composer.dispose()
    except yaml.composer.ComposerError as exc:  # a second document, an alias to no anchor: the context says which
        error = _syntax_error(exc)
        raise YamlSyntaxError(f"{exc.context}, {error.problem}" if exc.context else error.problem, error.line) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _explained(_syntax_error(exc), text) from None
    if node is None:
        return ConfigFacts([], [], package)
    targets = _check_document(node, text)
    for problem in (too_deep(node), too_long_integer(node, text)):
        if problem is not None:
            raise YamlSyntaxError(*problem)
    keys = [str(key.value) for key, _ in node.value if isinstance(key.value, str)] if node.id == "mapping" else []
    return ConfigFacts(targets, keys, package)


MAX_VALUES = 1_000_000  # what a document may hold once its aliases are expanded (OmegaConf copies each)
_SAFE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                       ("null", "bool", "int", "float", "binary", "omap", "pairs", "str", "seq", "map", "merge"))
_NO_OMEGACONF_TYPE = {"tag:yaml.org,2002:set": "a set", "tag:yaml.org,2002:timestamp": "a date"}  # safe YAML, no OmegaConf value
_NULLS = ("", "~", "null", "Null", "NULL")


def _check_document(root, text: str) -> list[tuple[str, int]]:
    """Check the composed nodes (keys, tags, the size aliases expand to) and collect the targets.

    Only collections are visited unless the text has a tag (`!`); only a text with an alias
    (`*`) can share nodes, so only then is each node's expanded size counted (once each)."""
    if "*" in text:
        return _check_shared(root, text)
    targets: list[tuple[str, int]] = []
    tagged = "!" in text
    stack = [root]
    while stack:
        node = stack.pop()
        if tagged and node.tag not in _SAFE_TAGS:
            raise _tag_error(node)
        if node.id == "mapping":
            _check_mapping(node, text, targets)
            stack += [part for pair in node.value for part in pair if tagged or part.id != "scalar"]
        elif node.id == "sequence":
            stack += [item for item in node.value if tagged or item.id != "scalar"]
    return sorted(targets, key=lambda target: target[1])


def _check_shared(root, text: str) -> list[tuple[str, int]]:
    """`_check_document` where aliases share nodes: each is visited once, and a node an alias
    inside it points back to, or one whose expansion passes `MAX_VALUES`, is refused."""
    targets: list[tuple[str, int]] = []
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack[-1]
        if id(node) in sizes:
            stack.pop()
            continue
        children = [part for pair in node.value for part in pair] if node.id == "mapping" else \
            node.value if node.id == "sequence" else []
        if id(node) not in open_nodes:  # first visit: check it, then its children
            open_nodes.add(id(node))
            if node.tag not in _SAFE_TAGS:
                raise _tag_error(node)
            if node.id == "mapping":
                _check_mapping(node, text, targets)
            for child in children:
                if id(child) in open_nodes and id(child) not in sizes:
                    raise YamlSyntaxError("an alias refers to a node that holds it (the value would be infinite)", child.start_mark.line + 1)
                stack.append(child)
            continue
        stack.pop()
        sizes[id(node)] = size = 1 + sum(sizes[id(child)] for child in children)
        if size > MAX_VALUES:
            raise YamlSyntaxError(f"its aliases expand to more than {MAX_VALUES:,} values", node.start_mark.line + 1)
    return sorted(targets, key=lambda target: target[1])


def _check_mapping(node, text: str, targets: list[tuple[str, int]]) -> None:
    """No key twice (a merge key `<<` aside), as YAML reads keys (`1` and `0x1`, `true` and
    `yes` are one); the `_target_`/`update_fn` values, as YAML reads them."""
    seen: dict = {}
    for key, value in node.value:
        if key.id != "scalar":  # `? [a, b]`: YAML allows it, OmegaConf cannot hold it
            raise YamlSyntaxError("a key that is a list or a mapping: OmegaConf's keys are strings, numbers and booleans",
                                  key.start_mark.line + 1)
        if key.tag.endswith(":null") or (not key.style and key.value in _NULLS):
            raise YamlSyntaxError(f"a key that is null ('{key.value}'): OmegaConf's keys are strings, numbers and booleans "
                                  "(quote it to make it a string)", key.start_mark.line + 1)
        if key.value == "<<":
            continue
        same = loaded_key(key, text)
        if same in seen:
            alike = f" (YAML reads '{seen[same]}' and '{key.value}' as one key)" if seen[same] != key.value else ""
            raise YamlSyntaxError(f"the key '{key.value}' appears twice in one mapping{alike}", key.start_mark.line + 1)
        seen[same] = key.value
        if key.value in TARGET_KEYS and not (value.id == "scalar" and "${" in value.value):  # ${...}: Hydra's to resolve
            shown = value.value if value.id == "scalar" and value.tag.endswith(":str") else \
                text[value.start_mark.index:value.end_mark.index]
            targets.append((shown, value.start_mark.line + 1))


def _tag_error(node) -> YamlSyntaxError:
    tag = node.tag.removeprefix("tag:yaml.org,2002:")
    if node.tag in _NO_OMEGACONF_TYPE:
        return YamlSyntaxError(f"the tag '{tag}' makes {_NO_OMEGACONF_TYPE[node.tag]}, which OmegaConf cannot hold", node.start_mark.line + 1)
    return YamlSyntaxError(f"the tag '{tag}' is not one a safe YAML loader knows", node.start_mark.line + 1)


def hydra_header(text: str) -> dict[str, str]:
    """The header as `ConfigSource._get_header_dict` reads it: the leading `# @KEY VALUE` lines
    (blank lines skipped; any other line, a plain comment too, ends it, so a header below a
    comment is no header), each split on spaces only, the last of a key winning. A header line
    Hydra refuses (one word, three, or words separated by a tab) raises `YamlSyntaxError` at
    its line: every job that loads the file would fail on it, naming no file."""
    header = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not re.match(r"#\s*@", line):
            break
        words = [word for word in line.lstrip("#").strip().split(" ") if word]
        if len(words) != 2:
            from xlm.shown import show

            shown = show(line).replace("\t", "\\t")
            raise YamlSyntaxError(f"Hydra refuses the header line '{shown}': it reads `# @KEY VALUE`, two words "
                                  "separated by spaces (a line that starts with `# @` is a header line)", number)
        if words[0].startswith("@"):
            header[words[0][1:]] = words[1]
    return header


class CommandLine(NamedTuple):
    """One entry of ``commands.yaml``; ``function`` is None when the entry is malformed."""

    name: str
    function: str | None
    help: str
    line: int
    unknown: tuple[str, ...] = ()  # keys of the long form other than `function` and `help`


def command_lines(text: str) -> list[CommandLine] | None:
    """Entries of ``commands.yaml`` (``name: fn`` or ``name: {function: fn, help: ...}``); None if not a mapping."""
    _check_depth(text)
    yaml, loader = _yaml()
    try:
        node = yaml.compose(text, Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _explained(_syntax_error(exc), text) from None
    except RecursionError:  # block collections nested deeper than PyYAML's composer recurses
        raise YamlSyntaxError("collections nested too deep to read", None) from None
    if node is None:
        return []
    if not node.tag.endswith(":map"):
        return None
    entries = []
    for key, item in node.value:
        pairs = item.value if item.tag.endswith(":map") else []
        fields = {k.value: v.value for k, v in pairs if isinstance(v.value, str)}
        function = item.value if item.tag.endswith(":str") else fields.get("function")
        function = function if isinstance(function, str) else None
        unknown = tuple(str(k.value) for k, _ in pairs if k.value not in ("function", "help"))
        entries.append(CommandLine(str(key.value), function, fields.get("help", ""), key.start_mark.line + 1, unknown))
    return entries
