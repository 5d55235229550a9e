"""Public entry point of the external-model system (the seed documentation's import path).

`setup_external_models()` discovers the models a project uses, validates them statically and
registers them (import path + Hydra config search path). ``xlm`` calls it before Hydra
composes. Nothing here imports torch, lightning or hydra, nor any model's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from xlm.external.checks import ExternalModels, Model, check
from xlm.external.conflicts import BUILTIN_COMMANDS
from xlm.external.discovery import CORE_MODEL_NAMES, discover
from xlm.external.errors import ExternalModelConflictError, Problem, error_for
from xlm.external.installed import installed
from xlm.external.registration import register_flat_packages, register_model_roots

__all__ = [
    "CORE_MODEL_NAMES",
    "ExternalModelConflictError",
    "ExternalModels",
    "Model",
    "Problem",
    "find_external_models",
    "setup_external_models",
]


def find_external_models(start: Path | None = None, builtin_commands: Iterable[str] = BUILTIN_COMMANDS) -> ExternalModels:
    """Discover and check the models of the project around ``start`` (default: the current folder).

    Changes nothing: `xlm models` lists this; `setup_external_models` also registers it.
    """
    return check(discover(start), installed().top_level, builtin_commands)


def setup_external_models(
    strict_validation: bool = False,
    start: Path | None = None,
    builtin_commands: Iterable[str] = BUILTIN_COMMANDS,
    fatal_kinds: Iterable[str] = (),
) -> ExternalModels:
    """Find, check and register the project's models; return what was found.

    With ``strict_validation`` any problem or warning raises `ExternalModelConflictError` (a
    subclass per kind of problem, carrying all of them) and nothing is registered. Otherwise
    each problem is logged as a warning, the models it concerns are skipped and the rest load,
    except problems of ``fatal_kinds``, which raise as in strict mode (`xlm train` passes the
    kinds that mean "vendored code is not what xlm.lock says"). Warnings (bad targets in
    configs) are counted in one line: `xlm models` lists them, and a job that uses one fails.
    """
    found = find_external_models(start, builtin_commands)
    if strict_validation and (found.problems or found.warnings):
        raise error_for(found.problems + found.warnings)
    if fatal := [p for p in found.problems if p.kind in set(fatal_kinds)]:
        raise error_for(fatal)
    if found.problems or found.warnings:
        import logging  # only now: importing it costs a tenth of the start-up budget

        log = logging.getLogger("xlm.external")
        for problem in found.problems:
            log.warning(problem.render("Warning"))
        if found.warnings:
            models = sorted({w.model for w in found.warnings})
            log.warning(f"Warning: {len(found.warnings)} warning(s) about the configs of {', '.join(models)} "
                        "(a bad target, a file Hydra never reads, ...); `xlm models` lists them")
    register_model_roots(
        [m.info.import_dir for m in found.models if not m.found.importable and m.info.import_dir is not None],
        [m.configs_dir for m in found.models],
    )
    register_flat_packages({m.info.package: m.info.package_dir for m in found.models if m.info.flat and not m.found.importable})
    return found
