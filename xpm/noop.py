"""The no-op proof: a warm `xpm install` with nothing to do answers from one file.

A warm `xpm install` that finds nothing to do still imports the manifest, lock and stamp
modules, parses the lock and checks every model's requirements: most of its time is spent
before it can say `up to date`. As cargo's fingerprints do, an install that ended clean
(every model the locked one, no warning, no overrides note, requirements met, and nothing
changed while it ran) writes `xlm_models/.xpm/noop.json`, the proof, recording what that
answer depended on:

- the exact text of `.xlm_models`, `xlm.lock` and `xlm.overrides.toml` (or that it is absent);
- this interpreter (`sys.executable`, `sys.prefix`, `sys.version`) and every `sys.path`
  entry's mtime and inode (installing, removing or upgrading a distribution adds or removes
  a `*.dist-info` folder, which changes its folder's mtime): the requirements check;
- `xlm_models/`, its `.xpm/` state folders (no symbolic link, no interrupted transaction left
  in `staging/` or `trash/`) and the stamps folder's listing;
- per model, its stamp's inode, size and mtime, and the stamp's per-file mode, size, mtime and ctime.

`up_to_date` (os, sys and json only: it runs before anything else of xpm is imported) checks
all of it: the files' content decides, and each vendored file must pass the stamps' own
stat-only test (`xlm.records.statcheck`, the one `changed_files` uses). The proof can only
prove that nothing changed: on any doubt (no proof, a damaged or hostile one, any difference,
any error) the full install runs, as if there were no proof, and writes a new one when it
ends clean. Like the stamps' stat data it is a cache of the project's own state, not a
defence against someone who forges it: deleting it only costs one full check.
"""

from __future__ import annotations

import json
import os
import stat
import sys

from xlm.records.statcheck import all_proven

FORMAT = 1
PROOF_NAME = "noop.json"
# The project's layout (xlm.manifest.MODELS_FILE_NAME, xpm.lock.LOCK_NAME, xlm.overrides.OVERRIDES_NAME,
# xlm.records.stamps.MODELS_DIR / STATE_DIR), repeated so the check imports none of them; a test keeps them equal.
PROJECT_FILES = (".xlm_models", "xlm.lock", "xlm.overrides.toml")
MODELS_DIR, STATE_DIR = "xlm_models", ".xpm"
_MAX_FILE_BYTES = 16 << 20  # a project file or proof larger than this is never proven (xlm.textfile refuses far less)
_MAX_PROOF_BYTES = 256 << 20  # a proof of 20 models of 50,000 files each stays below it
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def proof_path(root: str) -> str:
    return os.path.join(root, MODELS_DIR, STATE_DIR, PROOF_NAME)


def _layout(root: str) -> list[str]:
    """The paths `xpm.project.Project.check_layout` refuses as links (their identity is recorded)."""
    models = os.path.join(root, MODELS_DIR)
    state = os.path.join(models, STATE_DIR)
    return [models, state, *(os.path.join(state, sub) for sub in ("stamps", "staging", "trash", "lock")),
            os.path.join(models, ".gitignore")]


def _interrupted(root: str) -> bool:
    """Whether an interrupted command left its work in `staging/` or `trash/` (the next install deletes it)."""
    state = os.path.join(root, MODELS_DIR, STATE_DIR)
    folders = (os.path.join(state, "staging"), os.path.join(state, "trash"))
    return any(_identity(path) is not None and os.listdir(path) for path in folders)


def _stamps_dir(root: str) -> str:
    return os.path.join(root, MODELS_DIR, STATE_DIR, "stamps")


def environment() -> list:
    """What the requirements check depends on: this interpreter and what is installed for it."""
    paths = []
    for entry in sys.path:  # as written: a relative one (an editable install's path hook) is looked up from here
        try:
            st = os.stat(entry or os.curdir)
        except (OSError, ValueError):
            paths.append([entry, None])
            continue
        paths.append([entry, [st.st_mtime_ns, st.st_ino, st.st_dev]])
    return [sys.executable, sys.prefix, sys.version, paths]


def _code() -> list:
    """This xpm: its version and where it is installed (another checkout writes its own proof)."""
    from xlm import __version__

    return [__version__, os.path.dirname(os.path.abspath(__file__))]


