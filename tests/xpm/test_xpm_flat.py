"""xlm-core's models with xpm: a flat model from a monorepo subdir, and `xpm import-json`."""

from __future__ import annotations

import json

import pytest

from xlm.external_models import find_external_models
from xpm.errors import XpmError
from xpm.import_json import import_models_json
from xpm_cli import xpm


def flat_model_files(name: str) -> dict[str, str]:
    """A model in xlm-core's flat layout: the folder is the package, configs/ inside it."""
    cls = name.title() + "Model"
    return {
        "__init__.py": f"from .model_{name} import {cls}\n",
        f"model_{name}.py": f"class {cls}:\n    pass\n",
        f"configs/model/{name}.yaml": f"_target_: {name}.model_{name}.{cls}\n",
        f"configs/model_type/{name}.yaml": "# @package _global_\nlightning_module:\n  _target_: xlm.harness.Harness\n",
    }


@pytest.fixture
def core_repo(upstream):
    """Like xlm-core: `xlm-models/` holds flat models, a package named like xlm's core mlm, and xlm_models.json."""
    repo = upstream("lab/xlmcore")
    files = {f"xlm-models/fmdl/{k}": v for k, v in flat_model_files("fmdl").items()}
    files["xlm-models/fmdl/configs/model/old_fmdl.yaml"] = "_target_: fmdl.model_fmdl.Gone\n"  # stale: a warning
    files["xlm-models/mlm/__init__.py"] = "raise RuntimeError('not this mlm')\n"
    files["xlm-models/xlm_models.json"] = json.dumps({"fmdl": "fmdl", "mlm": "mlm"})
    repo.commit("models", files)
    repo.tag("v0.3.1")
    return repo


@pytest.mark.slow
def test_add_a_flat_model_from_a_monorepo_subdir(core_repo, project, monkeypatch):
    monkeypatch.chdir(project)
    result = xpm(project, "add", f"{core_repo.url}@v0.3.1#subdir=xlm-models/fmdl")
    commit = core_repo.head()[:7]
    assert result.output.splitlines() == [
        f"warning: model 'fmdl': External model 'fmdl' has a bad target 'fmdl.model_fmdl.Gone': "
        f"'Gone' is not defined in fmdl/model_fmdl.py (fmdl@{commit}:configs/model/old_fmdl.yaml:1)",
        f"added fmdl v0.3.1 ({commit})",
    ]
    vendored = project / "xlm_models" / "fmdl"
    assert (vendored / "__init__.py").is_file() and (vendored / "configs" / "model" / "fmdl.yaml").is_file()
    assert 'package = "fmdl"' in (project / "xlm.lock").read_text()
    found = find_external_models(project)
    assert found.problems == [] and found.get("fmdl").info.flat and len(found.warnings) == 1
    assert xpm(project, "verify").output.strip() == "fmdl: ok"


@pytest.mark.slow
def test_a_flat_model_pushed_under_another_name_is_added_under_its_package_name(upstream, project, git_env):
    """A flat model is imported under its model name; one pushed as its own repository under
    another name (`lab/xlm-fmdl`, package `fmdl`) was vendored as `xlm_fmdl`, so every
    `fmdl.*` target failed in the job (fuzz_layouts L4). `#name=` names it."""
    repo = upstream("lab/xlm-fmdl")
    repo.commit("flat", flat_model_files("fmdl"))
    repo.tag("v1.0.0")
    out = xpm(project, "add", f"{repo.url}@v1.0.0#name=fmdl")
    assert out.output.splitlines()[-1] == f"added fmdl v1.0.0 ({repo.head()[:7]})"
    assert (project / ".xlm_models").read_text().splitlines()[-1] == f"{repo.url}@v1.0.0#name=fmdl"
    lock = (project / "xlm.lock").read_text()
    assert 'name = "fmdl"' in lock and f'source = "{repo.url}"' in lock and 'package = "fmdl"' in lock
    assert (project / "xlm_models" / "fmdl" / "__init__.py").is_file() and not (project / "xlm_models" / "xlm_fmdl").exists()
    found = find_external_models(project)
    assert found.problems == [] and found.get("fmdl").info.flat
    assert xpm(project, "verify").output.strip() == "fmdl: ok"
    (project / "xlm_models").rename(project / "gone")  # a fresh clone: the lock alone installs it again
    assert xpm(project, "install", "--frozen").output.splitlines() == [f"installed fmdl v1.0.0 ({repo.head()[:7]})"]


