"""`xpm outdated`: for each git model, what it asks for, what is locked, and what is newer.

Each remote's refs are read once (`git ls-remote`, several remotes in parallel, as `xpm
install` does, under the same cache and mirror locks) and kept as the mirror's refs snapshot;
`--offline` reads that snapshot instead. What a request allows is `xpm.resolve` on that data,
so the columns are tested from a table. Nothing in the project changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from xpm.errors import XpmError
from xpm.project import Project
from xpm.resolve import RefList, Resolved, describe, kept_pin, newest_allowed, newest_overall
from xpm.sync import Options

UNKNOWN = "?"  # the remote's refs could not be read (or, offline, were never listed)
GONE = "gone"  # the requested ref no longer exists upstream


@dataclass(frozen=True)
class Row:
    name: str
    requested: str  # the @REF of .xlm_models, "-" for none (newest release, else default branch)
    locked: str  # as `xpm update` shows it: `v1.1.0 (de67e8d)`; "-" when not locked yet
    allowed: str  # the newest version the request allows: what `xpm update NAME` would lock
    latest: str  # the newest version upstream (release tag, else pre-release, else default branch)
    behind: bool  # `xpm update NAME` would move it


def rows(entries, lock, refs: dict[str, RefList | None]) -> list[Row]:
    """The table from data only: `refs` maps a model's name to its remote's refs (None: unknown)."""
    out = []
    for entry in entries:
        if not entry.is_git:
            continue
        src = entry.source
        locked = lock.get(entry.name) if lock else None
        locked = locked if locked is not None and locked.matches(entry) else None
        shown_lock = describe(locked.resolved or "", locked.commit) if locked else "-"
        known = refs.get(entry.name)
        if known is None:
            out.append(Row(entry.name, src.ref or "-", shown_lock, UNKNOWN, UNKNOWN, False))
            continue
        allowed = newest_allowed(src.ref, known)
        if locked is not None and locked.pins_commit():
            allowed = Resolved(locked.commit, "")
        elif kept_pin(locked, entry, known) is not None:
            allowed = None  # a tag pin whose tag is gone: `xpm update` keeps its commit
        if allowed is not None and not isinstance(allowed, Resolved):  # a short commit id off every ref tip:
            allowed = Resolved(locked.commit, "") if locked else None  # a commit is a commit (history would say which)
            shown = describe(allowed.ref, allowed.commit) if allowed else UNKNOWN
        else:
            shown = describe(allowed.ref, allowed.commit) if allowed else GONE
        latest = newest_overall(known)
        out.append(Row(
            entry.name, src.ref or "-", shown_lock, shown,
            describe(latest.ref, latest.commit) if latest else "-",
            allowed is not None and (locked is None or (allowed.commit, allowed.ref) != (locked.commit, locked.resolved or "")),
        ))
    return out


def read_refs(entries, options: Options) -> tuple[dict[str, RefList | None], list[XpmError]]:
    """Each git model's remote refs, one listing per remote (in parallel); with `options.offline`
    the snapshot the cache kept. Returns them by model name, and the errors of remotes that
    could not be read (their models map to None)."""
    from xpm.git.remote import canonical_url

    groups: dict[str, list] = {}
    for entry in entries:
        if entry.is_git:
            groups.setdefault(canonical_url(entry.source.url), []).append(entry)
    ordered = [groups[key] for key in sorted(groups)]
    found: dict[str, RefList | None] = {}
    errors: list[XpmError] = []

    def collect(group, result) -> None:
        if isinstance(result, XpmError):
            errors.append(result)
            result = None
        for entry in group:
            found[entry.name] = result

    if options.offline:  # the snapshot is replaced atomically: reading it needs no lock
        for group in ordered:
            collect(group, _snapshot(group[0].source.url, options))
        return found, errors
    from xpm.project import holding_cache

    with holding_cache(shared=True):
        from xpm.parallel import run_all

        # a remote's error is a returned value (in a 1-tuple); an exception raised is the command's
        for group, result in zip(ordered, run_all([lambda group=group: (_listed(group, options),) for group in ordered], options.jobs,
                                                  on_stop=options.git.stop)):
            if isinstance(result, Exception):
                raise result
            collect(group, result[0])
    return found, errors


def _snapshot(url: str, options: Options) -> RefList | None:
    from xpm.git.database import Database
    from xpm.project import cache_dir

    db = Database(options.git, cache_dir(), url)
    return db.load_refs() if db.exists() else None


def _listed(group, options: Options) -> RefList | XpmError:
    """One `git ls-remote` for the models of one remote, kept as the mirror's snapshot."""
    from xlm.manifest import without_userinfo
    from xpm.errors import RemoteError
    from xpm.git.database import Database
    from xpm.git.remote import list_refs
    from xpm.locks import hold
    from xpm.project import cache_dir

    url, names = group[0].source.url, [entry.name for entry in group]
    db = Database(options.git, cache_dir(), url)
    warnings: list[str] = []
    try:
        for name in names:
            if options.progress is not None:
                options.progress(name, f"listing the refs of {url}")
        with hold(db.lock_path, f"the cache's mirror of {without_userinfo(db.url)}", stopped=options.git.stopped), db.kept_if_filled():
            db.clear_git_locks()
            db.ensure()  # git runs in the mirror, never in the caller's folder
            refs = list_refs(options.git, url, db.path, warnings.append)
            db.save_refs(refs)
    except RemoteError as exc:  # unreachable, authentication, a timeout: the other remotes still count
        return exc.about(names)
    finally:
        if options.warn is not None:
            for message in warnings:
                options.warn(names[0], message)
    return refs


