"""What `xlm.lock` records of each git model's tree besides its hash: the Python requirements
it declares (lock version 2) and its package.

They are read from the tree as it is staged (`staged_requirements`), never from anything
that runs. A lock that records other requirements or another package than its locked tree
has was edited by hand and is refused (`check_recorded`). A version 1 lock, which records no
requirements, gets them from the vendored folders, whose content hash pins them
(`recorded_requirements`). `xpm.sync` calls these for every model it resolves, installs or keeps.
"""

from __future__ import annotations


from xlm.requirements import DeclarationError, Declared, read_declared
from xpm import vendor
from xpm.errors import LockFileError, NotAModel, XpmError
from xpm.lock import LockEntry
from xpm.project import Project


def staged_requirements(job) -> Declared:
    """What the staged tree of a `xpm.sync.Job` declares (`xlm.requirements`: read as data,
    nothing runs); a declaration that cannot be read refuses the model, named as
    `zlm@1a2b3c4:pyproject.toml:3`."""
    staged = job.staged
    try:
        return read_declared(staged.path)
    except DeclarationError as exc:
        from xlm.external.errors import Problem

        label = f"{job.entry.name}@{staged.commit[:7]}"
        where = exc.where.replace(str(staged.path) + "/", f"{label}:")
        what = f"model '{job.entry.name}' declares requirements that cannot be read: {exc.what}"
        raise NotAModel(job.entry.name, f"{job.entry.text} (commit {staged.commit[:12]})",
                        [Problem(job.entry.name, what, where, exc.fix, "requirements")]) from None


def check_recorded(project: Project, locked: LockEntry, declared: Declared, commit: str, package: str | None) -> None:
    """A lock that records other requirements or another package than its locked tree has
    (`package`: the tree's) was edited by hand."""
    if locked.package is not None and package is not None and locked.package != package:
        raise LockFileError(
            f"{project.lock_file}: model '{locked.name}' records package '{locked.package}', but its locked tree "
            f"(commit {commit[:12]}) holds package '{package}'",
            f"xlm.lock was edited by hand: restore it from version control, or delete the `package` line of "
            f"'{locked.name}' and run `xpm install` to record it again",
        )
    if locked.requires is None:
        return  # not recorded (a version 1 lock): recorded now
    if (locked.requires, locked.requires_python) != (declared.requires, declared.python):

        def shown(requires, python):
            return "[" + ", ".join(requires) + "]" + (f" with requires-python {python}" if python else "")

        raise LockFileError(
            f"{project.lock_file}: model '{locked.name}' records requires {shown(locked.requires, locked.requires_python)}, "
            f"but its locked tree (commit {commit[:12]}) declares {shown(declared.requires, declared.python)}",
            f"xlm.lock was edited by hand: restore it from version control, or delete the `requires` lines of "
            f"'{locked.name}' and run `xpm install` to record them again",
        )


def recorded_requirements(project: Project, kept: list[LockEntry], installing: bool) -> dict[str, LockEntry]:
    """Each of ``kept`` (locked entries whose tree stays in place), its requirements checked
    against its vendored folder, or recorded from it when the lock has none (version 1).
    Without a folder that holds the locked tree (`xpm lock` before an install), a record
    missing stays missing."""
    if not installing:
        kept = [e for e in kept if vendor.freshness(project.root, e.name, e.commit, e.hash) != "stale"]
    if not kept:
        return {}
    from xlm.external.deps import declarations
    from xlm.external.validation import model_package

    out = {}
    roots = [vendor.stamp.vendored_root(project.root, e.name) for e in kept]
    for locked, root, declared in zip(kept, roots, declarations(roots)):
        if isinstance(declared, DeclarationError):
            raise XpmError(f"model '{locked.name}' declares requirements that cannot be read: {declared.where}: {declared.what}",
                           "run `xpm install` to restore the vendored folder (`xpm verify` shows what changed)")
        package = model_package(root, locked.name)
        check_recorded(project, locked, declared, locked.commit, package)
        out[locked.name] = locked._replace(requires=declared.requires, requires_python=declared.python,
                                   package=package or locked.package)
    return out
