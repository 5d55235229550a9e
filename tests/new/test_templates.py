"""Rendering the model template: every file, every placeholder, valid Python/YAML/TOML out."""

from __future__ import annotations

import ast
import tomllib

import pytest
import yaml

from xpm.templates import MODEL_TEMPLATE, TemplateError, class_prefix, render, render_tree, template_files, template_values


@pytest.mark.parametrize(
    "name, prefix",
    [("my_model", "MyModel"), ("zlm", "Zlm"), ("lm2", "Lm2"), ("a_b_c", "ABC"), ("x__y", "XY"), ("_7", "Model7")],
)
def test_class_prefix(name, prefix):
    assert class_prefix(name) == prefix
    assert prefix.isidentifier()


def test_render_replaces_known_placeholders_only():
    values = template_values("my_model")
    assert render("{{name}}.model.{{ Name }} ${tokenizer:full_vocab_size} {{dist_name}}", values) == (
        "my_model.model.MyModel ${tokenizer:full_vocab_size} my-model"
    )
    with pytest.raises(TemplateError, match=r"README.md: unknown placeholder '\{\{nmae\}\}'"):
        render("# {{nmae}}", values, where="README.md")


def test_template_has_the_documented_tree():
    files = {p.as_posix() for p in template_files()}
    expected = {
        *(f"{{{{name}}}}/{m}.py" for m in ("__init__", "types", "model", "loss", "predictor", "collators", "metrics")),
        "configs/model/{{name}}.yaml",
        "configs/model_type/{{name}}.yaml",
        "configs/collator/default_{{name}}.yaml",
        "configs/collator/seq2seq_{{name}}.yaml",
        "configs/experiment/{{name}}_debug.yaml",
        "configs/experiment/star_easy_{{name}}.yaml",
        "pyproject.toml",
        "setup.py",
        "MANIFEST.in",
        "README.md",
        "tests/conftest.py",
        "tests/test_configs.py",
        "gitignore",
    }
    assert expected <= files
    assert any(f.startswith("tests/test_") for f in files)


def test_every_template_file_renders_to_valid_content(tmp_path):
    values = template_values("my_model")
    written = render_tree(tmp_path / "my_model", values)
    assert len(written) == len(template_files())
    for path in written:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(tmp_path / "my_model").as_posix()
        assert "{{" not in rel and "{{" not in text, rel
        if path.suffix == ".py":
            ast.parse(text, filename=rel)
        elif path.suffix == ".yaml":
            assert isinstance(yaml.safe_load(text), dict), rel
        elif path.suffix == ".toml":
            tomllib.loads(text)
    pyproject = tomllib.loads((tmp_path / "my_model" / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "my-model"
    assert pyproject["project"]["entry-points"]["xlm.models"] == {"my_model": "my_model"}


def test_render_tree_refuses_an_existing_destination(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError):
        render_tree(tmp_path / "m", template_values("m"))


def test_templates_are_real_files_in_the_repository():
    # The xpm/_templates link is how an editable install and a wheel find the same files.
    assert MODEL_TEMPLATE.resolve().parent.name == "templates"
    assert (MODEL_TEMPLATE / "{{name}}" / "model.py").is_file()
