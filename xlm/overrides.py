"""`xlm.overrides.toml`: the local working copies xlm uses instead of vendored models.

`xpm develop NAME PATH` writes it (as cargo's `[patch]` or `go work use`): the project's
`.xlm_models` and `xlm.lock` stay as they are, and xlm's discovery takes model NAME from
PATH instead of `xlm_models/NAME/`. It lives next to `.xlm_models`, is never committed (xpm
adds it to the project's `.gitignore`), and looks like the lock:

    # Written by `xpm develop`: working copies xlm uses instead of the vendored models.
    # Not committed (listed in .gitignore); end one with `xpm develop --off NAME`.
    version = 1

    [[override]]
    name = "zlm"
    path = "/home/me/src/zlm"

It is hostile input like the lock (an editor, a sync tool, a bad merge may write it): read
by `xlm.textfile` (UTF-8, `\\n` lines, limits), every value checked (a model name, a path
with no control character), a duplicate refused, with `file:line` and a fix. Keys it does
not know are ignored, a newer `version` is refused. Shared by xlm (discovery) and xpm
(`xpm develop`, `xpm list`), so it imports nothing of either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from xlm.manifest import name_problem
from xlm.shown import control_problem, show
from xlm.textfile import TextFileError, lines, read_text

OVERRIDES_NAME = "xlm.overrides.toml"
VERSION = 1
HEADER = (
    "Written by `xpm develop`: working copies xlm uses instead of the vendored models.",
    "Not committed (listed in .gitignore); end one with `xpm develop --off NAME`.",
)
FIX = f"correct {OVERRIDES_NAME}, or delete it (it is this machine's own) and run `xpm develop NAME PATH` again"


class Override(NamedTuple):
    """Model `name` comes from the folder `path` (absolute, or relative to the project)."""

    name: str
    path: str
    line: int = 0  # where its table starts in the file (0: unknown, an inline table, or not read from a file)

    def where(self, project_dir: Path) -> str:
        """`FILE:LINE` of its table, or the file alone when the line is unknown."""
        file = overrides_file(project_dir)
        return f"{file}:{self.line}" if self.line else str(file)

    def root(self, project_dir: Path) -> Path:
        """The folder it names, absolute (not resolved: a missing folder is reported as written)."""
        path = Path(os.path.expanduser(self.path))
        return path if path.is_absolute() else Path(project_dir) / path


def overrides_file(project_dir: Path) -> Path:
    return Path(project_dir) / OVERRIDES_NAME


def read_overrides(project_dir: Path) -> dict[str, Override]:
    """The overrides of the project at `project_dir`, by name ({} when it has no file).

    Raises `TextFileError` (file, line, fix) for a file that cannot be read or understood."""
    path = overrides_file(project_dir)
    text = read_text(path)
    return {} if text is None else parse_overrides(text, path)


def parse_overrides(text: str, path: Path | str = OVERRIDES_NAME) -> dict[str, Override]:
    from xlm.records.lockfile import tables

    for number, line in enumerate(lines(text), start=1):
        if problem := control_problem(line):  # before TOML: never let one hide what the file says
            raise TextFileError(problem, FIX, path, number)

    def fail(problem: str, line: int | None, fix: str) -> TextFileError:
        return TextFileError(problem, fix, path, line)

    _, found_tables = tables(text, path, "override", "format", FIX, fail, "upgrade xlm (and xpm), or " + FIX, "xlm",
                             VERSION, (VERSION,))
    found: dict[str, Override] = {}
    for table in found_tables:
        start = table.start
        for key in ("name", "path"):
            value = table.values.get(key)
            if not isinstance(value, str) or not value:
                raise TextFileError(f"[[override]] without a non-empty string `{key}`", FIX, path, start)
            if problem := control_problem(value):
                raise TextFileError(f"`{key}` holds a {problem}", FIX, path, start)
        name = table.values["name"]
        if problem := name_problem(name):
            raise TextFileError(problem, FIX, path, start)
        if name in found:
            raise TextFileError(f"model '{name}' is overridden twice (also at line {found[name].line})",
                                "keep one [[override]] per model", path, start)
        found[name] = Override(name, table.values["path"], start or 0)
    return found


def overrides_text(overrides: list[Override] | tuple[Override, ...]) -> str:
    """The file's text for `overrides`: fixed header, sorted by name, the same bytes for the same
    input (written as the lock is: `xlm.records.lockfile.toml_line`). A value with a control
    character is a ValueError: the reader would refuse the file."""
    from xlm.records.lockfile import toml_line

    out = [f"# {line}\n" for line in HEADER] + [f"version = {VERSION}\n"]
    for item in sorted(overrides, key=lambda o: o.name):
        for value in (item.name, item.path):
            if problem := control_problem(value):
                raise ValueError(f"'{show(value)}': {problem}")
        out += ["\n[[override]]\n", toml_line("name", item.name), toml_line("path", item.path)]
    return "".join(out)
