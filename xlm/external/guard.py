"""Before a job builds anything: never a different model than the one asked for, never a bad target.

xlm skips a model that fails validation and loads the others. A job whose composed config
uses a skipped model would silently run something else: an experiment the skipped model
ships, a config of a model that loaded under the same name instead of it (xlm's core ``mlm``
when the project lists its own ``mlm``), or a ``_target_`` into the skipped model's package.
Such a job fails with the reason the model was skipped and its fix.

A target that names nothing (a stale config, which validation only warns about) fails the
job whose config uses it, before anything is imported, with the file and line it is written at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from xlm.errors import UserError
from xlm.external.checks import ExternalModels
from xlm.external.configs import TARGET_KEYS
from xlm.external.discovery import FoundModel
from xlm.external.errors import Problem
from xlm.external.layout import find_layout
from xlm.external.pysource import TargetCheck


def config_targets(node: Any) -> list[str]:
    """Every ``_target_``/``update_fn`` value in a config (plain containers), in order, once; a
    value that is no string (``42``, a list) as its text, so that it is refused by name."""
    found: dict[str, None] = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in TARGET_KEYS and not isinstance(value, (dict, str)):
                    found[str(value)] = None
                elif key in TARGET_KEYS and isinstance(value, str) and "${" not in value:
                    found[value] = None
                else:
                    stack.append(value)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return list(found)


def selections(choices: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(group, option) of each config file the job's Hydra `choices` selected (Hydra's own groups left out)."""
    for group, option in choices.items():
        if group.startswith("hydra/") or option is None:
            continue
        for one in option if isinstance(option, (list, tuple)) else [option]:
            if isinstance(one, str) and one:
                yield group, one


def model_configs_dir(model: FoundModel) -> Path | None:
    """The `configs/` folder a declared model's layout gives it (`validation.configs_dir_of`)."""
    from xlm.external.validation import configs_dir_of

    layout = find_layout(model.root, model.name, model.package)
    return configs_dir_of(model.root, layout.package_dir if layout else None, bool(layout and layout.flat))


def _blocking(found: ExternalModels) -> list[tuple[FoundModel | None, str, str, Problem]]:
    """(skipped model or None, name, package, reason) of each declared model that did not load.

    A skipped duplicate of the very folder that loaded changes nothing, and neither does an
    installed distribution's model when the project itself declares one of that name.
    """
    loaded = {m.name: m for m in found.models}
    out = []
    for model in found.skipped:
        same = loaded.get(model.name)
        if same is not None and (same.root == model.root or (model.origin == "installed" and same.found.origin not in ("core", "installed"))):
            continue
        reason = found.reason(model) or Problem(model.name, f"model '{model.name}' was skipped", model.where, "run `xlm models`")
        layout = find_layout(model.root, model.name, model.package)
        out.append((model, model.name, layout.package if layout else model.name, reason))
    for problem in found.problems:  # declared, but its folder was never found (not found, not installed)
        if problem.model and problem.model not in loaded and not any(m.name == problem.model for m in found.skipped):
            out.append((None, problem.model, problem.model, problem))
    return out


def _describe(model: FoundModel) -> str:
    return "xlm's core model" if model.origin == "core" else f"the model at {model.root}"


def job_error(found: ExternalModels, choices: dict[str, Any], targets: list[str], memo=None) -> UserError | None:
    """Why a job with these config ``choices`` (group -> option) and ``targets`` must not run, or None."""
    blocking = _blocking(found)
    return (_skipped_config(found, blocking, choices) or _skipped_target(blocking, targets) or _unplaced_config(found, choices)
            or _bad_target(found, targets, memo, choices))


def _unplaced_config(found: ExternalModels, choices: dict[str, Any]) -> UserError | None:
    """A selected config of a loaded model whose keys Hydra puts where xlm never reads them (no
    `# @package _global_` line, or Hydra 1.0's `_group_`): validation warned, and the job would fail
    far from the cause (`optimizer got an empty parameter list`, an experiment that "selects no model")."""
    unplaced = {w.where: w for w in found.warnings if w.kind in ("unplaced_config", "hydra10_package")}
    if not unplaced:
        return None
    for group, option in selections(choices):
        for model in found.models:
            if (warning := unplaced.get(f"{model.configs_dir / group / option}.yaml:1")) is not None:
                said = (f"no `# @package _global_` line: {warning.what.split(': ', 1)[1]}" if warning.kind == "unplaced_config"
                        else f"a {warning.what.split(' has a config whose ', 1)[1]}")
                return UserError(f"the config {group}/{option}.yaml of model '{model.name}' ({warning.where}) has {said}", warning.fix)
    return None


