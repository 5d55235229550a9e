"""`xpm install --from-run PATH`: put back, byte for byte, the models a run used.

PATH is a run folder (its `models.lock`: docs/reproducibility.md) or a checkpoint, whose
record `xlm.records.find` finds: the run folder around a checkpoint first; only a checkpoint
without one is opened, and without torch (`xlm.records.checkpoint` unpickles its zip's pickle
into plain data, so nothing of the file runs and no weight is read).

Per model of the record (`xlm.records.runs`, read as hostile input):

- `vendored`: its `.xlm_models` line (source, requested ref, subdir) and its `xlm.lock` entry
  at the recorded commit go into the project; the commit is fetched and exported as `xpm
  install` does, and must hash to the recorded hash;
- `path` and `override` (a local folder; a working copy used instead of a vendored model): the
  folder is rebuilt as `xlm_restored/<name>/` and listed as `./xlm_restored/<name>`: exported
  from its recorded commit (from the work tree the run saw, when it is still on this machine,
  else from its remote), then, when it was dirty, the saved patch is applied to it with `git
  apply` in the staging folder (no code of the repository runs); a folder that was not in git
  is copied from where it was, if it is still there. The result must hash to the recorded hash;
- `core`, `installed`: not xpm's to restore (they come with xlm, or with a pip distribution):
  a note says what the run used when it is not what is installed here.

Everything is staged first. A model the run used that cannot be restored (a folder that no
longer exists, a commit its remote lacks, a missing patch, content that hashes otherwise) is
named with what is missing, and nothing is written; one the run did not use is left out with
a warning. Then one `xpm.transaction.Transaction` places the models and writes `.xlm_models`,
`xlm.lock` and, when a restored model was overridden, `xlm.overrides.toml`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from xlm.errors import first_of
from xlm.manifest import NEW_FILE_HEADER, GitSource, add_entry_text, replace_entry_text
from xlm.records.runs import ModelRecord, RunRecord
from xlm.shown import show
from xpm import stamp, vendor
from xpm.errors import HashMismatch, XpmError
from xpm.lock import Lock, LockEntry, changed_text, local_entry
from xpm.project import Project, holding_cache
from xpm.rebuild import (IN_THE_WAY, NOT_REBUILDABLE, Unrestorable, check_rebuilt_links, commit_in_cache, differing,
                         line_endings_as_recorded, rebuild, what_commit)
from xpm.removal import remove_tree

RESTORED_DIR = "xlm_restored"  # where models that were local folders are rebuilt, next to .xlm_models


@dataclass
class Step:
    """One model, staged and ready to be put in place (or already there: `kept`)."""

    model: ModelRecord
    line: str  # its .xlm_models line
    said: str  # what the command prints
    lock: LockEntry | None = None  # a git model's lock entry
    staged: vendor.Staged | None = None  # a git model's export, for `Transaction.place`
    folder: Path | None = None  # a local model's staged folder, moved to `dest`
    dest: Path | None = None
    kept: bool = False


@dataclass
class Restored:
    """What `restore` did, for the command to print."""

    origin: str  # the run folder or checkpoint read
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # core and installed models, said once
    skipped: list[str] = field(default_factory=list)  # models the run did not use, which could not be restored
    ended: list[str] = field(default_factory=list)  # overrides ended: the restored code is used instead


# ----------------------------------------------------------------------------- restoring
def _find_record(path: str | Path) -> RunRecord:
    """The run's record; for a checkpoint, its run folder's `models.lock` first (no checkpoint opened)."""
    from xlm.records.find import find_record
    from xlm.records.lockfile import LockFileError

    try:
        return find_record(path, folder_first=True)
    except LockFileError as exc:
        raise XpmError(exc.what, exc.fix) from None


def restore(project: Project, path: str | Path, options) -> Restored:
    """Restore the models of the run at `path` into `project` (see the module docstring)."""
    from xpm.ops import _writing

    record = _find_record(path)
    if not record.run.recorded:
        raise XpmError(f"{record.origin}: the run recorded no models (it ran with record_models=false)",
                       "restore from a run that recorded its models")
    restored_dir = project.root / RESTORED_DIR
    if restored_dir.is_symlink():
        raise XpmError(f"{restored_dir} is a symbolic link (to {show(os.readlink(restored_dir))}); xpm writes only inside "
                       "the project and its cache", f"remove the link (rm {restored_dir}: its target stays as it is), then run the command again")
    done = Restored(record.origin)
    if all(model.kind in ("core", "installed") for model in record.models.values()):
        done.notes = [note for name in sorted(record.models) if (note := _note(record.models[name], record))]
        return done  # nothing xpm restores: the project is left as it is (none is created)
    failed: list[tuple[ModelRecord, Unrestorable]] = []
    with _writing(project) as tx:
        vendor.clean_leftovers(project.root)  # staging and trash of an interrupted command
        try:
            with holding_cache(shared=True):
                for name in sorted(record.models):
                    model = record.models[name]
                    if model.kind in ("core", "installed"):
                        if note := _note(model, record):
                            done.notes.append(note)
                        continue
                    try:
                        done.steps.append(_vendored(project, model, options) if model.kind == "vendored"
                                          else _folder(project, model, record, options))
                    except Unrestorable as exc:
                        failed.append((model, exc))
            fatal = [(m, why) for m, why in failed if m.used]
            if fatal:
                lines = "\n    - ".join(f"model '{m.name}' ({m.kind}): {why}" for m, why in fatal)
                fixes = list(dict.fromkeys(why.fix for _, why in fatal))
                raise XpmError(f"cannot restore {len(fatal)} model(s) that {record.origin} used; nothing was changed:\n    - {lines}",
                               ("; ".join(fixes) + ", then run the command again") if fixes != [NOT_REBUILDABLE]
                               else NOT_REBUILDABLE)
            done.skipped = [f"model '{m.name}' ({m.kind}, not used by the run) was not restored: {why}" for m, why in failed]
            _commit(project, tx, done)
        except BaseException:
            for step in done.steps:
                if step.staged is not None:
                    vendor.discard(step.staged)
                if step.folder is not None:
                    remove_tree(step.folder, ignore_errors=True)
            raise
    return done


def _note(model: ModelRecord, record: RunRecord) -> str | None:
    """What to say of a model xpm does not restore, when what runs here may differ from the run's."""
    if model.kind == "core":
        from importlib.metadata import version

        here = version("xlm")
        if record.run.xlm and record.run.xlm != here:
            return f"note: '{model.name}' is a core model: it comes with xlm; the run used xlm {record.run.xlm}, this is xlm {here}"
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        here = version(model.source)
    except (PackageNotFoundError, ValueError):
        here = None
    if here == model.version:
        return None
    pin = f"{model.source}=={model.version}" if model.version else model.source
    have = f"{here} is installed" if here else "it is not installed"
    return f"note: '{model.name}' came from the installed distribution {pin} ({have}); xpm does not install it: pip install '{pin}'"