def test_import_json_writes_xlm_models(tmp_path):
    models = tmp_path / "relay_project"
    for folder in ("nested/relay", "mdlm", "flexmdm"):
        (models / folder).mkdir(parents=True)
    (models / "xlm_models.json").write_text(json.dumps({"mdlm": "mdlm", "relay": "nested/relay", "old_name": "flexmdm", "up": "../up"}))
    result = import_models_json(models / "xlm_models.json")
    assert result.created and result.added == ["mdlm", "./nested/relay", "flexmdm", "../up"]
    assert result.notes == ["'old_name' is the folder flexmdm: xlm names a model after its folder, so it is 'flexmdm'",
                            "the folder of 'up', ../up, does not exist (yet): xlm reports it until it does"]
    text = (models / ".xlm_models").read_text()
    assert text.splitlines()[1:] == ["mdlm", "./nested/relay", "flexmdm", "../up"] and text.startswith("#")
    again = import_models_json(models / "xlm_models.json")  # nothing twice
    assert (again.added, again.kept) == ([], ["mdlm", "relay", "flexmdm", "up"])
    assert (models / ".xlm_models").read_text() == text


def test_import_json_leaves_out_xlm_cores_own_core_models_with_a_note(tmp_path):
    """xlm-core's xlm-models lists its ilm: listed, xlm then refused the name as reserved."""
    (tmp_path / "ilm").mkdir()
    (tmp_path / "xlm_models.json").write_text('{"ilm": "ilm", "mdlm": "mdlm"}')
    result = import_models_json(tmp_path / "xlm_models.json")
    assert result.added == ["mdlm"] and result.notes[0] == (
        "'ilm' (ilm) is not listed: 'ilm' is a core model of xlm, which every project has; to keep xlm-core's, rename its "
        "folder and list it under that name")


def test_import_json_appends_to_an_existing_models_file_keeping_its_lines(tmp_path):
    (tmp_path / ".xlm_models").write_text("# mine\nzlm  # kept\n")
    (tmp_path / "xlm_models.json").write_text('{"zlm": "zlm", "mdlm": "mdlm"}')
    result = import_models_json(tmp_path / "xlm_models.json")
    assert (result.created, result.added, result.kept) == (False, ["mdlm"], ["zlm"])
    assert (tmp_path / ".xlm_models").read_text() == "# mine\nzlm  # kept\nmdlm\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"mdlm": "mdlm",}', "not valid JSON (line 1, column 17)"),
        ('["mdlm"]', "not an object of model names and folders"),
        ('{"mdlm": 3}', "not an object of model names and folders"),
        ('{"x": "My-Model"}', "the model 'x' is the folder"),
        ('{"x": "a\\nb"}', "xlm_models.json"),
        (b"\xff\xfe{}", "not valid JSON"),
        ('{"a":' * 5000 + '"a"' + "}" * 5000, "not valid JSON: nested too deeply"),  # 40 KB: was a RecursionError
        ('{"m1": "m1", "m1": "/etc"}', "model 'm1' is listed twice (xlm-core reads only the last: '/etc')"),
        (json.dumps({"m1": "\x1b]0;owned\x07x\nfix: fake"}), "the model 'm1' is the folder "),  # shown escaped
        # refusals of the generated line name the JSON entry, not a column of a line nobody wrote
        ('{"mdlm": "a b/mdlm"}', "model 'mdlm': its folder 'a b/mdlm' cannot be written as a line of .xlm_models"),
        ('{"mdlm": "a\\u0000b/mdlm"}', "model 'mdlm': its folder 'a\\u0000b/mdlm' cannot be written"),
        ('{"mdlm": "x/.."}', "model 'mdlm': its folder 'x/..' cannot be written"),
    ],
)
def test_import_json_refuses_a_bad_file_and_writes_nothing(tmp_path, text, message):
    file = tmp_path / "xlm_models.json"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(XpmError, match="xlm_models.json") as info:
        import_models_json(file)
    assert message in info.value.what
    assert not any(ch in info.value.what for ch in "\x1b\x07\n")  # what the file holds is shown escaped
    assert not (tmp_path / ".xlm_models").exists()


