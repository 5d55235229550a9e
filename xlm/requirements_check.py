"""Do declared requirements hold in an interpreter, and do two models' requirements agree?

`xlm.requirements` reads what a model declares (as data); this module judges it: each
requirement against an `Environment` (the installed distributions, the Python, this xlm), and
every pair of models against each other (`conflicts`: two ranges no version satisfies). The
answers (`Unmet`, `Conflict`, `Report`) carry their own message and fix. Shared by xlm
(start-up checks, `xlm models`) and xpm (after add and install, `--deps`); `packaging` is
imported only inside the functions that parse or compare.
"""

from __future__ import annotations

import re
import sys
from typing import Iterable, Mapping, NamedTuple

from xlm.requirements import CORE_STACK, DeclarationError, Declared, canonical


class Environment(NamedTuple):
    """What requirements are checked against: an interpreter's distributions, its Python, this xlm."""

    versions: Mapping[str, str]  # canonical distribution name -> installed version
    python: str  # "3.11.7"
    xlm: str  # xlm.__version__


def current_environment(versions: Mapping[str, str] | None = None) -> Environment:
    """This interpreter; ``versions`` (canonical name -> version) default to `importlib.metadata`'s."""
    from xlm import __version__

    if versions is None:
        versions = installed_versions()
    python = ".".join(str(p) for p in sys.version_info[:3])
    return Environment(versions, python, __version__)


def installed_versions(paths: Iterable[str] | None = None) -> dict[str, str]:
    """Canonical name -> version of each distribution on ``paths`` (sys.path); the first one found wins,
    as it is the one Python imports."""
    import importlib.metadata as metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions(**({"path": list(paths)} if paths is not None else {})):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version or "")
    return found


class Unmet(NamedTuple):
    """One requirement this interpreter does not satisfy."""

    requirement: str  # as declared, normalised ("einops>=0.7")
    name: str  # canonical name ("einops"); "python" for requires-python
    found: str | None  # the installed version, None when not installed
    kind: str  # package (pip can install it), core (torch/lightning/hydra-core), xlm, xlm-core, python
    spec: str  # its version range (">=0.3"), "" for any version

    def describe(self) -> str:
        if self.kind == "python":
            return f"Python {self.requirement} (this is Python {self.found})"
        if self.kind == "xlm":
            return f"{self.requirement} (this is xlm {self.found})"
        if self.kind == "xlm-core":
            return f"{self.requirement} (this is xlm {self.found}, not xlm-core)"
        return f"{self.requirement} ({'not installed' if self.found is None else f'{self.found} is installed'})"


def unmet(declared: Declared, env: Environment) -> list[Unmet]:
    """The requirements of ``declared`` that ``env`` does not satisfy, in declaration order.

    A requirement whose marker does not hold here (`; sys_platform == "win32"`) does not apply;
    extras (`pkg[cuda]`) are checked as `pkg` (their own requirements are pip's to resolve)."""
    if declared.empty:
        return []
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    found = []
    if declared.python is not None and not SpecifierSet(declared.python).contains(env.python, prereleases=True):
        found.append(Unmet(declared.python, "python", env.python, "python", declared.python))
    for text in declared.requires:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonical(req.name)
        if name == "xlm-core":  # xlm-core's own distribution also installs a package `xlm`
            found.append(Unmet(text, name, env.xlm, "xlm-core", _spec_text(text)))
            continue
        version = env.xlm if name == "xlm" else env.versions.get(name)
        if version is not None and (not req.specifier or req.specifier.contains(version, prereleases=True)):
            continue
        kind = "xlm" if name == "xlm" else "core" if name in CORE_STACK else "package"
        found.append(Unmet(text, name, version, kind, _spec_text(text)))
    return found


def _spec_text(requirement: str) -> str:
    """The version range of a normalised requirement, as written (``xlm>=0.3,<0.4`` -> ``>=0.3,<0.4``)."""
    return re.sub(r"^[A-Za-z0-9._-]+(\[[^\]]*\])?\s*", "", requirement.split(";", 1)[0]).strip()


SHOWN = 8  # unmet requirements a message names; a model may declare 500 of 1024 bytes


def unmet_message(model: str, items: list[Unmet]) -> str:
    """``model 'zlm' needs einops>=0.7 (not installed), jaxtyping (not installed)``."""
    more = f", and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"model '{model}' needs " + ", ".join(u.describe() for u in items[:SHOWN]) + more


