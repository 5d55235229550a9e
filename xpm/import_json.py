"""``xpm import-json``: write `.xlm_models` from xlm-core's ``xlm_models.json``.

xlm reads `.xlm_models` only (`xlm.external.models_json` says so when a project has just the
JSON file). This converts it once: each ``"name": "folder"`` becomes a line (a bare name for
a folder next to `.xlm_models`, else ``./folder``), appended to the project's `.xlm_models`
(next to the JSON file, or above it when it is in xlm-core's ``xlm-models/``; created when
missing); models already listed are left as they are. The JSON file is not changed, so
xlm-core still reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from xpm.errors import XpmError


@dataclass
class Imported:
    """What :func:`import_models_json` did."""

    models_file: Path
    created: bool
    added: list[str] = field(default_factory=list)  # the lines written
    kept: list[str] = field(default_factory=list)  # names already listed
    notes: list[str] = field(default_factory=list)


def import_models_json(json_file: Path) -> Imported:
    """Append the models of ``json_file`` to its project's `.xlm_models`; write nothing on any error."""
    from xlm.external.models_json import ModelsJsonError, entry_text, project_dir, read_models_json
    from xlm.manifest import NEW_FILE_HEADER, RESERVED_NAMES, ManifestError, add_entry_text, parse_line
    from xlm.shown import show
    from xlm.textfile import write_atomic
    from xpm.project import Project

    json_file = Path(os.path.abspath(json_file))  # not resolved: a linked xlm-models/ stays in this project
    project = Project(project_dir(json_file))
    try:
        pairs = read_models_json(json_file)
    except ModelsJsonError as exc:
        raise XpmError(f"{json_file}: {exc.what}", exc.fix) from None
    entries = []
    for name, folder in pairs:
        try:
            line = entry_text(name, folder, json_file.parent, project.root)
        except ModelsJsonError as exc:
            raise XpmError(f"{json_file}: {exc.what}", exc.fix) from None
        try:
            entries.append((name, line, parse_line(line)))
        except ManifestError as exc:  # worded for a line of .xlm_models: say which entry made it
            raise XpmError(f"{json_file}: model '{show(name)}': its folder '{show(folder)}' cannot be written as a line of "
                           f".xlm_models ({exc.what})",
                           f"rename the folder and its entry in {json_file.name} (white space, control characters, '.' "
                           "and '..' cannot name a model's folder)") from None
    project.check_layout()  # a linked .xlm_models or xlm_models/: never written through
    with project.holding():
        text = project.read_text()
        result = Imported(project.models_file, created=not project.models_file.exists())
        listed = {entry.name for entry in project.entries(text)}
        for name, line, entry in entries:
            if entry.name != name:
                result.notes.append(f"{name!r} is the folder {line}: xlm names a model after its folder, so it is '{entry.name}'")
            if not (project.root / line).is_dir() and not (project.models_dir / line).is_dir():
                result.notes.append(f"the folder of {name!r}, {line}, does not exist (yet): xlm reports it until it does")
            if entry.name in RESERVED_NAMES:  # xlm-core's xlm-models ships its own arlm, mlm, ilm
                result.notes.append(f"{name!r} ({line}) is not listed: '{entry.name}' is a core model of xlm, which every "
                                    "project has; to keep xlm-core's, rename its folder and list it under that name")
                continue
            if entry.name in listed:
                result.kept.append(entry.name)
                continue
            listed.add(entry.name)
            text = add_entry_text(text or NEW_FILE_HEADER, line)
            result.added.append(line)
        if result.added:
            project.entries(text)  # the new text must parse as xlm will read it
            write_atomic(project.models_file, text)
    return result


@click.command("import-json")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_json(ctx: click.Context, file: Path | None) -> None:
    """Write .xlm_models from xlm-core's xlm_models.json (FILE, default: the nearest one).

    Each "name": "folder" becomes a line of the project's .xlm_models (next to the JSON
    file, or above xlm-models/); models already listed there are kept as they are. The
    JSON file is not changed.

    \b
    Examples:
      xpm import-json                          the nearest xlm_models.json
      xpm import-json xlm-models/xlm_models.json
    """
    from xlm.external.models_json import JSON_FILE_NAME, find_models_json

    base = (ctx.obj or {}).get("dir") or Path.cwd()
    if file is None:
        file = find_models_json(base)
        if file is None:
            raise XpmError(f"no {JSON_FILE_NAME} in {Path(base).resolve()} or any folder above it", "pass its path: xpm import-json path/to/xlm_models.json")
    else:
        file = Path(base) / file
        if not file.is_file():
            what = "is not a regular file (a fifo, a device or a socket?)" if os.path.exists(file) else "does not exist"
            raise XpmError(f"{file} {what}", "pass the path of an xlm_models.json")
    result = import_models_json(file)
    shown = os.path.relpath(result.models_file)
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.added:
        verb = "created" if result.created else "updated"
        click.echo(f"{verb} {shown}: added {', '.join(result.added)}")
    if result.kept:
        click.echo(f"already listed in {shown}: {', '.join(result.kept)}")
    if not result.added and not result.kept:
        click.echo(f"{file} lists no models: nothing to add")
    click.echo("next: xlm models   (checks each model)")
