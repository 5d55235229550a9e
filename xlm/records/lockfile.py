"""The lock format: `xlm.lock` (xpm's pins) and, through `xlm.records.runs`, a run's `models.lock`.

TOML read with the stdlib's tomllib (fast: xlm's start-up and a warm `xpm install` read it):
a `version`, then one `[[model]]` table per model. Both files are written by the few lines
at the end of this module (`toml_line`): flat tables of strings, booleans and lists of
strings, one list item per line, so the same record gives the same bytes and a diff shows
each change (xpm writes `xlm.lock` through `xpm.lock`). Readers ignore keys they do not know
(room for `dependencies = [...]` per model and a top-level `[[override]]` later) and refuse
a newer `version` with a clear message instead of guessing.

Version 2 adds each git model's declared Python requirements (`requires`, `requires-python`,
read from the locked tree), so a reviewer sees them in the diff. A version 1 lock is still
read: its entries have none recorded (None), and whoever needs them reads the vendored
folder, which the content hash pins; the next write records them.

The lock is hostile input like `.xlm_models` (a pull request can change it): it is read by
`xlm.textfile`, and every value is checked as if it came from `.xlm_models` (the source,
ref and subdir must be a line xpm could have written, the name a valid model name, the
package an identifier, no control characters anywhere), with file:line and the fix.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Callable, NamedTuple

from xlm.manifest import (CREDENTIAL_HELPERS, RESERVED_NAMES, CredentialsError, Entry, GitSource, LocalSource,
                          ManifestError, control_problem, name_problem, parse_line, show)
from xlm.records.treehash import ALGORITHM
from xlm.textfile import BOM, TextFileError, lines, read_text, toml_error

LOCK_NAME = "xlm.lock"
VERSION = 2  # 2: requires / requires-python per git model
READABLE_VERSIONS = (1, 2)
LOCK_FIX = "restore it from version control, or delete it and run `xpm lock` to regenerate it"
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # sha1 or sha256 object ids, as git writes them
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# What git's ref rules forbid anywhere in a name (besides `..` and `@{`): controls, space, `~^:?*[\\`, DEL.
_REF_FORBIDDEN = frozenset(" ~^:?*[\\\x7f" + "".join(map(chr, range(32))))
MAX_REQUIRES = 500  # as many as xlm.requirements reads from a model


class LockFileError(ValueError):
    """A file in the lock format that cannot be read: `what` names the file and line, `fix` says how."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        return f"error: {self.what}\n  fix: {self.fix}"


class LockEntry(NamedTuple):
    """One locked model. Git entries carry everything; local ones only their name and path."""

    name: str
    kind: str  # "git" or "local"
    source: str  # normalised URL for git, the entry as written for local
    requested: str | None = None  # the ref asked for in .xlm_models (None: newest tag / default branch)
    resolved: str | None = None  # full ref it resolved to ("refs/tags/v1.2.0"), "" for a commit
    commit: str | None = None
    subdir: str | None = None
    hash: str | None = None
    package: str | None = None
    requires: tuple[str, ...] | None = None  # the model's declared requirements (None: not recorded, a version 1 lock)
    requires_python: str | None = None  # its `requires-python`

    def matches(self, entry: Entry) -> bool:
        """True when this lock entry was made from exactly this `.xlm_models` entry."""
        src = entry.source
        if isinstance(src, GitSource):
            return (self.kind, self.source, self.requested, self.subdir) == ("git", src.url, src.ref, src.subdir)
        return (self.kind, self.source) == ("local", entry.text)

    def pins_commit(self) -> bool:
        """Whether it was locked from a commit id (or an annotated tag's own id), which names that
        commit for good: `xpm update` reads no ref again for it."""
        return self.kind == "git" and self.requested is not None and self.resolved == ""

    def spec(self) -> str:
        if self.kind == "local":
            return self.source
        return GitSource(self.source, self.requested, self.subdir).named(self.name).spec()


# The TOML key of a field, where it differs from the field's name.
_KEYS = {"requires_python": "requires-python"}


def toml_key(field_name: str) -> str:
    return _KEYS.get(field_name, field_name)


def local_entry(entry: Entry) -> LockEntry:
    assert isinstance(entry.source, LocalSource)
    return LockEntry(entry.name, "local", entry.text)


