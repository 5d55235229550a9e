"""Why a model's package does not import: the seed's troubleshooting case, answered by xlm.

``ModuleNotFoundError: No module named 'my_model'`` (or Hydra's "Error locating target
'my_model.model.MyModel'") means the model was not registered. `explain_missing_module`
says which of the usual causes it is, from the same discovery `xlm models` prints: the
model was skipped for a problem, its folder exists but is not listed, or nothing provides it.
When the missing module is imported *by a model's code* (``import einops`` in ``model.py``),
`missing_model_error` names that file and line and the package to install instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from xlm.external.checks import ExternalModels
from xlm.external.layout import looks_like_model
from xlm.external.validation import misnamed_groups, model_package
from xlm.manifest import MODELS_FILE_NAME
from xlm.paths import real_path


def unlisted_models(found: ExternalModels) -> list[Path]:
    """Model folders (nested or flat, `looks_like_model`) in the lookup folders that no source
    declares, and that could be listed: their name is a model name no declared model has
    (`__main__/`, or a clone of a git model beside the project, is no model to add)."""
    from xlm.manifest import name_problem

    known = {m.root for m in found.models} | {m.root for m in found.skipped}
    names = {m.name for m in found.models} | {m.name for m in found.skipped}
    if found.project_dir is not None:  # the vendored copy of an overridden model is listed, and set aside
        from xlm.external.discovery import VENDOR_DIR_NAME

        vendored = found.project_dir / VENDOR_DIR_NAME
        known |= {real_path(vendored / m.name) for m in found.models if m.found.origin == "override"}
    roots = []
    for folder in found.search_dirs:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            continue
        roots += [p for p in children if looks_like_model(p) and real_path(p) not in known
                  and p.name not in names and name_problem(p.name) is None]
    return roots


def listing_fix(found: ExternalModels, name: str) -> str:
    return f"add the line '{name}' to {found.models_file or found.project_dir / MODELS_FILE_NAME}"


def unlisted_option(group: str, option: str, found: ExternalModels | None = None) -> tuple[str, str] | None:
    """(what, fix) when config ``group/option`` exists only in a skipped model or a model folder nobody lists."""
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    from xlm.external.guard import job_error

    if (skipped := job_error(found, {group: option}, [])) is not None:
        return skipped.what, skipped.fix
    for warning in found.warnings:  # `configs/experiments/`: Hydra reads it as a group of its own
        folder = os.path.basename(warning.where)
        if warning.kind == "misnamed_group" and misnamed_groups({folder}).get(folder) == group \
                and os.path.isfile(os.path.join(warning.where, f"{option}.yaml")):
            return (f"unknown {group} '{option}': model '{warning.model}' has it in {warning.where}, a folder Hydra reads as "
                    f"another group", f"rename the folder: mv {warning.where} {os.path.join(os.path.dirname(warning.where), group)}")
    unread = next((p for p in found.problems if p.kind == "models_file"), None)  # its lines were never read
    for root in unlisted_models(found):
        if (root / "configs" / group / f"{option}.yaml").is_file():
            if unread is not None:
                why = unread.what.removeprefix("Cannot read the models file: ")
                return (f"unknown {group} '{option}': it is in the model at {root}, and the models file that may list it "
                        f"cannot be read ({unread.where}: {why})"), unread.fix
            what = f"unknown {group} '{option}': it is in the model at {root}, which is not listed in {MODELS_FILE_NAME}"
            return what, listing_fix(found, root.name)
    return None


def explain_missing_module(module: str, found: ExternalModels | None = None) -> tuple[str, str] | None:
    """(what, fix) for ``module`` (``my_model`` or ``my_model.loss``) failing to import; None if not a model's.

    ``found`` defaults to a fresh `find_external_models()` of the current folder.
    """
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    package = module.split(".", 1)[0]
    head = f"No module named '{package}'"
    if any((m.info.package or m.name) == package for m in found.models):
        return None  # registered: the import failed for another reason (inside the model's code)
    if (cause := _unregistered_model(package, found)) is not None:
        return f"{head}: {cause[0]}", cause[1]
    fix = f"list the model in {MODELS_FILE_NAME} (a name or ./path) or pip install it; `xlm models` shows what xlm finds"
    sites = _naming_sites(package, found)
    named = f" ({sites[0]} names it{f', and {len(sites) - 1} more' if len(sites) > 1 else ''})" if sites else ""
    return f"{head}: no model provides it{named}", fix


def _setting_sites(name: str, key: str | None, found: ExternalModels) -> list[str]:
    """`file:line` of the lines of the loaded models' configs that set a key ``name``, those in the
    group of the config node ``key`` (`model` -> configs/model/) first."""
    setting = re.compile(rf"^\s*{re.escape(name)}\s*:")
    sites = [site for model in found.models for site in _lines_matching(model, setting)]
    group = f"{os.sep}configs{os.sep}{(key or '').split('.')[0]}{os.sep}"
    return sorted(sites, key=lambda site: group not in site)


def _lines_matching(model, pattern: re.Pattern) -> list[str]:
    from xlm.config_groups import yaml_files

    if model.configs_dir is None:
        return []
    sites = []
    for path in yaml_files(model.configs_dir):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            continue
        sites += [f"{path}:{n}" for n, line in enumerate(lines, 1) if pattern.match(line)]
    return sites


def _naming_sites(package: str, found: ExternalModels) -> list[str]:
    """`file:line` of each `_target_` or `update_fn` in a loaded model's configs that names
    ``package`` (read only when a job failed on it: which config to fix, or which model to list)."""
    naming = re.compile(rf"^\s*(?:-\s*)?(?:_target_|update_fn)\s*:\s*['\"]?{re.escape(package)}(?:\.|['\"]?\s*(?:#.*)?$)")
    return [site for model in found.models for site in _lines_matching(model, naming)]


def _unregistered_model(package: str, found: ExternalModels) -> tuple[str, str] | None:
    """(why, fix) when ``package`` is a model xlm knows of but did not register: skipped, or not listed."""
    for skipped in found.skipped:
        if skipped.name == package or model_package(skipped.root, skipped.name) == package:
            problem = found.reason(skipped) or next((p for p in found.problems if p.model == skipped.name), None)
            why = f": {problem.what}" if problem else ""
            fix = problem.fix if problem else "run `xlm models` to see its problem"
            return f"model '{skipped.name}' was skipped{why}", fix
    for root in unlisted_models(found):
        if root.name == package:
            return f"the model at {root} is not listed in {MODELS_FILE_NAME}", listing_fix(found, package)
    for warning in found.warnings:  # a flat model listed under another name than its package's (`validation._check_flat_name`)
        if warning.kind == "flat_name" and f"`{package}.*`" in warning.what:
            return (f"model '{warning.model}' is flat, so it is imported as `{warning.model}`, and its configs name `{package}.*` "
                    f"({warning.where})"), warning.fix
    return None


def missing_model_error(exc: BaseException, found: ExternalModels | None = None):
    """A `UserError` when ``exc`` comes from a module that does not import, if it is the user's to fix.

    Hydra reports this as "Error loading 'my_model.model.MyModel'" caused by
    ``ModuleNotFoundError``. The causes answered: the model's own package is not registered
    (`explain_missing_module`), or a model's code imports a package that is not installed, a
    module its installed package (xlm included) does not have, or a name a module does not
    define; the last three are named with the file and line of the import.
    """
    from xlm.errors import UserError, causes

    chain = list(causes(exc))
    missing = next((e for e in chain if isinstance(e, ModuleNotFoundError) and e.name), None)
    if missing is None:
        return _missing_name(next((e for e in chain if type(e) is ImportError and e.name), None), found)
    site = import_site(missing)
    if site is not None:
        if found is None:
            from xlm.external_models import find_external_models

            found = find_external_models()
        if (dependency := _missing_dependency(missing.name, site, found)) is not None:
            return UserError(*dependency)
    if "." in missing.name:
        return None
    if not any(f"'{missing.name}." in str(e) or f"'{missing.name}'" in str(e) for e in chain if e is not missing):
        return None  # not raised while locating a target that starts with this package
    explained = explain_missing_module(missing.name, found)
    return UserError(*explained) if explained else None


def import_site(exc: BaseException) -> tuple[str, int] | None:
    """File and line of the import that raised ``exc``: its deepest frame outside importlib."""
    site, tb = None, exc.__traceback__
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if not file.startswith("<") and f"{os.sep}importlib{os.sep}" not in file:
            site = (file, tb.tb_lineno)
        tb = tb.tb_next
    return site


def _missing_dependency(module: str, site: tuple[str, int], found: ExternalModels) -> tuple[str, str] | None:
    """(what, fix) when a loaded model's own file ``site`` imports ``module``, which does not exist."""
    model, where = _model_at(site, found)
    if model is None:
        return None
    top = module.split(".", 1)[0]
    if top == model.info.package:
        return f"model '{model.name}' imports '{module}', which is not a module of its package (at {where})", "check the module's name and that its file exists"
    if any(m.info.package == top for m in found.models):
        return None  # another registered model's module: Python's own error says which
    if (cause := _unregistered_model(top, found)) is not None:  # a model importing another model
        return f"model '{model.name}' imports '{top}' (at {where}), but {cause[0]}", cause[1]
    declared = _declared_requirement(model.root, top)
    if module != top and _importable(top):  # the package is there, without that module: another version
        if top == "xlm":
            what = f"model '{model.name}' imports '{module}', which this xlm does not have (imported at {where})"
            return what, "the model was written for another xlm (xlm-core?): docs/porting_from_xlm_core.md says what to change"
        from xlm.external.installed import installed

        distribution = declared or next(iter(installed().top_level.get(top, ())), top)
        what = f"model '{model.name}' imports '{module}', which the installed '{top}' does not have (imported at {where})"
        return what, f"install the version of {top} the model needs: pip install -U {_shell_word(distribution)}"
    what = f"model '{model.name}' needs the Python package '{top}', which is not installed (imported at {where})"
    if declared is None:  # undeclared: maybe a sibling model, never to be fetched from the package index by its name
        return what, (f"if '{top}' is another xlm model, add it to the project (`xpm add SOURCE`, or its folder in .xlm_models); "
                      f"if it is a Python package the model does not declare: pip install {_shell_word(top)}")
    return what, f"pip install {_shell_word(declared)}"


