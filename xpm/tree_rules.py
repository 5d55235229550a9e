"""Tree rules: what a model's tree may hold, decided on git's listing before anything is written.

Pure functions over `Entry` lists (no git, no filesystem), so every rule is tested from a table.
A tree is hostile input: each refusal names the path and says how to fix it upstream. What is
refused, and why (docs/xpm.md, "What a model tree may hold"):

- gitlinks (submodules): their files are not in the repository;
- symlinks that are absolute or leave the model's folder, resolved lexically inside the tree
  (chains, `..`, links in the middle of a target), at most `MAX_LINK_HOPS` links deep;
- `.git` in any spelling a file system may treat as `.git` (case, NTFS short names, trailing
  dots and spaces, NTFS streams, HFS+ ignorable code points, as git's own verify_path), and
  folders shaped like a git repository (git would run their `core.fsmonitor` and hooks);
- two paths equal under case folding or Unicode normalisation (they clash on macOS/Windows);
- `__pycache__` folders: the content hash skips them, so they could hide unreviewed bytecode;
- empty, `.`, `..`, over-long, backslash or control-character components, over-long paths,
  and names Windows cannot create (device names, trailing dots or spaces, `<>:"|?*`);
- trees over the size, file-count or depth limits (`Limits`, overridable by environment).

Git LFS pointer files are kept, with a warning: the weights they stand for are not in git.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Iterable, NamedTuple

from xlm.errors import first_of
from xlm.manifest import WINDOWS_DEVICE_NAMES
from xlm.shown import show
from xpm.errors import XpmError

MAX_COMPONENT_BYTES = 255  # NAME_MAX of ext4, APFS, NTFS (in UTF-16 units there, fewer bytes)
MAX_PATH_BYTES = 1024  # a path inside the model, and a symlink's target: leaves room under
# macOS's PATH_MAX (1024) only for short project paths, under Linux's (4096) for any sane one
MAX_LINK_HOPS = 40  # Linux's MAXSYMLINKS: a longer chain fails with ELOOP anyway
LFS_POINTER_MAX = 1024  # the Git LFS spec: a pointer file is smaller than 1024 bytes
LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"

FILE, EXECUTABLE, SYMLINK, GITLINK = "100644", "100755", "120000", "160000"
_MODES = {FILE, EXECUTABLE, SYMLINK, GITLINK}

# Code points HFS+ ignores when it compares names (so `.g\u200cit` is `.git` there).
_HFS_IGNORED = dict.fromkeys(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
     0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF]
)
# `.git` or its NTFS 8.3 short name `git~1`, then any dots or spaces (Windows drops them), then
# the end or an NTFS stream (`.git::$INDEX_ALLOCATION`): the names git itself refuses.
_DOTGIT = re.compile(r"(?:\.git|git~1)[. ]*(?::.*)?", re.IGNORECASE | re.DOTALL)
# What a name may not hold: controls (C0, DEL and C1: U+009B starts a terminal escape), line and
# paragraph separators, and the invisible marks that reorder text (bidi controls, U+FEFF): a
# name must print as what it is.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_NOT_ON_WINDOWS = re.compile(r'[<>:"|?*]')
# A folder holding HEAD and one of these is a git repository to git (gitrepository-layout(5)).
_REPO_MARKERS = frozenset({"objects", "refs", "config", "commondir"})

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class UnsafeTree(XpmError):
    """The tree holds something xpm refuses to write (nothing was written)."""


class Entry(NamedTuple):
    """One line of `git ls-tree -r --long`: a blob, a symlink or a gitlink, path decoded."""

    path: str
    mode: str
    oid: str
    size: int  # -1 for a gitlink (git reports none)

    @property
    def is_link(self) -> bool:
        return self.mode == SYMLINK


class Limits(NamedTuple):
    """What a model may weigh: generous for code, configs and a few small binaries."""

    max_bytes: int = 512 << 20
    max_files: int = 50_000
    max_depth: int = 64

    VARIABLES = {"max_bytes": "XPM_MAX_MODEL_BYTES", "max_files": "XPM_MAX_MODEL_FILES", "max_depth": "XPM_MAX_MODEL_DEPTH"}

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        """Defaults, overridden by XPM_MAX_MODEL_BYTES (e.g. `2G`), _FILES and _DEPTH."""
        environ = os.environ if environ is None else environ
        values = {}
        for field, var in cls.VARIABLES.items():
            raw = environ.get(var, "").strip()
            if not raw:
                continue
            match = re.fullmatch(r"([0-9]{1,30})\s*(?:([kmgt])(?:i?b)?|b?)", raw, re.IGNORECASE) if field == "max_bytes" \
                else re.fullmatch(r"([0-9]{1,30})()", raw)  # 30 digits: more than any disk; 5,000 broke int()
            if match is None or int(match.group(1)) == 0:
                example = {"max_bytes": "a positive number of bytes, e.g. 536870912 or 512M or 2G",
                           "max_files": "a positive whole number, e.g. 100000", "max_depth": "a positive whole number, e.g. 128"}[field]
                raise XpmError(f"environment variable {var}='{show(raw, 60)}' is not a valid limit", f"set it to {example}, or unset it for the default")
            values[field] = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        return cls(**values)


def shown(text: str | bytes) -> str:
    """A name safe to print: undecodable bytes, control and invisible characters (a hostile
    name may hold terminal escapes or a right-to-left override) appear as escapes."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def decode_path(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeTree(
            f"{label} has a path that is not valid UTF-8: '{shown(raw)}'",
            "rename it upstream to a UTF-8 name (paths are UTF-8 in the content hash); nothing was installed",
        ) from None


