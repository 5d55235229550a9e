"""A model's declared Python requirements: read as data, checked against this interpreter, refused before a job runs.

`xlm.requirements` reads `pyproject.toml` / `requirements.txt` (never runs the model) and
compares; `xlm.external.deps` remembers the verdict; a model whose requirements do not hold
is skipped with a two-line reason that `xlm models` lists and every job that uses it repeats.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from xlm import __version__ as XLM_VERSION
from xlm.external.guard import job_error
from xlm.external_models import find_external_models
from xlm.requirements import DeclarationError, Declared, read_declared
from xlm.requirements_check import Environment, check, conflicts, fix_message, satisfiable, unmet, unmet_message

from .builders import make_flat_model, write

PYTHON = ".".join(map(str, sys.version_info[:3]))


def pyproject(*deps: str, python: str | None = None, extra: str = "") -> str:
    lines = ['[project]', 'name = "m"', 'version = "0.1"']
    if python is not None:
        lines.append(f'requires-python = "{python}"')
    lines.append("dependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]")
    return "\n".join(lines) + "\n" + extra


def env(**versions: str) -> Environment:
    return Environment({k.replace("_", "-"): v for k, v in versions.items()}, "3.11.7", "0.1.0")


# ----------------------------------------------------------------------------- satisfiability, from a table
@pytest.mark.parametrize("a, b, expected", [
    ("<2.3", ">=2.5", False),
    ("<2.5", ">=2.5", False),
    ("<=2.5", ">=2.5", True),  # exactly 2.5
    (">2.5", "<2.5.1", True),  # 2.5.0.1 lies between
    (">=1.0,<2", ">=1.5,<3", True),
    ("==1.4.*", "<1.4.5", True),
    ("!=1.4.*", ">=1.4,<1.5", False),
    ("!=1.4.*", ">1.4.9,<1.6", True),  # 1.5
    ("~=2.2", ">=3", False),
    ("~=2.2", ">2.9", True),
    ("~=2.2.1", ">=2.3", False),
    ("==2.0", "!=2.0", False),
    ("!=2.0", ">=2.0,<2.0.1", True),  # 2.0.0.1
    ("==2.5.1+cpu", ">=2.5", True),
    ("==2.5.1+cpu", "==2.5.1+cu121", False),
    (">=2.0rc1", "<2.0", False),  # PEP 440: <2.0 excludes 2.0's pre-releases
    (">=2.0rc1", "<2.0.1", True),
    ("", "<1", True),  # any version
    ("<1", "", True),
    (">=0", "<0", False),
    ("===weird", ">1", True),  # arbitrary equality: not reasoned about, never a false alarm
])
def test_two_version_ranges_hold_together_exactly_when_a_version_satisfies_both(a, b, expected):
    assert satisfiable([SpecifierSet(a), SpecifierSet(b)]) is expected
    assert satisfiable([SpecifierSet(b), SpecifierSet(a)]) is expected


def test_a_conflict_names_both_models_and_both_requirements():
    declared = {
        "old": Declared(("torch<2.3", "numpy")),
        "new": Declared(("Torch>=2.5",)),  # names compare in their canonical form
        "any": Declared(("torch",)),
        "marked": Declared(('torch<1; sys_platform == "nonexistent"',)),  # does not apply here
    }
    [found] = conflicts(declared)
    assert (found.name, found.first, found.second) == ("torch", ("old", "torch<2.3"), ("new", "Torch>=2.5"))
    assert found.describe() == "models 'old' and 'new' need torch versions that cannot both hold: 'old' needs torch<2.3, 'new' needs Torch>=2.5"


# ----------------------------------------------------------------------------- reading declarations
def test_pyproject_dependencies_and_requires_python_are_read_with_their_lines(tmp_path):
    write(tmp_path / "pyproject.toml", pyproject("einops >= 0.7", "jaxtyping", python=">=3.10"))
    write(tmp_path / "requirements.txt", "ignored\n")  # pyproject's [project] wins
    declared = read_declared(tmp_path)
    assert declared.requires == ("einops>=0.7", "jaxtyping")  # normalised
    assert declared.python == ">=3.10" and declared.file == str(tmp_path / "pyproject.toml")
    assert declared.lines == (5, 5)


def test_multiline_dependencies_give_each_requirement_its_line(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\ndependencies = [\n  "a>=1",\n  "b",\n]\n')
    assert read_declared(tmp_path).lines == (4, 5)


def test_requirements_txt_is_read_when_pyproject_has_no_project_table(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.black]\nline-length = 100\n")
    write(tmp_path / "requirements.txt", "# needs\neinops>=0.7  # for rearrange\n\njaxtyping ; python_version >= '3.8'\r\n")
    declared = read_declared(tmp_path)
    assert declared.requires == ("einops>=0.7", 'jaxtyping; python_version >= "3.8"')
    assert declared.lines == (2, 4) and declared.file == str(tmp_path / "requirements.txt")


def test_a_model_that_declares_nothing_has_no_requirements(tmp_path):
    assert read_declared(tmp_path) == Declared()
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\n')
    assert read_declared(tmp_path).empty


def test_dynamic_dependencies_are_read_from_the_file_setuptools_names(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\ndynamic = ["dependencies"]\n'
                                       '[tool.setuptools.dynamic]\ndependencies = {file = ["deps.txt"]}\n')
    write(tmp_path / "deps.txt", "tinydep>=2\n")
    assert read_declared(tmp_path).requires == ("tinydep>=2",)
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\ndynamic = ["dependencies"]\n'
                                       '[tool.setuptools.dynamic]\ndependencies = {file = ["../outside.txt"]}\n')
    with pytest.raises(DeclarationError, match="not a file inside the model"):
        read_declared(tmp_path)


def test_the_limit_on_requirements_holds_over_every_dynamic_file(tmp_path):
    """Checked per file, one file listed 5,000 times locked 100,000 requirements (436 MB, 21 s)."""
    write(tmp_path / "a.txt", "".join(f"pkg{i}\n" for i in range(300)))
    write(tmp_path / "b.txt", "".join(f"other{i}\n" for i in range(300)))
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\ndynamic = ["dependencies"]\n'
                                       '[tool.setuptools.dynamic]\ndependencies = {file = [' + '"a.txt", ' * 200 + ']}\n')
    assert len(read_declared(tmp_path).requires) == 300  # one file, read once
    write(tmp_path / "pyproject.toml", '[project]\nname = "m"\ndynamic = ["dependencies"]\n'
                                       '[tool.setuptools.dynamic]\ndependencies = {file = ["a.txt", "b.txt"]}\n')
    with pytest.raises(DeclarationError, match="more than 500 requirements in the files of its dynamic dependencies"):
        read_declared(tmp_path)


@pytest.mark.parametrize("file, text, where, what", [
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = ["ok",\n', 4, "not valid TOML"),
    # tomllib raises a plain ValueError for a number Python will not convert: it was an internal error
    ("pyproject.toml", '[project]\nname = "m"\n[tool.x]\nn = ' + "9" * 5000 + "\n", 4,
     "not readable TOML: Exceeds the limit (4300 digits) for integer string conversion"),
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = "einops"\n', 3, "`dependencies` is not a list of strings"),
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = [\n  "ok",\n  "einops >>= 1",\n]\n', 5, "'einops >>= 1' is not a requirement"),
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = ["evil @ https://example.com/evil.whl"]\n', 3, "names a URL"),
    ("pyproject.toml", '[project]\nname = "m"\nrequires-python = "three"\n', 3, "is not a version range"),
    ("requirements.txt", "einops\n-r other.txt\n", 2, "'-r other.txt' is an option"),
    ("requirements.txt", "-e .\n", 1, "is an option"),
    ("requirements.txt", "--index-url https://evil.example/simple\n", 1, "is an option"),
    ("requirements.txt", "ok\n\nhttps://example.com/x.whl\n", 3, "is a URL or a path"),
    ("requirements.txt", "./vendored/pkg\n", 1, "is a URL or a path"),
    ("requirements.txt", "einops \\\n  >=0.7\n", 1, "is an option"),
    ("requirements.txt", "pkg --hash=sha256:00\n", 1, "is not a requirement"),
    # longer than xlm.lock could record on one line (a lock xpm wrote could not be read back)
    ("pyproject.toml", f'[project]\nname = "m"\ndependencies = ["{"a" * 5000}"]\n', 3, "longer than the 1024 bytes a requirement may have"),
    ("requirements.txt", "ok\n" + "a" * 1025 + "\n", 2, "longer than the 1024 bytes a requirement may have"),
    ("pyproject.toml", f'[project]\nname = "m"\nrequires-python = ">={"1" * 2000}"\n', 3, "`requires-python` is longer than 1024 bytes"),
    # pip reads these as files to install, relative to the folder it runs in (a wheel the model ships)
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = ["evil-1.0-py3-none-any.whl"]\n', 3, "reads as a file to install"),
    ("requirements.txt", "x.tar.gz\n", 1, "reads as a file to install"),
    ("requirements.txt", "ok\nfoo===./x.whl\n", 2, "reads as a file to install"),
    # markers that parse and cannot be evaluated: every later check was an internal error
    ("pyproject.toml", '[project]\nname = "m"\ndependencies = [\'foo; python_version ~= "3"\']\n', 3, "cannot be evaluated"),
    # invisible characters: printed raw, then the lock its reader refused
    ("requirements.txt", 'foo; os_name == "posix\u202e"\n', 1, "a requirement cannot be read: control character U+202E"),
    ("requirements.txt", "fo\u200bo\n", 1, "a requirement cannot be read: invisible character U+200B"),
])
def test_a_declaration_that_cannot_be_read_is_refused_with_file_and_line(tmp_path, file, text, where, what):
    (tmp_path / file).write_text(text, encoding="utf-8")
    with pytest.raises(DeclarationError) as caught:
        read_declared(tmp_path)
    assert caught.value.where == f"{tmp_path / file}:{where}"
    assert what in caught.value.what
    assert caught.value.fix


@pytest.mark.parametrize("text, expected", [
    ('[project]\nname = "m"\ndynamic = ["dependencies"]\n[tool]\nsetuptools = 3\n', ()),  # a table that is not one
    ('project.name = "m"\nproject.dependencies = ["a>=1"]\n', ("a>=1",)),  # dotted keys
    ("project = 3\n", DeclarationError),
    ('project.dependencies = ["a", 1]\n', DeclarationError),
    ('[project]\ndependencies = [\n  "ok", # a comment\n]\n', ("ok",)),
])
def test_odd_shapes_of_pyproject_are_read_or_refused_never_a_crash(tmp_path, text, expected):
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    if expected is DeclarationError:
        with pytest.raises(DeclarationError):
            read_declared(tmp_path)
    else:
        assert read_declared(tmp_path).requires == expected


def test_hostile_declaration_files_never_hang_nor_pass(tmp_path):
    import os

    os.mkfifo(tmp_path / "requirements.txt")  # a FIFO would block a plain open()
    with pytest.raises(DeclarationError, match="not a regular file"):
        read_declared(tmp_path)
    (tmp_path / "requirements.txt").unlink()
    (tmp_path / "requirements.txt").write_bytes(b"einops\n\xff\n")
    with pytest.raises(DeclarationError, match="not valid UTF-8") as caught:
        read_declared(tmp_path)
    assert caught.value.where.endswith("requirements.txt:2")
    (tmp_path / "requirements.txt").write_bytes(b"a" * (1024 * 1024 + 1))
    with pytest.raises(DeclarationError, match="larger than"):
        read_declared(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\na = ' + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DeclarationError, match="nested too deep") as caught:  # was a RecursionError
        read_declared(tmp_path)
    assert caught.value.where == str(tmp_path / "pyproject.toml")


# ----------------------------------------------------------------------------- checking one model
def test_what_is_missing_or_in_the_wrong_version_is_listed_with_one_command():
    declared = Declared(("einops>=0.7", "jaxtyping", "tinydep<2", "present", 'winonly; sys_platform == "win32x"', "pkg[extra]>=1"))
    items = unmet(declared, env(tinydep="2.0", present="1.0", pkg="1.2"))
    assert unmet_message("zlm", items) == "model 'zlm' needs einops>=0.7 (not installed), jaxtyping (not installed), tinydep<2 (2.0 is installed)"
    assert fix_message(items) == "pip install 'einops>=0.7' jaxtyping 'tinydep<2'"


def test_a_model_missing_many_requirements_names_the_first_eight_and_counts_the_rest():
    """A hostile model may declare 500 requirements of 1024 bytes: a warning of half a megabyte."""
    items = unmet(Declared(tuple(f"dep{i}>=" + "1." * 400 + "1" for i in range(500))), env())
    message = unmet_message("zlm", items)
    assert message.startswith("model 'zlm' needs dep0>=1.1.") and message.endswith(", and 492 more")
    assert message.count("(not installed)") == 8 and len(message) < 8 * 1024
    assert fix_message(items) == "`xpm install --deps` installs the 500 missing requirements"
    assert fix_message(items[:8]).startswith("pip install 'dep0>=")


def test_an_xlm_range_that_excludes_this_xlm_names_both_versions():
    items = unmet(Declared(("xlm>=0.3,<0.4",)), env())
    assert unmet_message("zlm", items) == "model 'zlm' needs xlm>=0.3,<0.4 (this is xlm 0.1.0)"
    assert fix_message(items) == "use an xlm in >=0.3,<0.4 (this is 0.1.0), or a version of the model made for xlm 0.1.0"
    assert unmet(Declared(("xlm>=0.1,<0.2",)), env()) == []


def test_requires_python_and_xlm_core_are_explained():
    items = unmet(Declared(("xlm-core>=0.3",), python=">=3.12"), env())
    assert unmet_message("m", items) == "model 'm' needs Python >=3.12 (this is Python 3.11.7), xlm-core>=0.3 (this is xlm 0.1.0, not xlm-core)"
    assert "run it with a Python in >=3.12" in fix_message(items) and "require \"xlm\" instead of \"xlm-core\"" in fix_message(items)


def test_a_core_requirement_says_it_would_replace_the_installed_build():
    items = unmet(Declared(("torch<2.3",)), env(torch="2.5.1+cpu"))
    assert fix_message(items) == "pip install 'torch<2.3' (it replaces the installed torch 2.5.1+cpu)"


def test_check_reports_each_model_and_each_conflict():
    report = check({"a": Declared(("torch<2.3",)), "b": Declared(("torch>=2.5",)), "c": Declared()}, env(torch="2.5.1"))
    assert list(report.unmet) == ["a"] and [c.second[0] for c in report.conflicts] == ["b"] and not report.ok


# ----------------------------------------------------------------------------- xlm: models, jobs, cache
def model_with(project, name: str, pyproject_text: str | None = None, requirements_txt: str | None = None) -> Path:
    files = {"pyproject.toml": pyproject_text, "requirements.txt": requirements_txt}
    return project.model(name, files={k: v for k, v in files.items() if v is not None})


def test_a_model_with_missing_requirements_is_skipped_with_the_fix_and_the_others_load(project):
    root = model_with(project, "needy", pyproject("einops-not-here>=0.7", "jaxtyping-not-here"))
    model_with(project, "fine", pyproject("xlm", "pyyaml>=5"))
    file = project.models_file("needy", "fine")
    found = find_external_models()
    assert found.get("fine") is not None and [m.name for m in found.skipped] == ["needy"]
    [problem] = found.problems
    assert problem.what == "model 'needy' needs einops-not-here>=0.7 (not installed), jaxtyping-not-here (not installed)"
    assert problem.fix == "pip install 'einops-not-here>=0.7' jaxtyping-not-here"
    assert problem.where == f"{root / 'pyproject.toml'}:4" and problem.kind == "requirements"
    # Every job that would use it stops with the same two lines; the others' jobs are not its business.
    error = job_error(found, {"experiment": "needy_debug"}, [])
    assert error.what == f"experiment 'needy_debug' belongs to model 'needy' ({file}:1), skipped because: {problem.what}"
    assert error.fix == problem.fix
    assert job_error(found, {}, ["needy.model.NeedyModel"]).fix == problem.fix
    assert job_error(found, {"experiment": "fine_debug"}, ["fine.model.FineModel"]) is None


def test_an_xlm_range_that_excludes_this_xlm_skips_the_model(project):
    model_with(project, "future", pyproject("xlm>=9.0"))
    project.models_file("future")
    [problem] = find_external_models().problems
    assert problem.what == f"model 'future' needs xlm>=9.0 (this is xlm {XLM_VERSION})"
    assert f"this is {XLM_VERSION}" in problem.fix


def test_a_flat_model_reads_the_pyproject_in_its_package_folder(project):
    make_flat_model(project.root, "flatm", files={"pyproject.toml": pyproject("missing-flat-dep")})
    project.models_file("flatm")
    [problem] = find_external_models().problems
    assert problem.what == "model 'flatm' needs missing-flat-dep (not installed)"


def test_an_unreadable_declaration_skips_the_model_with_file_and_line(project):
    root = model_with(project, "badreq", requirements_txt="ok-thing\n-r more.txt\n")
    project.models_file("badreq")
    [problem] = find_external_models().problems
    assert problem.what.startswith("model 'badreq' declares requirements that cannot be read: '-r more.txt' is an option")
    assert problem.where == f"{root / 'requirements.txt'}:2"


def test_two_models_that_cannot_both_hold_are_reported_together(project):
    model_with(project, "older", pyproject("torch<1.0"))
    model_with(project, "newer", pyproject("torch>=1000"))
    project.models_file("older", "newer")
    found = find_external_models()
    whats = [p.what for p in found.problems]
    assert "models 'older' and 'newer' need torch versions that cannot both hold: 'older' needs torch<1.0, 'newer' needs torch>=1000" in whats
    assert sorted(m.name for m in found.skipped) == ["newer", "older"]  # neither holds with the installed torch


def test_xlm_models_shows_the_state_and_the_fix(project, capsys):
    from xlm.cli import main

    model_with(project, "needy", pyproject("not-here-pkg>=1"))
    project.models_file("needy")
    assert main(["models"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("needy "))
    assert "skipped: requirements" in row
    assert "Error: model 'needy' needs not-here-pkg>=1 (not installed)" in out and "  fix: pip install 'not-here-pkg>=1'" in out


def test_the_verdict_is_remembered_and_follows_the_files_and_the_installed_distributions(project, monkeypatch, tmp_path):
    from xlm.external import deps
    from xlm.requirements import read_declared as real_read

    root = model_with(project, "cached", pyproject("tinydep-cache>=2"))
    reads = []
    monkeypatch.setattr("xlm.requirements.read_declared", lambda r: reads.append(r) or real_read(r))
    first = deps.check_models([("cached", root)])
    assert [u.describe() for u in first.unmet["cached"]] == ["tinydep-cache>=2 (not installed)"] and len(reads) == 1
    again = deps.check_models([("cached", root)])
    assert again.unmet == first.unmet and len(reads) == 1  # a warm start reads no declaration
    # An installed distribution (what pip leaves on sys.path) changes the verdict.
    site = tmp_path / "site"
    write(site / "tinydep_cache-2.1.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: tinydep-cache\nVersion: 2.1\n")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert deps.check_models([("cached", root)]).unmet == {}
    # An edited declaration is read again (its mtime and size change).
    (root / "pyproject.toml").write_text(pyproject("tinydep-cache>=3"), encoding="utf-8")
    assert [u.describe() for u in deps.check_models([("cached", root)]).unmet["cached"]] == ["tinydep-cache>=3 (2.1 is installed)"]
    assert len(reads) == 2


def test_xlm_train_refuses_the_job_before_importing_torch(project):
    model_with(project, "needy", pyproject("not-here-pkg>=1"))
    project.models_file("needy")
    code = textwrap.dedent("""
        import sys
        from xlm.cli import main
        rc = main(["train", "experiment=needy_debug"])
        print("torch imported:", "torch" in sys.modules, "exit:", rc)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True, timeout=120)
    assert "torch imported: False exit: 2" in out.stdout, out.stderr
    assert out.stderr.strip().endswith(
        "error: experiment 'needy_debug' belongs to model 'needy' ("
        f"{project.root / '.xlm_models'}:1), skipped because: model 'needy' needs not-here-pkg>=1 (not installed)\n"
        "  fix: pip install 'not-here-pkg>=1'")