def fix_message(items: list[Unmet]) -> str:
    """One command (or advice, for what pip must not change) that satisfies ``items``."""
    parts = []
    installable = [u for u in items if u.kind in ("package", "core")]
    if len(installable) > SHOWN:  # a command too long to read; --deps says what it may not change
        parts.append(f"`xpm install --deps` installs the {len(installable)} missing requirements")
    elif installable:
        parts.append(pip_command(u.requirement for u in installable))
        moved = [u for u in installable if u.kind == "core" and u.found is not None]
        if moved:
            parts[-1] += " (it replaces the installed " + ", ".join(f"{u.name} {u.found}" for u in moved) + ")"
    for u in items:
        if u.kind == "xlm":
            parts.append(f"use an xlm in {u.spec or 'any version'} (this is {u.found}), or a version of the model made for xlm {u.found}")
        elif u.kind == "xlm-core":
            parts.append("the model was written for xlm-core: require \"xlm\" instead of \"xlm-core\" "
                         "(see docs/porting_from_xlm_core.md)")
        elif u.kind == "python":
            parts.append(f"run it with a Python in {u.requirement} (this is {u.found})")
    return "; ".join(parts)


def pip_command(requirements: Iterable[str]) -> str:
    """``pip install 'einops>=0.7' jaxtyping``: each requirement quoted where a shell needs it."""
    import shlex

    return "pip install " + " ".join(shlex.quote(r) for r in requirements)


# ----------------------------------------------------------------------------- conflicts
class Conflict(NamedTuple):
    """Two models' requirements on one distribution that no version satisfies together."""

    name: str  # the distribution
    first: tuple[str, str]  # (model, requirement)
    second: tuple[str, str]

    def describe(self) -> str:
        (a, ra), (b, rb) = self.first, self.second
        return f"models '{a}' and '{b}' need {self.name} versions that cannot both hold: '{a}' needs {ra}, '{b}' needs {rb}"


def conflicts(declared: Mapping[str, Declared]) -> list[Conflict]:
    """Every pair of models (in the order given) whose requirements on one distribution exclude each other."""
    from packaging.requirements import Requirement

    by_name: dict[str, list[tuple[str, str, object]]] = {}
    for model, decl in declared.items():
        for text in decl.requires:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            by_name.setdefault(canonical(req.name), []).append((model, text, req.specifier))
    found = []
    for name, wanted in by_name.items():
        for i, (model_a, text_a, spec_a) in enumerate(wanted):
            for model_b, text_b, spec_b in wanted[i + 1:]:
                if model_a != model_b and not satisfiable([spec_a, spec_b]):
                    found.append(Conflict(name, (model_a, text_a), (model_b, text_b)))
    return found


def satisfiable(specifier_sets: list) -> bool:
    """Whether some version satisfies every one of ``specifier_sets`` (packaging `SpecifierSet`s).

    The versions a specifier set allows form intervals whose ends are the versions it names.
    So it is enough to try each named version, a version just above each (its release with a
    `.1` appended deeper than any named release: above it, below the next one), the next
    release at each level (the upper end of `~=2.2` and `==1.4.*`) and `0`. An arbitrary
    equality (`===`) is not reasoned about: it counts as satisfiable."""
    from packaging.version import InvalidVersion, Version

    named: list[Version] = []
    for spec_set in specifier_sets:
        for spec in spec_set:
            if spec.operator == "===":
                return True
            try:
                named.append(Version(spec.version.removesuffix(".*")))
            except InvalidVersion:
                return True
    bounds = set(named)
    for version in named:  # the other end of a prefix match or a compatible release
        release = version.release
        bounds.update(Version(".".join(map(str, release[:i] + (release[i] + 1,)))) for i in range(len(release)))
    depth = max((len(v.release) for v in bounds), default=1)
    candidates = set(bounds) | {Version("0")}
    for version in bounds:
        padded = version.release + (0,) * (depth - len(version.release))
        candidates.add(Version(".".join(map(str, padded + (1,)))))
    return any(all(s.contains(c, prereleases=True) for s in specifier_sets) for c in sorted(candidates))


class Report:
    """The requirements check of several models: what each lacks, and which pairs conflict."""

    def __init__(self, declared: dict[str, Declared] | None = None):
        self.unmet: dict[str, list[Unmet]] = {}  # model -> its unmet requirements
        self.conflicts: list[Conflict] = []
        self.errors: dict[str, DeclarationError] = {}  # model -> why its declaration is unreadable
        self.declared: dict[str, Declared] = declared or {}  # model -> what it declares (readable ones)

    @property
    def ok(self) -> bool:
        return not (self.unmet or self.conflicts or self.errors)


def check(declared: Mapping[str, Declared], env: Environment) -> Report:
    """Check each model's declaration against ``env``, and the declarations against each other."""
    report = Report(declared=dict(declared))
    for model, decl in declared.items():
        if items := unmet(decl, env):
            report.unmet[model] = items
    report.conflicts = conflicts(declared)
    return report
