"""What a model's Python package defines, read from its source without importing it.

Validation must never run a model's code (it may need torch, a GPU, or be half written),
so a dotted path such as ``my_model.loss.MyLoss`` is checked by finding the module file and
reading its top-level names with `ast`. Parsing costs ~1.5 ms per file, so the answer is
remembered per file (`FileMemo`, keyed by mtime and size): a warm start parses nothing, and
a name that does not even occur in the file's text is rejected without parsing.
"""

from __future__ import annotations

import os
from pathlib import Path

from xlm.external.cache import FileMemo


def read_text(path: str) -> str:
    """A source file's text (bytes decoded by hand: cheaper than a text-mode file object)."""
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


def _top_level_names(body: list, names: set[str]) -> bool:
    """Collect names bound at module level into ``names``; True when any name may exist (``*``)."""
    import ast  # deferred: a warm start answers from the memo

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


class PackageSource:
    """The source files of one package, each read (and stat'ed) at most once per validation."""

    def __init__(self, package_dir: Path, memo: FileMemo | None = None):
        self.package_dir = str(package_dir)
        self.memo = memo or FileMemo("", 0, persist=False)
        self._files: dict[tuple[str, ...], str | None] = {}
        self._signatures: dict[str, list[int]] = {}
        self._texts: dict[str, str] = {}

    def module_file(self, parts: tuple[str, ...]) -> str | None:
        """The file of module ``parts`` (relative to the package): ``a/b.py`` or ``a/b/__init__.py``."""
        if parts not in self._files:
            base = os.path.join(self.package_dir, *parts)
            package_init = os.path.join(base, "__init__.py")
            candidates = [base + ".py", package_init] if parts else [package_init]
            self._files[parts] = None
            for candidate in candidates:
                if (signature := self.memo.signature(candidate)) is not None:
                    self._files[parts], self._signatures[candidate] = candidate, signature
                    break
        return self._files[parts]

    def split_dotted(self, parts: list[str]) -> tuple[str | None, list[str]]:
        """Split ``parts`` (after the package name) into the deepest existing module and the rest."""
        for cut in range(len(parts), -1, -1):
            file = self.module_file(tuple(parts[:cut]))
            if file is not None:
                return file, parts[cut:]
        return None, parts

    def defines(self, file: str, name: str) -> bool:
        """Whether module ``file`` binds ``name`` at top level. Raises SyntaxError for broken source."""
        signature = self._signatures[file]
        if (known := self.memo.get(file, signature, "defines:" + name)) is not None:
            return known
        answer = self._defines(file, name)
        self.memo.put(file, signature, "defines:" + name, answer)
        return answer

    def _defines(self, file: str, name: str) -> bool:
        if file not in self._texts:
            self._texts[file] = read_text(file)
        source = self._texts[file]
        if name not in source and "import *" not in source and "__getattr__" not in source:
            return False  # a name a module binds appears in its text (a typo does not)
        names: set[str] = set()
        import ast  # deferred: a warm start answers from the memo

        anything = _top_level_names(ast.parse(source, filename=file).body, names)
        return anything or name in names

    def check_dotted(self, dotted: str) -> str | None:
        """Why ``dotted`` (``pkg.module.Name``) does not name a class or function in the package, or None."""
        package, *parts = dotted.split(".")
        if not all(p.isidentifier() for p in [package, *parts]):
            return f"'{dotted}' is not a dotted Python path"
        if parts and (file := self.module_file(tuple(parts[:-1]))) is not None:
            try:  # the common shape `pkg.module.Name`, answered with one stat
                if self.defines(file, parts[-1]):
                    return None
            except SyntaxError:
                pass  # reported below with the module it belongs to
        file, rest = self.split_dotted(parts)
        if file is None:
            return f"package {package}/__init__.py does not exist"
        shown = package + file[len(self.package_dir) :].replace(os.sep, "/")
        if not rest:
            return f"it names the module {shown}, not a class or function in it"
        try:
            if self.defines(file, rest[0]):
                return None
        except SyntaxError as exc:
            return f"{shown} has a syntax error at line {exc.lineno}: {exc.msg}"
        if len(rest) > 1:  # `pkg.loss.MyLoss` with no loss.py: the module is what is missing
            return f"module {'/'.join([package, *parts[:-1]])}.py does not exist"
        return f"'{rest[0]}' is not defined in {shown}"
