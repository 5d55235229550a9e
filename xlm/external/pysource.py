"""What a model's Python package defines, read from its source without importing it.

Validation must never run a model's code (it may need torch, a GPU, or be half written),
so a dotted path such as ``my_model.loss.MyLoss`` is checked by finding the module file and
reading its top-level names with `ast`. Parsing costs ~1.5 ms per file, so the answer is
remembered per file (`FileMemo`, keyed by mtime and size): a warm start parses nothing, and
a name that does not even occur in the file's text is rejected without parsing.

`PackageSource.compile_errors` compiles every module of a package (``compile``, which never
runs the code) so a syntax error is reported with its file and line before a job imports the
module. (Compiling the source directly is cheaper than `ast.parse`, which builds Python
objects for every node: ~0.5 ms against ~0.7 ms for a 3 KB file.)
"""

from __future__ import annotations

import errno
import os
import re
import warnings
from pathlib import Path

from xlm.external.cache import FileMemo
from xlm.textfile import read_regular

_CODING = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t\f]*#.*?coding[:=]")  # PEP 263's declaration, on line 1 or 2


MAX_SOURCE_BYTES = 8 << 20  # compiling takes ~250 bytes of memory per byte: a module this large is data


def read_source(path: str) -> bytes:
    """A module's bytes; an OSError that says why for anything but a regular file of at most
    `MAX_SOURCE_BYTES` (a fifo blocks, /dev/zero never ends, 20 MB of code took 5 GB to compile)."""
    data = read_regular(path, MAX_SOURCE_BYTES)
    if len(data) > MAX_SOURCE_BYTES:
        raise OSError(errno.EFBIG, f"it is larger than {MAX_SOURCE_BYTES >> 20} MiB, which is data, not code")
    return data


def read_text(path: str) -> str:
    """A source file's text (bytes decoded by hand: cheaper than a text-mode file object)."""
    return read_source(path).decode("utf-8", errors="replace")


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
        self._compiled: set[str] = set()  # the files `compile_errors` judged (and reports when broken)

    def module_file(self, parts: tuple[str, ...]) -> str | None:
        """The file of module ``parts`` (relative to the package): ``a/b.py`` or ``a/b/__init__.py``."""
        if parts not in self._files:
            base = os.path.join(self.package_dir, *parts)
            package_init = os.path.join(base, "__init__.py")
            candidates = [base + ".py", package_init] if parts else [package_init]
            self._files[parts] = None
            for candidate in candidates:  # compile_errors has stat'ed the package's files already
                if (signature := self._signatures.get(candidate) or self.memo.signature(candidate)) is not None:
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
        if (known := self.memo.get(file, signature, "defines:" + name, lambda v: isinstance(v, bool))) is not None:
            return known
        answer = self._defines(file, name)
        self.memo.put(file, signature, "defines:" + name, answer)
        return answer

    def _defines(self, file: str, name: str) -> bool:
        if file not in self._texts:
            try:
                self._texts[file] = read_text(file)
            except OSError as exc:  # `compile_errors` reports the file
                raise SyntaxError(f"cannot be read: {exc.strerror or exc}") from None
        source = self._texts[file]
        if name not in source and "import *" not in source and "__getattr__" not in source:
            return False  # a name a module binds appears in its text (a typo does not)
        names: set[str] = set()
        import ast  # deferred: a warm start answers from the memo

        try:
            tree = ast.parse(source, filename=file)
        except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting: as `_compile` says
            raise SyntaxError(str(exc) or type(exc).__name__) from None
        anything = _top_level_names(tree.body, names)
        return anything or name in names

    def compile_errors(self) -> list[tuple[str, int | None, str]]:
        """``(file, line, message)`` for each module of the package that does not compile.

        Compiling is parsing plus the compiler's own checks (``return`` outside a function,
        ...), and runs nothing. Verdicts are remembered per file, so a warm start only stats
        the files.
        """
        errors = []
        for path in _module_files(self.package_dir):
            signature = self.memo.signature(path)
            if signature is None:
                try:
                    os.stat(path)
                except OSError as exc:  # a link in a loop or to nothing: importing it fails too
                    errors.append((path, None, f"cannot be read: {exc.strerror or exc}"))
                continue
            self._signatures[path] = signature
            self._compiled.add(path)
            verdict = self.memo.get(path, signature, "compile", _compile_verdict)
            if verdict is None:
                try:
                    verdict = self._compile(path) or []
                except MemoryError:  # this process's limit (a cgroup, ulimit), not the file's: judged again next time
                    errors.append((path, None, "compiling it ran out of memory"))
                    continue
                self.memo.put(path, signature, "compile", verdict)
            if verdict:
                errors.append((path, verdict[1], verdict[0]))
        return errors

    def _compile(self, path: str) -> list | None:
        """``[message, line]`` when the module at ``path`` does not compile, else None."""
        try:
            data = read_source(path)
        except OSError as exc:
            return [f"cannot be read: {exc.strerror or exc}", None]
        with warnings.catch_warnings():  # SyntaxWarnings are the author's business, not a start-up's
            warnings.simplefilter("ignore")
            try:
                compile(data, path, "exec", dont_inherit=True)  # bytes: the file's coding declaration applies
            except SyntaxError as exc:  # IndentationError and TabError included
                if not exc.lineno and exc.msg.startswith(("unknown encoding", "encoding problem")):  # the cookie's line
                    return [exc.msg, next((n for n, line in enumerate(data.split(b"\n")[:2], 1) if _CODING.search(line)), None)]
                return [exc.msg, exc.lineno]
            except (ValueError, RecursionError) as exc:  # null bytes, absurd nesting
                return [str(exc) or type(exc).__name__, None]
        return None

    def imported_packages(self) -> set[str]:
        """The top-level packages the package's modules import by absolute name, anywhere in them
        (`import a.b, c`: a and c; `from d.e import f`: d), read with `ast` and remembered per
        file, so a warm start only stats the files."""
        found: set[str] = set()
        for path in _module_files(self.package_dir):
            signature = self._signatures.get(path) or self.memo.signature(path)
            if signature is None:
                continue
            names = self.memo.get(path, signature, "imports", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v))
            if names is None:
                names = _imports(path)
                self.memo.put(path, signature, "imports", names)
            found.update(names)
        return found

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
            if file in self._compiled:
                return None  # not the target's fault: `PackageSource.compile_errors` reports the module
            return f"module {shown} does not compile: {exc.msg}"  # one it never judged (a namespace sub-folder's)
        if len(rest) > 1 and os.path.basename(file) == "__init__.py":  # `pkg.loss.MyLoss` with no loss.py: the module is missing
            return f"module {'/'.join([package, *parts[:-1]])}.py does not exist"
        return f"'{rest[0]}' is not defined in {shown}"  # `pkg.model.Nope.create` too: model.py is there, Nope is not


