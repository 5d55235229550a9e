"""A local folder a run used (`path`, `override`), rebuilt for `xpm install --from-run`.

From its recorded commit (fetched from the work tree the run saw when it is still here, else
from its remote), then the run's saved patch applied with `git apply` outside any repository;
a folder that was not in git is copied from where it was. What cannot be rebuilt is an
`Unrestorable`, whose fix says what the failure needs. `xpm.restore` checks the result's hash,
links and validity, and places it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from xlm.errors import first_of
from xlm.records.runs import ModelRecord, RunRecord
from xlm.records.statcheck import as_local
from xlm.shown import show
from xpm.errors import XpmError
from xpm.project import Project, cache_dir
from xpm.removal import remove_tree

MISSING = "bring back what is missing (push the commit, put the folder back)"
IN_THE_WAY = "move the folder in the way elsewhere"
NOT_REBUILDABLE = ("what the run recorded cannot be rebuilt byte for byte: get that code by hand (its commit, "
                   "the run's models/NAME.patch), or train again on code as it is now")


class Unrestorable(Exception):
    """Why one model cannot be restored, in words, and the kind of fix it needs."""

    def __init__(self, what: str, fix: str = MISSING):
        super().__init__(what)
        self.fix = fix



def line_endings_as_recorded(folder: Path, recs: list, recorded: dict | None) -> list[str]:
    """Give each file that differs from the record only in its line endings the recorded ones;
    return their paths.

    A repository's `.gitattributes` (`eol=crlf`, `text`) or `core.autocrlf` converts line endings
    on checkout: the run hashed the work tree, the export wrote git's blobs. No attribute is read:
    a file is converted only when the result has the recorded sha256, byte for byte."""
    import hashlib
    import re

    converted = []
    for rec in recs:
        want = (recorded or {}).get(rec.path)
        if want is None or want == (rec.mode, rec.sha256) or rec.mode not in ("100644", "100755") or want[0] != rec.mode:
            continue
        path = os.path.join(folder, *as_local(rec.path).split("/"))
        with open(path, "rb") as handle:
            data = handle.read()
        for candidate in (re.sub(rb"(?<!\r)\n", b"\r\n", data), data.replace(b"\r\n", b"\n")):
            if candidate != data and hashlib.sha256(candidate).hexdigest() == want[1]:
                with open(path, "wb") as handle:
                    handle.write(candidate)
                converted.append(rec.path)
                break
    return converted


def check_rebuilt_links(folder: Path, paths: list[str], name: str) -> None:
    """The rule of a fetched tree for the rebuilt one: every symlink (`paths`, relative) stays
    inside the model (a patch or a copied folder may hold one to `/etc/passwd`, which `xpm add`
    refuses)."""
    from xpm.tree_rules import SYMLINK, Entry, UnsafeTree, check_links

    links = {path: os.fsencode(os.readlink(os.path.join(folder, *as_local(path).split("/")))) for path in paths}
    try:
        check_links([Entry(path, SYMLINK, "", len(target)) for path, target in links.items()], links, f"model '{name}'")
    except UnsafeTree as exc:
        raise Unrestorable(f"the run's files hold what xpm never installs: {exc.what.removeprefix(f'model {name!r} ')}",
                           NOT_REBUILDABLE) from None


def what_commit(model: ModelRecord) -> str:
    return f"commit {model.commit[:12]}" if model.commit else "its work tree (no commit yet)"


def rebuild(project: Project, model: ModelRecord, record: RunRecord, folder: Path, options) -> str:
    """Write the model's recorded files into the empty `folder`; returns how, in words."""
    how = []
    if model.commit is not None:
        from xpm.git.checkout import export_tree
        from xpm.tree_rules import Limits

        sources, gone = _sources(model)
        db = commit_in_cache(sources, model.commit, model.name, options, gone)
        try:
            export_tree(options.git, db.path, model.commit, model.subdir, folder, model.name, Limits.from_env())
        except XpmError as exc:
            raise Unrestorable(exc.what, NOT_REBUILDABLE) from None  # the commit is there: its tree is what xpm refuses
        how.append(f"commit {model.commit[:12]}")
    elif not model.dirty:  # a folder outside git: only where it was can it come from
        source = Path(model.path or model.source)
        if not source.is_dir():
            raise Unrestorable(f"it was a folder outside git ({source}), which no longer exists: nothing to restore it from")
        remove_tree(folder)
        _copy_folder(source, folder)
        return f"copied from {source}"
    if model.dirty:
        _apply(options.git, record.patches[model.name], folder, model)
        how.append(f"{model.patch} applied")
    return " + ".join(how)


