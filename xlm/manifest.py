"""The `.xlm_models` file: its grammar, its parser and line-preserving edits.

Shared by `xlm` (discovery) and `xpm` (add, remove, install), so it imports nothing heavy.

One entry per line; ``#`` at the start of a line or after white space starts a comment
(``#subdir=`` glued to a git source is part of the source); blank lines are ignored. An
entry is one of:

- a local model name: ``my_model`` (looked up on disk, see ``xlm.external.discovery``);
- a local path: ``./examples/zlm``, ``../models/zlm``, ``/abs/zlm``, ``~/zlm`` (the name is
  the folder's name);
- a git source: ``github.com/lab/zlm``, ``https://host/g/m.git``, ``ssh://git@host/lab/m.git``,
  ``git@host:lab/m.git``, ``file:///abs/repo.git``, each optionally followed by ``@REF``
  (tag, branch, commit or version query such as ``v1`` or ``>=1.2,<2``) and
  ``#subdir=path/in/repo``. The name is the subdir's last component, else the repository's
  (without ``.git``).
"""

from __future__ import annotations

import keyword
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODELS_FILE_NAME = ".xlm_models"
# The first line of a models file that `xpm add` or `xpm new` creates.
NEW_FILE_HEADER = (
    "# Models this project uses, one per line: a name, a ./path or a git source[@ref] (see docs/xpm.md); "
    "'#' starts a comment.\n"
)

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMMENT_RE = re.compile(r"(^|\s)#.*$")
_SCP_RE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>.+)$")


class ManifestError(ValueError):
    """A line of a models file (or an ``xpm add`` argument) that cannot be understood."""

    def __init__(self, what: str, fix: str, file: Path | str | None = None, line: int | None = None):
        where = f"{file}:{line}: " if file is not None and line is not None else (f"{file}: " if file else "")
        super().__init__(f"{where}{what}")
        self.what, self.fix, self.file, self.line = what, fix, file, line


@dataclass(frozen=True)
class LocalSource:
    """A model on disk: found by name (``path`` is None) or at ``path`` as written."""

    path: str | None = None

    def __str__(self) -> str:
        return self.path or "local"


@dataclass(frozen=True)
class GitSource:
    """A model in a git repository; ``ref`` is what the user asked for, not yet resolved."""

    url: str
    ref: str | None = None
    subdir: str | None = None

    def spec(self) -> str:
        """The entry as it is written in `.xlm_models` (normalised URL)."""
        text = self.url + (f"@{self.ref}" if self.ref else "")
        return text + (f"#subdir={self.subdir}" if self.subdir else "")

    def __str__(self) -> str:
        return self.spec()


Source = LocalSource | GitSource