def fold(name: str) -> str:
    """The key under which macOS and Windows see a name: ignorable code points dropped, case
    folded one character at a time as their file systems do (`ı` and `i`, `ς` and `σ` are one
    name; `ß` and `ss` are two), composed (NFC). Two paths with one key would be one file there."""
    if name.isascii():
        return name.lower()  # the same key, without Unicode tables: nearly every name
    name = unicodedata.normalize("NFD", name.translate(_HFS_IGNORED))
    return unicodedata.normalize("NFC", "".join(_simple(_simple(c, str.upper), str.lower) for c in name))


def _simple(char: str, case) -> str:
    """`case(char)` where it is one character (a simple case mapping), else `char` unchanged."""
    mapped = case(char)
    return mapped if len(mapped) == 1 else char


def windows_problem(part: str) -> str | None:
    """Why Windows cannot create a file or folder named `part`, or None."""
    if part.endswith((".", " ")):
        return "it ends with a dot or a space, which Windows drops"
    if found := _NOT_ON_WINDOWS.search(part):
        return f"Windows forbids '{found.group()}' in names"
    if part.split(".", 1)[0].rstrip(" ").lower() in WINDOWS_DEVICE_NAMES:
        return "it is a Windows device name"
    return None


def is_dotgit(component: str) -> bool:
    return _DOTGIT.fullmatch(component.translate(_HFS_IGNORED)) is not None


def _refuse(label: str, what: str, fix: str, **names: str) -> UnsafeTree:
    """`what` names its paths as {path}, {target}...: they are quoted and escaped here."""
    return UnsafeTree(f"{label} " + what.format(**{k: f"'{shown(v)}'" for k, v in names.items()}), f"{fix}; nothing was installed")


_LINK_FIX = "make the link relative and inside the model upstream (or replace it with a copy of the file)"


# --------------------------------------------------------------------------- entries
def check_entries(entries: Iterable[Entry], label: str, limits: Limits) -> list[Entry]:
    """Every rule that needs no blob content; returns the entries (read once, stops early when
    the tree is over the file limit, so a huge tree is never held in memory)."""
    out: list[Entry] = []
    total = 0
    for entry in entries:
        _check_entry(entry, label, limits)
        out.append(entry)
        total += max(entry.size, 0)
        if len(out) > limits.max_files:
            raise UnsafeTree(
                f"{label} has more than {limits.max_files} files",
                f"split the model upstream, or raise the limit with {Limits.VARIABLES['max_files']}=N; nothing was installed",
            )
        if total > limits.max_bytes:
            raise UnsafeTree(
                f"{label} holds more than {limits.max_bytes} bytes (reached at '{shown(entry.path)}')",
                f"keep large files out of git (download them at run time), or raise the limit with "
                f"{Limits.VARIABLES['max_bytes']}=SIZE; nothing was installed",
            )
    _check_clashes(out, label)
    _check_repositories(out, label)
    return out