class Lock(NamedTuple):
    entries: dict[str, LockEntry]

    def get(self, name: str) -> LockEntry | None:
        return self.entries.get(name)


# ----------------------------------------------------------------------------- the format
class Table(NamedTuple):
    """One `[[model]]` (or `[[override]]`) table as read: its values, and where each key is written."""

    values: dict
    start: int | None  # the line of `[[model]]`
    where: Callable[[str], str]  # key -> "path:line" of `key = ...` (else the table's line)

    @property
    def at(self) -> str:
        return self.where("")


def load(text: str, path: Path | str, fix: str, tool: str = "xpm", newest: int = VERSION,
         readable: tuple[int, ...] = READABLE_VERSIONS) -> tuple[dict, list[Table]]:
    """The TOML document and its `[[model]]` tables, after the checks every reader makes:
    valid TOML, a `version` this reader knows (a newer one says "upgrade `tool`"), tables."""

    def fail(problem: str, line: int | None, fix: str) -> LockFileError:
        return LockFileError(f"{path}:{line}: {problem}" if line else f"{path}: {problem}", fix)

    return tables(text, path, "model", "lock format", fix, fail, f"upgrade {tool}", tool, newest, readable)


def tables(text: str, path: Path | str, array: str, kind: str, fix: str, fail: Callable[[str, int | None, str], Exception],
           upgrade: str, tool: str, newest: int, readable: tuple[int, ...]) -> tuple[dict, list[Table]]:
    """The checks every reader of a versioned file of `[[array]]` tables makes (the lock, and
    `xlm.overrides.toml`): valid TOML, a `version` it knows, an array of tables, each with the
    line it starts at. `fail(problem, line, fix)` makes the reader's own error."""
    import tomllib

    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except ValueError as exc:  # TOMLDecodeError, or an integer too long for Python
        raise fail(*toml_error(exc, text.removeprefix(BOM)), fix) from None
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise fail(f"no `version = {newest}` line", 1, fix)
    if version > newest:
        raise fail(f"{kind} version {version} is newer than this {tool} understands ({newest})", None, upgrade)
    if version not in readable:
        raise fail(f"unknown {kind} version {version}", 1, fix)
    found = data.get(array, [])
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        raise fail(f"`{array}` must be an array of tables ([[{array}]])", None, fix)
    text_lines = lines(text)
    starts = [n for n, line in enumerate(text_lines, start=1) if line.strip() == f"[[{array}]]"]
    out = []
    for index, table in enumerate(found):
        start = starts[index] if index < len(starts) else None
        out.append(Table(table, start, lambda key, start=start: _key_where(path, text_lines, start, key)))
    return data, out


def _key_where(path: Path | str, text_lines: list[str], start: int | None, key: str) -> str:
    """`path:line` of `key = ...` in the table that starts at line `start` (else the table's line)."""
    if start is None:
        return f"{path}:?"
    if key:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start + 1, len(text_lines) + 1):
            line = text_lines[number - 1].strip()
            if line.startswith("["):
                break
            if pattern.match(line):
                return f"{path}:{number}"
    return f"{path}:{start}"


def check_types(table: Table, keys, fix: str, lists: tuple[str, ...] = ("requires",)) -> None:
    """Each of `keys` present is a string (a list of strings for `lists`)."""
    for key in keys:
        value = table.values.get(key)
        if value is None:
            continue
        if key in lists:
            if not isinstance(value, list) or not all(isinstance(r, str) for r in value) or len(value) > MAX_REQUIRES:
                raise LockFileError(f"{table.where(key)}: `{key}` must be a list of strings", fix)
        elif not isinstance(value, str):
            raise LockFileError(f"{table.where(key)}: `{key}` must be a string", fix)


def check_controls(table: Table, keys, fix: str) -> None:
    """No value of `keys` (strings, or lists of them) holds a control character."""
    for key in keys:
        value = table.values.get(key)
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str) and (problem := control_problem(one)):
                raise LockFileError(f"{table.where(key)}: `{key}` holds a {problem}", fix)


