"""Is each git-sourced model in `xlm_models/` what `xlm.lock` says? (xlm's start-up check)

Cheap by design: xpm's install stamp records sizes and mtimes, so when nothing was touched
this is a few `stat` calls per file; files whose stat data changed (a `touch`, a copied
project) are re-hashed before they count as changed (`xlm.records.stamps.vendored_state`,
which `xpm list` and `xpm verify` use too, so all three agree). It reads the lock and the
stamps through `xlm.records`, the layer below xlm and xpm: xlm never imports xpm. Like cargo with edited vendored
sources, xlm refuses to run a job on a vendored model that changed (see `JOB_BLOCKING_KINDS`).
"""

from __future__ import annotations

import os

from xlm.errors import first_of
from xlm.external.discovery import Discovery, FoundModel
from xlm.external.errors import Problem
from xlm.manifest import GitSource
from xlm.shown import show

# Problems that stop `xlm train/eval/generate` even without strict validation: running would
# silently use code other than the locked one, or fail later with a confusing Hydra error.
JOB_BLOCKING_KINDS = frozenset({"not_installed", "modified"})


def _problem(model: FoundModel, what: str, fix: str, kind: str) -> Problem:
    return Problem(model.name, what, f"{model.where} ({model.root})", fix, kind)


def vendored_problem(discovery: Discovery, model: FoundModel) -> Problem | None:
    """Why the vendored folder of ``model`` is not the locked one, or None when it is."""
    from xlm.records.lockfile import LockFileError, read_lock_entry
    from xlm.records.stamps import vendored_root, vendored_state

    name, project = model.name, discovery.project_dir
    try:
        locked = read_lock_entry(project, name) or {}
        state = vendored_state(project, name, locked.get("commit"), locked.get("hash"))
    except LockFileError as exc:
        return _problem(model, exc.what, exc.fix or "run: xpm install", "not_installed")
    except OSError as exc:  # the folder cannot be read (permissions, a path too long): say so, no traceback
        from xlm.textfile import os_error

        what, fix = os_error(exc)
        return _problem(model, f"Vendored model '{name}' cannot be checked: {what}", fix, "not_installed")
    root = vendored_root(project, name)
    if state.kind == "missing":
        return _problem(model, f"model '{name}' is listed in .xlm_models but not installed in {root}", "run: xpm install", "not_installed")
    if state.kind == "incomplete":
        what = f"model '{name}' in {root} was not completely installed by xpm (no install stamp it can trust)"
        return _problem(model, what, "run: xpm install", "not_installed")
    source = model.entry.source if model.entry is not None else None
    if not locked or not isinstance(source, GitSource):
        return _problem(model, f"External model '{name}' is not in xlm.lock", "run: xpm install", "not_installed")
    asked = (locked.get("source"), locked.get("requested"), locked.get("subdir"))
    if asked != (source.url, source.ref, source.subdir):
        was = GitSource(str(locked.get("source")), locked.get("requested"), locked.get("subdir")).named(name).spec()
        what = f"External model '{name}' changed in .xlm_models since xlm.lock was written ({was} -> {source.spec()})"
        return _problem(model, what, "run: xpm install", "not_installed")
    if state.kind == "other commit":
        installed, wanted = state.stamp.commit, str(locked.get("commit"))
        what = (f"External model '{name}' in xlm_models/ is commit {installed[:12]}, xlm.lock wants {wanted[:12]}" if installed != wanted
                else f"External model '{name}' in xlm_models/ was installed with another content hash than xlm.lock's")
        return _problem(model, what, "run: xpm install", "not_installed")
    changed = state.changes.paths
    if changed and os.path.islink(root):  # a clone linked in its place: every file of its .git/ reads as added
        what = f"Vendored model '{name}' is a symbolic link (to {show(os.readlink(root))}), not the folder xpm installed"
        fix = f"for a working copy, remove the link, run xpm install, then: xpm develop {name} {show(os.readlink(root))}"
        return _problem(model, what, fix, "modified")
    if changed:
        shown = first_of(changed, 10)
        what = f"Vendored model '{name}' differs from xlm.lock: changed files: {shown}"
        fix = (f"run: xpm install (restores it, and keeps your edited folder in xlm_models/.xpm/edits/; `xpm verify` shows the details); "
               f"to edit the model, work in a clone of it: xpm develop {name} PATH")
        return _problem(model, what, fix, "modified")
    return None


def vendored_integrity(discovery: Discovery, models: list[FoundModel]) -> list[tuple[FoundModel, Problem]]:
    """The name check that keeps only vendored models matching the lock (others are skipped)."""
    findings = []
    for model in models:
        if model.origin == "git" and (problem := vendored_problem(discovery, model)) is not None:
            findings.append((model, problem))
    return findings