def _check_entry(entry: Entry, label: str, limits: Limits) -> None:
    path = entry.path
    if entry.mode == GITLINK:
        raise _refuse(label, "contains submodule {path}",
                      "vendor the submodule's files into the repository upstream (xpm does not fetch submodules)", path=path)
    if entry.mode not in _MODES:
        raise _refuse(label, "has {path} of unknown mode {mode}", "recreate that file upstream", path=path, mode=entry.mode)
    if len(path.encode()) > MAX_PATH_BYTES:
        raise _refuse(label, f"has a path longer than {MAX_PATH_BYTES} bytes: {{path}}", "shorten it upstream", path=path[:80] + "...")
    parts = path.split("/")
    if len(parts) > limits.max_depth:
        raise _refuse(label, f"has {{path}}, more than {limits.max_depth} levels deep",
                      f"flatten the tree upstream, or raise the limit with {Limits.VARIABLES['max_depth']}=N", path=path)
    for part in parts:
        if part in ("", ".", ".."):
            raise _refuse(label, "has a path with an empty, '.' or '..' component: {path}",
                          "recreate the tree upstream with plain names (`git fsck` reports it)", path=path)
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise _refuse(label, f"has a name longer than {MAX_COMPONENT_BYTES} bytes in {{path}}",
                          "shorten it upstream (file systems refuse such names)", path=path)
        if "\\" in part or _CONTROL.search(part):
            raise _refuse(label, "has a backslash, or a control or invisible character, in {path}",
                          "rename it upstream (Windows reads a backslash as a folder separator; an invisible "
                          "character hides what a name says)", path=path)
        if is_dotgit(part):
            raise _refuse(label, "contains '.git' (in some spelling) in {path}",
                          "remove it upstream: a vendored model must not carry git metadata", path=path)
        if fold(part) == "__pycache__":
            raise _refuse(label, "contains compiled Python in {path}",
                          "remove __pycache__ from the repository upstream (and add it to .gitignore): "
                          "bytecode is not covered by the content hash", path=path)
        if fold(part) == ".pytest_cache":
            raise _refuse(label, "contains pytest's cache in {path}",
                          "remove .pytest_cache from the repository upstream (and add it to .gitignore): "
                          "the content hash skips it, as running the model's tests writes it", path=path)
        if why := windows_problem(part):
            raise _refuse(label, f"has {{path}}, a name Windows cannot create ({why})",
                          "rename it upstream: a model must install on Windows too", path=path)
    if entry.is_link and entry.size > MAX_PATH_BYTES:
        raise _refuse(label, f"has symlink {{path}} with a target longer than {MAX_PATH_BYTES} bytes",
                      "point the link at a shorter path upstream", path=path)


def _check_clashes(entries: list[Entry], label: str) -> None:
    """Paths (and the folders they imply) that one file system would merge: `A` and `a/x`,
    `Café` (NFC) and `Café` (NFD), a name that is both a file and a folder, or one path listed
    twice (hand-made trees can do all of these)."""
    seen: dict[str, tuple[str, bool]] = {}  # fold key -> (exact path, is a folder)
    folders: set[str] = set()
    for entry in entries:
        parts = entry.path.split("/")
        for i in range(1, len(parts) + 1):
            exact, folder = "/".join(parts[:i]), i < len(parts)
            if folder and exact in folders:
                continue  # a folder many files share: seen once is enough
            key = fold(exact)
            other = seen.get(key)
            if other is None:
                seen[key] = (exact, folder)
                if folder:
                    folders.add(exact)
                continue
            if other == (exact, False) and not folder:
                raise _refuse(label, "lists {path} twice", "recreate the tree upstream (`git fsck` reports duplicate entries)", path=exact)
            if other[0] == exact:
                raise _refuse(label, "has {path} as both a file and a folder", "recreate the tree upstream (`git fsck` reports it)", path=exact)
            raise _refuse(label, "has {first} and {second}, which are one file on macOS and Windows",
                          "rename one of them upstream (names that differ only in case or Unicode form, "
                          "or a file and a folder of one name, clash)",
                          first=other[0] + ("/" if other[1] else ""), second=exact + ("/" if folder else ""))


