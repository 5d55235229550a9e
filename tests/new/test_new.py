"""`xpm new` / `xlm-scaffold`: what gets created, where it is listed, and every refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xlm.external.validation import validate_model_root
from xpm.cli import main
from xpm.errors import XpmError
from xpm.new import create_model, scaffold_main
from xpm.rename import renamer
from xpm.templates import template_files


def test_creates_the_model_and_a_models_file(project):
    result = create_model("my_model", project)
    assert result.root == project / "my_model"
    assert len(result.files) == len(template_files())
    for rel in ("my_model/model.py", "configs/experiment/star_easy_my_model.yaml", "tests/test_my_model.py", ".gitignore"):
        assert (result.root / rel).is_file(), rel
    assert validate_model_root(result.root, "my_model") == []
    text = (project / ".xlm_models").read_text()
    assert text.startswith("#") and text.splitlines()[-1] == "my_model"
    assert result.models_file_created
    assert not [p for p in project.iterdir() if p.name.startswith(".my_model")], "staging folder left behind"


def test_appends_to_an_existing_models_file_keeping_its_lines(project):
    original = "# our models\n./examples/zlm  # the example\n\n# later: other_model"
    (project / ".xlm_models").write_text(original)
    (project / "examples").mkdir()
    result = create_model("my_model", project)
    assert (project / ".xlm_models").read_text() == original + "\nmy_model\n"
    assert not result.models_file_created


def test_dir_elsewhere_is_listed_as_a_relative_path(project):
    (project / ".xlm_models").write_text("")
    (project / "models").mkdir()
    result = create_model("my_model", project / "models")
    assert result.models_file == project / ".xlm_models"  # found walking up, as xlm finds it
    assert result.entry == "./models/my_model"
    assert (project / ".xlm_models").read_text() == "./models/my_model\n"


def test_custom_models_file(project):
    result = create_model("my_model", project, models_file=project / "custom_models.txt")
    assert (project / "custom_models.txt").read_text().splitlines()[-1] == "my_model"
    assert not (project / ".xlm_models").exists()
    assert result.models_file == project / "custom_models.txt"


@pytest.mark.parametrize(
    "name, message",
    [
        ("My_Model", "not a valid model name"),
        ("my-model", "not a valid model name"),
        ("1model", "not a valid model name"),
        ("class", "Python keyword"),
        ("arlm", "core model"),
        ("mlm", "core model"),
        ("ilm", "reserved for a core model"),
        ("tests", "every model has a tests/ folder of its own"),
        ("configs", "every model has a configs/ folder of its own"),
        ("outputs", "build or run outputs, which git ignores"),
        ("dist", "build or run outputs, which git ignores"),
        ("xlm_models", "where xpm vendors a project's models"),
        ("json", "shadow the standard library module 'json'"),
        ("yaml", "shadow the installed module 'yaml'"),
        ("torch", "shadow the installed module 'torch'"),
        ("xpm", "shadow xlm's package manager xpm"),
        ("hydra_plugins", "shadow the Hydra plugins"),
    ],
)
def test_refused_names(project, name, message):
    with pytest.raises(XpmError, match=message) as info:
        create_model(name, project)
    assert info.value.fix
    assert list(project.iterdir()) == [], "a refusal must write nothing"


def test_refusal_fixes_name_a_way_out(project):
    for name, fix in [("ilm", "such as my_ilm"), ("json", "such as json_lm"), ("mlm", "xpm new my_mlm --from mlm"),
                      ("con", "such as con_lm"), ("sitecustomize", "such as sitecustomize_lm"), ("class", "such as class_lm")]:
        with pytest.raises(XpmError) as info:
            create_model(name, project)
        assert fix in info.value.fix, name
    with pytest.raises(XpmError) as info:
        create_model("json", project)
    assert str(project) not in info.value.what, "no path of a folder that does not exist"


@pytest.mark.parametrize("folder", ["my models", "a/b c", "tab\there"])
def test_refuses_a_folder_the_models_file_cannot_name(project, folder):
    """A .xlm_models line cannot hold white space in a path: the model is refused before anything is made."""
    (project / ".xlm_models").write_text("")
    with pytest.raises(XpmError, match=f"cannot list the new model as './{folder}/my_model'") as info:
        create_model("my_model", project / folder)
    assert "has no white space" in info.value.fix
    assert sorted(p.name for p in project.iterdir()) == [".xlm_models"] and (project / ".xlm_models").read_text() == ""


def test_refuses_an_existing_folder(project):
    (project / "my_model").mkdir()
    with pytest.raises(XpmError, match="already exists") as info:
        create_model("my_model", project)
    assert "--dir" in info.value.fix


def test_refuses_a_name_already_listed_even_when_its_folder_is_missing(project):
    (project / ".xlm_models").write_text("# models\nmy_model\n")
    with pytest.raises(XpmError, match=r"already listed in .*\.xlm_models:2"):
        create_model("my_model", project)


def test_refuses_the_package_of_another_model(project, make_model):
    make_model(project, "other", package="shared_pkg")
    (project / ".xlm_models").write_text("other\n")
    with pytest.raises(XpmError, match="Both 'other' and 'shared_pkg' define package 'shared_pkg'"):
        create_model("shared_pkg", project)
    assert (project / ".xlm_models").read_text() == "other\n"


def test_refuses_a_name_found_on_xlm_models_path(project, tmp_path, monkeypatch, make_model):
    shared = tmp_path / "shared"
    make_model(shared, "lab_model")
    monkeypatch.setenv("XLM_MODELS_PATH", str(shared))
    (project / ".xlm_models").write_text("lab_model\n")
    with pytest.raises(XpmError, match="already listed"):
        create_model("lab_model", project)


def test_from_core_model_is_renamed_throughout(project):
    result = create_model("my_arlm", project, from_model="arlm")
    assert validate_model_root(result.root, "my_arlm") == []
    for rel in ("configs/model/my_arlm.yaml", "configs/collator/seq2seq_my_arlm.yaml",
                "configs/experiment/star_easy_my_arlm.yaml", "configs/experiment/my_arlm_debug.yaml",
                "pyproject.toml", "README.md", "tests/test_configs.py"):
        assert (result.root / rel).is_file(), rel
    leftovers = [
        f"{path.relative_to(result.root)}: {line.strip()}"
        for path in result.root.rglob("*") if path.is_file()
        for line in path.read_text().splitlines()
        if "arlm" in line.replace("my_arlm", "").replace("my-arlm", "").replace("MyArlm", "").lower()
    ]
    assert leftovers == []
    model_yaml = (result.root / "configs" / "model" / "my_arlm.yaml").read_text()
    assert "_target_: my_arlm.model.MyArlm" in model_yaml and "model: my_arlm" in model_yaml
    assert "(core model)" not in (result.root / "README.md").read_text()


@pytest.mark.parametrize(
    "text, renamed",
    [
        ("arlm arlm.model.ARLMModel default_arlm star_easy_arlm arlm_debug", "my_lm my_lm.model.MyLmModel default_my_lm star_easy_my_lm my_lm_debug"),
        ("ARLM_MAX = 1; DefaultARLMCollator; ArlmBatch; the ARLM model", "MY_LM_MAX = 1; DefaultMyLmCollator; MyLmBatch; the MyLm model"),
        ("xlm mlm arlmx ARLMs carlm", "xlm mlm arlmx ARLMs carlm"),
    ],
)
def test_renamer_replaces_each_form_once(text, renamed):
    assert renamer("arlm", "my_lm")(text) == renamed


def test_renamer_takes_a_model_and_its_package():
    rename = renamer(["up_zlm", "zlm"], "my_zlm")
    assert rename("up_zlm zlm.model.ZLMModel UpZlm UP_ZLM_X ZLM_X seq2seq_zlm") == (
        "my_zlm my_zlm.model.MyZlmModel MyZlm MY_ZLM_X MY_ZLM_X seq2seq_my_zlm"
    )


def _add_source_model(make_model, project: Path, name: str, package: str, extra_config: str | None = None) -> Path:
    """A model ``name`` whose package and config names are ``package`` (as `xpm add` names a repository)."""
    root = make_model(project, name, package=package)
    for group in ("model", "model_type"):
        (root / "configs" / group / f"{name}.yaml").rename(root / "configs" / group / f"{package}.yaml")
    (root / package / "model.py").write_text(f"class {package.upper()}Model:\n    pass\n")
    (root / "configs" / "model" / f"{package}.yaml").write_text(f"model:\n  _target_: {package}.model.{package.upper()}Model\n")
    if extra_config:
        (root / "configs" / extra_config).parent.mkdir(parents=True, exist_ok=True)
        (root / "configs" / extra_config).write_text("# @package _global_\n")
    (project / ".xlm_models").write_text(f"{name}\n")
    return root


def test_from_a_model_whose_package_has_another_name_renames_the_package_too(project, make_model):
    _add_source_model(make_model, project, "up_zlm", "zlm")
    result = create_model("my_zlm", project, from_model="up_zlm")
    assert sorted(p.parent.name for p in result.root.glob("*/__init__.py")) == ["my_zlm"]
    assert (result.root / "configs" / "model" / "my_zlm.yaml").read_text() == "model:\n  _target_: my_zlm.model.MyZlmModel\n"
    assert (result.root / "my_zlm" / "model.py").read_text().startswith("class MyZlmModel:")


def test_from_a_model_whose_config_names_would_clash_with_it(project, make_model):
    _add_source_model(make_model, project, "src", "src", extra_config="experiment/shared_run.yaml")
    with pytest.raises(XpmError, match=r"define config files \['experiment/shared_run.yaml'\]: the copy keeps") as info:
        create_model("mine", project, from_model="src")
    assert "experiment/star_easy_src.yaml" in info.value.fix
    assert sorted(p.name for p in project.iterdir()) == [".xlm_models", "src"], "a refusal must write nothing"
    assert (project / ".xlm_models").read_text() == "src\n"


def test_from_a_model_installed_as_a_wheel_puts_configs_back_next_to_the_package(project, tmp_path, monkeypatch, make_model):
    # A wheel installs <site>/zoo/ with configs inside the package; the model's root is <site>.
    site = tmp_path / "site"
    make_model(tmp_path, "zoo")
    (tmp_path / "zoo" / "configs").rename(tmp_path / "zoo" / "zoo" / "configs")
    (tmp_path / "zoo").rename(site)
    (site / "unrelated.py").write_text("")
    from xpm import names

    monkeypatch.setattr(names, "project_models", lambda models_file: [_found("zoo", site, "zoo")])
    result = create_model("my_zoo", project, from_model="zoo")
    files = sorted(p.relative_to(result.root).as_posix() for p in result.files)
    assert "configs/model/my_zoo.yaml" in files and "my_zoo/__init__.py" in files
    assert not any(f.startswith(("unrelated", "my_zoo/configs")) for f in files)


def _found(name, root, package):
    from xlm.external.discovery import FoundModel

    return FoundModel(name, Path(root).resolve(), "installed", "entry point", package=package, importable=True)


def test_refuses_the_name_of_an_installed_model(project, tmp_path, monkeypatch, make_model):
    from xpm import names

    installed_root = make_model(tmp_path, "lab_model")
    monkeypatch.setattr(names, "project_models", lambda models_file: [_found("lab_model", installed_root, "lab_model")])
    with pytest.raises(XpmError, match=r"'lab_model' is already a model here: entry point \("):
        create_model("lab_model", project)


def test_from_copies_neither_caches_nor_outputs(project, make_model):
    root = make_model(project, "src")
    (project / ".xlm_models").write_text("src\n")
    for junk in (".xlm_data/tasks/t/train.jsonl", ".xlm_cache/v.json", ".pytest_cache/v/x", "outputs/train/run/metrics.csv",
                 ".venv/lib/site.py", "src.egg-info/PKG-INFO", "src/__pycache__/m.cpython-311.pyc", "dist/src.whl"):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("x")
    (root / ".gitattributes").write_text("* text=auto\n")
    result = create_model("mine", project, from_model="src")
    copied = sorted(p.relative_to(result.root).as_posix() for p in result.root.rglob("*") if p.is_file())
    assert ".gitattributes" in copied
    assert not [f for f in copied if f.startswith((".xlm_data", ".xlm_cache", ".pytest_cache", "outputs", ".venv", "mine.egg-info", "dist"))
                or f.endswith(".pyc")], copied


def test_from_an_unknown_model(project):
    with pytest.raises(XpmError, match="no model named 'nope'"):
        create_model("mine", project, from_model="nope")
    assert list(project.iterdir()) == []


# ----------------------------------------------------------------------------- command line


def test_xpm_new_prints_what_it_did_and_what_to_run(project):
    result = CliRunner().invoke(main, ["new", "my_model"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"created my_model in ./my_model ({len(template_files())} files)",
        "created ./.xlm_models: added my_model",
        "next:",
        "  cd ./my_model",
        "  xlm train experiment=my_model_debug debug=overfit",
        "  python -m pytest",
    ]


def test_xpm_new_honours_the_project_option(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = CliRunner().invoke(main, ["-C", str(elsewhere), "new", "my_model", "--xlm-models-file", "models.txt"])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "my_model" / "my_model" / "model.py").is_file()
    assert (elsewhere / "models.txt").read_text().splitlines()[-1] == "my_model"


def test_xpm_new_refusal_is_two_lines_and_exit_1(project):
    result = CliRunner().invoke(main, ["new", "arlm"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: 'arlm' is the name of a core model of xlm",
        "  fix: choose another name; to start from the core model, run: xpm new my_arlm --from arlm",
    ]


def test_xlm_scaffold_takes_the_same_options(project, capsys):
    (project / "models").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        scaffold_main(["my_model", "--xlm-models-file", "custom_models.txt", "--dir", "models"])
    assert exit_info.value.code == 0
    assert (project / "models" / "my_model" / "my_model" / "model.py").is_file()
    assert (project / "custom_models.txt").read_text().splitlines()[-1] == "./models/my_model"
    assert "XLM_MODELS_FILE=" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        scaffold_main(["my_model", "--dir", "models"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_xlm_scaffold_in_a_project_with_a_lock_relocks_it_as_xpm_new_does(project, capsys):
    """`xlm-scaffold` ran `new` without the `xpm` group: relocking read its options and crashed."""
    (project / ".xlm_models").write_text("")
    (project / "xlm.lock").write_text('version = 2\n')
    with pytest.raises(SystemExit) as exit_info:
        scaffold_main(["my_model"])
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err
    assert "updated ./xlm.lock: added my_model" in out.out and 'name = "my_model"' in (project / "xlm.lock").read_text()


def test_xlm_scaffold_is_installed_and_never_imports_torch(project):
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sys; from xpm.cli import scaffold_main; sys.argv=['xlm-scaffold','--help']; scaffold_main()"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Usage: xlm-scaffold [OPTIONS] NAME" in out.stdout
    heavy = [line for line in out.stderr.splitlines() if line.rsplit("|", 1)[-1].strip().split(".")[0] in ("torch", "lightning", "hydra")]
    assert heavy == []


def test_output_into_a_closed_pipe_is_not_reported_as_an_internal_error(project):
    script = "import sys; from xpm.cli import main; sys.exit(main())"
    proc = subprocess.run(f"'{sys.executable}' -c '{script}' new piped | head -c 1 >/dev/null",
                          shell=True, cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.stderr == "" and (project / "piped" / "piped" / "__init__.py").is_file()


def test_from_a_flat_model_copies_it_into_the_nested_layout(project):
    """xlm-core's layout (the root is the package) becomes xpm new's: package folder + configs/ next to it."""
    flat = project / "xlm-models" / "fm"
    files = {
        "__init__.py": "from .model_fm import FmModel\n",
        "model_fm.py": "class FmModel:\n    pass\n",
        "sub/__init__.py": "",
        "sub/helper.py": "from fm.model_fm import FmModel\n",
        "vocab.json": '{"a": 1}\n',
        "configs/model/fm.yaml": "model:\n  _target_: fm.model_fm.FmModel\n",
        "configs/model_type/fm.yaml": "tags:\n  model_type: fm\n",
        "setup.py": "from setuptools import setup\nsetup(name='fm', package_dir={'fm': '.'})\n",
        "README.md": "# fm\n",
    }
    for rel, text in files.items():
        (flat / rel).parent.mkdir(parents=True, exist_ok=True)
        (flat / rel).write_text(text)
    (project / ".xlm_models").write_text("./xlm-models/fm\n")
    result = create_model("my_fm", project, from_model="fm")
    copied = {p.relative_to(result.root).as_posix() for p in result.files}
    assert {"my_fm/__init__.py", "my_fm/model_my_fm.py", "my_fm/sub/helper.py", "my_fm/vocab.json", "configs/model/my_fm.yaml", "README.md"} <= copied
    assert not (result.root / "__init__.py").exists() and not (result.root / "my_fm" / "setup.py").exists()
    assert "package_dir" not in (result.root / "setup.py").read_text()  # the template's, not the flat layout's
    assert (result.root / "my_fm" / "sub" / "helper.py").read_text() == "from my_fm.model_my_fm import MyFmModel\n"
    assert (result.root / "configs" / "model" / "my_fm.yaml").read_text() == "model:\n  _target_: my_fm.model_my_fm.MyFmModel\n"
    assert validate_model_root(result.root, "my_fm") == []
