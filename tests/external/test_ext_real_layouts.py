"""Layouts of real research code that validation must read right: a Python `configs/` package
beside the Hydra configs, and xlm-core's flat models listed under another name (fuzz_layouts)."""

import pytest

from xlm.external.validation import inspect_model

from .builders import make_flat_model, make_model


@pytest.mark.parametrize("inside, chosen", [
    ({"my_model/configs/__init__.py": "from dataclasses import dataclass\n"}, "configs"),  # dataclass configs: not Hydra's
    ({"my_model/configs/__init__.py": "", "my_model/configs/model/my_model.yaml": "# @package _global_\nmodel: {}\n"},
     "my_model/configs"),  # a package that holds a group is the configs folder, as a wheel ships it
    ({"my_model/configs/model/my_model.yaml": "# @package _global_\nmodel: {}\n"}, "my_model/configs"),
])
def test_a_python_configs_package_does_not_hide_the_configs_beside_it(tmp_path, inside, chosen):
    """`my_model/configs/` with dataclasses hid `configs/` next to the package: the model was
    refused for missing groups, pointing at the wrong folder (fuzz_layouts L2)."""
    root = make_model(tmp_path, "my_model", files=inside)
    info = inspect_model(root, "my_model")
    assert info.configs_dir == root / chosen
    if chosen == "configs":
        assert (info.problems, info.warnings) == ([], [])


@pytest.mark.parametrize("folder, warned", [("xlm_fmdl", True), ("fmdl", False)])
def test_a_flat_model_under_another_name_than_its_package_is_a_warning(tmp_path, folder, warned):
    """xlm-core's `fmdl` listed as `xlm_fmdl` (its repository's name) loaded, then every job failed
    on its `fmdl.*` targets (fuzz_layouts L4): the warning says to name it."""
    root = make_flat_model(tmp_path, "fmdl", root=tmp_path / folder)
    info = inspect_model(root, folder)
    found = [w for w in info.warnings if w.kind == "flat_name"]
    if not warned:
        assert found == []
        return
    [warning] = found
    assert warning.what == ("External model 'xlm_fmdl' is flat, so it is imported as `xlm_fmdl`, but its configs name `fmdl.*`, "
                            "which nothing provides: listed under another name than its package's?")
    assert warning.fix.startswith("list it under that name: add #name=fmdl to its line in .xlm_models")
    assert warning.where.startswith(str(root / "configs"))