def check_name(table: Table, fix: str) -> str:
    name = table.values.get("name")
    if not isinstance(name, str):
        raise LockFileError(f"{table.at}: [[model]] without a string `name`", fix)
    if problem := control_problem(name) or name_problem(name):
        raise LockFileError(f"{table.where('name')}: {problem}", fix)
    return name


def is_commit_id(value) -> bool:
    """A full object id in git's own spelling (lowercase hex), the only one a lock holds."""
    return isinstance(value, str) and _COMMIT.fullmatch(value) is not None


def check_commit(table: Table, fix: str) -> None:
    commit = table.values.get("commit")
    if commit is not None and not is_commit_id(commit):
        raise LockFileError(f"{table.where('commit')}: '{show(commit)}' is not a full commit id", fix)


def check_hash(table: Table, fix: str, tool: str = "xpm") -> None:
    value = table.values.get("hash")
    if value is None:
        return
    algorithm, _, digest = value.partition(":")
    if algorithm != ALGORITHM:
        raise LockFileError(f"{table.where('hash')}: unknown hash algorithm '{show(algorithm)}'", f"upgrade {tool}, or " + fix)
    if not _DIGEST.match(digest):
        raise LockFileError(f"{table.where('hash')}: '{show(value)}' is not a {ALGORITHM} hash", fix)


def is_tag_or_branch(ref: str) -> bool:
    """Whether `ref` is a `refs/tags/...` or `refs/heads/...` name git itself would make (no
    component empty, starting with `.` or `-`, or ending with `.` or `.lock`)."""
    prefix = next((p for p in ("refs/tags/", "refs/heads/") if ref.startswith(p)), None)
    if prefix is None or ".." in ref or "@{" in ref or not _REF_FORBIDDEN.isdisjoint(ref):
        return False
    return all(part and part[0] not in ".-" and not part.endswith((".", ".lock")) for part in ref[len(prefix):].split("/"))


def check_resolved(table: Table, fix: str) -> None:
    """`resolved` is a tag or branch, and one resolution could make of `requested` (xpm/resolve.py):
    a branch only by its own name or as the default branch (no ref), a commit id never as a tag
    or branch; a version query may pick any tag, which only its versions could tell."""
    resolved, requested = table.values.get("resolved") or "", table.values.get("requested")
    if resolved and not is_tag_or_branch(resolved):
        raise LockFileError(f"{table.where('resolved')}: '{show(resolved)}' is not a tag or branch (refs/tags/..., refs/heads/...)", fix)
    if not isinstance(requested, str):
        return
    full_id = is_commit_id(requested.lower())  # git reads a commit id in either case
    if (resolved.startswith("refs/heads/") and resolved != f"refs/heads/{requested}") or (resolved and full_id) or (
            not resolved and not all(c in "0123456789abcdefABCDEF" for c in requested)):
        raise LockFileError(f"{table.where('resolved')}: '{show(resolved)}' cannot be what '{show(requested)}' resolves to", fix)


def check_package(table: Table, fix: str) -> None:
    package = table.values.get("package")
    if package is not None and (not package.isidentifier() or keyword.iskeyword(package)):
        raise LockFileError(f"{table.where('package')}: '{show(package)}' is not a Python package name", fix)


def check_git_source(table: Table, fix: str) -> None:
    """`source`, `requested` and `subdir` together are a line `.xlm_models` could hold (under any
    name `check_name` accepts: `#name=` gives one)."""
    values = table.values
    if values["name"] in RESERVED_NAMES:
        raise LockFileError(f"{table.where('name')}: '{values['name']}' is reserved for a core model of xlm", fix)
    expected = GitSource(values["source"], values.get("requested"), values.get("subdir"))
    _check_spec(table, expected.spec(), expected, fix)


def check_local_source(table: Table, fix: str) -> None:
    _check_spec(table, table.values["source"], None, fix)


