"""Discovery: each source, its precedence, and the problems of what cannot be found."""

from __future__ import annotations

import sys

from xlm.external.discovery import CORE_MODEL_NAMES, discover
from xlm.external_models import find_external_models, setup_external_models

from .builders import make_distribution, make_model, write


def by_name(result):
    return {m.name: m for m in result.models}


def test_without_models_file_only_core_models(project):
    found = discover()
    assert found.models_file is None
    assert [m.name for m in found.models] == list(CORE_MODEL_NAMES)
    assert {m.origin for m in found.models} == {"core"}
    assert found.problems == []


def test_local_name_next_to_the_models_file_found_from_a_subfolder(project, monkeypatch):
    project.model("my_model")
    project.models_file("# comment", "my_model  # trailing comment")
    sub = project.root / "my_model" / "my_model"
    monkeypatch.chdir(sub)  # walks up as git finds .git
    model = by_name(discover())["my_model"]
    assert (model.origin, model.root, model.where) == ("local", project.root / "my_model", f"{project.root / '.xlm_models'}:2")


def test_lookup_precedence_file_folder_then_models_path_then_vendored(project, monkeypatch, tmp_path):
    extra_a, extra_b = tmp_path / "a", tmp_path / "b"
    for folder in (extra_a, extra_b, project.root / "xlm_models"):
        make_model(folder, "m1")
    make_model(extra_b, "m2")
    make_model(project.root / "xlm_models", "m3")
    project.model("m0")
    project.model("m1")
    monkeypatch.setenv("XLM_MODELS_PATH", f"{extra_a}:{extra_b}")
    project.models_file("m0", "m1", "m2", "m3")
    models = by_name(discover())
    assert (models["m0"].origin, models["m0"].root) == ("local", project.root / "m0")
    assert (models["m1"].origin, models["m1"].root) == ("local", project.root / "m1")
    assert (models["m2"].origin, models["m2"].root) == ("XLM_MODELS_PATH", extra_b / "m2")
    assert (models["m3"].origin, models["m3"].root) == ("vendored", project.root / "xlm_models" / "m3")
    (project.root / "m1").rename(project.root / "gone")
    assert by_name(discover())["m1"].root == extra_a / "m1"  # first XLM_MODELS_PATH folder wins


def test_order_is_core_then_file_order_then_installed_sorted(project, tmp_path):
    site = tmp_path / "site"
    make_model(site, "inst_b", configs="inst_b/configs", root=site)
    make_model(site, "inst_a", configs="inst_a/configs", root=site)
    make_distribution(site, "xlmtest-b", {"inst_b": "inst_b"}, ["inst_b"])
    make_distribution(site, "xlmtest-a", {"inst_a": "inst_a"}, ["inst_a"])
    sys.path.append(str(site))
    project.model("zz")
    project.model("aa")
    project.models_file("zz", "aa")
    assert [m.name for m in discover().models] == [*CORE_MODEL_NAMES, "zz", "aa", "inst_a", "inst_b"]
    assert discover().models == discover().models  # same inputs, same answer


def test_relative_path_entry_is_relative_to_the_models_file(project, monkeypatch):
    project.model("zlm", parent=project.root / "examples")
    project.models_file("./examples/zlm")
    monkeypatch.chdir(project.root / "examples")
    model = by_name(discover())["zlm"]
    assert (model.origin, model.root) == ("path", project.root / "examples" / "zlm")


def test_xlm_models_file_overrides_the_walk(project, monkeypatch, tmp_path):
    project.models_file("missing_here")
    elsewhere = tmp_path / "elsewhere"
    make_model(elsewhere, "other")
    monkeypatch.setenv("XLM_MODELS_FILE", str(write(elsewhere / "models.txt", "other\n")))
    found = discover()
    assert found.models_file == elsewhere / "models.txt"
    assert "other" in by_name(found) and found.problems == []


def test_missing_xlm_models_file_is_a_problem(project, monkeypatch, tmp_path):
    monkeypatch.setenv("XLM_MODELS_FILE", str(tmp_path / "nope"))
    [problem] = discover().problems
    assert problem.what.startswith("Cannot read the models file")
    assert "XLM_MODELS_FILE" in problem.fix
    monkeypatch.setenv("XLM_MODELS_FILE", str(tmp_path))  # a folder: the fix said to move the folder away
    [problem] = [p for p in find_external_models(tmp_path).problems if p.kind == "models_file"]
    assert problem.fix == f"point XLM_MODELS_FILE at a models file (e.g. {tmp_path / '.xlm_models'}), or unset it"


def test_missing_path_entry_warns_and_the_others_load(project, caplog):
    project.model("ok_model")
    project.models_file("./examples/zlm", "ok_model")
    found = setup_external_models()
    assert "ok_model" in found.names and "zlm" not in found.names
    [problem] = found.problems
    assert problem.render() == (
        "Error: External model 'zlm' not found at ./examples/zlm\n"
        f"  where: {project.root / '.xlm_models'}:1 (no folder {project.root / 'examples' / 'zlm'})\n"
        f"  fix: create the model there, fix the path (relative to {project.root}), or remove the line"
    )
    assert "Warning: External model 'zlm' not found at ./examples/zlm" in caplog.text


