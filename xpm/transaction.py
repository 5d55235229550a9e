"""One command's changes to `xlm_models/`, `xlm.lock` and `.xlm_models`: all of them, or none.

A command first stages every model (`xpm.vendor.stage`: nothing in place changes). Then,
inside a `Transaction`:

- `place(staged)` moves the model's old stamp and folder into `.xpm/trash/<id>/`, renames the
  staged folder into place and writes the new stamp last (the ready-marker);
- `remove(name)` moves the folder, then the stamp, into the trash the same way;
- `move_in(folder, dest)` renames a staged folder to a new place outside `xlm_models/` (a
  model `xpm install --from-run` restores as a local folder);
- `write(path, text)` keeps the new text of `xlm.lock`, `.xlm_models` (or another project file
  a command changes: `xlm.overrides.toml`, `.gitignore`) for `commit`; `delete(path)` moves a
  file aside;
- `commit()` writes each text to a temporary file, records the renames it is about to make in
  the trash (`commit.json`, when there are several files), renames them over the old files,
  then deletes the trash.

Nothing old is deleted before `commit` ends, and moving aside is a rename, which needs no
free space: so when any step fails (a full disk, a read-only or unwritable folder, an
interrupt), leaving the `with` block undoes every step, newest first, and the lock,
`.xlm_models` and `xlm_models/` are exactly as they were. A crash, where no undo runs, leaves
what the next `xpm install` (or `add`) repairs: the trash names each folder it was placing, and
one of them without a stamp, placed but never committed, is deleted (a model the lock lists
is then installed again); the trash is deleted. A crash between the renames of the files (a new
`xlm.lock` beside the old `.xlm_models`, which the next install would read as an edit and
resolve again) is finished instead: every folder was placed and stamped by then, so the renames
`commit.json` records are made (`finish_interrupted_commit`), and both files are the new ones.
A temporary file no rename took is deleted.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from pathlib import Path
from typing import Callable

from xlm.textfile import write_atomic, write_temp
from xpm import stamp
from xpm.removal import remove_tree


PLACING = "placing-"  # a trash folder's marker of a model placed: no model name holds '-'
JOURNAL = "commit.json"  # in a trash folder: the renames its commit was making (temporary file, file)
# What `write_temp` calls a temporary file of a project file: `.<name>.<12 hex>.tmp`.
_TEMP = re.compile(r"^\.(?P<name>[^/]+)\.[0-9a-f]{12}\.tmp$")


class Transaction:
    """Use as ``with Transaction(project_dir) as tx: ...; tx.commit()``; leaving without `commit` undoes."""

    def __init__(self, project_dir: Path):
        self.project_dir = Path(project_dir)
        self._undo: list[Callable[[], None]] = []
        self._files: dict[Path, str] = {}
        self._trash: Path | None = None
        self._edits: list[tuple[str, str, Path]] = []  # (model, why, where) of each folder kept as it may hold work
        self._open = True

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._open:
            self.rollback()

    # ------------------------------------------------------------------------- steps
    def place(self, staged) -> None:
        """Swap the staged folder (an `xpm.vendor.Staged`) into `xlm_models/<name>/`, stamp written last."""
        name, dest, staged_path = staged.name, stamp.vendored_root(self.project_dir, staged.name), staged.path
        edited = self._edited(name)
        self._aside(stamp.stamp_path(self.project_dir, name), f"{name}.json")  # the ready-marker goes first
        self._folder_aside(name, edited)
        (self._trash_dir() / f"{PLACING}{name}").touch()  # after a crash, names the folder as ours (`clean_leftovers`)
        os.rename(staged_path, dest)

        def unplace() -> None:  # rename first: a folder half deleted is never left at `dest`
            os.rename(dest, staged_path)
            remove_tree(staged_path, ignore_errors=True)

        self._undo.append(unplace)
        self._undo.append(lambda: stamp.remove_stamp(self.project_dir, name))
        stamp.write_stamp(self.project_dir, name, staged.commit, staged.hash, staged.records)

    def remove(self, name: str) -> bool:
        """Move model `name`'s folder, then its stamp, out of the way; True when there was a folder.

        Folder first: a crash in between leaves a stamp without a folder, which the next
        `xpm install` removes or replaces (never an unstamped folder xpm no longer knows is its own)."""
        folder = stamp.vendored_root(self.project_dir, name)
        existed = os.path.lexists(folder)
        self._folder_aside(name, self._edited(name))
        self._aside(stamp.stamp_path(self.project_dir, name), f"{name}.json")
        return existed

    def move_in(self, folder: Path, dest: Path) -> None:
        """Rename the (staged) `folder` to `dest`, which must not exist: a restored model folder
        outside `xlm_models/` (`xpm install --from-run`); undone by renaming it back and deleting it."""
        made = not os.path.lexists(dest.parent)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "already exists", str(dest))
        os.rename(folder, dest)

        def unmove() -> None:
            os.rename(dest, folder)
            remove_tree(folder, ignore_errors=True)
            if made:  # xpm deletes only what it made
                os.rmdir(dest.parent)

        self._undo.append(unmove)

    def write(self, path: Path, text: str) -> None:
        """Write `text` to `path` at `commit` (files are written in the order given)."""
        self._files[Path(path)] = text

    def delete(self, path: Path) -> None:
        """Move the file `path` aside now (put back on undo); it is gone once `commit` ends."""
        self._files.pop(Path(path), None)
        self._aside(Path(path), f"file-{Path(path).name}")

    # ------------------------------------------------------------------------- the end
    def commit(self) -> None:
        """Write the files (temporary files first, then renames), then delete what was moved aside."""
        temps: list[tuple[Path, Path]] = []
        try:
            for path, text in self._files.items():
                temps.append((write_temp(path, text), path))
            if len(temps) > 1:  # one rename is atomic; several, after a crash, are finished from this
                write_atomic(self._trash_dir() / JOURNAL, json.dumps(
                    {"renames": [[tmp.name, path.name] for tmp, path in temps if path.parent == self.project_dir]}))
            for tmp, path in temps:
                old = _read(path)
                os.replace(tmp, path)
                self._undo.append(lambda path=path, old=old: _put_back(path, old))
        finally:
            for tmp, _ in temps:
                tmp.unlink(missing_ok=True)  # after a rename there is nothing left to unlink
        self._open = False
        for name, why, kept in self._edits:
            print(f"warning: model '{name}': {why}; the folder as it was is kept in {kept.relative_to(self.project_dir)}\n"
                  f"  to work on a model, use a working copy: xpm develop {name} PATH", file=sys.stderr)
        if self._trash is not None:
            try:
                remove_tree(self._trash, ignore_errors=True)
            except KeyboardInterrupt:  # the command is done: Ctrl-C only stops the clean-up, which the next command finishes
                pass

    def rollback(self) -> None:
        """Undo every step, newest first; one that fails does not stop the others."""
        self._open = False
        failed = []
        while self._undo:
            step = self._undo.pop()
            try:
                step()
            except OSError as exc:
                failed.append(exc)
        if self._trash is not None and not failed:  # else what it holds may be needed by hand
            remove_tree(self._trash, ignore_errors=True)
        for exc in failed:  # the error that stopped the command is reported by the caller
            print(f"warning: could not undo a step ({exc}); run `xpm install` to repair xlm_models/", file=sys.stderr)

    # ------------------------------------------------------------------------- edits in xlm_models/
    def _edited(self, name: str) -> str | None:
        """Why `xlm_models/<name>/` may hold someone's work (its files differ from its own stamp;
        or no stamp vouches for it), or None for a folder as xpm installed it, or none at all.
        Every file is re-hashed: stat data may prove a file unchanged for a check that only
        reads, not before the folder goes (a same-size edit whose mtime was put back)."""
        from xlm.errors import first_of
        from xlm.shown import show

        if not stamp.vendored_root(self.project_dir, name).is_dir():
            return None
        found = stamp.load_stamp(self.project_dir, name)
        if found is None:
            return f"xlm_models/{name} has no install stamp xpm can trust, so it may hold edits"
        changes = stamp.changed_files(self.project_dir, name, found, full=True, held=True)
        if not changes:
            return None
        return f"your edits to xlm_models/{name} ({first_of([show(p) for p in changes.paths], 3)}) were not the locked code"

    def _folder_aside(self, name: str, edited: str | None) -> None:
        """Move model `name`'s folder out of the way: into the trash, or, when it may hold someone's
        work (`_edited`), straight to `xlm_models/.xpm/edits/<name>-<time>/`, where it stays
        whatever happens next (a failure, Ctrl-C, a kill); a folder that cannot go there stops the
        command, which changes nothing. Never a user's work deleted."""
        import time

        folder = stamp.vendored_root(self.project_dir, name)
        if edited is None:
            self._aside(folder, name)
            return
        kept = stamp.models_dir(self.project_dir) / stamp.STATE_DIR / "edits" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        while os.path.lexists(kept):
            kept = kept.with_name(kept.name + "-1")
        os.rename(folder, kept)
        self._undo.append(lambda: os.rename(kept, folder))
        self._edits.append((name, edited, kept))

    # ------------------------------------------------------------------------- helpers
    def _aside(self, path: Path, label: str) -> None:
        """Move `path` (if it exists) into this transaction's trash folder, to put back on undo."""
        if not os.path.lexists(path):
            return
        target = self._trash_dir() / label
        os.rename(path, target)
        self._undo.append(lambda: os.rename(target, path))

    def _trash_dir(self) -> Path:
        if self._trash is None:
            root = stamp.models_dir(self.project_dir) / stamp.STATE_DIR / "trash"
            root.mkdir(parents=True, exist_ok=True)
            while True:
                candidate = root / os.urandom(4).hex()
                try:
                    candidate.mkdir()
                    break
                except FileExistsError:
                    continue
            self._trash = candidate
        return self._trash