def _check_spec(table: Table, spec: str, expected: GitSource | None, fix: str) -> None:
    name, kind = table.values["name"], "git" if expected is not None else "local"
    try:
        entry = parse_line(spec)
    except CredentialsError as exc:
        if fix == LOCK_FIX:
            fix = f"remove them from .xlm_models, delete xlm.lock and run `xpm lock`; let git supply them: {CREDENTIAL_HELPERS}"
        raise LockFileError(f"{table.where('source')}: {exc.what}", fix) from None
    except ManifestError as exc:
        raise LockFileError(f"{table.where('source')}: model '{name}': {exc.what}", fix) from None
    if entry is None or entry.text != spec or (expected is not None and entry.source != expected) or \
            (expected is None and not isinstance(entry.source, LocalSource)):
        what = f"model '{name}': '{show(spec)}' is not a {kind} source as .xlm_models writes it"
        raise LockFileError(f"{table.where('source')}: {what}", fix)
    if expected is None and entry.name != name:
        raise LockFileError(f"{table.where('name')}: model '{name}' has the source of a model named '{entry.name}'", fix)


# ----------------------------------------------------------------------------- xlm.lock
def parse_lock(text: str, path: Path | str = LOCK_NAME) -> Lock:
    """The lock in `text`; raises `LockFileError` (file:line, fix) for anything xpm could not have written."""
    _, tables = load(text, path, LOCK_FIX)
    known = {toml_key(name): name for name in LockEntry._fields}
    entries: dict[str, LockEntry] = {}
    for table in tables:
        for key in ("name", "kind", "source"):
            if not isinstance(table.values.get(key), str):
                raise LockFileError(f"{table.at}: [[model]] without a string `{key}`", LOCK_FIX)
        values = {k: v for k, v in table.values.items() if k in known}
        check_types(table, values, LOCK_FIX)
        kind, name = values["kind"], values["name"]
        if kind not in ("git", "local"):
            raise LockFileError(f"{table.at}: unknown kind '{show(kind)}' (expected git or local)", "upgrade xpm, or " + LOCK_FIX)
        if kind == "git":
            if not all(isinstance(values.get(k), str) for k in ("commit", "hash")):
                raise LockFileError(f"{table.at}: git model '{show(name)}' lacks `commit` or `hash`", LOCK_FIX)
            check_commit(table, LOCK_FIX)
            check_hash(table, LOCK_FIX)
        check_controls(table, table.values, LOCK_FIX)  # unknown keys too: no xpm writes a control character
        check_resolved(table, LOCK_FIX)
        if kind == "local" and {"requires", "requires-python"} & values.keys():
            raise LockFileError(f"{table.where('requires')}: local model '{name}' has requirements recorded; "
                                "xpm records them for git models only", LOCK_FIX)
        check_name(table, LOCK_FIX)
        check_package(table, LOCK_FIX)
        (check_git_source if kind == "git" else check_local_source)(table, LOCK_FIX)
        if name in entries:
            raise LockFileError(f"{table.at}: model '{name}' is locked twice", LOCK_FIX)
        if "requires" in values:
            values["requires"] = tuple(values["requires"])
        entries[name] = LockEntry(**{known[k]: v for k, v in values.items()})
    return Lock(entries)


def read_lock(path: Path) -> Lock | None:
    """The lock at `path`, or None when there is none yet."""
    try:
        text = read_text(path)
    except TextFileError as exc:
        raise LockFileError(str(exc), exc.fix if exc.line is None else LOCK_FIX) from None
    return None if text is None else parse_lock(text, path)


def read_lock_entry(project_dir: Path, name: str) -> dict | None:
    """Model `name`'s table of `<project>/xlm.lock` as a dict of its set fields (None when not
    locked). Raises `LockFileError` (file and line) when the lock is malformed."""
    lock = read_lock(Path(project_dir) / LOCK_NAME)
    entry = lock.get(name) if lock else None
    return {k: v for k, v in entry._asdict().items() if v is not None} if entry else None


# ----------------------------------------------------------------------------- writing
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def toml_string(value: str) -> str:
    """A TOML basic string: TOML's short escapes, `\\uXXXX` for the other controls, every other
    character as itself; a byte that is not UTF-8 (a surrogate from `os.fsdecode`, in a
    recorded path) becomes the text `\\xNN`."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    return "".join(out) + '"'


def toml_line(key: str, value) -> str:
    """`key = value` and its line break (``key`` as written: a bare TOML key): a string, a
    boolean, or a list of strings (one item per line)."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        shown = "[]" if not value else "[\n" + "".join(f"    {toml_string(v)},\n" for v in value) + "]"
    else:
        shown = toml_string(str(value))
    return f"{key} = {shown}\n"
