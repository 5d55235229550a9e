"""The model templates: where they are, and rendering them into a new model folder.

Templates are real files (Python, YAML, TOML, Markdown) under ``templates/model/`` at the
repository's root, reached here through the ``xpm/_templates`` link so that the same path
works in a source checkout, an editable install and a built wheel (package data).

Rendering is deliberately small: ``{{key}}`` is replaced by a known value, in file contents
and path components alike, and nothing else happens (no expressions, no includes), so a
template can never run code. Hydra's ``${...}`` interpolations pass through untouched. A
file stored as ``gitignore`` is written as ``.gitignore``.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "_templates"
MODEL_TEMPLATE = TEMPLATES_DIR / "model"

_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
# Stored without the dot: packaging globs and some tools skip hidden files.
_DOTFILES = {"gitignore": ".gitignore"}
_SKIPPED = {"__pycache__", ".pytest_cache"}


class TemplateError(ValueError):
    """A template uses a placeholder that rendering does not know (a bug in the template)."""


def class_prefix(name: str) -> str:
    """``my_model`` -> ``MyModel``: the prefix of every class the template defines."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    return camel if camel[:1].isalpha() else "Model" + camel


def xlm_requirement(version: str | None = None) -> str:
    """The requirement a new model declares on xlm: the running xlm's minor series
    (``0.1.0`` -> ``xlm>=0.1,<0.2``); a pre-release is its own lower bound, as PEP 440 ranges
    leave pre-releases out (``0.2.0rc1`` -> ``xlm>=0.2.0rc1,<0.3``)."""
    if version is None:
        from xlm import __version__ as version
    match = re.match(r"(\d+)\.(\d+)(?:\.\d+)*(.*)$", version)
    if match is None:
        return "xlm"
    major, minor, rest = int(match.group(1)), int(match.group(2)), match.group(3)
    lower = version if rest.strip(".+") and not rest.startswith("+") else f"{major}.{minor}"
    return f"xlm>={lower},<{major}.{minor + 1}"


def template_values(name: str) -> dict[str, str]:
    """Every placeholder a template may use, for the model ``name``."""
    return {
        "name": name,  # package, config file names, tags
        "Name": class_prefix(name),  # class names
        "dist_name": name.replace("_", "-"),  # the distribution's name on an index
        "xlm_requirement": xlm_requirement(),  # the xlm the model is written for
    }


def render(text: str, values: dict[str, str], where: str = "template") -> str:
    """``text`` with each ``{{key}}`` replaced by ``values[key]``; unknown keys are an error."""

    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"{where}: unknown placeholder '{{{{{key}}}}}' (known: {', '.join(sorted(values))})")
        return values[key]

    return _PLACEHOLDER_RE.sub(substitute, text)


def template_files(template: Path = MODEL_TEMPLATE) -> list[Path]:
    """The template's files, relative to it, sorted (caches and compiled files left out)."""
    files = []
    for path in sorted(template.rglob("*")):
        rel = path.relative_to(template)
        if path.is_file() and not _SKIPPED.intersection(rel.parts) and path.suffix != ".pyc":
            files.append(rel)
    return files


def output_path(rel: str, values: dict[str, str]) -> str:
    """Where the template file ``rel`` (posix, relative) lands in the model folder."""
    return render(_DOTFILES.get(rel, rel), values, where=rel)


def render_file(rel: Path | str, dest: Path, values: dict[str, str], template: Path = MODEL_TEMPLATE) -> Path:
    """Render the template file ``rel`` into the model folder ``dest``; return the file written."""
    rel = Path(rel).as_posix()
    target = dest / output_path(rel, values)
    text = render((template / rel).read_text(encoding="utf-8"), values, where=rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def render_tree(dest: Path, values: dict[str, str], template: Path = MODEL_TEMPLATE) -> list[Path]:
    """Write the rendered template into ``dest`` (which must not exist); return the files written."""
    if not template.is_dir():
        raise TemplateError(f"model template not found at {template} (is xpm installed with its package data?)")
    dest.mkdir(parents=True)
    return [render_file(rel, dest, values, template) for rel in template_files(template)]
