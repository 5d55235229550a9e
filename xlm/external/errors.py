"""What can be wrong with external models: the `Problem` record and the exceptions strict mode raises.

Every check (discovery, validation, conflicts) reports `Problem`s instead of raising, so that
one run reports all of them. Only the facade decides what a problem costs: in strict mode
it raises the exception class of the first problem's kind (carrying all of them); otherwise
it prints each as a warning and skips the model it belongs to.
"""

from __future__ import annotations

from typing import NamedTuple

from xlm.errors import UserError
from xlm.shown import escaped


class Problem(NamedTuple):
    """One thing wrong: ``what`` happened, ``where`` (file:line or path), how to ``fix`` it.

    ``model`` is the model's name (None for a problem of the models file itself); ``kind``
    selects the exception class raised in strict mode (see `KINDS`).
    """

    model: str | None
    what: str
    where: str
    fix: str
    kind: str = "invalid"

    def render(self, level: str = "Error") -> str:
        """``Error: what`` then indented ``where`` and ``fix`` lines (the CLI's user-error format)."""
        what, fix = ("\n".join(map(escaped, text.split("\n"))) for text in (self.what, self.fix))
        where = escaped(self.where)  # a path: a newline in it is a character of the name, not a line break
        return f"{level}: {what}\n  where: {where}\n  fix: {fix}"


class ExternalModelConflictError(UserError):
    """Strict validation failed; ``problems`` holds every problem found, the first one is ``str``.

    A `UserError`, so the CLI prints `render()` (every problem) and exits without a traceback.
    """

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("ExternalModelConflictError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.what, first.fix)
        self.where = first.where
        lines = [first.what, f"  where: {first.where}", f"  fix: {first.fix}"]
        self.args = ("\n".join(lines + [p.render() for p in self.problems[1:]]),)

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class ModelsFileError(ExternalModelConflictError):
    """A line of `.xlm_models` cannot be parsed, or the file named by XLM_MODELS_FILE is missing."""


class ModelNotFoundError(ExternalModelConflictError):
    """A listed model's folder does not exist (or a git-sourced model is not vendored yet)."""


class ModelNotInstalledError(ExternalModelConflictError):
    """A git-sourced model is not vendored as `xlm.lock` says (missing, stale or half installed)."""


class VendoredModelModifiedError(ExternalModelConflictError):
    """Files of a vendored model differ from what xpm installed from the locked commit."""


class InvalidModelNameError(ExternalModelConflictError):
    """A model name is not a lowercase identifier, is a keyword, or is reserved for a core model."""


class DuplicateModelNameError(ExternalModelConflictError):
    """Two models share a name (within `.xlm_models` or across sources)."""


class PackageConflictError(ExternalModelConflictError):
    """Two models define the same top-level package, or a model's package shadows another module."""


class MissingPackageError(ExternalModelConflictError):
    """A model folder has no Python package (no ``<name>/__init__.py``)."""


class MissingConfigGroupError(ExternalModelConflictError):
    """A model lacks a required config group (``model``, ``model_type``)."""


class InvalidConfigError(ExternalModelConflictError):
    """A model's YAML file does not parse, or its ``commands.yaml`` is malformed."""


class InvalidTargetError(ExternalModelConflictError):
    """A ``_target_`` (or ``update_fn``, or command) names a module or object that does not exist."""


class ModelSourceError(ExternalModelConflictError):
    """A Python file of a model's package does not compile (a syntax error)."""


class ConfigConflictError(ExternalModelConflictError):
    """Two models ship the same config file (Hydra would silently use only one of them)."""


class CommandConflictError(ExternalModelConflictError):
    """A model command reuses the name of a built-in command or of another model's command."""


class UnmetRequirementsError(ExternalModelConflictError):
    """A model's declared Python requirements (packages, its xlm range, Python) do not hold here,
    cannot be read, or exclude another model's."""


KINDS: dict[str, type[ExternalModelConflictError]] = {
    "models_file": ModelsFileError,
    "not_found": ModelNotFoundError,
    "not_installed": ModelNotInstalledError,
    "modified": VendoredModelModifiedError,
    "name": InvalidModelNameError,
    "duplicate": DuplicateModelNameError,
    "package_conflict": PackageConflictError,
    "no_package": MissingPackageError,
    "missing_configs": MissingConfigGroupError,
    "invalid_config": InvalidConfigError,
    "bad_target": InvalidTargetError,
    "syntax_error": ModelSourceError,
    "config_conflict": ConfigConflictError,
    "command_conflict": CommandConflictError,
    "requirements": UnmetRequirementsError,
}


def error_for(problems: list[Problem]) -> ExternalModelConflictError:
    """The exception strict mode raises for ``problems`` (typed by the first problem's kind)."""
    return KINDS.get(problems[0].kind, ExternalModelConflictError)(problems)
