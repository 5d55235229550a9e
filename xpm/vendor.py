"""Vendoring: a commit's tree becomes `xlm_models/<name>/`, or nothing changes.

The sequence for one model, each step a reason for the next:
1. export the commit (subdir only) from git's objects into `xlm_models/.xpm/staging/<name>-*`
   (same file system, so the final rename is atomic), after `xpm.tree_rules` accepted every
   entry, hashing each file as it is written;
2. compare its content hash with the lock's; validate it with xlm's static rules (a parallel
   install validates in another process while its thread fetches the next model: `validated`
   waits for the verdict);
3. `xpm.transaction` moves the old stamp (the ready-marker) and folder aside, renames the
   staged folder into place, then writes the new stamp last; every model of a command, and
   its lock, change together or not at all. A crash leaves either the old folder, or a folder
   without a stamp that the next `xpm install` replaces.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from xpm import stamp
from xpm.errors import HashMismatch, XpmError
from xpm.removal import remove_tree


class Staged:
    """An export waiting to be moved into place, once `validated` (which sets its `package`).
    `warnings`: e.g. Git LFS pointers, shown, not fatal; `verdict`: the package, or NotAModel."""

    def __init__(self, name: str, path: Path, commit: str, hash: str, package: str | None, records: list,
                 warnings: list[str] | None = None, verdict: Callable[[], str | None] | None = None):
        self.name, self.path, self.commit, self.hash, self.package = name, path, commit, hash, package
        self.records, self.warnings, self.verdict = records, [] if warnings is None else warnings, verdict

    def __repr__(self) -> str:
        return f"Staged({self.name!r}, {str(self.path)!r}, {self.commit[:12]!r})"


def staging_root(project_dir: Path) -> Path:
    return stamp.models_dir(project_dir) / stamp.STATE_DIR / "staging"


def stage(git, mirror: Path, project_dir: Path, name: str, commit: str, subdir: str | None,
          origin: str, expected_hash: str | None, submit=None) -> Staged:
    """Export and hash one model, and start its validation; the caller waits for it
    (`validated`), then places or discards the result.

    The export hashes every file as it writes it (the records `hashing.records` would read
    back), and validation only reads, so nothing is read twice. `submit` starts a validation
    (see `xpm.validation_worker`; default: in this thread, now)."""
    from xpm import hashing, validate
    from xpm.git.checkout import export_tree
    from xpm.tree_rules import Limits

    limits = Limits.from_env()  # a bad value is the user's error: before any folder is made
    root = staging_root(project_dir)
    try:
        path = _new_folder(root, name)
    except FileNotFoundError:  # the first model of a run (install starts by deleting staging/)
        stamp.ensure_models_dir(project_dir)
        root.mkdir(parents=True, exist_ok=True)
        path = _new_folder(root, name)
    try:
        export = export_tree(git, mirror, commit, subdir, path, name, limits)
        digest = hashing.tree_hash(export.records)
        if expected_hash is not None and digest != expected_hash:
            raise HashMismatch(name, expected_hash, digest, commit)
        inspection = (submit or validate.inspect_now)(path, name)
    except BaseException:
        remove_tree(path, ignore_errors=True)
        raise

    def verdict() -> str | None:
        return validate.check_model(path, name, f"{origin} (commit {commit[:12]})", f"{name}@{commit[:7]}", export.warnings,
                                    inspection())

    return Staged(name, path, commit, digest, None, export.records, export.warnings, verdict)


def validated(staged: Staged) -> Staged:
    """`staged`, its validation waited for and its package known; raises NotAModel (its folder
    deleted) when the model is not valid."""
    if staged.verdict is not None:
        try:
            staged.package = staged.verdict()
        except BaseException:
            discard(staged)
            raise
        staged.verdict = None
    return staged


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder with the permissions the export gives the model's folders:
    0755 less the umask (`tempfile.mkdtemp`'s 0700 would leave the installed model unreadable
    to others; 0777 made the root world-writable under umask 000, its folders not)."""
    while True:
        path = parent / f"{prefix}-{os.urandom(4).hex()}"  # not `secrets`: it imports hashlib
        try:
            path.mkdir(0o755)
            return path
        except FileExistsError:
            continue


