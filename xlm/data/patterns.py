"""File patterns of `datamodule.files`: a glob matched as Python's `glob` matches it, walking
each folder once (its own walk follows a link to a folder above again at every level)."""

from __future__ import annotations

import os
import re
from pathlib import Path

GLOB_CHARS = set("*?[")


def glob_files(pattern: str) -> list[Path]:
    """The files `pattern` names, as `glob.glob(pattern, recursive=True)` does (`**`: any number
    of folders; `*`, `?`, `[...]` within a name; names starting with `.` only when the pattern's
    do), each folder walked once: glob walks a link to a folder above it again at every level,
    and two such links made its walk exponential (23 GB of memory before the OOM killer)."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if GLOB_CHARS & set(part)), len(parts))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = parts[fixed:]
    regex = "".join("(?:[^/.][^/]*/)*" if part == "**" else _name_pattern(part) + "/" for part in rest)
    matcher = re.compile((regex + "[^/.][^/]*" if rest[-1] == "**" else regex[:-1]) + r"\Z")  # a last `**`: any file below
    hidden = any(part.startswith(".") for part in rest)
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            if matcher.match(rel) and os.path.isfile(os.path.join(folder, name)):
                found.append(Path(folder) / name)
    return found


def _name_pattern(part: str) -> str:
    """One name of a glob as a regex: `*` and `?` never cross a `/`, nor match a leading `.`."""
    out, i = [] if part.startswith(".") else ["(?!\\.)"], 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := part.find("]", i + 2)) != -1:
            body = part[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
