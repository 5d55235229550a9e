"""The record of each model a job registered: where from, which commit, the hash of the files used.

- vendored (xpm's `xlm_models/NAME/`): `xlm.lock`'s entry, and the file list of the install
  stamp, which xlm's start-up check has just proven to describe the folder (no file is read);
- a folder inside a git work tree (path, override, core, the current folder): HEAD, dirty or
  not, the patch against HEAD, and the content hash of the files git sees there (tracked, and
  untracked ones `.gitignore` does not exclude: what commit + patch give back);
- any other folder: the content hash of every file under it (`__pycache__` and the folders jobs
  wrote, `treehash.job_output`, skipped);
- installed (an entry point): the distribution's version, and the hash of its package folder.

The hash is `xlm.records.treehash`'s, the one xpm records in `xlm.lock`. Work trees are asked
once each, however many models they hold. Nothing here raises for a model it cannot fully
record: what is missing is said in the model's `note`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from xlm.records.runs import ModelRecord, side_file
from xlm.records.treehash import job_output, records, records_of, text_hash, tree_text, unrecordable
from xlm.shown import show

KINDS = {"core": "core", "git": "vendored", "override": "override", "installed": "installed"}  # else "path"
_NOTE_LIMIT = 300


@dataclass(frozen=True)
class Collected:
    """One model's record, with its file list and (dirty work tree) patch."""

    record: ModelRecord
    files: str | None = None  # tree_text of the files used
    patch: bytes | None = None


def kind_of(origin: str) -> str:
    return KINDS.get(origin, "path")


def folder_of(model) -> Path:
    """The folder whose files are the model: its root, or for an installed package that imports
    from site-packages, the package's own folder (never all of site-packages)."""
    if model.found.importable and model.info.package_dir is not None:
        return Path(model.info.package_dir)
    return Path(model.root)