@dataclass(frozen=True)
class Entry:
    """One model line of a models file."""

    name: str
    source: Source
    text: str  # the entry as written, without comment
    file: Path | None = None
    line: int | None = None

    @property
    def is_git(self) -> bool:
        return isinstance(self.source, GitSource)

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file is not None else "<command line>"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model name, or None when it can."""
    if not _NAME_RE.match(name):
        return f"'{name}' is not a valid model name (use a lowercase identifier such as my_model)"
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword and cannot be a model name"
    return None


def _split_git(spec: str) -> tuple[str, str, str | None, str | None]:
    """Split a git source into (url as written, path part, ref, subdir)."""
    subdir = None
    if "#" in spec:
        spec, fragment = spec.split("#", 1)
        key, _, value = fragment.partition("=")
        if key != "subdir" or not value.strip("/"):
            raise ValueError(f"unknown fragment '#{fragment}' (only '#subdir=path/in/repo' is supported)")
        subdir = value.strip("/")
        if any(part in ("", ".", "..") for part in subdir.split("/")):
            raise ValueError(f"subdir '{value}' must be a plain relative path inside the repository")
    if "://" in spec:
        scheme, rest = spec.split("://", 1)
        slash = rest.find("/")
        if slash < 0:
            raise ValueError(f"'{spec}' has no repository path")
        prefix, path = f"{scheme}://{rest[:slash]}", rest[slash:]
    elif (m := _SCP_RE.match(spec)) and "/" not in m.group("host"):
        prefix, path = f"{m.group('user')}@{m.group('host')}:", m.group("path")
    else:
        host, slash, path = spec.partition("/")
        if not slash or "." not in host:
            raise ValueError(f"'{spec}' is neither a model name, a path (./name) nor a git source (host/path)")
        prefix, path = "https://" + host, "/" + path
    ref = None
    if "@" in path:
        path, ref = path.split("@", 1)
        if not ref:
            raise ValueError("'@' must be followed by a tag, branch, commit or version query")
    path = path.rstrip("/")
    if not path.strip("/"):
        raise ValueError(f"'{spec}' has no repository path")
    return prefix + path, path, ref, subdir


def parse_source(spec: str) -> tuple[str, Source]:
    """Parse one entry (without comment) into its model name and source.

    Raises ValueError with a message that says what is wrong with ``spec``.
    """
    spec = spec.strip()
    if spec.startswith((".", "/", "~")):
        name = Path(os.path.expanduser(spec)).name
        if problem := name_problem(name):
            raise ValueError(problem)
        return name, LocalSource(spec)
    if "/" not in spec and ":" not in spec and "#" not in spec and "@" not in spec:
        if problem := name_problem(spec):
            raise ValueError(problem)
        return spec, LocalSource()
    url, path, ref, subdir = _split_git(spec)
    where = (subdir or path).rstrip("/")
    if not subdir and where.endswith("/.git"):  # file:///abs/repo/.git names the repository `repo`
        where = where[: -len("/.git")]
    last = where.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    name = last[: -len(".git")] if last.endswith(".git") else last
    if problem := name_problem(name):
        raise ValueError(f"{problem}; the name comes from the repository or subdir's last component")
    return name, GitSource(url, ref, subdir)


def strip_comment(text: str) -> str:
    return _COMMENT_RE.sub("", text).strip()


def parse_line(text: str, file: Path | None = None, line: int | None = None) -> Entry | None:
    """Parse one line of a models file; None for blank and comment lines."""
    body = strip_comment(text)
    if not body:
        return None
    if len(body.split()) > 1:
        raise ManifestError(
            f"expected one model per line, found '{body}'",
            "put each model on its own line; start comments with '#'",
            file,
            line,
        )
    try:
        name, source = parse_source(body)
    except ValueError as exc:
        head, _, note = body.partition("#")
        if note and _is_local(head):  # `my_model#note`: meant as a comment, but '#' is glued on
            what = f"'#' starts a comment only after white space, found '{body}'"
            raise ManifestError(what, f"write '{head}  #{note}'", file, line) from None
        raise ManifestError(str(exc), "write a model name, ./path, or host/repo[@ref][#subdir=dir]", file, line) from None
    return Entry(name, source, body, file, line)


def _is_local(text: str) -> bool:
    try:
        return isinstance(parse_source(text)[1], LocalSource)
    except ValueError:
        return False


def parse_text(text: str, file: Path | None = None) -> list[Entry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if (entry := parse_line(raw, file, number)) is not None:
            entries.append(entry)
    return entries


def find_models_file(start: Path | None = None) -> Path | None:
    """``$XLM_MODELS_FILE``, else the nearest `.xlm_models` walking up from ``start`` (as git finds .git)."""
    override = os.environ.get("XLM_MODELS_FILE")
    if override:
        return Path(override).expanduser().resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / MODELS_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


# ----------------------------------------------------------------------------- editing
# Edits keep every other line byte for byte, so comments and order survive `xpm add/remove`.


def add_entry_text(text: str, entry_text: str) -> str:
    """``text`` with ``entry_text`` appended as a new line."""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + entry_text + "\n"


def replace_entry_text(text: str, name: str, entry_text: str | None) -> str:
    """``text`` with the line of model ``name`` replaced by ``entry_text`` (removed when None).

    A trailing comment on that line is kept when the entry is replaced.
    """
    out = []
    for raw in text.splitlines(keepends=True):
        try:
            entry = parse_line(raw)
        except ManifestError:
            entry = None
        if entry is None or entry.name != name:
            out.append(raw)
            continue
        if entry_text is not None:
            out.append(raw.replace(entry.text, entry_text, 1))
    return "".join(out)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; keep the old file's mode, else what open() would give.
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
