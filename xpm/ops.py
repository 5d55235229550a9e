"""The actions behind each command: plain functions that tests call directly.

Each takes a Project, holds its lock while it reads and writes, and returns data the CLI
prints. Order of writes (each one atomic): vendored folders, then xlm.lock, then .xlm_models,
all in one `xpm.transaction.Transaction`: a failure at any step undoes the others, and a crash
between two leaves a state the next `xpm install` repairs.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

from xlm.manifest import (NEW_FILE_HEADER, SOURCE_FIX, GitSource, LocalSource, ManifestError, add_entry_text, parse_source,
                          normalised_name, replace_entry_text, show)
from xpm import stamp, vendor
from xpm.errors import FrozenMismatch, XpmError
from xpm.lock import Lock, changed_text, frozen_diff
from xpm.project import Project, refuse_linked_file
from xpm.removal import remove_tree
from xpm.sync import Options, Outcome, sync
from xpm.transaction import Transaction


def _finish(project: Project, tx: Transaction, outcome: Outcome, text: str | None = None) -> Outcome:
    """Write the lock when it changed, then the manifest text when one is given; commit it all."""
    if outcome.lock != outcome.previous and (lock_text := changed_text(project.lock_file, outcome.lock)) is not None:
        tx.write(project.lock_file, lock_text)
        outcome.lock_written = True
    if text is not None and text != project.read_text():
        tx.write(project.models_file, text)
    tx.commit()
    return outcome


@contextmanager
def _writing(project: Project):
    """Run a command that writes, in one transaction: refuse an unsafe `xlm_models/` first, hold
    the project's lock; on failure undo every change, and remove `xlm_models/` if this command
    created it (xpm deletes only what it made)."""
    project.check_layout()
    created = not os.path.lexists(project.models_dir)
    try:
        with project.holding(), Transaction(project.root) as tx:
            vendor.finish_interrupted_commits(project.root)  # a commit killed halfway: finished before anything is read
            yield tx
    except BaseException:
        if created:  # nothing of the user's can be in it: it did not exist when we started
            remove_tree(project.models_dir, ignore_errors=True)
        raise


def install(project: Project, options: Options, frozen: bool = False) -> Outcome:
    """Make xlm_models/ match the lock; lock new or changed entries (never with `frozen`)."""
    try:
        return _install(project, options, frozen)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or (lock := _as_locked_read_only(project)) is None:
            raise
        return Outcome(lock, lock)  # a project on a read-only mount (a container image) that is as locked: nothing to write


def _as_locked_read_only(project: Project) -> Lock | None:
    """The lock of a project xpm cannot write (so cannot lock) that holds what the lock pins, else
    None: the lock as `.xlm_models` asks, every git model's folder its locked content (read, not
    written: a stamp whose stat data disagree is checked by re-hashing), no installed model left
    to remove."""
    entries, lock = project.entries(), project.lock()
    if lock is None or frozen_diff(entries, lock):
        return None
    git = [lock.entries[e.name] for e in entries if e.is_git]
    if any(vendor.freshness(project.root, entry.name, entry.commit, entry.hash) != "fresh" for entry in git):
        return None
    return lock if set(vendor.installed_names(project.root)) <= {entry.name for entry in git} else None


def _install(project: Project, options: Options, frozen: bool) -> Outcome:
    with _writing(project) as tx:
        entries = project.entries()
        if frozen:
            diff = frozen_diff(entries, project.lock())
            if diff:
                raise FrozenMismatch(str(project.lock_file), diff)
            outcome = sync(project, entries, options, tx=tx)
            tx.commit()  # the folders only: --frozen never writes the lock
            return outcome
        return _finish(project, tx, sync(project, entries, options, tx=tx))


def lock(project: Project, options: Options) -> Outcome:
    """Resolve and write the lock without touching xlm_models/."""
    options.install = False
    with _writing(project) as tx:
        return _finish(project, tx, sync(project, project.entries(), options, tx=tx))


def lock_check(project: Project) -> list[str]:
    """Why the lock is out of date with .xlm_models ([] when it is not). No network."""
    return frozen_diff(project.entries(), project.lock())


def update(project: Project, options: Options, names: list[str]) -> Outcome:
    """Re-resolve the refs of `names` (all models when empty) and install the result."""
    with _writing(project) as tx:
        entries = project.entries()
        known = {e.name for e in entries}
        wanted = {listed_name(name, known) for name in names} if names else {e.name for e in entries if e.is_git}
        return _finish(project, tx, sync(project, entries, options, update=wanted, tx=tx))


def add(project: Project, spec: str, options: Options) -> tuple[str, Outcome, bool]:
    """Add SOURCE[@REF][#subdir=...] to .xlm_models, lock and install it; for a model already
    listed from that source, move it to REF (as `uv add` / `cargo add`: its line keeps its
    place and comment). Returns the name, the outcome, and whether it was listed before."""
    try:
        name, source = parse_source(spec)
    except ManifestError as exc:
        fix = "write host/path[@ref][#subdir=dir], a URL (file:///abs/repo for a repository on disk), or ./path/to/model"
        raise XpmError(f"cannot add '{show(spec)}': {exc.what}", fix if exc.fix == SOURCE_FIX else exc.fix) from None
    with _writing(project) as tx:  # a failed first `xpm add` leaves the folder as it was (no xlm_models/)
        text = project.read_text()
        listed = next((entry for entry in project.entries(text) if entry.name == name), None)
        if listed is not None:
            new_text = replace_entry_text(text, name, _moved_entry(project, listed, source, spec))
        else:
            if isinstance(source, LocalSource):
                _check_local_folder(project, spec, name, source)
            new_text = add_entry_text(text or NEW_FILE_HEADER, spec.strip())
        outcome = _finish(project, tx, sync(project, project.entries(new_text), options, tx=tx), new_text)
        return name, outcome, listed is not None


def _check_local_folder(project: Project, spec: str, name: str, source: LocalSource) -> None:
    """A local model is added only where xlm will find it: at its path, or for a bare name in
    a folder xlm looks it up in (`xlm.external.discovery.search_dirs`)."""
    from xpm.project import local_model_dirs

    looked = local_model_dirs(project.root, name, source)
    if source.path:
        if not looked[0].is_dir():
            raise XpmError(f"cannot add '{spec}': no folder {project.root / source.path}", "check the path (relative to the project)")
        return
    if not any(path.is_dir() for path in looked):
        raise XpmError(f"cannot add '{spec}': no model folder '{name}' where xlm looks for one ({', '.join(map(str, looked))})",
                       f"create it (`xpm new {name}`), give its path (`xpm add ./path/to/{name}`), or add a git source (HOST/PATH@REF)")


def _moved_entry(project: Project, listed, source, spec: str) -> str:
    """The line text that moves the listed model to the ref `spec` asks for: its own spelling
    of the source, with only the ref replaced. Refused when `spec` is another source (another
    repository or subdir, or a local model): that is another model, never swapped in silently."""
    from xpm.git.remote import canonical_url

    old = listed.source
    if isinstance(old, LocalSource) and isinstance(source, LocalSource) and _same_folder(project, listed.name, old, source):
        return listed.text  # the same local model again (`./m/`, an absolute path, ...): nothing to change
    same = (isinstance(old, GitSource) and isinstance(source, GitSource)
            and canonical_url(old.url) == canonical_url(source.url) and old.subdir == source.subdir)
    if not same:
        move = f"to move it to another ref: `xpm add {with_ref(listed.text, old.ref, 'REF')}`; " if isinstance(old, GitSource) else ""
        raise XpmError(
            f"model '{listed.name}' is already listed at {listed.where()} ('{listed.text}'), from another source than '{show(spec.strip())}'",
            f"{move}to use '{show(spec.strip())}' instead, `xpm remove {listed.name}` first",
        )
    return with_ref(listed.text, old.ref, source.ref)


def _same_folder(project: Project, name: str, listed: LocalSource, asked: LocalSource) -> bool:
    """Whether two spellings of a local model (`./m`, `./m/`, `/abs/m`, a bare `m`) name one folder."""
    from xpm.project import local_model_dirs

    def folder(source):
        return next((path.resolve() for path in local_model_dirs(project.root, name, source) if path.is_dir()), None)

    if listed == asked:
        return True
    found = folder(listed)
    return found is not None and found == folder(asked)


def with_ref(text: str, ref: str | None, new_ref: str | None) -> str:
    """The git entry `text` (as written, asking for `ref`) asking for `new_ref` instead; the rest
    stays as the user spelled it (`git@host:lab/m@v1#subdir=x` -> `git@host:lab/m@v2#subdir=x`)."""
    base, hash_, fragment = text.partition("#")  # a ref never holds '#': it starts the fragment
    if ref is not None:
        base = base.removesuffix(f"@{ref}")
    return base + (f"@{new_ref}" if new_ref else "") + hash_ + fragment


def remove(project: Project, name: str) -> tuple[str, bool]:
    """Remove the line, the lock entry, the vendored folder and the override (`xpm develop`) of
    `name` (no network). Returns the model's listed name (`name` may be pip's spelling of it)
    and whether an override ended."""
    with _writing(project) as tx:
        text = project.read_text()
        name = listed_name(name, {e.name for e in project.entries(text)})
        previous = project.lock()
        locked = previous.get(name) if previous else None
        ours = (locked is not None and locked.kind == "git") or stamp.read_stamp(project.root, name) is not None
        if ours:  # never a local model's folder
            tx.remove(name)
        if previous is not None and name in previous.entries:
            lock_text = changed_text(project.lock_file, Lock({k: v for k, v in previous.entries.items() if k != name}))
            if lock_text is not None:
                tx.write(project.lock_file, lock_text)
        tx.write(project.models_file, replace_entry_text(text, name, None))
        current = overrides(project)
        ended = current.pop(name, None) is not None  # an override of a model no longer listed would dangle
        if ended:
            write_overrides(project, tx, current)
        tx.commit()
        return name, ended


def listed_name(name: str, known: set[str]) -> str:
    """The listed model `name` means, in its own spelling or pip's (`awesome-lm` is `awesome_lm`,
    as `xpm add` named it); else the error, with the names that come close."""
    import difflib

    for candidate in (name, normalised_name(name)):
        if candidate in known:
            return candidate
    near = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise XpmError(f"model '{show(name)}' is not in .xlm_models", f"{hint}models listed: {', '.join(sorted(known)) or 'none'}")


def overrides(project: Project) -> dict:
    """The project's `xlm.overrides.toml` (`xpm develop`) by model name; an error names its line."""
    from xlm.overrides import read_overrides
    from xlm.textfile import TextFileError

    try:
        return read_overrides(project.root)
    except TextFileError as exc:
        raise XpmError(str(exc), exc.fix) from None