def _shell_word(requirement: str) -> str:
    """``requirement`` quoted for a shell when it holds a version specifier (``'einops>=0.7'``)."""
    return f"'{requirement}'" if any(c in requirement for c in " <>=!~;,[*") else requirement


def _model_at(site: tuple[str, int], found: ExternalModels):
    """(the loaded model whose package holds the file of ``site``, "file:line"), or (None, None)."""
    file = real_path(site[0])  # a flat package imported through its link resolves to its real folder
    for model in found.models:
        if model.info.package_dir is not None and file.is_relative_to(real_path(model.info.package_dir)):
            return model, f"{file}:{site[1]}"
    return None, None


def _importable(top: str) -> bool:
    """Whether the top-level module ``top`` is installed (located, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _missing_name(exc: ImportError | None, found: ExternalModels | None):
    """``from xlm.datamodule import Tokenizer`` in a model's code, where the module defines no such name."""
    from xlm.errors import UserError

    if exc is None or (site := import_site(exc)) is None:
        return None
    match = re.match(r"cannot import name '(\w+)' from '([\w.]+)'", str(exc))
    if match is None:
        return None
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    model, where = _model_at(site, found)
    if model is None:
        return None
    name, module = match.groups()
    what = f"model '{model.name}' imports '{name}' from '{module}', which does not define it (imported at {where})"
    if module.split(".", 1)[0] == "xlm":
        return UserError(what, "the model was written for another xlm (xlm-core?): docs/porting_from_xlm_core.md says what to change")
    return UserError(what, f"check the name, or install the version of {module.split('.', 1)[0]} the model needs")