def outdated(project: Project, options: Options) -> tuple[list[Row], list[XpmError]]:
    entries = project.entries()
    refs, errors = read_refs(entries, options)
    return rows(entries, project.lock(), refs), errors


@click.command("outdated")
@click.option("--offline", is_flag=True, help="Use the refs each remote advertised when last listed (the cache's snapshot).")
@click.pass_context
def outdated_cmd(ctx: click.Context, offline: bool) -> None:
    """Show, for each git model, what is locked and what is newer upstream.

    \b
    Columns:
      REQUESTED  the @REF of .xlm_models (-: newest release, else the default branch)
      LOCKED     what xlm.lock pins now
      ALLOWED    the newest version REQUESTED allows: what `xpm update NAME` would lock
      LATEST     the newest version upstream: release tag, else pre-release, else the
                 default branch's head
    ? means the remote's refs could not be read; gone, that the requested ref no longer
    exists. Exit status 0, outdated or not; 1 when a remote could not be read.

    \b
    Examples:
      xpm outdated              list every remote's refs (one `git ls-remote` each)
      xpm outdated --offline    from the refs last listed, no network
    """
    from xpm.commands import _options, _project, echo_table

    project = _project(ctx)
    table, errors = outdated(project, _options(ctx, offline))
    if not table:
        click.echo(f"no git models in {project.models_file}: nothing is outdated")
    else:
        echo_table([("NAME", "REQUESTED", "LOCKED", "ALLOWED", "LATEST"),
                    *((r.name, r.requested, r.locked, r.allowed, r.latest) for r in table)])
        behind = [r.name for r in table if r.behind]
        if behind:
            click.echo(f"`xpm update {' '.join(behind)}` locks ALLOWED; beyond what a model requests: xpm add SOURCE@TAG")
    unlisted = [r.name for r in table if offline and r.allowed == UNKNOWN]
    if unlisted:  # the refs could not be read, as for an unreachable remote: exit 1, so `|| alert` notices
        raise XpmError(f"the cache holds no refs of the remote of {', '.join(unlisted)} yet; they show {UNKNOWN}",
                       "run `xpm outdated` once without --offline")
    for exc in errors:
        click.echo(exc.render().replace("error: ", "warning: ", 1), err=True)
    if errors:
        raise XpmError(
            f"could not read the refs of {len(errors)} remote(s); their models show {UNKNOWN}",
            "check the network and the messages above, or run `xpm outdated --offline` for the refs last listed",
        )