XLM_PACKAGE_DIR = Path(__file__).resolve().parent.parent


class TargetCheck:
    """Dotted paths into known packages (a model's own, xlm's), checked from their source.

    ``packages`` maps an import name to its folder (or to its `PackageSource`, whose reads
    are then shared); a path into any other package (``torch.optim.AdamW``) is not ours to
    check without importing it.
    """

    def __init__(self, packages: dict[str, Path | PackageSource], memo: FileMemo | None = None):
        self.packages = {"xlm": XLM_PACKAGE_DIR, **packages}
        self.memo = memo
        self._sources = {name: p for name, p in self.packages.items() if isinstance(p, PackageSource)}

    def why(self, dotted: str) -> str | None:
        """Why ``dotted`` names nothing in its package (None when it does, or is not ours to
        check); a value that is no dotted path at all (``''``, ``42``, ``[a, b]``) names nothing anywhere."""
        if not (dotted and all(part.isidentifier() for part in dotted.split("."))):
            from xlm.shown import show

            return f"'{show(dotted, 60)}' is not a dotted Python path (package.module.Name)"
        top = dotted.split(".", 1)[0]
        if top not in self.packages:
            return None
        if top not in self._sources:
            self._sources[top] = PackageSource(self.packages[top], self.memo)
        return self._sources[top].check_dotted(dotted)


def _imports(path: str) -> list[str]:
    """The top-level names `imported_packages` reads from one module ([] when it does not parse:
    `compile_errors` reports that)."""
    import ast

    try:
        tree = ast.parse(read_text(path), filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(names)


def _compile_verdict(value) -> bool:
    """The shape `PackageSource._compile` stores: [] (compiles) or [message, line or None]."""
    return isinstance(value, list) and (value == [] or (
        len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], (int, type(None)))))


def _module_files(package_dir: str) -> list[str]:
    """The ``.py`` files of a package: its folder and its regular sub-packages, sorted. A
    ``.py`` entry that is no regular file or cannot be stat'ed (a fifo, a link loop, a dangling
    link) is listed, so that compiling it reports why; a sub-package reached again through a
    link is walked once."""
    found, folders, seen = [], [package_dir], set()
    while folders:
        folder = folders.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.name.endswith(".py") and not entry.is_dir():  # a fifo or a device too: compiling says why
                    found.append(entry.path)
                elif entry.is_dir() and entry.name.isidentifier() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                    folders.append(entry.path)
            except OSError:  # ELOOP and the like: is_file() raises all but "not found"
                if entry.name.endswith(".py"):
                    found.append(entry.path)
    return sorted(found)
