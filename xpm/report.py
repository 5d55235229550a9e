"""What `xpm list`, `xpm verify` and `xpm update` report of a project, read-only: a row per model,
a verdict per vendored folder, the newer releases of pinned models. Loaded only by those
commands, so an install never pays for their records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlm.manifest import GitSource
from xpm import stamp
from xpm.lock import Lock, LockEntry
from xpm.ops import overrides, refused_overrides, with_ref
from xpm.project import Project
from xpm.sync import Options


@dataclass(frozen=True)
class Pin:
    """What `xpm update` says of a model pinned to one version (an exact tag or a commit)."""

    newer: list[str]  # final-release tags newer than the pin; the newest ones when its version is unknown
    version_known: bool  # whether the pin reads as a version (a tag, or a commit a version tag points at)
    move: str  # the `xpm add` argument that moves it to the newest of them ("" when there is none)


def pins(project: Project, lock: Lock, options: Options) -> dict[str, Pin]:
    """The pinned git models of `lock` (`xpm.resolve.is_pin`) and the tags newer than each, from
    the refs its remote advertised when last listed (by the update that just ran): no network."""
    from xpm.git.database import Database
    from xpm.project import cache_dir
    from xpm.resolve import is_pin, pinned_version, releases_after

    listed = {entry.name: entry for entry in project.entries()}
    found = {}
    for name, locked in lock.entries.items():
        entry = listed.get(name)
        if entry is None or not entry.is_git or locked.kind != "git" or not is_pin(locked.requested, locked.resolved or ""):
            continue
        refs = Database(options.git, cache_dir(), locked.source).load_refs()
        if refs is None:  # never listed (a commit resolved from the cache): nothing to compare with
            continue
        version = pinned_version(refs, locked.resolved or "", locked.commit)
        newer = releases_after(refs, version)
        move = with_ref(entry.text, entry.source.ref, newer[0]) if newer else ""
        found[name] = Pin(newer, version is not None, move)
    return found


@dataclass(frozen=True)
class Row:
    name: str
    source: str
    requested: str
    resolved: str
    commit: str
    state: str  # ok, modified, missing, incomplete, other commit (`stamp.State`), not installed, local, override -> PATH


def list_models(project: Project) -> list[Row]:
    from dataclasses import replace

    from xpm.names import skipped_by_xlm

    lock_ = project.lock()
    overridden = overrides(project)
    skipped = skipped_by_xlm(project.models_file)
    refused = refused_overrides(project, overridden, skipped) if overridden else {}
    rows = []
    for entry in project.entries():
        row = _row(project, lock_, entry)
        if entry.name in overridden:  # xlm uses the working copy (whatever xlm_models/ holds), or refuses every job
            state = f"override -> {overridden[entry.name].root(project.root)}"
            row = replace(row, state=state + ("  (xlm refuses it: see `xlm models`)" if entry.name in refused else ""))
        elif row.state in ("ok", "local") and entry.name in skipped:  # in place, and yet no job can use it
            row = replace(row, state=f"{row.state}  (xlm skips it: see `xlm models`)")
        rows.append(row)
    return rows


def _row(project: Project, lock_: Lock | None, entry) -> Row:
    if not entry.is_git:
        from xpm.project import local_model_dirs

        found = any(path.is_dir() for path in local_model_dirs(project.root, entry.name, entry.source))
        return Row(entry.name, entry.text, "", "", "", "local" if found else "local (not found: see `xlm models`)")
    from xpm.resolve import short_ref

    src: GitSource = entry.source  # type: ignore[assignment]
    locked = lock_.get(entry.name) if lock_ else None
    if locked is None or not locked.matches(entry):
        return Row(entry.name, src.url, src.ref or "", "", "", "not installed")
    return Row(entry.name, src.url, src.ref or "", short_ref(locked.resolved or "") or locked.commit[:7],
               locked.commit[:7], _state(project, locked))


def _state(project: Project, locked: LockEntry) -> str:
    return stamp.vendored_state(project.root, locked.name, locked.commit, locked.hash).kind


@dataclass(frozen=True)
class Verdict:
    name: str
    state: str  # ok, modified, missing, incomplete, other commit (`stamp.State`), not locked (listed, lock lacks it)
    expected: str | None = None  # the lock's hash
    actual: str | None = None  # the folder's hash (None when a fifo or the like leaves it undefined)
    modified: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commit: str | None = None  # the lock's commit
    installed: str | None = None  # the commit the folder's stamp records

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def verify(project: Project) -> list[Verdict]:
    """Re-hash every vendored git model and compare with the lock (as `go mod verify`).

    The folder must hold the lock's commit (its stamp says so, and the stamp's records hash to
    the lock's hash) and every file must hash as the stamp records: `stamp.vendored_state`, the
    check xlm and `xpm list` make, with every file read instead of only those whose stat data
    changed."""
    lock_ = project.lock()
    verdicts = []
    for entry in project.entries():
        if not entry.is_git:
            continue
        locked = lock_.get(entry.name) if lock_ else None
        if locked is None or not locked.matches(entry):
            verdicts.append(Verdict(entry.name, "not locked"))
            continue
        state = stamp.vendored_state(project.root, entry.name, locked.commit, locked.hash, full=True)
        c = state.changes
        installed = state.stamp.commit if state.stamp is not None else None
        verdicts.append(Verdict(entry.name, state.kind, locked.hash, c.tree_hash, c.modified, c.added, c.deleted,
                                locked.commit, installed))
    return verdicts