def _identity(path: str) -> list | None:
    """lstat's file type and inode of `path`, None when there is nothing there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return [stat.S_IFMT(st.st_mode), st.st_ino, st.st_dev]


def _stamp_identity(path: str) -> list:
    st = os.lstat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _read(path: str, limit: int, follow: bool = True) -> bytes | None:
    """The bytes of the regular file `path` (None when there is none); never blocks on a fifo."""
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | (0 if follow else _NOFOLLOW))
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise ValueError(f"{path} is no small regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"{path} grew past {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _project_root(start: str | None) -> str | None:
    """The folder of the nearest `.xlm_models` above `start`, as `xlm.manifest.find_models_file` finds it."""
    here = os.path.realpath(os.path.expanduser(start) if start else os.getcwd())
    while True:
        if os.path.lexists(os.path.join(here, PROJECT_FILES[0])):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


# ----------------------------------------------------------------------------- the check
def up_to_date(start: str | None) -> bool:
    """Whether the proof shows that `xpm install` in the project of `start` (None: the current
    folder) has nothing to do and nothing to warn about. False on any doubt, never an error."""
    try:
        return _holds(start)
    except Exception:  # a damaged or hostile proof, a folder that vanished: the full install decides
        return False


def _holds(start: str | None) -> bool:
    if os.environ.get("XLM_MODELS_FILE"):
        return False  # the project is named by the environment: left to the full path
    root = _project_root(start)
    if root is None:
        return False
    raw = _read(proof_path(root), _MAX_PROOF_BYTES, follow=False)
    if raw is None:
        return False
    proof = json.loads(raw)
    if not (isinstance(proof, dict) and proof.get("format") == FORMAT and proof.get("root") == root
            and proof.get("code") == _code() and proof.get("env") == environment()):
        return False
    files, layout, listing, models, ignored = (proof.get(k) for k in ("files", "layout", "stamps", "models", "ignored"))
    expected = [os.path.join(root, name) for name in PROJECT_FILES]
    if not (isinstance(files, dict) and sorted(files) == sorted(expected) and isinstance(layout, dict)
            and sorted(layout) == sorted(_layout(root)) and isinstance(listing, list) and isinstance(models, list)
            and isinstance(ignored, list) and all(isinstance(name, str) for name in ignored)):
        return False
    for path, text in files.items():
        data = _read(path, _MAX_FILE_BYTES)
        if (None if data is None else data.decode("utf-8")) != text:
            return False
    if any(_identity(path) != value for path, value in layout.items()):
        return False
    if _interrupted(root):
        return False  # the full install deletes that work
    stamps = _stamps_dir(root)
    if sorted(os.listdir(stamps)) != listing:
        return False  # a stamp added or removed: a model to remove, or a folder to claim
    if sorted(f"{model['name']}.json" for model in models) != sorted(name for name in listing if name.endswith(".json")):
        return False
    for model in models:
        name, recorded, records, ctimes = model["name"], model["stamp"], model["files"], model["ctimes"]
        if not (isinstance(name, str) and os.sep not in name and isinstance(recorded, list) and isinstance(records, dict)
                and isinstance(ctimes, dict)):
            return False
        if _stamp_identity(os.path.join(stamps, f"{name}.json")) != recorded:
            return False
        if not all_proven(os.path.join(root, MODELS_DIR, name), records, recorded[2], frozenset(ignored), ctimes):
            return False
    return True


# ----------------------------------------------------------------------------- writing it
def snapshot(root) -> dict | None:
    """The project files and the environment as a command starts (None when a file cannot be
    read as text: no proof then). `record` compares them with what it finds at the end."""
    root = str(root)
    files = {}
    try:
        for name in PROJECT_FILES:
            path = os.path.join(root, name)
            data = _read(path, _MAX_FILE_BYTES)
            files[path] = None if data is None else data.decode("utf-8")
    except (OSError, ValueError):
        return None
    return {"files": files, "env": environment()}


def record(project, before: dict | None, lock) -> None:
    """After an `xpm install` (`xpm.cli.install_command`): write the proof when `lock` (the lock
    it ended with; None when it did not end clean) is exactly the lock file, nothing changed
    since `before` was taken, and every model is its locked, stat-clean folder. Else remove an
    old proof. Never fails the command: a project that cannot be written gets no proof."""
    path = proof_path(str(project.root))
    try:
        text = _proof_text(project, before, lock)
        if text is None:
            if os.path.lexists(path) and not os.path.islink(os.path.dirname(path)):
                os.unlink(path)
            return
        from xlm.textfile import write_atomic

        write_atomic(path, text, durable=False)  # a proof lost in a power cut costs one full check
    except Exception:  # a read-only or full project, a file that vanished: the install itself succeeded
        pass


def _proof_text(project, before: dict | None, lock) -> str | None:
    from xlm.records.stamps import load_stamp
    from xlm.records.treehash import IGNORED_DIRS
    from xpm.lock import frozen_diff

    root = str(project.root)
    if before is None or lock is None or snapshot(root) != before:
        return None  # not clean, or something changed while the command ran
    if frozen_diff(project.entries(before["files"][os.path.join(root, PROJECT_FILES[0])] or ""), lock):
        return None
    layout = {path: _identity(path) for path in _layout(root)}
    if any(value is not None and value[0] == stat.S_IFLNK for value in layout.values()):
        return None
    if layout[os.path.join(root, MODELS_DIR, STATE_DIR)] is None:
        return None  # no state folder (no model installed): nothing to write the proof into
    if _interrupted(root):
        return None
    listing = sorted(os.listdir(_stamps_dir(root))) if layout[_stamps_dir(root)] is not None else []
    if sorted(name for name in listing if name.endswith(".json")) != sorted(f"{name}.json" for name in lock.entries):
        return None
    models = []
    for name, entry in sorted(lock.entries.items()):
        stamp = load_stamp(project.root, name)
        if entry.kind != "git" or stamp is None or (stamp.commit, stamp.hash) != (entry.commit, entry.hash):
            return None  # a local model (its folder is not covered) or not the locked tree
        identity = _stamp_identity(os.path.join(_stamps_dir(root), f"{name}.json"))
        files = {path: rec[:3] for path, rec in stamp.files.items()}
        if identity[1:] != [len(stamp.raw), stamp.mtime_ns] or not all_proven(
                os.path.join(root, MODELS_DIR, name), files, stamp.mtime_ns, IGNORED_DIRS, stamp.ctimes):
            return None  # re-hashed on every check (racily clean files): the full path refreshes the stamp
        models.append({"name": name, "stamp": identity, "files": files, "ctimes": stamp.ctimes})
    return json.dumps({"format": FORMAT, "code": _code(), "root": root, "env": before["env"], "files": before["files"],
                       "layout": layout, "stamps": listing, "ignored": sorted(IGNORED_DIRS), "models": models})
