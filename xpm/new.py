"""``xpm new`` / ``xlm-scaffold``: create a model that trains on its first run.

The work is :func:`create_model` (tests call it directly); the click command only maps flags
onto it. A new model is rendered from the template (or copied, renamed, from ``--from``
MODEL) into a staging folder next to its destination, checked with xlm's static validation,
moved into place with one rename, and only then listed in `.xlm_models`: an interrupted or
refused run leaves no half-made model and no dangling line.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import click

from xlm import manifest
from xlm.textfile import write_atomic
from xpm import names
from xpm.errors import XpmError
from xpm.project import refuse_linked_file
from xpm.removal import remove_tree
from xpm.rename import copy_renamed, model_files
from xpm.templates import output_path, render_file, render_tree, template_values

# What a copied model gets from the template when it has none of its own: packaging, docs,
# the tests that only read the model's configs, and the debug experiment (it names only
# the model's own config groups and its seq2seq collator, so it fits any model that has one).
GENERIC_TEMPLATE_FILES = (
    "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "gitignore", "tests/conftest.py", "tests/test_configs.py",
)
DEBUG_EXPERIMENT = "configs/experiment/{{name}}_debug.yaml"


@dataclass(frozen=True)
class NewModel:
    """What :func:`create_model` made: the model's folder and files, and the models-file line."""

    name: str
    root: Path
    files: tuple[Path, ...]
    models_file: Path
    entry: str
    models_file_created: bool


def _entry_text(root: Path, models_file: Path) -> str:
    """How the models file names the model: its bare name next to the file, else a ./relative path."""
    base = models_file.parent.resolve()
    if root.parent.resolve() == base:
        return root.name
    rel = os.path.relpath(root.resolve(), base)
    return rel if rel.startswith("..") else "./" + rel


def _check_entry(entry: str, name: str, models_file: Path) -> None:
    """The line the models file gets must read back as this model (a path with white space
    cannot be written as one): refused before anything is made."""
    try:
        parsed = manifest.parse_line(entry)
    except manifest.ManifestError as exc:
        parsed, why = None, exc.what
    else:
        why = "it would not name this model"
    if parsed is None or parsed.name != name or not isinstance(parsed.source, manifest.LocalSource):
        raise XpmError(f"{models_file} cannot list the new model as '{entry}': {why}",
                       "choose a folder whose path from the models file's folder has no white space, "
                       "or pass --xlm-models-file next to it")


def _build(staging: Path, name: str, source: names.SourceModel | None) -> list[Path]:
    values = template_values(name)
    if source is None:
        return render_tree(staging, values)
    staging.mkdir()
    files = model_files(source.root, source.package, flat=source.flat)
    if source.core:  # a core model's README describes it as shipped with xlm: start from ours
        files = [(path, rel) for path, rel in files if rel.as_posix() != "README.md"]
    # A model's package may have another name than the model (`xpm add` names a model after its
    # repository): both become the new name, or the copy would clash with its source's package.
    olds = [source.name] + ([source.package] if source.package not in (None, source.name) else [])
    written = copy_renamed(files, staging, olds, name)
    wanted = list(GENERIC_TEMPLATE_FILES)
    if (staging / "configs" / "collator" / f"seq2seq_{name}.yaml").is_file():
        wanted.append(DEBUG_EXPERIMENT)
    have = {path.relative_to(staging).as_posix() for path in written}
    missing = [rel for rel in wanted if output_path(rel, values) not in have]
    return written + [render_file(rel, staging, values) for rel in missing]


def _validate(root: Path, name: str, source: names.SourceModel | None) -> None:
    """The new model must pass the same static checks as any model xlm loads.

    Its package must be ``name`` (the name checked against clashes and shadowing), and a copy
    must not keep its source's package, which would clash with the source in the same project.
    """
    from xlm.external.validation import validate_model_root

    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    kept = packages & {source.name, source.package} if source else set()
    if name not in packages or kept:
        raise XpmError(
            f"the model generated for '{name}' defines the packages {sorted(packages)}"
            + (f", keeping {sorted(kept)} of its source" if kept else f", not '{name}'"),
            "this is a bug in the template or in the --from model; please report it",
        )
    problems = validate_model_root(root, name)
    if problems:
        details = "\n    - ".join(f"{p.what} ({p.where})" for p in problems)
        raise XpmError(
            f"the model generated for '{name}' does not pass validation:\n    - {details}",
            "this is a bug in the template or in the --from model; please report it",
        )