def test_xlm_says_how_to_convert_a_json_only_project_and_xpm_does_it(tmp_path, monkeypatch):
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "relay"
    for rel, text in flat_model_files("relay").items():
        (project / "relay" / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / "relay" / rel).write_text(text)
    (project / "xlm_models.json").write_text('{"relay": "relay"}')
    monkeypatch.chdir(project / "relay" / "configs")
    [problem] = find_external_models().problems
    assert problem.what == f"{project / 'xlm_models.json'} lists models in xlm-core's format, which xlm does not read (it reads .xlm_models)"
    assert problem.fix.startswith(f"run: xpm import-json {project / 'xlm_models.json'}")
    out = xpm(project / "relay" / "configs", "import-json").output
    assert out.splitlines()[0] == f"created {project / '.xlm_models'}: added relay".replace(str(project / ".xlm_models"), "../../.xlm_models")
    found = find_external_models()
    assert found.problems == [] and found.get("relay").info.flat
    (project / "xlm_models.json").write_text('{"relay": "relay", "other": "other"}')
    [problem] = find_external_models().problems
    assert "lists models that" in problem.what and "['other']" in problem.what and "xpm import-json" in problem.fix


def test_import_json_without_a_file_says_where_it_looked(tmp_path):
    out = xpm(tmp_path, "import-json", code=1).output
    assert f"no xlm_models.json in {tmp_path} or any folder above it" in out


def test_xpm_in_a_json_only_project_says_how_to_convert_it(tmp_path):
    (tmp_path / "xlm_models.json").write_text('{"relay": "relay"}')
    (tmp_path / "sub").mkdir()
    out = xpm(tmp_path / "sub", "install", code=1).output
    assert f"only xlm-core's {tmp_path / 'xlm_models.json'}" in out
    assert f"fix: run: xpm import-json {tmp_path / 'xlm_models.json'}   (writes {tmp_path / '.xlm_models'} from it)" in out
    (tmp_path / "xlm-models").mkdir()
    (tmp_path / "xlm_models.json").rename(tmp_path / "xlm-models" / "xlm_models.json")
    out = xpm(tmp_path / "sub", "install", code=1).output
    assert f"(writes {tmp_path / '.xlm_models'} from it)" in out  # the project is above xlm-models/


def test_a_json_in_xlm_models_is_the_projects_and_is_imported_above_it(tmp_path, monkeypatch):
    """xlm-core also reads ./xlm-models/xlm_models.json: a checkout of xlm-core is such a project."""
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "xlm-models"
    for rel, text in flat_model_files("fmdl").items():
        (models / "fmdl" / rel).parent.mkdir(parents=True, exist_ok=True)
        (models / "fmdl" / rel).write_text(text)
    (models / "xlm_models.json").write_text('{"fmdl": "fmdl"}')
    monkeypatch.chdir(tmp_path)
    [problem] = find_external_models().problems
    assert problem.where == str(models / "xlm_models.json") and f"(writes {tmp_path / '.xlm_models'} from it)" in problem.fix
    result = import_models_json(models / "xlm_models.json")
    assert result.models_file == tmp_path / ".xlm_models" and result.added == ["./xlm-models/fmdl"]
    found = find_external_models()
    assert found.problems == [] and found.get("fmdl").root == models / "fmdl"
