"""`xlm models`, model commands through `xlm`, and the promise that none of it imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xlm.cli import main

from .builders import make_model


def test_xlm_models_lists_sources_and_problems(project, capsys):
    project.model("good")
    project.models_file("good", "./examples/zlm")
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    assert f"models file: {project.root / '.xlm_models'}" in out
    assert f"good  ok      local   {project.root / '.xlm_models'}:1" in out
    assert "arlm  ok      core" in out
    assert "problems (1):\nError: External model 'zlm' not found at ./examples/zlm" in out


def test_xlm_models_lists_skipped_models_in_discovery_order(project, capsys):
    project.model("my_model", files={"configs/model_type/my_model.yaml": None})
    file = project.models_file("my_model", "my_model  # again")
    assert main(["models"]) == 1
    rows = [line.split()[:4] for line in capsys.readouterr().out.splitlines() if line.startswith("my_model ")]
    assert rows == [["my_model", "skipped", "local", f"{file}:1"], ["my_model", "skipped", "local", f"{file}:2"]]


def test_xlm_models_points_at_model_folders_that_are_not_listed(project, capsys):
    project.model("listed")
    project.model("forgotten")
    project.models_file("listed")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "not listed (model folders that nothing declares; to use one, add its name to .xlm_models):" in out
    assert f"  forgotten  {project.root / 'forgotten'}\n" in out and f"  listed  {project.root / 'listed'}" not in out


def test_xlm_models_without_problems_exits_0(project, capsys):
    project.models_file("# nothing yet")
    assert main(["models"]) == 0
    assert "no problems" in capsys.readouterr().out


def test_model_command_runs_with_the_remaining_arguments(project, capsys):
    project.model(
        "cmdm",
        files={
            "cmdm/__init__.py": "",
            "cmdm/commands.py": "def hello(args):\n    print('hello', *args)\n    return 3\n",
            "configs/commands.yaml": "cmdm-hello: {function: cmdm.commands.hello, help: greets}\n",
        },
    )
    project.models_file("cmdm")
    assert main(["cmdm-hello", "a", "b"]) == 3
    assert "hello a b" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "cmdm-hello" in capsys.readouterr().out
    for form in ("command=cmdm-hello", "+command=cmdm-hello"):  # xlm-core's form: Hydra said the config has no key 'command'
        assert main([form, "a"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: `{form}` is xlm-core's way to run a model command; here a model command runs by its name",
            "  fix: run: xlm cmdm-hello a",
        ]


@pytest.mark.parametrize("code, said", [
    ("from omegaconf import DictConfig\n\ndef show(cfg: DictConfig):\n    print(cfg.model.d_model)\n",
     "take `args: list[str]` (docs/porting_from_xlm_core.md, section 11)"),  # xlm-core's signature, unported
    ("def show(args):\n    return int(args[0])\n", "fix the command's code there (xlm -v ... prints the traceback)"),
])
def test_a_command_that_raises_is_two_lines_naming_its_code(project, capsys, code, said):
    """A traceback before; a command written for xlm-core (it took the config) passed validation and died in it."""
    root = project.model("cmdm", files={"cmdm/__init__.py": "", "cmdm/commands.py": code,
                                        "configs/commands.yaml": "cmdm-show: cmdm.commands.show\n"})
    project.models_file("cmdm")
    assert main(["cmdm-show"]) == 1
    err = capsys.readouterr().err.splitlines()
    line = len(code.splitlines())
    assert err[0].startswith("error: command 'cmdm-show' of model 'cmdm' raised ")
    assert err[0].endswith(f"(at {root / 'cmdm' / 'commands.py'}:{line})") and err[1].endswith(said) and len(err) == 2


@pytest.mark.parametrize("returned, status, said", [
    ("None", 0, None), ("0", 0, None), ("255", 255, None),
    ("'done'", 2, "error: command 'cmdm-ret' of model 'cmdm' returned 'done', not an exit status"),
    ("1000", 2, "returned 1000, not an exit status"),  # the shell would see 232
    ("-1", 2, "returned -1, not an exit status"),
    ("True", 2, "returned True, not an exit status"),
])
def test_a_commands_return_value_is_its_exit_status_or_a_clear_error(project, capsys, returned, status, said):
    project.model("cmdm", files={"cmdm/__init__.py": "", "cmdm/commands.py": f"def ret(args):\n    return {returned}\n",
                                 "configs/commands.yaml": "cmdm-ret: cmdm.commands.ret\n"})
    project.models_file("cmdm")
    assert main(["cmdm-ret"]) == status
    err = capsys.readouterr().err
    if said is None:
        assert "error" not in err
    else:
        assert said in err and "fix: make cmdm.commands.ret return None (success) or an int from 0 to 255" in err


@pytest.mark.parametrize("function, said", [
    ("nosuchpkg.cmds.go", "names nosuchpkg.cmds.go: no module named 'nosuchpkg'"),
    ("json.nosuch", "names json.nosuch: json has no attribute 'nosuch'"),
])
def test_a_command_whose_function_names_nothing_is_a_clear_error(project, capsys, function, said):
    """Validation checks the paths into the model's own package; one elsewhere that names nothing
    (a flat model vendored under another name still says `mdlm.commands...`) gave a traceback."""
    project.model("cmdm", files={"cmdm/__init__.py": "", "cmdm/commands.py": "def f(args):\n    pass\n",
                                 "configs/commands.yaml": f"cmdm-x: {function}\n"})
    project.models_file("cmdm")
    assert main(["cmdm-x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: command 'cmdm-x' of model 'cmdm' (") and said in err and "Traceback" not in err, err
    assert "commands.yaml:1) names" in err and "  fix: give the command a function that exists" in err


def test_a_commands_help_is_shown_on_one_line_with_controls_escaped(project, capsys):
    help_text = "line1\\nfake-cmd  pretend\\u001b[31mRED"
    project.model("cmdm", files={"cmdm/__init__.py": "", "cmdm/commands.py": "def f(args):\n    pass\n",
                                 "configs/commands.yaml": f'cmdm-f: {{function: cmdm.commands.f, help: "{help_text}"}}\n'})
    project.models_file("cmdm")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\nfake-cmd" not in out
    assert "line1 fake-cmd pretend\\u001b[31mRED (model cmdm)" in out, out


def test_a_command_of_a_skipped_model_says_why_it_is_not_there(project, capsys):
    project.model("cmdm", files={"cmdm/__init__.py": "", "cmdm/commands.py": "def f(args):\n    pass\n",
                                 "cmdm/broken.py": "def (:\n", "configs/commands.yaml": "cmdm-f: cmdm.commands.f\n"})
    file = project.models_file("cmdm")
    assert main(["cmdm-f"]) == 2
    err = capsys.readouterr().err
    assert f"error: 'cmdm-f' is a command of model 'cmdm' ({file}:1), which was skipped because: " in err
    assert "does not compile" in err and "fix: fix the syntax" in err


def test_unknown_command_is_still_a_user_error(project, capsys):
    project.models_file("# none")
    assert main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_strict_error_prints_every_problem_without_traceback(project, capsys):
    from xlm.external.errors import ExternalModelConflictError

    project.models_file("missing_one", "missing_two")
    try:
        from xlm.external_models import setup_external_models

        setup_external_models(strict_validation=True)
    except ExternalModelConflictError as exc:
        text = exc.render()
    assert text.count("Error: External model") == 2 and "Traceback" not in text


def test_discovery_and_xlm_models_never_import_torch_hydra_or_models(tmp_path):
    make_model(tmp_path, "my_model")  # its modules raise when imported
    (tmp_path / ".xlm_models").write_text("my_model\n")
    code = textwrap.dedent(
        """
        import json, sys
        from xlm.external_models import setup_external_models
        from xlm.external.validation import validate_model_root
        from xlm.cli import main
        found = setup_external_models(strict_validation=True)
        main(["models"])
        heavy = sorted(m for m in ("torch", "lightning", "hydra", "omegaconf", "my_model") if m in sys.modules)
        print(json.dumps({"names": found.names, "heavy": heavy}))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XLM_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["heavy"] == [] and "my_model" in result["names"]