def _vendored(project: Project, model: ModelRecord, options) -> Step:
    """A git model at its recorded commit, exported from the cache (fetched when it lacks it)."""
    from xlm.requirements import DeclarationError, read_declared
    from xpm.resolve import describe

    line = GitSource(model.source, model.requested, model.subdir).named(model.name).spec()
    entry = LockEntry(model.name, "git", model.source, model.requested, model.resolved, model.commit, model.subdir,
                      model.hash, model.package, model.requires, model.requires_python)
    shown = describe(model.resolved or "", model.commit)
    if vendor.freshness(project.root, model.name, model.commit, model.hash) == "fresh":
        try:
            declared = read_declared(stamp.vendored_root(project.root, model.name))
        except DeclarationError as exc:
            raise Unrestorable(f"its requirements cannot be read: {exc.what} ({exc.where})") from None
        entry = entry._replace(requires=declared.requires, requires_python=declared.python)
        return Step(model, line, f"{model.name}: {shown} already installed (content hash verified)", entry, kept=True)
    folder = stamp.vendored_root(project.root, model.name)
    if os.path.lexists(folder) and stamp.read_stamp(project.root, model.name) is None:
        raise Unrestorable(f"{folder} exists and was not installed by xpm: move it elsewhere", IN_THE_WAY)
    db = commit_in_cache([(model.source, model.source)], model.commit, model.name, options)
    try:
        staged = vendor.validated(vendor.stage(options.git, db.path, project.root, model.name, model.commit, model.subdir, line,
                                               model.hash))
    except HashMismatch:
        raise Unrestorable(f"commit {model.commit[:12]} of {model.source} no longer hashes to the recorded "
                           f"{model.hash} (its content changed upstream?)", NOT_REBUILDABLE) from None
    except XpmError as exc:
        raise Unrestorable(exc.what) from None
    try:
        declared = read_declared(staged.path)
    except DeclarationError as exc:
        vendor.discard(staged)
        raise Unrestorable(f"its requirements cannot be read: {exc.what}") from None
    entry = entry._replace(package=staged.package, requires=declared.requires, requires_python=declared.python)
    return Step(model, line, f"{model.name}: restored {shown}, content hash verified", entry, staged=staged)


