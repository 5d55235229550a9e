"""A project: the folder of `.xlm_models`, with its `xlm.lock` and `xlm_models/` next to it.

Also where its locks live (`xpm.locks` says how they work): the project's, held by every
command that writes, and the shared cache's, held (shared) while mirrors are used and
(exclusively) by `xpm cache clean`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from xlm.manifest import MODELS_FILE_NAME, Entry, ManifestError, find_models_file, parse_text
from xlm.shown import show
from xlm.textfile import TextFileError, read_text
from xpm.errors import XpmError
from xpm.lock import LOCK_NAME, Lock, read_lock
from xpm.locks import hold
from xpm.stamp import STATE_DIR, ensure_models_dir, models_dir


def cache_dir() -> Path:
    """`$XPM_CACHE_DIR` (a relative one from the current folder, as uv and cargo read theirs),
    else `${XDG_CACHE_HOME:-~/.cache}/xpm`: shared by all projects. Never a folder an empty or
    relative HOME would give (`/.cache`, or a `.cache` in whatever folder xpm runs in)."""
    override = os.environ.get("XPM_CACHE_DIR")
    if override:
        return Path(override).expanduser().absolute()
    from xlm.paths import user_cache_home

    base = user_cache_home()
    if not os.path.isabs(os.environ.get("XDG_CACHE_HOME", "")) and not os.path.isabs(os.environ.get("HOME", "/")):
        raise XpmError(f"no folder for xpm's cache: HOME is {os.environ['HOME']!r}, not an absolute path, and neither "
                       "XPM_CACHE_DIR nor an absolute XDG_CACHE_HOME is set", "set XPM_CACHE_DIR (or HOME) to an absolute folder")
    return Path(base) / "xpm"


def manifest_error(exc: TextFileError) -> XpmError:
    return XpmError(str(exc), exc.fix)


class Project(NamedTuple):
    root: Path

    @property
    def models_file(self) -> Path:
        return self.root / MODELS_FILE_NAME

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def models_dir(self) -> Path:
        return models_dir(self.root)

    @property
    def state_dir(self) -> Path:
        return self.models_dir / STATE_DIR

    @classmethod
    def find(cls, start: Path | None = None, create: bool = False) -> "Project":
        """The project whose `.xlm_models` is nearest above `start` (or `$XLM_MODELS_FILE`'s).

        With `create`, a folder without one becomes a project (`xpm add` in a fresh folder).
        """
        start = Path(start or Path.cwd()).resolve()
        found = find_models_file(start)
        if found is not None:
            if found.name != MODELS_FILE_NAME:  # XLM_MODELS_FILE=custom.txt: never read the .xlm_models beside it instead
                raise XpmError(f"XLM_MODELS_FILE names {show(str(found))}, but xpm works on a project's {MODELS_FILE_NAME}",
                               f"unset XLM_MODELS_FILE for xpm (it finds {MODELS_FILE_NAME} from the current folder, or -C DIR), "
                               f"or point it at a file named {MODELS_FILE_NAME}")
            return cls(found.parent)
        if create:
            return cls(start)
        from xlm.external.models_json import find_models_json, project_dir

        if (json := find_models_json(start)) is not None:  # xlm-core's listing: convert it, never ignore it
            raise XpmError(f"no {MODELS_FILE_NAME} in {start} or any folder above it, only xlm-core's {json}",
                           f"run: xpm import-json {json}   (writes {project_dir(json) / MODELS_FILE_NAME} from it)")
        raise XpmError(
            f"no {MODELS_FILE_NAME} in {start} or any folder above it",
            f"run xpm in your project, or create one with `xpm add SOURCE` (or an empty {MODELS_FILE_NAME})",
        )

    def read_text(self) -> str:
        """The checked text of `.xlm_models` ("" when there is none), read as `xlm.textfile` says."""
        try:
            text = read_text(self.models_file)
        except TextFileError as exc:
            raise manifest_error(exc) from None
        if text is None and os.path.islink(self.models_file):  # a link to nothing: xlm cannot read it either
            raise XpmError(f"{self.models_file} is a symbolic link to {show(os.readlink(self.models_file))}, which does not exist",
                           "point the link at your models file, or replace it with the file")
        return text or ""

    def entries(self, text: str | None = None) -> list[Entry]:
        """The entries of `.xlm_models` (or of `text` meant for it); two may not share a name."""
        text = self.read_text() if text is None else text
        try:
            entries = parse_text(text, self.models_file)
        except ManifestError as exc:
            raise manifest_error(exc) from None
        seen: dict[str, Entry] = {}
        for entry in entries:
            if entry.name in seen:
                raise XpmError(
                    f"{entry.where()}: model '{entry.name}' is already listed at line {seen[entry.name].line}",
                    "keep one line per model name; to use both, name one of them: add #name=NAME to its git line",
                )
            seen[entry.name] = entry
        return entries

    def lock(self) -> Lock | None:
        return read_lock(self.lock_file)

    def check_layout(self) -> None:
        """Refuse, before anything is written, an `xlm_models/` through which xpm would write
        elsewhere (it, its `.xpm/` state folder or a path xpm writes in them is a symbolic link)
        or could not write (a file stands where xpm keeps a folder), and a `.xlm_models` or
        `xlm.lock` that is a symbolic link (an atomic write would replace the link)."""
        state = self.state_dir
        folders = (self.models_dir, state, state / "stamps", state / "staging", state / "trash")
        for path in (*folders, self.models_dir / ".gitignore", state / "lock"):
            if path.is_symlink():
                raise XpmError(
                    f"{path} is a symbolic link (to {show(os.readlink(path))}); xpm writes only inside the project and its cache",
                    f"remove the link (rm {path}: its target stays as it is), then run the command again",
                )
            if path in folders and path.exists() and not path.is_dir():
                raise XpmError(f"{path} is a file, where xpm keeps a folder", "move the file away (or rename it), then run the command again")
        for path in (self.models_file, self.lock_file):
            refuse_linked_file(path)

    def holding(self, say=None):
        if not self.models_dir.exists():  # its lock makes the folder: with its .gitignore, as an install would
            ensure_models_dir(self.root)
        return hold(self.state_dir / "lock", f"project {self.root}", say)


def refuse_linked_file(path: Path) -> None:
    """A project file xpm replaces whole when it writes it must not be a link: the write would
    replace the link, not its target."""
    if path.is_symlink():
        raise XpmError(
            f"{path} is a symbolic link (to {show(os.readlink(path))}); xpm replaces the file when it writes it, "
            "and writes only inside the project",
            f"put the file itself there (cp --remove-destination \"$(readlink -f {path})\" {path}), then run the command again",
        )


def local_model_dirs(root: Path, name: str, source) -> list[Path]:
    """Where xlm looks for local model `name` (a `LocalSource`): its path, or for a bare name the
    folders of `xlm.external.discovery.search_dirs`; it is found when one of them is a folder."""
    if source.path:
        return [(Path(root) / source.path).expanduser()]
    from xlm.external.discovery import search_dirs

    return [folder / name for _, folder in search_dirs(Path(root))]


def holding_cache(say=None, shared: bool = False, checked: bool = True):
    """The cache-wide lock: shared by every process that uses mirrors, exclusive for `xpm cache clean`
    (which runs no git and deletes without following links: it may clean a cache `check_cache_folders` refuses)."""
    if checked:
        check_cache_folders(cache_dir())
    return hold(cache_dir() / ".lock", f"cache {cache_dir()}", say, shared=shared)


def check_cache_folders(root: Path) -> None:
    """Refuse a cache another user can change: whoever can rename a folder in it can put a
    mirror of theirs, whose config runs commands, where xpm runs git (git's own check of a
    repository's owner, `safe.directory`, does not apply to a repository xpm names). Its folders
    must be this user's and writable by no one else; below the cache's own folder, no link."""
    import stat

    if not hasattr(os, "geteuid"):
        return
    for folder in (root, root / "git", root / "git" / "db", root / "git" / "locks"):
        try:
            st = os.stat(folder) if folder == root else os.lstat(folder)
        except FileNotFoundError:
            # Made here, writable by no one else whatever the umask (0o755 & ~umask), so that a
            # umask of 000 does not make a cache this check then refuses.
            if folder == root:
                root.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(folder, 0o755)
            except FileExistsError:
                pass
            continue  # (any other OSError, a file on the way say, is reported as xpm reports them)
        if stat.S_ISLNK(st.st_mode):
            problem, fix = "is a symbolic link", f"delete it (rm {folder}: xpm makes the folder again)"
        elif not stat.S_ISDIR(st.st_mode):  # /dev/null, a file: never advise a chmod of what is not ours
            raise XpmError(f"xpm's cache folder {folder} is not a folder",
                           "set XPM_CACHE_DIR to a folder of your own" if folder == root else f"move {folder} away; xpm makes the folder again")
        elif st.st_uid != os.geteuid():
            problem, fix = f"belongs to user id {st.st_uid}, not to you", f"chown -R {os.geteuid()} {root}"
        elif st.st_mode & stat.S_IWOTH:
            problem, fix = "is writable by every user", f"chmod o-w {folder}"
        else:
            continue
        raise XpmError(f"xpm's cache folder {folder} {problem}: another user could put a repository of theirs where xpm runs git",
                       f"{fix}, or set XPM_CACHE_DIR to a folder of your own")