def _skipped_config(found: ExternalModels, blocking: list, choices: dict[str, Any]) -> UserError | None:
    """A selected config file that a skipped model ships, or that a same-named model provides in its place."""
    by_name = {name: (model, reason) for model, name, _, reason in reversed(blocking)}
    for group, option in selections(choices):
        rel = f"{group}/{option}.yaml"
        if in_core_configs(rel):
            continue  # xlm's own tree is searched first: no model's copy would have been used
        for model, name, _, reason in blocking:
            configs = model_configs_dir(model) if model is not None else None
            if configs is not None and (configs / rel).is_file():
                also = next((m for m in found.models if (m.configs_dir / rel).is_file()), None)
                if also is not None:  # a loaded model has it too: which one was meant is unknown
                    what = (f"{group} '{option}' is defined by {_describe(also.found)} '{also.name}' and by model '{name}' "
                            f"({model.where}), which was skipped because: {reason.what}; xlm does not pick one of them")
                else:
                    what = f"{group} '{option}' belongs to model '{name}' ({model.where}), skipped because: {reason.what}"
                return UserError(what, reason.fix)
        owner = next((m for m in found.models if (m.configs_dir / rel).is_file()), None)
        if owner is not None and owner.name in by_name:
            model, reason = by_name[owner.name]
            where = model.where if model is not None else reason.where
            what = (
                f"{group} '{option}' is from {_describe(owner.found)} '{owner.name}', but the project's own "
                f"model '{owner.name}' ({where}) was skipped because: {reason.what}; xlm does not run one in place of the other"
            )
            return UserError(what, reason.fix)
    return None


def _skipped_target(blocking: list, targets: list[str]) -> UserError | None:
    """A target into the package of a model that did not load."""
    packages = {package: (name, model, reason) for model, name, package, reason in blocking}
    for target in targets:
        if (hit := packages.get(target.split(".", 1)[0])) is not None:
            name, model, reason = hit
            where = model.where if model is not None else reason.where
            return UserError(f"the target '{target}' belongs to model '{name}' ({where}), skipped because: {reason.what}", reason.fix)
    return None


def _bad_target(found: ExternalModels, targets: list[str], memo, choices: dict[str, Any]) -> UserError | None:
    """A target into a loaded model's package or into xlm that names nothing. Validation warned
    where it is written when it is the model's own package; into another's, the selected config
    files are searched for it."""
    check = TargetCheck({m.info.package: m.info.package_dir for m in found.models if m.info.package and m.info.package != "xlm"}, memo)
    for target in targets:
        if (why := check.why(target)) is not None:
            warned = next((w for w in found.warnings if f"bad target '{target}'" in w.what), None)
            at = warned.where if warned else _written_at(found, choices, target)
            where = f" (at {at})" if at else ""
            owner = "this xlm" if target.startswith("xlm.") else "its package"
            return UserError(f"the job's config names a target that does not exist: '{target}'{where}: {why}",
                             f"point it at a class or function that exists in {owner}, or choose a config that does not use it")
    return None


def _written_at(found: ExternalModels, choices: dict[str, Any], target: str) -> str | None:
    """`file:line` of the first selected config file of a model that writes `target`."""
    import re

    pattern = re.compile(r"^\s*_target_\s*:\s*['\"]?" + re.escape(target) + r"['\"]?\s*(?:#.*)?$")
    for group, option in selections(choices):
        for model in found.models:
            path = model.configs_dir / group / f"{option}.yaml"
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for number, line in enumerate(lines, 1):
                if pattern.match(line):
                    return f"{path}:{number}"
    return None


def in_core_configs(rel: str) -> bool:
    from xlm.config_groups import CORE_CONFIG_DIR

    return (CORE_CONFIG_DIR / rel).is_file()  # xlm's own tree is searched first: no model's file is used


def check_job(cfg) -> ExternalModels:
    """Raise `UserError` when the composed ``cfg`` (inside a Hydra job) uses a skipped model or a bad target;
    else return the models found (the job records them: `xlm.provenance`)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from xlm.external.checks import verdicts
    from xlm.external_models import find_external_models

    choices, start = {}, None
    if HydraConfig.initialized():
        runtime = HydraConfig.get().runtime
        choices, start = OmegaConf.to_container(runtime.choices), Path(runtime.cwd)
    found = find_external_models(start)
    targets = config_targets(OmegaConf.to_container(cfg, resolve=False))
    error = job_error(found, choices, targets, verdicts())
    if error is not None:
        raise error
    return found