def write_overrides(project: Project, tx, current: dict) -> None:
    """Write `current` (name -> Override) as the project's `xlm.overrides.toml` at `tx.commit()`;
    the file goes when no override is left."""
    from xlm.overrides import overrides_file, overrides_text

    path = overrides_file(project.root)
    refuse_linked_file(path)
    if current:
        tx.write(path, overrides_text(list(current.values())))
    else:
        tx.delete(path)


def refused_overrides(project: Project, found: dict, skipped: dict | None = None) -> dict:
    """xlm's own verdict (`xlm.external.discovery`) on each override it refuses, by name: a
    missing folder, one inside xlm_models/, a model .xlm_models does not list, and a folder
    xlm finds but skips (not a valid model, a conflict: `skipped`, else asked of xlm). xpm
    says of them what every xlm job will."""
    from xlm.external.discovery import resolve_override, unlisted_override
    from xlm.external.errors import Problem

    entries = {entry.name: entry for entry in project.entries()}
    verdicts = {name: resolve_override(entries[name], item, project.root) if name in entries
                else unlisted_override(item, project.root) for name, item in found.items()}
    refused = {name: verdict for name, verdict in verdicts.items() if isinstance(verdict, Problem)}
    if len(refused) < len(found):
        if skipped is None:
            from xpm.names import skipped_by_xlm

            skipped = skipped_by_xlm(project.models_file)
        refused.update({name: skipped[name] for name in found if name not in refused and name in skipped})
    return refused