def create_model(
    name: str,
    parent: Path | str = ".",
    models_file: Path | str | None = None,
    from_model: str | None = None,
) -> NewModel:
    """Create model ``name`` in ``parent/name`` and list it in the models file.

    ``models_file`` defaults to the project's `.xlm_models` (``$XLM_MODELS_FILE``, else the
    nearest one walking up from ``parent``), else a new `.xlm_models` in ``parent``.
    Raises :class:`XpmError` for every refusal, before anything is written.
    """
    parent = Path(parent).expanduser().resolve()
    existing = next(p for p in (parent, *parent.parents) if p.exists())
    if not existing.is_dir():
        what = f"--dir {parent} is not a folder" if existing == parent else f"--dir {parent} cannot be created: {existing} is a file"
        raise XpmError(what, "pass a folder (it is created when it does not exist)")
    missing = None if existing == parent else next(p for p in (parent, *parent.parents) if p.parent == existing)  # made below
    if models_file is not None:
        models_file = Path(models_file).expanduser().resolve()
    else:
        models_file = manifest.find_models_file(parent) or parent / manifest.MODELS_FILE_NAME
    if not models_file.parent.is_dir() and models_file.parent != parent:
        raise XpmError(f"the models file's folder {models_file.parent} does not exist", "create it, or pass another --xlm-models-file")
    _models_text(models_file)  # an unreadable models file is refused before anything is written
    refuse_linked_file(models_file)  # as `xpm add` refuses it: the write would replace the link
    root = parent / name
    names.check_new_name(name, root, models_file)
    entry = _entry_text(root, models_file)
    _check_entry(entry, name, models_file)
    source = names.find_source_model(from_model, models_file) if from_model else None

    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.xpm-new-", dir=parent))
    try:
        built = _build(staging / name, name, source)
        _validate(staging / name, name, source)
        if source is not None:
            names.check_copy(name, staging / name, source, models_file)
        os.replace(staging / name, root)
    except BaseException:
        if missing is not None:  # a refused model leaves no folder behind, not even --dir's
            remove_tree(missing, ignore_errors=True)
        raise
    finally:
        remove_tree(staging, ignore_errors=True)
    files = tuple(sorted(root / path.relative_to(staging / name) for path in built))
    text = _models_text(models_file)
    write_atomic(models_file, manifest.add_entry_text(manifest.NEW_FILE_HEADER if text is None else text, entry))
    return NewModel(name, root, files, models_file, entry, text is None)


def _models_text(models_file: Path) -> str | None:
    """The checked text of the models file (None when there is none yet), as xlm reads it."""
    from xlm.textfile import TextFileError, read_text

    try:
        return read_text(models_file)
    except TextFileError as exc:
        raise XpmError(str(exc), exc.fix) from None


# ----------------------------------------------------------------------------- command line

EPILOG = """\b
Examples:
  xpm new my_model                                  ./my_model, listed in ./.xlm_models
  xpm new my_model --dir models                     ./models/my_model, listed as ./models/my_model
  xpm new my_arlm --from arlm                       a renamed copy of the core model arlm
  xlm-scaffold my_model --xlm-models-file custom_models.txt
"""


def _show(path: Path) -> str:
    rel = os.path.relpath(path)
    return rel if rel.startswith(("../", "/")) or rel in (".", "..") else "./" + rel


def _next_steps(result: NewModel) -> list[str]:
    experiments = sorted(p.stem for p in (result.root / "configs" / "experiment").glob("*.yaml"))
    preferred = [f"{result.name}_debug", f"star_easy_{result.name}"]
    experiment = next((e for e in preferred if e in experiments), experiments[0] if experiments else None)
    env = "" if result.models_file.name == manifest.MODELS_FILE_NAME else f"XLM_MODELS_FILE={result.models_file} "
    steps = [f"cd {_show(result.root)}"]
    if experiment:
        steps.append(f"{env}xlm train experiment={experiment} debug=overfit")
    return steps + ["python -m pytest"]