def _declared_requirement(root: Path, module: str) -> str | None:
    """The model's own requirement for ``module`` (``einops>=0.7``) from its pyproject.toml, if it declares one."""
    try:
        import tomllib

        with open(root / "pyproject.toml", "rb") as handle:
            dependencies = tomllib.load(handle).get("project", {}).get("dependencies", [])
    except (OSError, ValueError):
        return None

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    for requirement in dependencies if isinstance(dependencies, list) else []:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(requirement))
        if match and normal(match.group(1)) == normal(module):
            return str(requirement).strip()
    return None


# ----------------------------------------------------------------------------- building a job's objects
_LOADING = re.compile(r"Error loading '([\w.]+)'")
_CALL = re.compile(r"Error in call to target '([\w.]+)'")
_KEY = re.compile(r"^full_key: (\S+)$", re.M)
# A TypeError of the call itself (the config's keys against the signature), not one raised inside it by a value.
_SIGNATURE = re.compile(r"unexpected keyword argument|missing \d+ required|takes \d+ positional|takes no (?:keyword )?arguments"
                        r"|got multiple values|positional argument")
_CONVERSION = re.compile(r"^(invalid literal for int\(\)|could not convert string to float)")


def build_error(exc: BaseException, found: ExternalModels | None = None, key: str | None = None):
    """A `UserError` for a job that failed while Hydra built an object of its config, if the
    user can fix it: a model's code raising while it is imported or built (named with the
    model, file and line), a target called with keys its parameters lack, a target that does
    not import. Hydra's own report is ~90 lines of chained tracebacks naming the wrong target
    (the collator, whose package imported the broken module). None for anything else. `key`:
    the config node built, where Hydra does not name it (an object built from a plain dict)."""
    from xlm.errors import UserError, causes

    chain = list(causes(exc))
    loading = next((e for e in chain if isinstance(e, ImportError) and _LOADING.match(str(e))), None)
    call = next((e for e in chain if _CALL.match(str(e))), None)
    if loading is None and call is None:
        return None  # not raised while building from the config
    key = next((m.group(1) for e in chain if (m := _KEY.search(str(e)))), key)
    during = "while it was imported" if loading is not None else f"while `{key or 'the job'}` was built"
    if found is None:
        from xlm.external_models import find_external_models

        found = find_external_models()
    for error in chain:
        if error is loading or error is call:
            continue
        model, where = model_frame(error, found)
        if model is not None:
            return UserError(f"model '{model.name}' raised {type(error).__name__}: {error} {during} (at {where})",
                             "fix the model's code there (xlm -v ... prints the traceback)")
    if call is not None and isinstance(call.__cause__, TypeError) and _SIGNATURE.search(str(call.__cause__)):  # keys the signature lacks
        target = _CALL.match(str(call)).group(1)
        what = f"`{key}`" if key else "the config"
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(call.__cause__))
        sites = _setting_sites(unexpected.group(1), key, found) if unexpected else []
        at = f" (`{unexpected.group(1)}` is set at {sites[0]})" if sites else ""
        return UserError(f"{what} does not fit {target}: {call.__cause__}{at}",
                         f"check the keys of {what} against the parameters of {target} (`--cfg job` prints the composed config)")
    if call is not None and isinstance(call.__cause__, (ValueError, TypeError)):
        target, cause = _CALL.match(str(call)).group(1), call.__cause__
        if target.startswith(("xlm.", "torch.")) or _CONVERSION.match(str(cause)):  # a value of the config, not a bug of the code
            what = f"`{key}`" if key else "the config"
            return UserError(f"{what} holds a value {target} cannot take: {cause}",
                             f"check the values of {what} (`--cfg job` prints the composed config)")
    if loading is not None:
        target = _LOADING.match(str(loading)).group(1)
        why = str(loading.__cause__ or "").strip() or "it does not exist"
        named = f"`{key}._target_` " if key else ""
        return UserError(f"{named}'{target}' cannot be imported: {why}", _near_name(chain))
    return None


def _near_name(chain: list[BaseException]) -> str:
    """The fix for a target that does not import, naming what its module does define when close."""
    import difflib

    missing = next((e for e in chain if isinstance(e, AttributeError) and getattr(e, "name", None)), None)
    if missing is not None and (near := difflib.get_close_matches(missing.name, dir(missing.obj), n=1)):
        return f"did you mean '{near[0]}'? (a module path and a class or function it defines)"
    return "check the name: a module path and a class or function it defines"


def model_frame(error: BaseException, found: ExternalModels):
    """(the loaded model, "file:line") of the deepest frame of ``error``'s traceback in a model's package."""
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    for site in reversed(frames):
        if not site[0].startswith("<"):
            model, where = _model_at(site, found)
            if model is not None:
                return model, where
    return None, None