def test_hydra_plugin_appends_registered_config_dirs(project):
    from hydra.core.config_search_path import ConfigSearchPath
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl

    from hydra_plugins.xlm_searchpath.xlm_searchpath import XlmModelsSearchPathPlugin
    from xlm.external_models import setup_external_models

    root = project.model("plug")
    project.models_file("plug")
    setup_external_models(strict_validation=True)
    path: ConfigSearchPath = ConfigSearchPathImpl()
    XlmModelsSearchPathPlugin().manipulate_search_path(path)
    paths = [p.path for p in path.get_path() if p.provider == "xlm-model"]
    assert f"file://{Path(root) / 'configs'}" in paths


def test_a_job_naming_an_unlisted_models_experiment_says_to_list_it(project, capsys):
    project.model("my_model")
    file = project.models_file("# nothing listed")
    assert main(["train", "experiment=my_model_debug"]) == 2
    err = capsys.readouterr().err
    assert f"unknown experiment 'my_model_debug': it is in the model at {project.root / 'my_model'}, which is not listed" in err
    assert f"fix: add the line 'my_model' to {file}" in err


def test_a_job_naming_an_experiment_in_a_misnamed_folder_says_to_rename_it(project, capsys):
    root = project.model("my_model")
    (root / "configs" / "experiment").rename(root / "configs" / "experiments")
    project.models_file("my_model")
    assert main(["train", "experiment=my_model_debug"]) == 2
    err = capsys.readouterr().err.splitlines()
    folder = root / "configs" / "experiments"
    assert err[-2:] == [f"error: unknown experiment 'my_model_debug': model 'my_model' has it in {folder}, a folder Hydra "
                        "reads as another group", f"  fix: rename the folder: mv {folder} {root / 'configs' / 'experiment'}"]