def _copy_folder(source: Path, dest: Path) -> None:
    """Copy the folder a run used as an export writes a tree: folders, regular files and links
    (copied as links, checked later like a tree's), within the model limits, counted as it goes.
    `source` is named by the record, which is outside input: a fifo there would block the copy
    and a device never end it (`/dev`), so either is refused, as a tree with one would be."""
    from xlm.records.treehash import IGNORED_DIRS, job_output
    from xpm.tree_rules import Limits

    limits, files, size = Limits.from_env(), 0, 0
    folders = [(source, dest, 1)]
    while folders:
        here, there, depth = folders.pop()
        there.mkdir()
        with os.scandir(here) as entries:
            listed = list(entries)
        for entry in listed:
            target = there / entry.name
            if entry.name in IGNORED_DIRS:  # not in the content hash (`__pycache__`, `.pytest_cache`)
                continue
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir(follow_symlinks=False):
                if job_output(entry.path):  # what a job wrote there: not in the run's record of the folder
                    continue
                if depth >= limits.max_depth:
                    raise Unrestorable(f"{entry.path} is more than {limits.max_depth} levels deep in {source}",
                                       f"flatten it, or raise the limit with {Limits.VARIABLES['max_depth']}=N")
                folders.append((Path(entry.path), target, depth + 1))
                continue
            elif entry.is_file(follow_symlinks=False):
                size += entry.stat(follow_symlinks=False).st_size
                if size > limits.max_bytes:
                    raise Unrestorable(f"{source} holds more than {limits.max_bytes} bytes",
                                       f"a model is code and configs: move the data out, or raise {Limits.VARIABLES['max_bytes']}")
                shutil.copy2(entry.path, target, follow_symlinks=False)
            else:
                raise Unrestorable(f"{entry.path} is not a regular file (a fifo, a device or a socket), which no model holds",
                                   f"remove it from {source}")
            files += 1
            if files > limits.max_files:
                raise Unrestorable(f"{source} holds more than {limits.max_files} files",
                                   f"a model is code and configs: move the data out, or raise {Limits.VARIABLES['max_files']}")


def _sources(model: ModelRecord) -> tuple[list[tuple[str, str]], str]:
    """Where the recorded commit can be fetched from, as (URL, how to name it): the work tree the
    run saw (when it is still here: no network), then its remote; and what is gone, in words."""
    found, gone = [], ""
    repository = Path(model.repository) if model.repository else None
    if repository is not None and repository.is_absolute() and os.path.lexists(repository / ".git"):
        found.append((repository.as_uri(), f"the work tree {repository}"))
    elif model.repository:
        gone = f"its work tree {model.repository} no longer exists"
    else:
        gone = "the run recorded no work tree"
    if model.remote:
        found.append((model.remote, model.remote))
    if not found:
        raise Unrestorable(f"{gone}, and it has no remote to fetch commit {model.commit[:12]} from")
    return found, gone


def commit_in_cache(urls: list[tuple[str, str]], commit: str, name: str, options, gone: str = ""):
    """The cache mirror of the first of `urls` ((URL, its name in messages)) that has `commit`
    (fetched when the cache lacks it, unless --offline)."""
    from xlm.manifest import without_userinfo
    from xpm.errors import UnknownRef
    from xpm.git.database import Database
    from xpm.locks import hold

    why, fixes = ([gone] if gone else []), ([MISSING] if gone else [])
    for url, label in urls:
        db = Database(options.git, cache_dir(), url)
        with hold(db.lock_path, f"the cache's mirror of {without_userinfo(db.url)}"):
            if db.exists() and not db.missing([commit]):
                return db
            if options.offline:
                why.append(f"the cache has no commit {commit[:12]} of {label} (--offline)")
                fixes.append("run the command again without --offline")
                continue
            try:
                db.fetch([commit], {commit: name})
                return db
            except UnknownRef:
                guess = "history rewritten?" if label.startswith("the work tree ") else "never pushed, or history rewritten?"
                why.append(f"commit {commit} is not in {label} ({guess})")  # whole: which id was asked for
                fixes.append(MISSING)
            except XpmError as exc:  # a transport xpm refuses, a server that does not answer: its own fix
                why.append(exc.what)
                fixes.append(exc.fix or MISSING)
    raise Unrestorable("; ".join(why), "; ".join(dict.fromkeys(fixes)) or MISSING)


def _apply(git, patch: bytes, folder: Path, model: ModelRecord) -> None:
    """`git apply` the run's patch (paths relative to the repository's top) inside `folder`,
    which holds the model's subdir only; git applies it as `patch` would, outside any repository
    (the runner stops git from looking above `folder`), and refuses paths that leave it."""
    from xpm.errors import GitError

    strip = 1 + (len(model.subdir.split("/")) if model.subdir else 0)
    patch_file = folder.parent / f"{folder.name}.patch"
    patch_file.write_bytes(patch)
    try:
        git.run(["apply", f"-p{strip}", "--whitespace=nowarn", "--", str(patch_file)], cwd=folder)
    except GitError as exc:
        said = exc.stderr.splitlines()[0] if exc.stderr else f"exit {exc.returncode}"
        raise Unrestorable(f"{model.patch} does not apply to {what_commit(model)}: {said}", NOT_REBUILDABLE) from None
    finally:
        patch_file.unlink(missing_ok=True)


def differing(record: RunRecord, model: ModelRecord, folder: Path) -> str:
    """`: files that differ: a.py, b.py`, when the record has the model's file list."""
    recorded = record.tree(model.name)
    if recorded is None:
        return ""
    from xlm.records.treehash import records

    here = {r.path: (r.mode, r.sha256) for r in records(folder)}
    paths = sorted(p for p in set(recorded) | set(here) if recorded.get(p) != here.get(p))
    shown = first_of((show(p, 80) for p in paths), 10)
    return f": files that differ: {shown}" if paths else ""