def _note(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _NOTE_LIMIT else text[: _NOTE_LIMIT - 3] + "..."


def _source(model, project_dir: Path) -> tuple[str, str | None]:
    """(source, overrides) as the record writes them."""
    found = model.found
    if found.origin == "core":
        return "xlm", None
    if found.origin == "installed":
        return found.distribution or found.name, None
    if found.origin == "override":
        from xlm.overrides import read_overrides

        try:
            written = read_overrides(project_dir)[found.name].path  # as `xpm develop` wrote it
        except (ValueError, OSError, KeyError):
            written = str(found.root)
        return written, found.entry.text if found.entry is not None else None
    if found.entry is not None:
        return found.entry.text, None
    return str(found.root), None


def base_record(model, used: bool, project_dir: Path) -> ModelRecord:
    source, overrides = _source(model, project_dir)
    version = None
    if model.found.origin == "installed":
        from xlm.external.installed import installed
        from xlm.requirements import canonical

        version = installed().versions.get(canonical(model.found.distribution or "")) or None
    return ModelRecord(model.name, kind_of(model.found.origin), source, overrides=overrides, version=version,
                       path=str(folder_of(model)), package=model.info.package, used=used)


# ----------------------------------------------------------------------------- per kind
def vendored(model, record: ModelRecord, project_dir: Path) -> Collected:
    """A vendored model: what xlm.lock pins, the file list from its install stamp."""
    from xlm.records.lockfile import LockFileError, read_lock_entry
    from xlm.records.stamps import load_stamp

    try:
        locked = read_lock_entry(project_dir, model.name) or {}
    except LockFileError as exc:
        return Collected(replace(record, note=_note(f"xlm.lock cannot be read: {exc.what}")))
    record = replace(record, **{k: locked.get(k) for k in ("source", "requested", "resolved", "commit", "subdir", "hash")},
                     requires=locked.get("requires"), requires_python=locked.get("requires_python"))
    stamp = load_stamp(project_dir, model.name)
    if stamp is None or stamp.hash != record.hash:
        return Collected(replace(record, note="no install stamp vouching for the locked hash: no file list"))
    files = tree_text((path, rec[0], rec[3]) for path, rec in stamp.files.items())
    return Collected(replace(record, files=side_file(model.name, "files")), files)


def folder(model, record: ModelRecord, tree=None, rel: str | None = None) -> Collected:
    """A model on disk: hashed as git sees it (`tree`: `worktree.TreeFacts`), else as a plain folder."""
    from xlm.provenance import worktree

    root = folder_of(model)
    if tree is not None and not tree.files[rel]:  # the whole folder is ignored by git: it vouches for nothing here
        done = folder(model, record)
        return replace(done, record=replace(done.record, note=f"git ignores the folder in {tree.top}: hashed as a plain folder"))
    try:
        recs = records_of(root, tree.files[rel]) if tree is not None else records(root, job_output)
    except OSError as exc:
        from xlm.textfile import os_error

        return Collected(replace(record, note=_note(f"the folder cannot be hashed: {os_error(exc)[0]}")))
    if (bad := next(((r.path, why) for r in recs if (why := unrecordable(r.path))), None)) is not None:
        shown = show(bad[0].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
        return Collected(replace(record, note=_note(f"the file name '{shown}' {bad[1]}, so the file list cannot hold it: "
                                                    "rename that file")))
    files = tree_text((r.path, r.mode, r.sha256) for r in recs)
    record = replace(record, hash=text_hash(files), files=side_file(model.name, "files"))
    if tree is None:
        return Collected(record, files)
    record = replace(record, repository=str(tree.top), subdir=rel or None, commit=tree.commit, dirty=tree.dirty[rel])
    remote, note = _remote(tree)
    record = replace(record, remote=remote, note=note)
    if not tree.dirty[rel]:
        return Collected(record, files)
    try:
        patch = worktree.patch(tree, rel)
    except worktree.GitFailed as exc:
        return Collected(replace(record, note=_note(f"the patch against HEAD could not be made: {exc}")), files)
    from xlm.records.runs import MAX_PATCH_BYTES

    if len(patch) > MAX_PATCH_BYTES:
        return Collected(replace(record, note=f"the patch against HEAD is over {MAX_PATCH_BYTES >> 20} MiB: not saved"), files)
    return Collected(replace(record, patch=side_file(model.name, "patch")), files, patch)


def _remote(tree) -> tuple[str | None, str | None]:
    """The work tree's remote as a git source xpm could fetch (a local path becomes a file://
    URL), without its credentials (a git credential helper supplies them), or None and why not."""
    url = tree.remote()
    if url is None:
        return None, None
    from xlm.manifest import ManifestError, parse_source, without_userinfo

    url = without_userinfo(url)  # a token in `origin`'s URL is the user's, never the record's

    if "://" not in url and not _scp_like(url):
        path = Path(url).expanduser()
        url = (path if path.is_absolute() else tree.top / path).resolve().as_uri()
    try:
        _, source = parse_source(f"{url}#subdir=model")  # only the URL is checked: a core model's name is reserved
    except ManifestError as exc:
        return None, _note(f"the work tree's remote is not recorded: {exc.what}")
    return source.url, None


def _scp_like(url: str) -> bool:
    head = url.split("/", 1)[0]
    return ":" in head and not head.startswith(("/", "."))


# ----------------------------------------------------------------------------- all of them
def collect(models, used: set[str], project_dir: Path) -> dict[str, Collected]:
    """The record of each of `models` (`xlm.external.checks.Model`), by name; `used`: the names
    the job's config uses."""
    from xlm.provenance import worktree

    out: dict[str, Collected] = {}
    trees: dict[Path, list] = {}
    for model in models:
        record = base_record(model, model.name in used, project_dir)
        if model.found.origin == "git":
            out[model.name] = vendored(model, record, project_dir)
            continue
        top = worktree.top_of(folder_of(model)) if model.found.origin != "installed" else None
        if top is None:
            out[model.name] = folder(model, record)
        else:
            trees.setdefault(top, []).append((model, record))
    for top, members in trees.items():
        rels = [folder_of(m).relative_to(top).as_posix().removeprefix(".") for m, _ in members]
        try:
            tree = worktree.facts(top, rels)
        except worktree.GitFailed as exc:
            for model, record in members:
                done = folder(model, record)
                out[model.name] = replace(done, record=replace(done.record, note=_note(f"git could not describe {top}: {exc}")))
            continue
        for (model, record), rel in zip(members, rels):
            out[model.name] = folder(model, record, tree, rel)
    return {model.name: _with_requirements(out[model.name], model) for model in models}


def _with_requirements(done: Collected, model) -> Collected:
    """Add what the model declares it needs, and the versions installed here."""
    record = done.record
    if record.kind in ("core", "installed"):
        return done
    if record.requires is None:
        from xlm.requirements import DeclarationError, read_declared

        try:
            declared = read_declared(model.root)
        except DeclarationError as exc:
            return replace(done, record=replace(record, note=_note(f"{record.note + '; ' if record.note else ''}"
                                                                   f"its requirements cannot be read: {exc.what}")))
        record = replace(record, requires=declared.requires, requires_python=declared.python)
    return replace(done, record=replace(record, installed=installed_versions(record.requires or ())))


def installed_versions(requires) -> tuple[str, ...]:
    """`name==version` (or `name (not installed)`) of each requirement's distribution, in this interpreter."""
    from xlm import __version__
    from xlm.external.installed import installed
    from xlm.requirements import canonical

    versions = installed().versions
    out = []
    for text in requires:
        name = canonical(_requirement_name(text))
        version = __version__ if name == "xlm" else versions.get(name)
        out.append(f"{name}=={version}" if version else f"{name} (not installed)")
    return tuple(dict.fromkeys(out))


def _requirement_name(text: str) -> str:
    import re

    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    return match.group(1) if match else text