def overrides_note(project: Project, frozen: bool) -> str | None:
    """What `xpm install` says of the overrides (None when there are none): they are not part of
    the lock, and --frozen installs exactly the lock; one xlm refuses is a warning, with xlm's
    fix. Never fails: a file that cannot be read is named."""
    from xlm.overrides import OVERRIDES_NAME, read_overrides
    from xlm.textfile import TextFileError

    try:
        found = read_overrides(project.root)
    except TextFileError as exc:
        return f"note: {'--frozen ignores' if frozen else 'install ignores'} {OVERRIDES_NAME}, which cannot be read ({exc})"
    if not found:
        return None
    from xlm.errors import first_of

    refused = refused_overrides(project, found)
    lines = [f"warning: {p.what} ({p.where})\n  fix: {p.fix}" for _, p in sorted(refused.items())]
    used = [o for o in sorted(found.values(), key=lambda o: o.name) if o.name not in refused]
    shown = first_of([f"{o.name} -> {o.root(project.root)}" for o in used], 8)
    if used and frozen:
        lines.insert(0, f"note: --frozen ignores the overrides of {OVERRIDES_NAME} ({shown}): xlm_models/ holds exactly "
                        f"what xlm.lock pins, but xlm uses the overrides until `xpm develop --off NAME`")
    elif used:
        lines.insert(0, f"note: overridden by working copies ({shown}): xlm uses them, not xlm_models/ "
                        "(`xpm develop --off NAME` ends one)")
    return "\n".join(lines)