def finish_interrupted_commit(project_dir: Path, trash: Path) -> None:
    """Make the renames a killed commit recorded in `trash` and did not make. The record is read
    as hostile: a rename is made only of `.<file>.<hex>.tmp` onto `<file>`, both plain names in
    the project folder."""
    try:
        renames = json.loads((trash / JOURNAL).read_text(encoding="utf-8"))["renames"]
    except (OSError, ValueError, KeyError, TypeError):
        renames = []
    for pair in renames if isinstance(renames, list) else []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            continue
        tmp, name = pair
        found = _TEMP.match(tmp)
        if found is None or found["name"] != name or "/" in name or name in (".", ".."):
            continue
        source = project_dir / tmp
        if source.is_file() and not source.is_symlink():
            os.replace(source, project_dir / name)


def remove_temporary_files(project_dir: Path, names: tuple[str, ...]) -> None:
    """Delete `.<name>.<hex>.tmp` of each of `names` in `project_dir`: no rename will take them."""
    try:
        entries = os.listdir(project_dir)
    except OSError:
        return
    for entry in entries:
        found = _TEMP.match(entry)
        if found is not None and found["name"] in names:
            try:
                os.unlink(project_dir / entry)
            except OSError:
                pass


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _put_back(path: Path, old: bytes | None) -> None:
    if old is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, old.decode("utf-8"))  # it was read as UTF-8 before the command changed it
