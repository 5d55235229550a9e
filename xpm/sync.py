"""Sync: make the lock (and, when installing, `xlm_models/`) match `.xlm_models`.

One code path for every command (as vendir's "sync locked"): each git entry gets a revision,
either `Locked` (the lock's commit, reused because the entry did not change and no update was
asked for) or `Deferred` (a ref still to resolve). Then, per remote and in parallel: resolve
the deferred refs, fetch the commits the cache lacks, export, validate and hash. Only when all
of that succeeded are folders moved into place and the lock written.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from xlm.manifest import Entry, GitSource
from xpm import vendor
from xpm.errors import HashMismatch, ModelErrors, NotACommit, OfflineMissing, UnknownRef, XpmError
from xpm.lock import Lock, LockEntry, local_entry
from xpm.lock_requirements import check_recorded, recorded_requirements, staged_requirements
from xpm.project import Project, cache_dir, holding_cache
from xpm.transaction import Transaction

# The git layer and resolution are imported where work starts: a warm `xpm install` whose
# folders match the lock never needs them, and it must start fast.


class Deferred(NamedTuple):
    """A ref still to resolve against the remote (None: newest tag, else default branch)."""

    ref: str | None


class Locked(NamedTuple):
    """A commit the lock already pins; the hash is checked again after export."""

    commit: str
    resolved: str
    hash: str | None


class Job:
    """One git entry on its way to the lock (a plain class: a dataclass costs each start ~0.5 ms)."""

    def __init__(self, entry: Entry, revision: Deferred | Locked, previous: LockEntry | None):
        self.entry, self.revision = entry, revision
        self.previous = previous  # the lock's entry before this run, for "old -> new"
        self.result: LockEntry | None = None
        self.staged: vendor.Staged | None = None
        self.error: XpmError | None = None  # what refused its tree (a hash, a rule): the remote's other models go on
        self.warnings: list[str] = []  # about its remote (e.g. unusable ref names)
        self.kept = False  # its locked tree stays in place: requirements are read from the vendored folder

    @property
    def source(self) -> GitSource:
        return self.entry.source  # type: ignore[return-value]


class Outcome:
    """What a sync did."""

    def __init__(self, lock: Lock, previous: Lock | None):
        self.lock, self.previous = lock, previous
        self.installed: list[str] = []  # names (re)placed in xlm_models/
        self.removed: list[str] = []
        self.lock_written = False


class Options:
    def __init__(self, install: bool = True, offline: bool = False, jobs: int = 8, git=None, progress=None, verbose: bool = False,
                 warn=None):
        self.install, self.offline, self.jobs, self.verbose = install, offline, max(1, jobs), verbose
        self._git = git  # an xpm.git.command.Git; tests pass a recording one
        self._git_lock = threading.Lock()
        self.progress = progress
        self.warn = warn  # warn(name, message): something the user should know, not an error
        self.submit = None  # starts validating a staged model (None: in the calling thread, at once); see run_jobs

    @property
    def git(self):
        """One Git for every thread of a parallel command (it asks git's version and the user's
        config once), made when first needed."""
        with self._git_lock:
            if self._git is None:
                from xpm.git.command import Git

                self._git = Git(verbose=self.verbose)
            return self._git


def plan(entries: list[Entry], lock: Lock | None, update: set[str] | None) -> tuple[list[Job], dict[str, LockEntry]]:
    """Decide, per entry, whether its locked commit is kept. `update` lists names to re-resolve."""
    jobs, fixed = [], {}
    for entry in entries:
        previous = lock.get(entry.name) if lock else None
        if not entry.is_git:
            fixed[entry.name] = local_entry(entry)
            continue
        # A commit id pins that commit: `update` re-reads no ref for it (a new branch whose tip
        # shares a short id's digits would move it). A tag pin is re-read: the tag may have moved.
        keep = previous is not None and previous.matches(entry) and not (update and entry.name in update and not previous.pins_commit())
        revision = Locked(previous.commit, previous.resolved or "", previous.hash) if keep else Deferred(entry.source.ref)
        jobs.append(Job(entry, revision, previous))
    return jobs, fixed


def _say(options: Options, name: str, message: str) -> None:
    if options.progress is not None:
        options.progress(name, message)


def _work_remote(url_jobs: list[Job], project: Project, options: Options) -> list[str]:
    """Resolve, fetch and stage every job of one remote. Returns what --offline lacked.

    Holds that remote's mirror lock throughout: a slow remote holds up only the projects that
    need the same remote. A damaged mirror is fetched again once, into a fresh mirror. An
    error about the remote names the models that needed it."""
    from xlm.manifest import without_userinfo
    from xpm.errors import CorruptMirror, RemoteError, last_line
    from xpm.git.database import Database
    from xpm.locks import hold

    db = Database(options.git, cache_dir(), url_jobs[0].source.url)
    names = [j.entry.name for j in url_jobs]
    try:
        with hold(db.lock_path, f"the cache's mirror of {without_userinfo(db.url)}", stopped=options.git.stopped), db.kept_if_filled():
            db.clear_git_locks()
            try:
                return _work_mirror(url_jobs, db, project, options)
            except Exception as exc:
                if not _damaged(exc, db):
                    raise
                if options.offline:
                    raise CorruptMirror(str(db.path), db.url, last_line(exc.stderr), offline=True) from None
            _unstage(url_jobs)
            for name in names:
                _say(options, name, "the cache's mirror is damaged: fetching again into a fresh one")
            db.replace()
            try:
                return _work_mirror([j for j in url_jobs if j.result is None], db, project, options)
            except Exception as exc:
                if _damaged(exc, db):
                    raise CorruptMirror(str(db.path), db.url, last_line(exc.stderr)) from None
                raise
    except RemoteError as exc:
        raise exc.about(names)


def _damaged(exc: Exception, db) -> bool:
    """Whether `exc` is git failing to read the mirror (and not, say, a hostile tree, or a git
    that Ctrl-C stopped: the mirror is kept)."""
    from xpm.errors import GitError, MirrorDamaged
    from xpm.git.failures import looks_corrupt

    if db.git.stopped.is_set():
        return False
    if isinstance(exc, MirrorDamaged):
        return True
    return type(exc) is GitError and exc.cwd == str(db.path) and looks_corrupt(exc.stderr)


def _unstage(url_jobs: list[Job]) -> None:
    """Forget what a first attempt exported from a damaged mirror: it is exported again."""
    for j in url_jobs:
        if j.staged is not None:
            vendor.discard(j.staged)
            j.staged = j.result = None


def _work_mirror(url_jobs: list[Job], db, project: Project, options: Options) -> list[str]:
    git, url = options.git, db.url
    missing: list[str] = []
    deferred = [j for j in url_jobs if isinstance(j.revision, Deferred)]
    resolving = {j.entry.name for j in deferred}
    if deferred:  # resolution is imported only here: a locked commit needs none of it
        from xpm.git.remote import list_refs
        from xpm.resolve import NeedsHistory, Resolved, kept_pin, resolve, unknown_ref

        if options.offline:
            refs = db.load_refs() if db.exists() else None
            if refs is None:
                missing.append(f"the refs of {url} (to resolve {', '.join(j.entry.text for j in deferred)})")
                url_jobs = [j for j in url_jobs if j not in deferred]
                deferred = []
        else:
            for j in deferred:
                _say(options, j.entry.name, f"resolving {j.entry.text}")
            db.ensure()  # git runs in the mirror, never in the caller's folder
            refs = list_refs(git, url, db.path, deferred[0].warnings.append)
            db.save_refs(refs)
        for j in deferred:
            try:
                if (found := kept_pin(j.previous, j.entry, refs)) is not None:
                    j.warnings.append(f"tag {j.source.ref} no longer exists upstream: the locked commit {short(found.commit)} "
                                      f"stays (to move: xpm add {j.source.url}@TAG)")
                else:
                    found = resolve(j.revision.ref, refs, url)
                if isinstance(found, NeedsHistory):
                    if not options.offline:
                        db.fetch_all()
                    commit = db.rev_parse(found.prefix) if db.exists() else None
                    if commit is None:
                        raise unknown_ref(found.prefix, refs, url)
                    db.pin([commit])
                    found = Resolved(commit, "")
            except UnknownRef as exc:
                raise UnknownRef(f"model '{j.entry.name}': {exc.what}", exc.fix) from None
            same = j.previous is not None and j.previous.commit == found.commit and j.previous.subdir == j.source.subdir
            j.revision = Locked(found.commit, found.ref, j.previous.hash if same else None)
            if same and (not options.install or vendor.freshness(project.root, j.entry.name, found.commit, j.previous.hash) != "stale"):
                # Resolved to the commit already locked (and installed): relock the ref, keep the
                # folder; nothing to fetch or export (`xpm update` with nothing new upstream).
                j.result = _lock_entry(j, j.previous.hash, j.previous.package, j.previous.requires, j.previous.requires_python)
                j.kept = True
        url_jobs = [j for j in url_jobs if j.result is None]
    commits = sorted({j.revision.commit for j in url_jobs})
    # The one place that decides whether to touch the network: only for commits the mirror lacks.
    lacking = db.missing(commits)
    if options.offline and (lacking or missing):
        # One line per model: two models of a monorepo may lack the same commit; and why a mirror
        # that is there does not count (one xpm will not run git in: `Database.untrusted`).
        why = db.untrusted()
        unused = ([f"a usable mirror of {url}: the one there is not as xpm makes it ({why}), so it is fetched again online"]
                  if why not in (None, "missing") else [])
        return unused + missing + [f"model '{j.entry.name}': commit {j.revision.commit[:12]} of {url}"
                                   for j in url_jobs if j.revision.commit in lacking]
    if lacking:
        for j in url_jobs:
            if j.revision.commit in lacking:
                _say(options, j.entry.name, f"fetching {short(j.revision.commit)} from {url}")
        asked = frozenset(j.revision.commit for j in url_jobs if j.source.ref is not None and not j.revision.resolved)
        db.fetch(lacking, {j.revision.commit: j.entry.name for j in url_jobs}, asked)
    if resolved := [j for j in url_jobs if j.entry.name in resolving]:
        _peel(resolved, db)
    from xpm.tree_rules import UnsafeTree

    for j in url_jobs:
        rev = j.revision
        _say(options, j.entry.name, f"exporting {short(rev.commit)}")
        j.error = None
        try:
            j.staged = vendor.stage(git, db.path, project.root, j.entry.name, rev.commit, j.source.subdir, j.entry.text,
                                    rev.hash, options.submit)
        except NotACommit as exc:  # say which tag or branch (a bare `xpm add` named none)
            j.error = exc.of_ref(rev.resolved) if rev.resolved else exc
        except (HashMismatch, UnsafeTree) as exc:  # this model's tree, not the mirror: the next one is exported too
            j.error = exc
    return missing


def _lock_staged(j: Job, project: Project) -> None:
    """Once its validation is in, the lock entry of what job `j` staged."""
    staged = vendor.validated(j.staged)
    declared = staged_requirements(j)
    j.result = _lock_entry(j, staged.hash, staged.package, declared.requires, declared.python)
    if j.revision.hash is not None and j.previous is not None:  # the lock's own tree: its record must agree
        check_recorded(project, j.previous, declared, j.revision.commit, staged.package)


def _peel(jobs: list[Job], db) -> None:
    """Lock the commit, never an annotated tag's own id: an id asked for with @ID, or a tag a
    server listed without its peeled line, may name a tag object (the export would peel it, and
    the lock would record an id that is no commit)."""
    peeled = db.peeled(sorted({j.revision.commit for j in jobs}))
    for j in jobs:
        commit = peeled.get(j.revision.commit, j.revision.commit)  # absent: a tree or a blob, which the export refuses
        if commit != j.revision.commit:
            j.revision = Locked(commit, j.revision.resolved, None)


def _lock_entry(job: Job, content_hash: str, package: str | None, requires: tuple[str, ...] | None = None,
                requires_python: str | None = None) -> LockEntry:
    rev, src = job.revision, job.source
    return LockEntry(
        name=job.entry.name, kind="git", source=src.url, requested=src.ref, resolved=rev.resolved,
        commit=rev.commit, subdir=src.subdir, hash=content_hash, package=package,
        requires=requires, requires_python=requires_python,
    )


def short(commit: str) -> str:
    return commit[:7]


def run_jobs(jobs: list[Job], project: Project, options: Options) -> None:
    """Run the per-remote work in parallel (bounded); stage everything or raise, leaving nothing."""
    from xpm.git.remote import canonical_url

    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(canonical_url(job.source.url), []).append(job)
    ordered = [groups[k] for k in sorted(groups)]
    from xpm.parallel import run_all
    from xpm.validation_worker import inspecting

    parallel = len(ordered) > 1 and options.jobs > 1  # forked before run_all starts any thread
    options.git.start_probes(network=not options.offline)
    with holding_cache(shared=True), inspecting(parallel) as inspector:  # each remote's own lock is taken in _work_remote
        options.submit = inspector.submit
        try:  # a failed remote's exception is its result: every staged folder is cleaned below
            results = run_all([lambda group=group: _work_remote(group, project, options) for group in ordered], options.jobs,
                              on_stop=lambda: (inspector.stop(), options.git.stop()))
            for job in jobs:  # the verdicts, in the order of .xlm_models: most came in while later models were fetched
                if job.error is not None:
                    results.append(job.error)
                elif job.staged is not None:
                    try:
                        _lock_staged(job, project)
                    except XpmError as exc:
                        results.append(exc)
        except BaseException:  # Ctrl-C: run_all stopped the validations and let the running tasks end, and they staged
            _discard_staged(jobs)
            raise
        finally:
            options.submit = None
    errors = [r for r in results if isinstance(r, BaseException)]
    missing = [m for r in results if isinstance(r, list) for m in r]
    if errors or missing:
        _discard_staged(jobs)
        if len(errors) > 1 and all(isinstance(e, XpmError) for e in errors):
            raise ModelErrors(errors)
        if errors:
            raise errors[0]
        raise OfflineMissing(missing)


def _discard_staged(jobs: list[Job]) -> None:
    """Delete every staged export; a second Ctrl-C does not cut it short (whole trees would stay
    in staging/ under a message that says nothing half-written is left)."""
    from xpm.interrupt import shielded

    for job in jobs:
        if job.staged is not None:
            shielded(lambda staged=job.staged: vendor.discard(staged))


def sync(project: Project, entries: list[Entry], options: Options, update: set[str] | None = None,
         tx: Transaction | None = None) -> Outcome:
    """Bring lock (and xlm_models/ when installing) in line with `entries`. Folders change through
    `tx`, whose owner writes the lock and commits (frozen never writes the lock; add writes the
    manifest after it); without one, sync commits its own."""
    if tx is None:
        with Transaction(project.root) as tx:
            outcome = sync(project, entries, options, update, tx)
            tx.commit()
            return outcome
    previous = project.lock()
    jobs, fixed = plan(entries, previous, update)
    outcome = Outcome(Lock({}), previous)
    if options.install:
        vendor.clean_leftovers(project.root)
    todo = []
    for job in jobs:
        rev = job.revision
        if isinstance(rev, Locked) and (not options.install or vendor.freshness(project.root, job.entry.name, rev.commit, rev.hash) != "stale"):
            job.result = job.previous  # nothing to do: kept as locked, and on disk when installing
            job.kept = True
        else:
            todo.append(job)
    if options.install:
        for job in todo:
            locked = job.previous.hash if job.previous is not None and job.previous.kind == "git" else None
            vendor.refuse_foreign_folder(project.root, job.entry.name, job.entry.text, locked)
    if todo:
        run_jobs(todo, project, options)
    try:
        for job in todo:
            if job.staged is None:
                continue  # resolved to the commit already installed (`xpm update` with nothing new)
            if options.install:
                tx.place(job.staged)
                outcome.installed.append(job.entry.name)
                _say(options, job.entry.name, f"installed {short(job.result.commit)}")
            else:
                vendor.discard(job.staged)
    except BaseException:  # the models placed so far are put back by the transaction
        _discard_staged(todo)
        raise
    if options.warn is not None:  # after the progress lines, so a live progress block stays whole
        for job in todo:
            for message in [*job.warnings, *(job.staged.warnings if job.staged is not None else ())]:
                options.warn(job.entry.name, message)
    recorded = recorded_requirements(project, [job.result for job in jobs if job.kept], options.install)
    for job in jobs:
        job.result = recorded.get(job.entry.name, job.result)
    locked = dict(fixed)
    locked.update({job.entry.name: job.result for job in jobs})
    outcome.lock = Lock(locked)
    if options.install:
        for name in vendor.installed_names(project.root):
            if name not in locked or locked[name].kind != "git":
                tx.remove(name)
                outcome.removed.append(name)
    return outcome
