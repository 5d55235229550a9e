"""The Python requirements of a project's models, from xpm's side: checked after `add` and
`install`, installed with `--deps`.

What each model declares is read by `xlm.requirements` (data only, no model code runs) and
checked against the running interpreter by `xlm.external.deps` (with `xlm.requirements_check`),
the same check xlm runs at start-up. `--deps` installs what is missing into that interpreter
(`sys.executable`) with one `uv pip install --python ...` (when uv is on PATH) or
`python -m pip install` call, with the core stack (torch, lightning, hydra-core, xlm) pinned
to the installed versions in a constraints file, so no model can swap the torch build a
machine was set up with. What pip
must not or cannot fix (another torch, another xlm or Python, two models that exclude each
other) is an error before anything is installed. Without `--deps` nothing is ever installed.
"""

from __future__ import annotations

import errno
import os
import sys
from collections import deque
from pathlib import Path

from xlm.requirements import CORE_STACK
from xlm.requirements_check import Report, fix_message, pip_command, unmet_message
from xpm.errors import XpmError
from xpm.project import Project

INSTALLERS = ("pip", "uv")
_TAIL = 15  # lines of the installer's output kept for its error


def model_roots(project: Project, lock=None) -> list[tuple[str, Path]]:
    """(name, root) of each model of `.xlm_models` that has a folder: git models in `xlm_models/`,
    local ones where xlm finds them. A model without a folder has nothing to check, nor has a
    git model that `lock` (the lock an install just made `xlm_models/` match) records as
    declaring nothing: its requirements were read from that very tree as it was installed."""
    from xpm.stamp import vendored_root

    roots = []
    for entry in project.entries():
        if entry.is_git:
            locked = lock.entries.get(entry.name) if lock is not None else None
            if locked is not None and locked.requires == () and locked.requires_python is None:
                continue
            root = vendored_root(project.root, entry.name)
            if root.is_dir():
                roots.append((entry.name, root))
            continue
        from xlm.external.discovery import FoundModel, resolve_entry, search_dirs  # local models only

        if isinstance(found := resolve_entry(entry, search_dirs(project.root), project.root), FoundModel):
            roots.append((entry.name, found.root))
    return roots


def check(project: Project, lock=None) -> Report:
    """The requirements check of the project's models (`lock`: see `model_roots`)."""
    from xlm.external.deps import check_models

    return check_models(model_roots(project, lock))


def problems(report: Report) -> list[tuple[str, str]]:
    """(what, fix) for every model whose requirements do not hold, and every conflict."""
    found = [(f"model '{name}' declares requirements that cannot be read: {error.where}: {error.what}", error.fix)
             for name, error in report.errors.items()]
    found += [(unmet_message(name, items), fix_message(items)) for name, items in report.unmet.items()]
    for conflict in report.conflicts:
        (a, _), (b, _) = conflict.first, conflict.second
        found.append((conflict.describe(), f"use versions of '{a}' and '{b}' that agree on {conflict.name} "
                                           f"(`xpm update`, another @REF), or keep only one of them"))
    return found


def missing(report: Report) -> list[str]:
    """The requirements `--deps` would install (each once, in model order)."""
    wanted: dict[str, None] = {}
    for items in report.unmet.values():
        for item in items:
            if item.kind in ("package", "core"):
                wanted.setdefault(item.requirement)
    return list(wanted)


def refusals(report: Report) -> list[str]:
    """Why `--deps` must not run pip at all: what pip must not change, or cannot satisfy."""
    why = [f"model '{name}' declares requirements that cannot be read ({error.where}: {error.what})"
           for name, error in report.errors.items()]
    for name, items in report.unmet.items():
        for item in items:
            if item.kind == "core" and item.found is not None:
                why.append(f"model '{name}' needs {item.describe()}: --deps never replaces {', '.join(CORE_STACK)}")
            elif item.kind in ("xlm", "xlm-core", "python"):
                why.append(f"{unmet_message(name, [item])}: pip cannot change that")
    why += [conflict.describe() for conflict in report.conflicts]
    return why


# ----------------------------------------------------------------------------- installing
class InstallFailed(XpmError):
    """The installer itself failed: its command, exit status and its own error line; its last
    lines too when they were not shown as it ran (-q)."""

    def __init__(self, command: str, code: int, tail: list[str], shown: bool):
        said = [line.strip() for line in tail if line.strip()]
        error = next((line for line in said if line.lower().startswith("error:")), said[-1] if said else "(no output)")
        if "No module named pip" in error:
            fix = "install pip into that interpreter (python -m ensurepip), or put uv on PATH (XPM_INSTALLER=uv)"
        else:
            fix = ("check the requirement names and versions the models declare, the package index settings "
                   "and the network (the installer's output says which); nothing of the core stack was changed")
        super().__init__(f"`{command}` failed (exit {code}): {error}", fix)
        self.tail = [] if shown else [line.rstrip() for line in tail]

    def render(self) -> str:
        return super().render() + ("\n  the installer said:\n    " + "\n    ".join(self.tail) if self.tail else "")