def _folder(project: Project, model: ModelRecord, record: RunRecord, options) -> Step:
    """A local folder (or working copy) rebuilt in `xlm_restored/<name>/`, hashing as the run's did."""
    from xlm.records.treehash import hash_dir, records, tree_hash

    dest = project.root / RESTORED_DIR / model.name
    line = f"./{RESTORED_DIR}/{model.name}"
    if model.hash is None:
        raise Unrestorable(f"the run recorded no content hash for it ({model.note or 'no reason given'})", NOT_REBUILDABLE)
    if os.path.lexists(dest):
        if dest.is_dir() and not dest.is_symlink() and hash_dir(dest) == model.hash:
            return Step(model, line, f"{model.name}: {dest} already holds the run's files (content hash verified)", kept=True)
        raise Unrestorable(f"{dest} exists and holds other files than the run used (an earlier --from-run's, or edited): "
                           "xpm never replaces a folder there, which may hold work", IN_THE_WAY)
    if model.dirty and model.name not in record.patches:
        raise Unrestorable(f"its files differed from {what_commit(model)}, and the run saved no patch of them"
                           + (f" ({model.note})" if model.note else ""), NOT_REBUILDABLE)
    staging = vendor.staging_root(project.root)
    staging.mkdir(parents=True, exist_ok=True)
    folder = vendor._new_folder(staging, model.name)
    try:
        how = rebuild(project, model, record, folder, options)
        recs = records(folder)
        if tree_hash(recs) != model.hash and (converted := line_endings_as_recorded(folder, recs, record.tree(model.name))):
            how += f" + line endings as checked out ({first_of((show(p, 80) for p in converted), 3)})"
            recs = records(folder)
        if (got := tree_hash(recs)) != model.hash:
            raise Unrestorable(f"{how} hashes to {got}, not to the recorded {model.hash}{differing(record, model, folder)}",
                               NOT_REBUILDABLE)
        check_rebuilt_links(folder, [r.path for r in recs if r.mode == "120000"], model.name)
        from xpm.validate import check_model

        try:
            check_model(folder, model.name, how, f"{model.name}@{RESTORED_DIR}")
        except XpmError as exc:
            raise Unrestorable(f"{how} is not a valid xlm model: {exc.what}", NOT_REBUILDABLE) from None
    except BaseException:
        remove_tree(folder, ignore_errors=True)
        raise
    return Step(model, line, f"{model.name}: restored into {dest} ({how}), content hash verified", folder=folder, dest=dest)


# ----------------------------------------------------------------------------- writing
def _as_listed(entry, line: str) -> str:
    """`line` (a run's git source and ref) in the user's own spelling of the listed `entry` when it
    names the same repository and subdir: only the ref changes, as `xpm add` moves a model."""
    from xlm.manifest import parse_source
    from xpm.git.remote import canonical_url
    from xpm.ops import with_ref

    _, source = parse_source(line)
    old = entry.source
    if (isinstance(old, GitSource) and isinstance(source, GitSource) and old.subdir == source.subdir
            and canonical_url(old.url) == canonical_url(source.url)):
        return with_ref(entry.text, old.ref, source.ref)
    return line


def _commit(project: Project, tx, done: Restored) -> None:
    """Place every staged model; write .xlm_models, xlm.lock and xlm.overrides.toml; commit."""
    from xpm.ops import overrides, write_overrides

    text = project.read_text()
    new_text = text or NEW_FILE_HEADER
    for step in done.steps:
        listed = {e.name: e for e in project.entries(new_text)}
        if step.model.name in listed:
            new_text = replace_entry_text(new_text, step.model.name, _as_listed(listed[step.model.name], step.line))
        else:
            new_text = add_entry_text(new_text, step.line)
    previous = project.lock()
    old = previous.entries if previous else {}
    restored = {step.model.name: step for step in done.steps}
    locked: dict[str, LockEntry] = {}
    for entry in project.entries(new_text):
        step = restored.get(entry.name)
        if step is not None and step.lock is not None:
            locked[entry.name] = step.lock
        elif not entry.is_git:
            locked[entry.name] = local_entry(entry)
        elif entry.name in old and old[entry.name].matches(entry):
            locked[entry.name] = old[entry.name]  # a model the run did not have stays as it was
    for step in done.steps:
        if step.staged is not None:
            tx.place(step.staged)
        elif step.folder is not None:
            tx.move_in(step.folder, step.dest)
            step.folder = None  # the transaction owns it now
            if stamp.read_stamp(project.root, step.model.name) is not None:
                tx.remove(step.model.name)  # it was vendored: a local folder replaces it
    current = overrides(project)
    for name in sorted(set(current) & set(restored)):
        done.ended.append(f"{name} -> {current.pop(name).root(project.root)}")
    if done.ended:
        write_overrides(project, tx, current)
    if (lock_text := changed_text(project.lock_file, Lock(locked))) is not None:
        tx.write(project.lock_file, lock_text)
    if new_text != text:
        tx.write(project.models_file, new_text)
    tx.commit()