def test_unknown_name_lists_where_it_looked(project):
    project.models_file("# my models", "nowhere")
    [problem] = find_external_models().problems
    assert problem.what == "External model 'nowhere' not found"
    assert problem.where == f"{project.root / '.xlm_models'}:2 (looked in: {project.root / 'nowhere'}, {project.root / 'xlm_models' / 'nowhere'})"


def test_git_entry_uses_the_vendored_copy_or_asks_for_xpm_install(project):
    project.models_file("github.com/lab/zlm@v1", "file:///srv/repos/other.git")
    make_model(project.root / "xlm_models", "zlm")
    found = discover()
    assert (by_name(found)["zlm"].origin, by_name(found)["zlm"].root) == ("git", project.root / "xlm_models" / "zlm")
    [problem] = found.problems
    assert problem.what == "External model 'other' (file:///srv/repos/other.git) is not installed in xlm_models/"
    assert problem.fix == "run: xpm install"


def test_unparsable_line_is_reported_with_file_and_line_and_the_rest_loads(project):
    project.model("good")
    project.models_file("two words", "good")
    found = find_external_models()
    assert "good" in found.names
    [problem] = found.problems
    assert problem.what == "Invalid line in .xlm_models: expected one model per line, found 'two words'"
    assert problem.where == f"{project.root / '.xlm_models'}:1"


def test_installed_entry_point_with_configs_inside_the_package(project, tmp_path):
    site = tmp_path / "site"
    make_model(site, "inst", configs="inst/configs", root=site)  # the layout a wheel installs
    make_distribution(site, "xlmtest-inst", {"inst": "inst"}, ["inst"])
    sys.path.append(str(site))
    found = setup_external_models(strict_validation=True)
    model = found.get("inst")
    assert (model.found.origin, model.root, model.configs_dir) == ("installed", site, site / "inst" / "configs")
    assert str(site) not in sys.path[:1]  # already importable: its folder is not put first on sys.path
    assert str(site / "inst" / "configs") in __import__("os").environ["XLM_MODEL_CONFIG_DIRS"]


def test_entry_point_to_nothing_is_a_problem(project, tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "xlmtest-ghost", {"ghost": "ghost_pkg_that_does_not_exist"}, [])
    sys.path.append(str(site))
    [problem] = discover().problems
    assert problem.what == "Installed model 'ghost' points to 'ghost_pkg_that_does_not_exist', which cannot be found"
    assert "xlmtest-ghost" in problem.where


def test_listed_and_editable_installed_from_the_same_folder_is_one_model(project, tmp_path):
    root = project.model("twin")
    site = tmp_path / "site"
    make_distribution(site, "xlmtest-twin", {"twin": "twin"}, ["twin"])
    write(site / "twin.pth", f"{root}\n")  # what an editable install does
    sys.path += [str(site), str(root)]
    project.models_file("twin")
    found = find_external_models()
    assert found.problems == []
    [twin] = [m for m in found.models if m.name == "twin"]
    assert (twin.found.origin, twin.root, twin.found.distribution) == ("local", root, "xlmtest-twin")


class EditableFinder:
    """What a setuptools editable install adds to ``sys.meta_path``: name -> package folder."""

    def __init__(self, packages: dict):
        self.packages = packages

    def find_spec(self, name, path=None, target=None):
        import importlib.util

        folder = self.packages.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])


def test_an_editable_install_is_found_even_when_the_current_folder_shadows_it(project, tmp_path, monkeypatch):
    # `python -m xlm` puts the current folder first on sys.path, where the model root `twin/`
    # looks like a namespace package `twin`; the editable finder has the real package.
    root = project.model("twin")
    site = tmp_path / "site"
    make_distribution(site, "xlmtest-twin", {"twin": "twin"}, ["twin"])
    sys.path[:0] = ["", str(site)]
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, EditableFinder({"twin": root / "twin"})])
    project.models_file("twin")
    found = find_external_models()
    assert found.problems == []
    [twin] = [m for m in found.models if m.name == "twin"]
    assert (twin.found.origin, twin.root, twin.found.distribution) == ("local", root, "xlmtest-twin")


def test_the_current_folder_is_a_model_when_it_is_laid_out_as_one(project, monkeypatch):
    root = project.model("solo")
    monkeypatch.chdir(root)
    found = find_external_models()  # no .xlm_models anywhere above
    assert found.models_file is None and found.problems == []
    assert (found.get("solo").found.origin, found.get("solo").root) == ("cwd", root)
    project.models_file("solo")  # declared above: the declaration counts, not a second copy
    assert [m.found.origin for m in find_external_models().models if m.name == "solo"] == ["local"]
    monkeypatch.chdir(root / "configs")
    assert "solo" not in [m.name for m in discover().models if m.origin == "cwd"]
