"""What a model's Python package defines, read from its source without importing it.

Validation must never run a model's code (it may need torch, a GPU, or be half written),
so a dotted path such as ``my_model.loss.MyLoss`` is checked by finding the module file and
reading its top-level names with `ast`. Parsing every module with `ast` costs ~1.5 ms per
file, which for 50 models is ten times the start-up budget; so a cheap line-anchored regex
answers first (``class MyLoss`` / ``def f`` / ``NAME =`` at column 0) and `ast` is consulted
only when the regex finds nothing (imports, definitions inside ``if``/``try``, typos).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path


def module_file(package_dir: Path, parts: list[str]) -> Path | None:
    """The file of module ``parts`` (relative to the package): ``a/b.py`` or ``a/b/__init__.py``."""
    if not parts:
        init = package_dir / "__init__.py"
        return init if init.is_file() else None
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def split_dotted(package_dir: Path, parts: list[str]) -> tuple[Path | None, list[str]]:
    """Split ``parts`` (after the package name) into the deepest existing module and the rest."""
    for cut in range(len(parts), -1, -1):
        file = module_file(package_dir, parts[:cut])
        if file is not None:
            return file, parts[cut:]
    return None, parts


def _fast_defines(source: str, name: str) -> bool:
    pattern = rf"^(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(name)}\b|^{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)"
    return re.search(pattern, source, re.M) is not None


def _top_level_names(body: list[ast.stmt], names: set[str]) -> bool:
    """Collect names bound at module level into ``names``; True when any name may exist (``*``)."""
    anything = False
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            anything |= node.name == "__getattr__"  # PEP 562: the module answers any attribute
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                anything |= alias.name == "*"
                names.add(alias.asname or alias.name)
        else:  # if / try / with / for blocks at module level still bind module names
            for field in ("body", "orelse", "finalbody"):
                anything |= _top_level_names(getattr(node, field, None) or [], names)
            for handler in getattr(node, "handlers", None) or []:
                anything |= _top_level_names(handler.body, names)
    return anything


def defines(file: Path, name: str) -> bool:
    """Whether module ``file`` binds ``name`` at top level. Raises SyntaxError for broken source."""
    source = file.read_text(encoding="utf-8", errors="replace")
    if _fast_defines(source, name):
        return True
    names: set[str] = set()
    anything = _top_level_names(ast.parse(source, filename=str(file)).body, names)
    return anything or name in names


def check_dotted(package_dir: Path, dotted: str) -> str | None:
    """Why ``dotted`` (``pkg.module.Name``) does not name a class or function in the package, or None."""
    package, *parts = dotted.split(".")
    if not all(p.isidentifier() for p in [package, *parts]):
        return f"'{dotted}' is not a dotted Python path"
    file, rest = split_dotted(package_dir, parts)
    if file is None:
        return f"package {package}/__init__.py does not exist"
    shown = file.relative_to(package_dir.parent).as_posix()
    if not rest:
        return f"it names the module {shown}, not a class or function in it"
    try:
        if defines(file, rest[0]):
            return None
    except SyntaxError as exc:
        return f"{shown} has a syntax error at line {exc.lineno}: {exc.msg}"
    if len(rest) > 1:  # `pkg.loss.MyLoss` with no loss.py: the module is what is missing
        return f"module {'/'.join([package, *parts[:-1]])}.py does not exist"
    return f"'{rest[0]}' is not defined in {shown}"
