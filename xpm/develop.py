"""`xpm develop`: make xlm use a working copy instead of a vendored model (as cargo's `[patch]`).

`xpm develop NAME PATH` records the override in `xlm.overrides.toml` (`xlm.overrides`: the
format, read by xlm's discovery) and adds that file to the project's `.gitignore`: an
override is one machine's state, never the project's. `.xlm_models`, `xlm.lock` and
`xlm_models/` stay as they are, so `xpm develop --off NAME` brings the locked model back
at once, and `xpm install --frozen` (CI) is not affected by it.

A working copy is checked before it is recorded, as a fetched tree is: a model folder
(nested or flat) whose package is NAME's, passing xlm's static validation (no code of it
runs). Both files change in one `xpm.transaction.Transaction`, under the project's lock.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from xlm.manifest import normalised_name
from xlm.overrides import OVERRIDES_NAME, Override, overrides_file
from xlm.shown import control_problem, show
from xlm.textfile import TextFileError, lines, newline_of, read_text
from xpm.errors import XpmError
from xpm.ops import _writing, listed_name, overrides, refused_overrides, write_overrides
from xpm.project import Project

GITIGNORE_LINES = ("# xpm develop: this machine's working copies of models (never committed)", f"/{OVERRIDES_NAME}")


def develop(project: Project, name: str, path: str) -> tuple[Override, Override | None, bool]:
    """Make xlm take model `name` from the folder `path`. Returns the override, the one it
    replaced (or None), and whether `.gitignore` was changed."""
    folder = Path(os.path.abspath(os.path.expanduser(path)))  # symbolic links kept as the user wrote them
    entries = {entry.name: entry for entry in project.entries()}
    entry = entries[name := listed_name(name, set(entries))]
    if not entry.is_git:
        raise XpmError(f"model '{name}' is a local model ({entry.text}, {entry.where()}): xlm already uses that folder",
                       "edit it there; `xpm develop` replaces models that xpm vendors from git")
    _check_working_copy(project, name, folder, entry)
    with _writing(project) as tx:
        current = overrides(project)
        previous = current.get(name)
        current[name] = Override(name, str(folder))
        write_overrides(project, tx, current)
        ignored = _ignore(project, tx)
        tx.commit()
    return current[name], previous, ignored


def develop_off(project: Project, name: str) -> Override:
    """End the override of `name` (the file goes when it was the last one)."""
    with _writing(project) as tx:
        current = overrides(project)
        key = name if name in current else normalised_name(name)  # pip's spelling too, as `xpm add` named it
        if key not in current:
            listed = ", ".join(sorted(current)) or "none"
            raise XpmError(f"model '{show(name)}' is not overridden (in {overrides_file(project.root)})", f"overridden models: {listed}")
        ended = current.pop(key)
        write_overrides(project, tx, current)
        tx.commit()
    return ended


def _check_working_copy(project: Project, name: str, folder: Path, entry) -> None:
    """Refuse a PATH that is not a model folder of `name`, with what and the fix."""
    clone = f"a clone of its repository (git clone {entry.source.url})" + (
        f", its {entry.source.subdir} folder" if entry.source.subdir else "")
    if problem := control_problem(str(folder)):  # xlm.overrides.toml could not record it
        raise XpmError(f"cannot use {show(str(folder))} for model '{name}': its path holds a {problem}",
                       "rename that folder (or the one holding it) to a name of plain characters")
    if not folder.is_dir():
        raise XpmError(f"cannot use {folder} for model '{name}': no such folder", f"give the folder of {clone}")
    vendored = project.models_dir.resolve()
    if folder.resolve() == vendored or vendored in folder.resolve().parents:
        raise XpmError(f"cannot use {folder} for model '{name}': it is inside {project.models_dir}, which xpm install replaces",
                       f"work in {clone} elsewhere, and give its folder")
    locked = project.lock()
    package = locked.get(name).package if locked and locked.get(name) else None
    packages = [p for p in dict.fromkeys((name, package)) if p]
    nested = next((p for p in packages if (folder / p / "__init__.py").is_file()), None)
    flat = (folder / "__init__.py").is_file() and folder.resolve().name == name
    if nested is None and not flat:
        raise XpmError(
            f"cannot use {folder} for model '{name}': it holds no package {'/ or '.join(packages)}/ "
            f"(nested layout: {folder / packages[0] / '__init__.py'}) and is not a flat model folder "
            f"(a folder named '{name}' holding __init__.py)",
            f"give the model's root folder (the one with {packages[0]}/ and configs/), e.g. {clone}",
        )
    from xlm.external.validation import inspect_model

    info = inspect_model(folder, name)
    if info.problems:
        shown = "\n    - ".join(f"{p.what} ({p.where})" for p in info.problems)
        raise XpmError(f"cannot use {folder} for model '{name}': it is not a valid xlm model:\n    - {shown}",
                       "fix the working copy (xlm models lists the same problems), then run the command again")


def _ignore(project: Project, tx) -> bool:
    """Add `/xlm.overrides.toml` to the project's `.gitignore` (created when missing; its other
    lines, line endings and BOM kept; nothing written when it is listed already)."""
    path = project.root / ".gitignore"
    if path.is_symlink():
        raise XpmError(f"{path} is a symbolic link (to {show(os.readlink(path))}); xpm writes only regular files in the project",
                       f"replace the link with a file, or add the line /{OVERRIDES_NAME} to it yourself")
    try:
        text = read_text(path) or ""
    except TextFileError as exc:
        raise XpmError(f"cannot add {OVERRIDES_NAME} to {exc}", f"{exc.fix}; or add the line /{OVERRIDES_NAME} to it yourself") from None
    if any(line.strip() in (OVERRIDES_NAME, f"/{OVERRIDES_NAME}") for line in lines(text)):
        return False
    newline = newline_of(text) if text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    tx.write(path, text + "".join(line + newline for line in GITIGNORE_LINES))
    return True


# ----------------------------------------------------------------------------- the command
@click.command()
@click.argument("name", required=False)
@click.argument("path", required=False)
@click.option("--off", "off", is_flag=True, help="End the override of NAME: xlm uses xlm_models/NAME again.")
@click.pass_context
def develop_cmd(ctx: click.Context, name: str | None, path: str | None, off: bool) -> None:
    """Make xlm use the working copy at PATH instead of the vendored model NAME.

    .xlm_models, xlm.lock and xlm_models/ are not changed: the override lives in
    xlm.overrides.toml next to .xlm_models, which xpm adds to .gitignore. Runs record the
    working copy's commit, dirty state and diff. Without arguments, list the overrides.

    \b
    Examples:
      xpm develop zlm ~/src/zlm     xlm takes zlm from ~/src/zlm
      xpm develop                   list the overrides
      xpm develop --off zlm         back to xlm_models/zlm (the locked commit)
    """
    from xpm.commands import _project

    project = _project(ctx)
    if off:
        if name is None or path is not None:
            raise click.UsageError("--off takes one model name: xpm develop --off NAME")
        name = develop_off(project, name).name  # as stored: `xpm develop --off ZLM` ends zlm's
        listed = any(entry.name == name for entry in project.entries())
        click.echo(f"{name}: override ended; " + (f"xlm uses {project.models_dir / name} (the locked commit) again" if listed
                                                  else ".xlm_models does not list it"))
        return
    if name is None:
        found = overrides(project)
        if not found:
            click.echo(f"no overrides in {project.root}: `xpm develop NAME PATH` makes xlm use a working copy")
        refused = refused_overrides(project, found)
        for item in sorted(found.values(), key=lambda o: o.name):
            problem = refused.get(item.name)
            click.echo(f"{item.name} -> {item.root(project.root)}" + (f"  (xlm refuses it: {problem.what})" if problem else ""))
        return
    if path is None:
        raise click.UsageError("give the working copy's folder: xpm develop NAME PATH (or --off NAME, or no arguments to list)")
    override, previous, ignored = develop(project, name, path)
    name = override.name  # the listed spelling (`xpm develop ZLM PATH` overrides zlm)
    was = f" (was {previous.path})" if previous is not None and previous.path != override.path else ""
    click.echo(f"{name}: xlm uses {override.path}{was} instead of {project.models_dir / name}; `xpm develop --off {name}` ends it")
    if ignored:
        click.echo(f"added /{OVERRIDES_NAME} to {project.root / '.gitignore'}")