@click.command("new", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})  # xlm-scaffold -h
@click.argument("name")
@click.option("--dir", "parent", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to create the model in.")
@click.option("--xlm-models-file", "models_file", type=click.Path(dir_okay=False, path_type=Path), help="Models file to list the model in (default: the project's .xlm_models).")
@click.option("--from", "from_model", metavar="MODEL", help="Start from a renamed copy of MODEL (core, listed or installed).")
@click.pass_context
def new(ctx: click.Context, name: str, parent: Path, models_file: Path | None, from_model: str | None) -> None:
    """Create model NAME: a small causal transformer that trains as it is, ready to change."""
    base = (ctx.obj or {}).get("dir") or Path.cwd()  # `xpm -C PATH new ...` runs as if started in PATH
    models_file = base / models_file if models_file is not None else None
    if from_model is not None and not from_model.strip():  # not the template by accident
        raise click.UsageError("--from needs a model to copy: it was given an empty name")
    result = create_model(name, base / parent, models_file, from_model)
    origin = f" from {from_model}" if from_model else ""
    click.echo(f"created {name}{origin} in {_show(result.root)} ({len(result.files)} files)")
    verb = "created" if result.models_file_created else "updated"
    click.echo(f"{verb} {_show(result.models_file)}: added {result.entry}")
    steps = _next_steps(result)
    said, step = _relock(ctx, result)
    if said is not None:
        click.echo(said)
    if step is not None:
        steps.insert(0, step)
    click.echo("next:\n  " + "\n  ".join(steps))


def _relock(ctx: click.Context, result: NewModel) -> tuple[str | None, str | None]:
    """A project with a lock gets the new model in it, as `xpm add ./path` does (else `xpm install
    --frozen` in CI fails on the clone): offline, since nothing else changed. Returns what to
    say (the models the lock gained: the new one, and any other listed model it lacked) and
    the first next step when the lock could not be written: `xpm lock` where only the network
    was missing, else what is wrong with the lock and its fix."""
    from xpm import ops
    from xpm.commands import _options
    from xpm.errors import OfflineMissing
    from xpm.project import Project

    project = Project(result.models_file.parent)
    if result.models_file.name != manifest.MODELS_FILE_NAME or not project.lock_file.is_file():
        return None, None
    try:
        outcome = ops.lock(project, _options(ctx, offline=True))
    except OfflineMissing:
        return None, f"xpm lock   ({_show(project.lock_file)} does not list the new model yet)"
    except XpmError as exc:
        click.echo(f"warning: {_show(project.lock_file)} was not updated: {exc.what}", err=True)
        return None, exc.fix
    added = sorted(set(outcome.lock.entries) - set(outcome.previous.entries if outcome.previous else ()))
    return (f"updated {_show(project.lock_file)}: added {', '.join(added)}" if added else None), None


def scaffold_main(argv: list[str] | None = None) -> None:
    """``xlm-scaffold NAME [OPTIONS]``: ``xpm new`` under the name the seed documentation uses."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in args)
    try:
        # What `xpm`'s group would have set (`xpm.commands.main`): relocking a project with a lock reads it.
        defaults = {"verbose": verbose, "dir": None, "quiet": False, "jobs": 8}
        new.main([a for a in args if a not in ("-v", "--verbose")], prog_name="xlm-scaffold", obj=defaults)
    except (XpmError, OSError) as exc:  # the same two lines and exit code as `xpm new` (see xpm.cli.XpmGroup)
        if verbose:
            traceback.print_exc()
        if isinstance(exc, OSError):  # a full disk, a read-only folder...: what, where and how to fix
            from xpm.errors import from_os_error

            exc = from_os_error(exc)
        click.echo(exc.render(), err=True)
        sys.exit(1)