def installer() -> str:
    """`XPM_INSTALLER` (pip or uv), else uv when it is on PATH, else pip."""
    chosen = os.environ.get("XPM_INSTALLER", "").strip().lower()
    if chosen and chosen not in INSTALLERS:
        raise XpmError(f"XPM_INSTALLER={chosen!r} is not an installer xpm knows",
                       f"set XPM_INSTALLER to one of {', '.join(INSTALLERS)}, or unset it (uv when on PATH, else pip)")
    if chosen:
        return chosen
    import shutil

    return "uv" if shutil.which("uv") else "pip"


def constraints(versions: dict[str, str]) -> list[str]:
    """``name==version`` of each installed member of the core stack: what an install may not move."""
    return [f"{name}=={versions[name]}" for name in CORE_STACK if versions.get(name)]


def install_command(tool: str, requirements: list[str], constraints_file: Path, python: str) -> list[str]:
    if tool == "uv":
        import shutil

        uv = shutil.which("uv")
        if uv is None:
            raise XpmError("XPM_INSTALLER=uv, but uv is not on PATH", "install uv, or set XPM_INSTALLER=pip")
        return [uv, "pip", "install", "--python", python, "--constraint", str(constraints_file), *requirements]
    return [python, "-m", "pip", "install", "--constraint", str(constraints_file), *requirements]


def install_missing(project: Project, say=None, python: str | None = None, lock=None) -> tuple[list[str], Report]:
    """Install every missing requirement of the project's models into ``python`` (this
    interpreter) with one installer call; return what was asked for ([]: nothing was missing)
    and the requirements check after it (``lock``: see `model_roots`).

    Refuses, before anything runs, what the installer must not or cannot fix. ``say(line)``
    receives the installer's output as it comes."""
    import importlib
    import shlex
    import tempfile

    from xlm.external.installed import installed

    report = check(project, lock)
    if why := refusals(report):
        raise XpmError("cannot install the models' requirements (nothing was installed):\n    - " + "\n    - ".join(why),
                       "change the models (another ref: `xpm update`, or edit a local model's pyproject.toml), "
                       "or set up the interpreter yourself; `xlm models` shows the state")
    wanted = missing(report)
    if not wanted:
        return [], report
    python = python or sys.executable
    tool = installer()
    with tempfile.TemporaryDirectory(prefix="xpm-deps-") as tmp:
        pins = Path(tmp) / "constraints.txt"
        pins.write_text("".join(f"{line}\n" for line in constraints(installed().versions)), encoding="utf-8")
        command = install_command(tool, wanted, pins, python)
        shown = ("uv pip install --python " + shlex.quote(python) if tool == "uv" else f"{shlex.quote(python)} -m pip install") + \
            " " + " ".join(shlex.quote(r) for r in wanted)
        if say is not None:
            say(f"installing {', '.join(wanted)} with: {shown} (core stack pinned)")
        (Path(tmp) / "cwd").mkdir()  # run where no file is: pip reads `x-1.0-py3-none-any.whl` as one to install
        code, tail = _run(command, say, Path(tmp) / "cwd")
    if code != 0:
        raise InstallFailed(shown, code, tail, say is not None)
    importlib.invalidate_caches()
    still = check(project, lock)
    if still.unmet:
        lines = [unmet_message(name, items) for name, items in still.unmet.items()]
        raise XpmError(f"`{shown}` succeeded, but requirements still do not hold:\n    - " + "\n    - ".join(lines),
                       "check that each requirement names the distribution the model imports, and its markers")
    return wanted, still


def _run(command: list[str], say, cwd: Path) -> tuple[int, list[str]]:
    """Run the installer in ``cwd``; stream its output to ``say``; return (exit status, its last lines)."""
    import subprocess

    tail: deque[str] = deque(maxlen=_TAIL)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, text=True, errors="replace", cwd=cwd)
    except OSError as exc:
        if exc.errno == errno.E2BIG:
            raise XpmError(f"the installer's command line ({len(command)} arguments) is longer than this system allows",
                           "install the requirements a few models at a time, or by hand (`xlm models` lists them)") from None
        raise XpmError(f"cannot run {command[0]}: {exc.strerror}", "check the interpreter and PATH (or set XPM_INSTALLER)") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line.rstrip("\n"))
        if say is not None:
            say(line.rstrip("\n"))
    return proc.wait(), list(tail)


# ----------------------------------------------------------------------------- reporting
def warning_lines(report: Report, python: str | None = None) -> list[str]:
    """What `xpm add`/`install` print when requirements do not hold (nothing is installed)."""
    lines = []
    for what, fix in problems(report):
        lines += [f"warning: {what}", f"  fix: {fix}"]
    if missing(report) and not refusals(report):  # --deps refuses to run at all when pip must not or cannot help
        lines.append(f"  or install what is missing into {python or sys.executable}: xpm install --deps")
    return lines


def frozen_error(report: Report) -> XpmError:
    """`--frozen`: the requirements must hold; list what does not."""
    found = problems(report)
    fix = "run `xpm install --frozen --deps` to install what is missing"
    if wanted := missing(report):
        fix += f", or: {pip_command(wanted)}"
    return XpmError("the models' requirements do not hold in this interpreter:\n    - " +
                    "\n    - ".join(what for what, _ in found), fix)