def discard(staged: Staged) -> None:
    remove_tree(staged.path, ignore_errors=True)


def refuse_foreign_folder(project_dir: Path, name: str, line: str, locked_hash: str | None) -> None:
    """Never replace a folder that may be the user's own: one without a stamp, unless its files
    hash to the lock's `locked_hash` (a stamp deleted by hand). A name in the lock proves
    nothing: a clone of the project may land where the user keeps a folder of that name."""
    folder = stamp.vendored_root(project_dir, name)
    if not folder.exists() or stamp.read_stamp(project_dir, name) is not None:
        return
    if locked_hash is not None:
        from xpm.hashing import hash_dir

        try:
            if hash_dir(folder) == locked_hash:
                return  # the locked files, unstamped: replacing them loses nothing
        except OSError:
            pass
    raise XpmError(
        f"{folder} exists and was not installed by xpm; installing '{line}' would replace it",
        "move that folder elsewhere (or rename the model), then run the command again",
    )


def installed_names(project_dir: Path) -> list[str]:
    """Models xpm installed, i.e. those with a stamp: what install may remove."""
    stamps = stamp.models_dir(project_dir) / stamp.STATE_DIR / "stamps"
    try:
        return sorted(p.stem for p in stamps.glob("*.json"))
    except OSError:
        return []


def freshness(project_dir: Path, name: str, commit: str, content_hash: str) -> str:
    """'fresh' (the folder holds `commit` with that content: stat data that disagree, as after a
    copy of the project, were checked by re-hashing those files and refreshed) or 'stale'.
    Called with the project's lock held."""
    state = stamp.vendored_state(project_dir, name, commit, content_hash, held=True)
    return "fresh" if state.kind == "ok" else "stale"


def clean_leftovers(project_dir: Path) -> None:
    """Staging and trash folders of an interrupted run (the caller holds the project's lock, so
    its run has ended), and each model folder it was placing and never stamped: never needed
    again. A folder without a stamp that no trash names may be the user's own: it stays."""
    from xlm.manifest import name_problem
    from xpm.transaction import PLACING

    trash = stamp.models_dir(project_dir) / stamp.STATE_DIR / "trash"
    markers = [m for t in _names(trash) for m in _names(trash / t) if m.startswith(PLACING)]
    for marker in markers:
        name = marker.removeprefix(PLACING)
        if name_problem(name) is None and stamp.read_stamp(project_dir, name) is None:  # a marker is read as hostile too
            remove_tree(stamp.vendored_root(project_dir, name), ignore_errors=True)
    for sub in ("staging", "trash"):
        remove_tree(stamp.models_dir(project_dir) / stamp.STATE_DIR / sub, ignore_errors=True)


def finish_interrupted_commits(project_dir: Path) -> None:
    """Before a command reads the project: finish a commit killed between the renames of its
    files (`transaction.finish_interrupted_commit`), and delete the temporary files of project
    files that no rename will take. The caller holds the project's lock."""
    from xlm.manifest import MODELS_FILE_NAME
    from xlm.overrides import OVERRIDES_NAME
    from xpm.lock import LOCK_NAME
    from xpm.transaction import finish_interrupted_commit, remove_temporary_files

    trash = stamp.models_dir(project_dir) / stamp.STATE_DIR / "trash"
    for folder in _names(trash):
        finish_interrupted_commit(project_dir, trash / folder)
    remove_temporary_files(project_dir, (LOCK_NAME, MODELS_FILE_NAME, OVERRIDES_NAME, ".gitignore"))


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:  # none, or not a folder
        return []
