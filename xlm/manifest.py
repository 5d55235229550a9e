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
  (without ``.git``), lowercased, with runs of ``-``, ``_`` and ``.`` as one ``_`` (as pip
  normalises a project's name: ``github.com/lab/awesome-lm`` is model ``awesome_lm``), unless
  ``#name=NAME`` gives it (``#subdir=dir&name=NAME`` with both): a flat model is imported
  under its name, so one pushed as ``lab/xlm-mdlm`` whose package is ``mdlm`` needs it.

Every line is hostile input (see `xlm.textfile` for how the file is read): control
characters are refused anywhere in a line, a source whose URL, user, host, path, ref or
subdir starts with ``-`` is refused (git would read it as an option), and so is a URL that
carries credentials (they would be written to `xlm.lock` and printed). Messages never print
a secret (`redact`); all of them are in the section "refusals" below.
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path
from typing import NamedTuple

from xlm.shown import control_problem, show
from xlm.textfile import BOM, TextFileError, lines, lines_with_ends, newline_of

MODELS_FILE_NAME = ".xlm_models"
# The first line of a models file that `xpm add` or `xpm new` creates.
NEW_FILE_HEADER = (
    "# Models this project uses, one per line: a name, a ./path or a git source[@ref] (see docs/xpm.md); "
    "'#' starts a comment.\n"
)

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMMENT_RE = re.compile(r"(^|\s)#.*$")
_SCP_RE = re.compile(r"^(?P<user>[^@/:]+)@(?P<host>[^@/:]+):(?P<path>.+)$")
_HOST_RE = re.compile(r"^(?:[\w.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
SCHEMES = ("https", "http", "ssh", "git+ssh", "ssh+git", "git", "file")
MAX_NAME_LENGTH = 100  # the vendored folder, its staging folder and its stamp stay far below 255 bytes


class ManifestError(TextFileError):
    """A line of a models file (or an ``xpm add`` argument) that cannot be understood."""


class CredentialsError(ManifestError):
    """A URL with a password or token in it: refused, so no secret reaches a file or the screen."""


class LocalSource(NamedTuple):
    """A model on disk: found by name (``path`` is None) or at ``path`` as written."""

    path: str | None = None

    def __str__(self) -> str:
        return self.path or "local"


class GitSource(NamedTuple):
    """A model in a git repository; ``ref`` is what the user asked for, not yet resolved."""

    url: str
    ref: str | None = None
    subdir: str | None = None
    name: str | None = None  # given with `#name=`, where it differs from the name the URL or subdir gives

    def spec(self) -> str:
        """The entry as it is written in `.xlm_models` (normalised URL)."""
        fragments = [f"subdir={self.subdir}"] * bool(self.subdir) + [f"name={self.name}"] * bool(self.name)
        return self.url + (f"@{self.ref}" if self.ref else "") + ("#" + "&".join(fragments) if fragments else "")

    def named(self, name: str) -> GitSource:
        """This source under the model name `name` (a lock records the name, not the line)."""
        return self._replace(name=None if name == source_name(self.url, self.subdir) else name)

    def __str__(self) -> str:
        return self.spec()


Source = LocalSource | GitSource


class Entry(NamedTuple):
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


# ----------------------------------------------------------------------------- refusals
# Every message about a source or a line is written here; none prints a secret (`show`).

SOURCE_FIX = "write a model name, ./path, or host/repo[@ref][#subdir=dir]"
NAME_FIX = "rename the model (its folder, and its line here): a lowercase identifier that is not a Python keyword, such as my_model"
CREDENTIAL_HELPERS = (
    "a credential helper (`git config --global credential.helper store`, or your system's: "
    "osxkeychain, manager, libsecret), or an ssh URL (git@host:group/repo.git)"
)
CREDENTIALS_FIX = f"remove them from the URL and let git supply them: {CREDENTIAL_HELPERS}"
RESERVED_NAMES = ("arlm", "mlm", "ilm")  # the core models' names (ilm: one to come): no other model may take one
WINDOWS_DEVICE_NAMES = frozenset(["con", "prn", "aux", "nul", *(f"{d}{n}" for d in ("com", "lpt") for n in range(10))])
RESERVED_MODEL_NAMES = {
    "xlm_models": "xlm_models/ is where xpm vendors a project's models",
    "sitecustomize": "Python runs a module of that name at every start of a process that has it on its path",
    "usercustomize": "Python runs a module of that name at every start of a process that has it on its path",
    **{
        device: "it is a Windows device name, so its folder cannot be created on Windows"
        for device in sorted(WINDOWS_DEVICE_NAMES)
    },
}
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#@]*)@")
_SSH = ("ssh://", "git+ssh://", "ssh+git://")


def without_userinfo(url: str) -> str:
    """`url` without its password, and for any but an ssh URL without its user name too (a
    token is often put there): what a cache key or a stored URL may hold. An ssh login name
    (`ssh://git@host/...`) is part of the address and stays."""

    def strip(match: re.Match) -> str:
        scheme, user = match.group(1), match.group(2).partition(":")[0]
        return f"{scheme}{user}@" if scheme.lower() in _SSH and user else scheme

    return _USERINFO.sub(strip, url, count=1)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model name, or None when it can."""
    if not _NAME_RE.match(name):
        return f"'{show(name)}' is not a valid model name (use a lowercase identifier such as my_model)"
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword and cannot be a model name"
    if len(name) > MAX_NAME_LENGTH:
        return f"'{show(name, 40)}' is {len(name)} characters long; a model name has at most {MAX_NAME_LENGTH}"
    if name in RESERVED_MODEL_NAMES:
        return f"'{name}' cannot be a model name: {RESERVED_MODEL_NAMES[name]}"
    if name.startswith("__") and name.endswith("__"):  # __main__, __init__, __pycache__: Python's own names
        return f"'{name}' cannot be a model name: names with two leading and trailing underscores are Python's own"
    return None


def _refuse(what: str, fix: str = SOURCE_FIX) -> ManifestError:
    return ManifestError(what, fix)


def _option_like(part: str, value: str, spec: str) -> ManifestError:
    return _refuse(f"the {part} '{show(value)}' of '{show(spec)}' starts with '-' (git would read it as an option)",
                   f"fix the {part}: no part of a source (user, host, path, ref, subdir) may start with '-'")


def _check_authority(scheme: str, authority: str, spec: str) -> None:
    """Refuse credentials, and a user or host that is empty, malformed or starts with '-'."""
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        if colon or scheme in ("http", "https"):
            what = f"'{show(spec)}' holds credentials (a password or token in the URL), which xpm would write to xlm.lock"
            raise CredentialsError(what, CREDENTIALS_FIX)
        if user.startswith("-"):
            raise _option_like("user", user, spec)
        if not user:
            raise _refuse(f"'{show(spec)}' has an empty user name before '@'")
    if host.startswith("-"):
        raise _option_like("host", host, spec)
    if scheme == "file" and not host:
        return
    if not host:
        raise _refuse(f"'{show(spec)}' has no host name")
    if not _HOST_RE.match(host):
        raise _refuse(f"'{show(host)}' in '{show(spec)}' is not a host name (with an optional :port)")


def _split_git(spec: str) -> tuple[str, str, str | None, str | None, str | None]:
    """Split a git source into (url as written, path part, ref, subdir, name), refusing what git must never see."""
    whole, subdir, name = spec, None, None
    if "#" in spec:
        spec, fragment = spec.split("#", 1)
        fields = dict(part.partition("=")[::2] for part in fragment.split("&"))
        if set(fields) - {"subdir", "name"} or len(fields) != fragment.count("&") + 1 or not all(fields.values()) \
                or not fields.get("subdir", "x").strip("/"):
            raise _refuse(f"unknown fragment '#{show(fragment)}' (only '#subdir=path/in/repo', '#name=NAME' and "
                          "'#subdir=path/in/repo&name=NAME' are supported)")
        subdir, name = fields.get("subdir"), fields.get("name")
    if subdir is not None:
        value = subdir
        if any(part in ("", ".", "..") for part in subdir.split("/")):  # `/etc` is not `etc`: never guessed
            plain = "/".join(part for part in subdir.split("/") if part not in ("", "."))
            fix = (f"write #subdir={show(plain)}" if plain and ".." not in plain.split("/") and not subdir.startswith("/")
                   else "name a folder inside the repository, from its top: #subdir=path/to/model")
            raise _refuse(f"subdir '{show(value)}' must be a plain relative path inside the repository", fix)
        if any(part.lower() == ".git" for part in subdir.split("/")):
            raise _refuse(f"subdir '{show(value)}' is inside a .git folder, which xpm never exports: name the model's folder")
        if subdir.startswith("-"):
            raise _option_like("subdir", subdir, whole)
    if "?" in spec:  # git refs cannot hold one; a URL's query is where tokens go
        what = f"'{show(whole)}' has a query string ('?...'), which xpm would write to xlm.lock (tokens go there)"
        raise CredentialsError(what, CREDENTIALS_FIX.replace("remove them from the URL", "remove the query from the URL"))
    if "://" in spec:
        scheme, rest = spec.split("://", 1)
        if scheme.lower() not in SCHEMES:
            raise _refuse(f"unknown URL scheme '{show(scheme)}://' in '{show(spec)}' (use one of: {', '.join(s + '://' for s in SCHEMES)})")
        slash = rest.find("/")
        if slash < 0:
            raise _refuse(f"'{show(spec)}' has no repository path")
        _check_authority(scheme.lower(), rest[:slash], spec)
        prefix, path = f"{scheme.lower()}://{rest[:slash]}", rest[slash:]  # FILE:// is file://: schemes ignore case
    elif (m := _SCP_RE.match(spec)) and "/" not in m.group("host"):
        _check_authority("ssh", f"{m.group('user')}@{m.group('host')}", spec)
        prefix, path = f"{m.group('user')}@{m.group('host')}:", m.group("path")
    else:
        host, slash, path = spec.partition("/")
        if not slash or "." not in host:
            raise _refuse(f"'{show(spec)}' is neither a model name, a path (./name) nor a git source (host/path)")
        user, at, bare = host.rpartition("@")
        if at and ":" not in user:  # git@host/group/repo: an ssh user in an https source
            raise _refuse(f"'{show(spec)}' mixes an ssh user with an https path",
                          f"write {user}@{show(bare)}:{show(path)} (ssh) or {show(bare)}/{show(path)} (https)")
        _check_authority("https", host, spec)
        prefix, path = "https://" + host, "/" + path
    ref = None
    if "@" in path:
        path, ref = path.split("@", 1)
        if not ref:
            raise _refuse("'@' must be followed by a tag, branch, commit or version query")
        if ref.startswith("-"):
            raise _option_like("ref", ref, whole)
    path = path.rstrip("/")
    if not path.strip("/"):
        raise _refuse(f"'{show(spec)}' has no repository path")
    if path.lstrip("/").startswith("-"):
        raise _option_like("path", path.lstrip("/"), whole)
    if any(part in (".", "..") for part in path.split("/")):
        raise _refuse(f"the path of '{show(whole)}' has a '.' or '..' component", "write the repository's own path (host/group/repo)")
    return prefix + path, path, ref, subdir, name


def parse_source(spec: str) -> tuple[str, Source]:
    """Parse one entry (without comment) into its model name and source; raise `ManifestError` (a
    ValueError; no file or line) saying what is wrong with ``spec`` and how to fix it."""
    if problem := control_problem(spec):  # before strip(): it strips \x1c-\x1f and \x85 too
        raise _refuse(problem, "delete it: write the source in plain characters")
    spec = spec.strip()
    if len(spec.split()) > 1:  # what parse_line refuses as two models on one line
        raise _refuse(f"'{show(spec)}' holds a space (a line of .xlm_models is one source, without spaces)",
                      "a path or #subdir= with a space cannot be listed: rename that folder")
    if spec.startswith("-"):
        raise _refuse(f"'{show(spec)}' starts with '-' (git would read it as an option)", SOURCE_FIX)
    if spec.startswith((".", "/", "~")):
        name = Path(os.path.expanduser(spec)).name
        if "@" in name or "#" in name:  # `../repo@v1`: a path is used as it is, a ref is a git source's
            folder = spec.split("#", 1)[0].rsplit("@", 1)[0]
            url = show(folder) if folder.startswith("/") else f"<the absolute path of {show(folder)}>"
            raise _refuse(f"'{show(spec)}' is a local folder with a ref: a local folder is used as it is",
                          f"to pin a git repository at a ref, give its URL: file://{url}{show(spec[len(folder):])} "
                          "(or drop what follows the folder's name to use the folder itself)")
        if problem := name_problem(name):
            raise _refuse(problem, NAME_FIX)
        return name, LocalSource(spec)
    if "/" not in spec and ":" not in spec and "#" not in spec and "@" not in spec:
        if problem := name_problem(spec):
            raise _refuse(problem, NAME_FIX)
        return spec, LocalSource()
    url, path, ref, subdir, given = _split_git(spec)
    derived = source_name(path, subdir)
    name = given or derived
    problem = name_problem(name) or (f"'{name}' is reserved for a core model of xlm" if name in RESERVED_NAMES else None)
    if problem and given:
        raise _refuse(f"#name={show(given)}: {problem}", "give it another name, a lowercase identifier: #name=my_model")
    if problem:
        raise _refuse(f"{problem}; the name comes from the repository or subdir's last component",
                      "name the model: add #name=NAME to the line (or point at a subdir with a usable name: #subdir=DIR)")
    return name, GitSource(url, ref, subdir, given if given != derived else None)


def source_name(url: str, subdir: str | None) -> str:
    """The model name a git source gives when no `#name=` does: its subdir's last component,
    else its repository's, normalised (`lab/awesome-lm.git` is `awesome_lm`)."""
    where = (subdir or url).rstrip("/")
    if not subdir and where.endswith("/.git"):  # file:///abs/repo/.git names the repository `repo`
        where = where[: -len("/.git")]
    last = where.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return normalised_name(last[: -len(".git")] if last.endswith(".git") else last)


def normalised_name(text: str) -> str:
    """A model name as pip normalises a project's: `awesome-lm` and `Awesome.LM` are `awesome_lm`."""
    return re.sub(r"[-_.]+", "_", text.lower())


def strip_comment(text: str) -> str:
    return _COMMENT_RE.sub("", text).strip()


def parse_line(text: str, file: Path | None = None, line: int | None = None) -> Entry | None:
    """Parse one line of a models file (its line break may end it); None for blank and comment lines."""
    text = text.removesuffix("\n").removesuffix("\r")
    if problem := control_problem(text):
        raise ManifestError(problem, "delete it; put each model on its own line", file, line)
    body = strip_comment(text)
    if not body:
        return None
    if len(body.split()) > 1:
        raise ManifestError(
            f"expected one model per line, found '{show(body)}'",
            "put each model on its own line; start comments with '#'",
            file,
            line,
        )
    try:
        name, source = parse_source(body)
    except ManifestError as exc:
        head, _, note = body.partition("#")
        if note and _is_local(head):  # `my_model#note`: meant as a comment, but '#' is glued on
            what = f"'#' starts a comment only after white space, found '{show(body)}'"
            raise ManifestError(what, f"write '{show(head)}  #{show(note)}'", file, line) from None
        raise type(exc)(exc.what, exc.fix, file, line) from None
    return Entry(name, source, body, file, line)


def _is_local(text: str) -> bool:
    try:
        return isinstance(parse_source(text)[1], LocalSource)
    except ValueError:
        return False


def parse_text(text: str, file: Path | None = None) -> list[Entry]:
    """The entries of a models file's text (as `xlm.textfile.read_text` returns it)."""
    entries = []
    for number, raw in enumerate(lines(text), start=1):
        if (entry := parse_line(raw, file, number)) is not None:
            entries.append(entry)
    return entries


def find_models_file(start: Path | None = None) -> Path | None:
    """``$XLM_MODELS_FILE``, else the nearest `.xlm_models` walking up from ``start`` (as git finds .git)."""
    override = os.environ.get("XLM_MODELS_FILE")
    if override:  # realpath, not Path.resolve: a loop of links is the reader's to report, not a RuntimeError
        return Path(os.path.realpath(os.path.expanduser(override)))
    here = Path(os.path.realpath(start or os.getcwd()))
    for folder in (here, *here.parents):
        candidate = folder / MODELS_FILE_NAME
        if os.path.lexists(candidate):  # a folder or broken link by that name is reported, not skipped
            return candidate
    return None


# ----------------------------------------------------------------------------- editing
# Edits keep every other line byte for byte, so comments and order survive `xpm add/remove`.


def add_entry_text(text: str, entry_text: str) -> str:
    """``text`` with ``entry_text`` appended as a new line (ending as the file's lines end)."""
    newline = newline_of(text)
    if text and not text.endswith("\n"):
        text += newline
    return text + entry_text + newline


def replace_entry_text(text: str, name: str, entry_text: str | None) -> str:
    """``text`` with the line of model ``name`` replaced by ``entry_text`` (removed when None).

    A trailing comment on that line is kept when the entry is replaced.
    """
    out = []
    for number, raw in enumerate(lines_with_ends(text)):
        bom = BOM if number == 0 and raw.startswith(BOM) else ""
        try:
            entry = parse_line(raw[len(bom):])
        except ManifestError:
            entry = None
        if entry is None or entry.name != name:
            out.append(raw)
            continue
        out.append(bom if entry_text is None else raw.replace(entry.text, entry_text, 1))
    return "".join(out)