def test_a_job_whose_models_file_cannot_be_read_says_so_not_that_the_model_is_unlisted(project, capsys):
    project.model("my_model")
    file = project.models_file("my_model")
    file.write_bytes(file.read_bytes() + b"# caf\xe9\n")
    assert main(["train", "experiment=my_model_debug"]) == 2
    err = capsys.readouterr().err
    assert (f"unknown experiment 'my_model_debug': it is in the model at {project.root / 'my_model'}, and the models file "
            f"that may list it cannot be read ({file}:2: not valid UTF-8") in err
    assert "not listed" not in err and "fix: save the file as UTF-8" in err


def test_a_target_in_an_unlisted_package_is_explained_not_a_traceback(project, capsys):
    project.model("my_model")
    project.models_file("# nothing listed")
    with pytest.raises(SystemExit) as exited:  # raised inside the Hydra job, as for every job's user error
        main(["train", "experiment=star_easy_arlm", "model._target_=my_model.model.MyModelModel", "trainer.max_steps=1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: No module named 'my_model': the model at" in err and "is not listed in .xlm_models" in err
    assert "Traceback" not in err and "Error executing job" not in err


def test_a_dependency_missing_inside_a_model_names_the_file_line_and_what_to_install(project):
    from xlm.external.diagnose import missing_model_error
    from xlm.external_models import setup_external_models

    root = project.model(
        "deps",
        files={
            "deps/__init__.py": "",
            "deps/model.py": "import os\nfrom not_installed_xyz.layers import thing\n\nclass DepsModel:\n    pass\n",
            "deps/loss.py": "from deps.helpers import x\n\nclass DepsLoss:\n    pass\n",
            # A declared requirement that is missing skips the model before it runs (test_ext_requirements.py);
            # this import is of a package the model forgot to declare.
            "pyproject.toml": '[project]\nname = "deps"\ndependencies = ["numpy"]\n',
        },
    )
    project.models_file("deps")
    found = setup_external_models(strict_validation=True)

    def failure(module):
        try:
            try:
                __import__(module)
            except ModuleNotFoundError as inner:  # what Hydra does when it cannot locate a target
                raise ImportError(f"Error loading '{module}.X':\n{inner!r}") from inner
        except ImportError as exc:
            return missing_model_error(exc, found)

    error = failure("deps.model")
    assert error.what == f"model 'deps' needs the Python package 'not_installed_xyz', which is not installed (imported at {root / 'deps' / 'model.py'}:2)"
    assert error.fix == ("if 'not_installed_xyz' is another xlm model, add it to the project (`xpm add SOURCE`, or its folder in "
                         ".xlm_models); if it is a Python package the model does not declare: pip install not_installed_xyz")
    error = failure("deps.loss")
    assert error.what == f"model 'deps' imports 'deps.helpers', which is not a module of its package (at {root / 'deps' / 'loss.py'}:1)"


def test_a_missing_module_raised_outside_any_model_keeps_pythons_error(project):
    from xlm.external.diagnose import missing_model_error

    project.models_file("# none")
    try:
        try:
            raise ModuleNotFoundError("No module named 'flash_attn.layers'", name="flash_attn.layers")
        except ModuleNotFoundError as inner:
            raise ImportError("Error loading 'x.y'") from inner
    except ImportError as exc:
        assert missing_model_error(exc) is None

def test_an_import_a_model_makes_of_what_this_xlm_or_an_installed_package_lacks(project):
    """A model written for another xlm (xlm-core) or another version of a package: not 'install xlm'."""
    from xlm.external.diagnose import missing_model_error
    from xlm.external_models import setup_external_models

    root = project.model(
        "old",
        files={
            "old/__init__.py": "",
            "old/model.py": "from xlm.utils.nn import get_mask\n",
            "old/loss.py": "import os\nfrom xlm.harness import LossFunctionOfXlmCore\n",
            "old/predictor.py": "import yaml.not_a_module\n",
        },
    )
    project.models_file("old")
    found = setup_external_models()

    def failure(module):
        try:
            try:
                __import__(module)
            except ImportError as inner:  # what Hydra does when it cannot locate a target
                raise ImportError(f"Error loading '{module}.X':\n{inner!r}") from inner
        except ImportError as exc:
            return missing_model_error(exc, found)

    error = failure("old.model")
    assert error.what == f"model 'old' imports 'xlm.utils', which this xlm does not have (imported at {root / 'old' / 'model.py'}:1)"
    assert "porting_from_xlm_core.md" in error.fix
    error = failure("old.loss")
    assert error.what == (
        f"model 'old' imports 'LossFunctionOfXlmCore' from 'xlm.harness', which does not define it (imported at {root / 'old' / 'loss.py'}:2)"
    )
    error = failure("old.predictor")
    assert error.what == f"model 'old' imports 'yaml.not_a_module', which the installed 'yaml' does not have (imported at {root / 'old' / 'predictor.py'}:1)"
    assert error.fix == "install the version of yaml the model needs: pip install -U PyYAML"  # its distribution
