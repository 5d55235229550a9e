"""``xlm models``: what was found, from where, in which order, and every problem.

Prints the same result `setup_external_models` acts on (without registering anything), so
"why is my model not found" is answered by one command. Exit status 1 when there are problems;
warnings (a config's bad target, which fails only a job that uses it) are listed, exit 0.
"""

from __future__ import annotations

import os
import sys

from xlm.external.checks import ExternalModels
from xlm.external.diagnose import unlisted_models
from xlm.external.discovery import MODELS_PATH_ENV
from xlm.errors import first_of
from xlm.manifest import MODELS_FILE_NAME
from xlm.shown import escaped

USAGE = "usage: xlm models\n\nList the models xlm finds (core, .xlm_models, installed), where from, and their problems."


def format_models(found: ExternalModels) -> str:
    lines = [f"models file: {escaped(str(found.models_file or '(none: no .xlm_models here or above; set XLM_MODELS_FILE)'))}"]
    env = os.environ.get(MODELS_PATH_ENV)
    unset = "" if env else f"  ({MODELS_PATH_ENV} is not set)"
    lines.append("names are looked up in: " + escaped(first_of([str(d) for d in found.search_dirs], 20)) + unset)
    lines.append("then installed distributions with an 'xlm.models' entry point")
    rows = [("name", "status", "source", "declared at", "root")]
    rows += [(m.name, _status(m), m.found.origin, escaped(m.found.where), escaped(str(m.root)) + (" (flat)" if m.info.flat else ""))
             for m in found.models]
    rows += [(m.name, _skipped_status(found, m), m.origin, escaped(m.where), escaped(str(m.root))) for m in found.skipped]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines.append("")
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4] for row in rows]
    if found.commands:
        lines += ["", "commands:"]
        lines += [f"  xlm {c.name}  ({c.model}: {c.function}){'  ' + c.help if c.help else ''}" for c in found.commands]
    if unlisted := unlisted_models(found):
        lines += ["", f"not listed (model folders that nothing declares; to use one, add its name to {MODELS_FILE_NAME}):"]
        lines += [f"  {escaped(root.name)}  {escaped(str(root))}" for root in unlisted]
    if found.notes:
        lines += ["", f"notes ({len(found.notes)}):"]
        lines += [n.render("Note") for n in found.notes]
    if found.warnings:
        lines += ["", f"warnings ({len(found.warnings)}; the models load, a job that uses one of these fails):"]
        lines += [w.render("Warning") for w in found.warnings]
    if problems := list(dict.fromkeys(p.render() for p in found.problems)):  # a name listed 3 times: its one problem once
        lines += ["", f"problems ({len(problems)}):"]
        lines += problems
    else:
        lines += ["", "no problems"]
    return "\n".join(lines)


def _status(model) -> str:
    count = len(model.info.warnings)
    return "ok" if not count else f"ok, {count} warning{'s' if count > 1 else ''}"


def _skipped_status(found: ExternalModels, model) -> str:
    reason = found.reason(model)
    return "skipped: requirements" if reason is not None and reason.kind == "requirements" else "skipped"


def models_command(args: list[str]) -> int:
    """``xlm models``: print the models and their problems; 1 when any model has a problem."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    if args:
        from xlm.errors import UserError

        raise UserError(f"`xlm models` takes no arguments (got {' '.join(args)})", "run: xlm models")
    from xlm.external_models import find_external_models

    found = find_external_models()
    print(format_models(found), file=sys.stdout)
    return 1 if found.problems else 0