def _check_repositories(entries: list[Entry], label: str) -> None:
    """A folder git would take for a repository (HEAD beside objects/, refs/, config or
    commondir): `git status` run inside it, as shell prompts and editors do, would obey its
    config (core.fsmonitor runs a command)."""
    children: dict[str, set[str]] = {}
    for entry in entries:
        parts = entry.path.split("/")
        for i, part in enumerate(parts):
            children.setdefault("/".join(parts[:i]), set()).add(fold(part).rstrip(". "))
    for folder in sorted(children):
        names = children[folder]
        if "head" in names and names & _REPO_MARKERS:
            raise _refuse(label, "contains a folder shaped like a git repository: {path}",
                          "remove the repository's files (HEAD, config, objects/, refs/) from the tree upstream",
                          path=(folder or ".") + "/")


# --------------------------------------------------------------------------- symlinks
def check_links(entries: list[Entry], targets: dict[str, bytes], label: str) -> dict[str, str]:
    """Every symlink must stay inside the model: `targets` maps each link's path to its blob.
    Returns the targets decoded. Resolution is lexical and follows the tree's own links (never
    the file system), looking names up as macOS and Windows would (case and Unicode folded)."""
    links: dict[str, str] = {}
    for entry in entries:
        if entry.is_link:
            links[entry.path] = _link_target(entry.path, targets[entry.path], label)
    by_key = {fold(path): target for path, target in links.items()}
    for path in links:
        _resolve(path, by_key, label)
    return links


def _link_target(path: str, raw: bytes, label: str) -> str:
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(label, "has symlink {path} whose target is not valid UTF-8", _LINK_FIX, path=path) from None
    if not target:
        raise _refuse(label, "has symlink {path} with an empty target", "remove it upstream", path=path)
    if "\\" in target or _CONTROL.search(target):
        raise _refuse(label, "has symlink {path} -> {target}, with a backslash, or a control or invisible character", _LINK_FIX,
                      path=path, target=target)
    if target.startswith("/") or re.match(r"[A-Za-z]:", target):
        raise _refuse(label, "has symlink {path} -> {target}, an absolute path", _LINK_FIX, path=path, target=target)
    return target


def _resolve(path: str, links: dict[str, str], label: str) -> None:
    """Walk `path`'s target component by component from the link's folder; expand every
    component that is itself a link of the tree; refuse as soon as the walk climbs above the
    model's root. A missing component is walked through lexically (its `..` still counts)."""
    target = links[fold(path)]
    where, todo = path.split("/")[:-1], target.split("/")
    hops, states = 0, set()
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                raise _refuse(label, "has symlink {path} -> {target}, which leaves the model's folder", _LINK_FIX, path=path, target=target)
            where.pop()
            continue
        where.append(part)
        key = fold("/".join(where))
        if key not in links:
            continue
        state = (key, tuple(todo))
        if state in states:
            raise _refuse(label, "has symlink {path} -> {target}, in a cycle of links", "break the cycle upstream", path=path, target=target)
        states.add(state)
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise _refuse(label, f"has symlink {{path}} -> {{target}}, behind a chain of more than {MAX_LINK_HOPS} links",
                          "point the link at its final target upstream", path=path, target=target)
        where.pop()  # the link's name is replaced by its target, read from the link's folder
        todo[:0] = links[key].split("/")


# --------------------------------------------------------------------------- warnings
def is_lfs_pointer(head: bytes, size: int) -> bool:
    """A Git LFS pointer file (its first bytes and its size are enough)."""
    return size < LFS_POINTER_MAX and head.startswith(LFS_PREFIX)


def lfs_warning(paths: list[str]) -> str:
    listed = first_of((shown(p) for p in paths), 5)
    return (f"{len(paths)} Git LFS pointer file(s) installed as pointers, not the files they stand for: {listed} "
            "(xpm does not run git-lfs; fetch those files yourself, or keep them out of git)")
