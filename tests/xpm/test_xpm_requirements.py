"""A model's Python requirements with xpm: locked in xlm.lock, checked after add/install, installed with --deps.

Real packages, no network: the tests write small wheels (`tinydep` 1.0, 2.0, and 3.0, which
needs torch<1) by hand, serve them with --find-links and no index, and install them into a
fresh virtual environment that sees the packages of the interpreter running the tests (xlm,
torch, xpm's own dependencies) through a .pth (`venv_helpers`). Nothing is installed into the interpreter that
runs the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from xpm.errors import LockFileError
from xpm.lock import parse_lock
from xpm_cli import xpm
from venv_helpers import venv_over_this_environment
from xpm_repos import model_files

MISSING = "tinydep-not-installed-xyz"  # a distribution no machine has


def pyproject(*deps: str, python: str | None = None) -> str:
    head = '[project]\nname = "m"\nversion = "0.1"\n' + (f'requires-python = "{python}"\n' if python else "")
    return head + "dependencies = [" + ", ".join(json.dumps(d) for d in deps) + "]\n"


def git_model(upstream, name: str, *deps: str, python: str | None = None, tag: str = "v1.0.0"):
    repo = upstream(f"lab/{name}")
    repo.commit("model", {**model_files(name), "pyproject.toml": pyproject(*deps, python=python)})
    repo.tag(tag)
    return repo


# ----------------------------------------------------------------------------- locked
def test_add_records_the_declared_requirements_in_the_lock_and_warns_with_the_command(upstream, project):
    repo = git_model(upstream, "needy", f"{MISSING} >= 1.2", "xlm", python=">=3.10")
    result = xpm(project, "add", f"{repo.url}@v1.0.0")
    lock = (project / "xlm.lock").read_text()
    assert "version = 2\n" in lock
    assert f'requires = [\n    "{MISSING}>=1.2",\n    "xlm",\n]\nrequires-python = ">=3.10"\n' in lock
    entry = parse_lock(lock).entries["needy"]
    assert entry.requires == (f"{MISSING}>=1.2", "xlm") and entry.requires_python == ">=3.10"
    assert result.output.splitlines()[1:] == [
        f"warning: model 'needy' needs {MISSING}>=1.2 (not installed)",
        f"  fix: pip install '{MISSING}>=1.2'",
        f"  or install what is missing into {sys.executable}: xpm install --deps",
    ]
    assert (project / "xlm_models" / "needy").is_dir()  # a warning: the model is installed


def test_the_warning_offers_deps_only_when_deps_would_run(upstream, project):
    """It offered `xpm install --deps` for a requirement --deps always refuses (another torch)."""
    repo = git_model(upstream, "strict", "torch<2", f"{MISSING}>=1.2")
    result = xpm(project, "add", f"{repo.url}@v1.0.0")
    assert "warning: model 'strict' needs torch<2" in result.output and "xpm install --deps" not in result.output
    assert "--deps never replaces torch" in xpm(project, "install", "--deps", code=1).output


def test_a_version_1_lock_is_read_and_the_next_install_records_the_requirements(upstream, project):
    repo = git_model(upstream, "old", "xlm")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    lock = project / "xlm.lock"
    v1 = lock.read_text().replace("version = 2", "version = 1").replace('requires = [\n    "xlm",\n]\n', "")
    lock.write_text(v1)
    assert parse_lock(v1).entries["old"].requires is None  # not recorded
    xpm(project, "install", "--frozen")
    assert lock.read_text() == v1  # --frozen never writes the lock
    xpm(project, "install")
    assert 'version = 2\n' in lock.read_text() and 'requires = [\n    "xlm",\n]\n' in lock.read_text()


def test_a_lock_whose_requirements_were_edited_is_refused(upstream, project):
    repo = git_model(upstream, "edited", "xlm")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    lock = project / "xlm.lock"
    lock.write_text(lock.read_text().replace('    "xlm",\n', '    "xlm",\n    "something-else",\n'))
    for prepare in (lambda: None, lambda: shutil.rmtree(project / "xlm_models" / "edited")):  # kept, then exported again
        prepare()
        result = xpm(project, "install", code=1)
        assert "model 'edited' records requires [xlm, something-else], but its locked tree" in result.output
        assert "declares [xlm]" in result.output and "edited by hand" in result.output


def test_a_lock_whose_package_was_edited_is_refused_and_a_missing_one_recorded(upstream, project):
    repo = git_model(upstream, "pkgd", "xlm")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    lock = project / "xlm.lock"
    good = lock.read_text()
    lock.write_text(good.replace('package = "pkgd"', 'package = "other"'))
    for prepare in (lambda: None, lambda: shutil.rmtree(project / "xlm_models" / "pkgd")):  # kept, then exported again
        prepare()
        result = xpm(project, "install", code=1)
        assert "model 'pkgd' records package 'other', but its locked tree" in result.output and "holds package 'pkgd'" in result.output
        assert "edited by hand" in result.output
    lock.write_text(good.replace('package = "pkgd"\n', ""))
    xpm(project, "install")
    assert lock.read_text() == good


def test_a_tree_whose_declaration_cannot_be_read_is_not_installed(upstream, project):
    repo = upstream("lab/badreq")
    repo.commit("model", {**model_files("badreq"), "requirements.txt": "ok-pkg\n--index-url https://evil.example/simple\n"})
    result = xpm(project, "add", repo.url, code=1)
    commit = repo.head()[:7]
    assert "is not a valid xlm model" in result.output
    assert f"(badreq@{commit}:requirements.txt:2)" in result.output and "is an option, not a requirement" in result.output
    assert not (project / "xlm_models").exists() and not (project / "xlm.lock").exists()


@pytest.mark.parametrize("table, message", [
    ("requires = 'xlm'\n", "xlm.lock:9: `requires` must be a list of strings"),
    ("requires = [1]\n", "xlm.lock:9: `requires` must be a list of strings"),
    ('requires = ["a\\u0085b"]\n', "xlm.lock:9: `requires` holds a"),
    ("requires-python = 3\n", "xlm.lock:9: `requires-python` must be a string"),
])
def test_bad_requirement_records_in_a_lock_name_the_line(table, message):
    text = ("version = 2\n\n[[model]]\nname = 'zlm'\nkind = 'git'\nsource = 'https://h/zlm'\n"
            f"commit = '{'c' * 40}'\nhash = 'sha256-tree:{'d' * 64}'\n" + table)
    with pytest.raises(LockFileError) as info:
        parse_lock(text, "xlm.lock")
    assert message in info.value.what


def test_a_local_entry_never_carries_requirements():
    with pytest.raises(LockFileError, match="records them for git models only"):
        parse_lock("version = 2\n[[model]]\nname = 'a'\nkind = 'local'\nsource = './a'\nrequires = []\n")


# ----------------------------------------------------------------------------- checked
def test_install_frozen_fails_listing_what_is_missing(upstream, project):
    repo = git_model(upstream, "needy", f"{MISSING}>=1", "also-missing-xyz")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    result = xpm(project, "install", "--frozen", code=1)
    assert result.output.splitlines()[-3:] == [
        "error: the models' requirements do not hold in this interpreter:",
        f"    - model 'needy' needs {MISSING}>=1 (not installed), also-missing-xyz (not installed)",
        f"  fix: run `xpm install --frozen --deps` to install what is missing, or: pip install '{MISSING}>=1' also-missing-xyz",
    ]


def test_after_an_install_only_models_that_record_requirements_are_read_again(upstream, project):
    """A git model the lock records as declaring nothing was read as it was installed; one that
    declares something is checked from its folder, so its message still names file and line."""
    from xpm import deps
    from xpm.project import Project

    plain, needy = git_model(upstream, "plain"), git_model(upstream, "needy", f"{MISSING}>=1")
    for repo in (plain, needy):
        xpm(project, "add", f"{repo.url}@v1.0.0")
    result = xpm(project, "install", "--frozen", code=1)
    assert f"model 'needy' needs {MISSING}>=1 (not installed)" in result.output
    found = Project.find(project)
    lock = found.lock()
    assert lock.entries["plain"].requires == () and lock.entries["needy"].requires == (f"{MISSING}>=1",)
    assert [name for name, _ in deps.model_roots(found, lock)] == ["needy"]
    assert [name for name, _ in deps.model_roots(found)] == ["plain", "needy"]  # without a lock: every folder


def test_two_models_that_cannot_both_hold_are_reported_naming_both(upstream, project):
    a = git_model(upstream, "older", "torch<1.0")
    b = git_model(upstream, "newer", "torch>=1000")
    xpm(project, "add", f"{a.url}@v1.0.0")
    result = xpm(project, "add", f"{b.url}@v1.0.0")
    assert ("warning: models 'older' and 'newer' need torch versions that cannot both hold: "
            "'older' needs torch<1.0, 'newer' needs torch>=1000") in result.output


def test_an_xlm_range_that_excludes_this_xlm_is_reported_and_never_installed(upstream, project):
    from xlm import __version__

    repo = git_model(upstream, "future", "xlm>=9.0")
    result = xpm(project, "add", f"{repo.url}@v1.0.0")
    assert f"warning: model 'future' needs xlm>=9.0 (this is xlm {__version__})" in result.output
    result = xpm(project, "install", "--deps", code=1)
    assert f"model 'future' needs xlm>=9.0 (this is xlm {__version__}): pip cannot change that" in result.output
    assert "nothing was installed" in result.output


def test_a_local_model_is_checked_too(project):
    root = project / "mine"
    for rel, text in {**model_files("mine"), "requirements.txt": f"{MISSING}\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    result = xpm(project, "add", "./mine")
    assert f"warning: model 'mine' needs {MISSING} (not installed)" in result.output


def test_an_unknown_installer_is_refused(project, monkeypatch):
    from xpm.deps import installer
    from xpm.errors import XpmError

    monkeypatch.setenv("XPM_INSTALLER", "conda")
    with pytest.raises(XpmError, match="XPM_INSTALLER='conda' is not an installer xpm knows"):
        installer()


# ----------------------------------------------------------------------------- installed, for real
def write_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel written by hand: a zip of the package, METADATA, WHEEL and RECORD."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: xlm-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
                     for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture
def venv(tmp_path, monkeypatch, git_env):
    """A fresh virtual environment over this interpreter, and an index of tinydep wheels (no network)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for version, requires in (("1.0", ()), ("2.0", ()), ("3.0", ("torch<1",))):
        write_wheel(wheels, "tinydep", version, requires)
    write_wheel(wheels, "tinyextra", "1.0")
    env = tmp_path / "venv"
    venv_over_this_environment(env)
    for name, value in {"PIP_FIND_LINKS": str(wheels), "PIP_NO_INDEX": "1", "PIP_NO_CACHE_DIR": "1",
                        "UV_FIND_LINKS": str(wheels), "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "uv-cache")}.items():
        monkeypatch.setenv(name, value)
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_REQUIRE_VIRTUALENV"):
        monkeypatch.delenv(name, raising=False)
    return env / "bin" / "python"


def in_venv(python: Path, project: Path, *args: str, installer: str = "pip") -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "XPM_INSTALLER": installer}
    return subprocess.run([str(python), "-m", "xpm.cli", "-C", str(project), *args], capture_output=True, text=True,
                          env=env, timeout=300)


def probe(python: Path, code: str) -> str:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout.strip()


TINYDEP = "import importlib.util as u; s = u.find_spec('tinydep'); print(s.origin if s else None)"
TORCH = "import importlib.metadata as m; print(m.version('torch'), m.distribution('torch')._path)"


def installers() -> list[str]:
    return ["pip"] + (["uv"] if shutil.which("uv") else [])


@pytest.mark.slow
@pytest.mark.parametrize("installer", installers())
def test_deps_installs_the_missing_requirements_into_the_running_interpreter(venv, upstream, project, installer):
    repo = git_model(upstream, "needy", "tinydep>=2", "xlm")
    torch_before = probe(venv, TORCH)
    listed = in_venv(venv, project, "add", f"{repo.url}@v1.0.0", installer=installer)
    assert listed.returncode == 0, listed.stderr
    assert "warning: model 'needy' needs tinydep>=2 (not installed)\n  fix: pip install 'tinydep>=2'\n" in listed.stderr
    assert probe(venv, TINYDEP) == "None"  # without --deps nothing is installed
    done = in_venv(venv, project, "install", "--deps", installer=installer)
    assert done.returncode == 0, done.stderr
    assert "installed requirements: tinydep>=2" in done.stdout
    origin = probe(venv, TINYDEP)
    assert origin.startswith(str(venv.parent.parent)) and probe(venv, "import tinydep; print(tinydep.__version__)") == "2.0"
    assert probe(Path(sys.executable), TINYDEP) == "None"  # the interpreter running the tests is untouched
    assert probe(venv, TORCH) == torch_before
    again = in_venv(venv, project, "install", "--frozen", installer=installer)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
    # `add --deps`: the new model's requirement is installed with it; the first model's stays.
    extra = git_model(upstream, "extra", "tinyextra")
    added = in_venv(venv, project, "add", f"{extra.url}@v1.0.0", "--deps", installer=installer)
    assert added.returncode == 0 and "installed requirements: tinyextra" in added.stdout, added.stderr
    assert probe(venv, "import tinyextra, tinydep; print(tinyextra.__version__, tinydep.__version__)") == "1.0 2.0"


@pytest.mark.slow
@pytest.mark.parametrize("installer", installers())
def test_a_requirement_that_would_move_torch_is_refused_and_torch_stays(venv, upstream, project, installer):
    torch_before = probe(venv, TORCH)
    direct = git_model(upstream, "oldtorch", "torch<1")
    xpm(project, "add", f"{direct.url}@v1.0.0")
    refused = in_venv(venv, project, "install", "--deps", installer=installer)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-3:-1] == [
        "error: cannot install the models' requirements (nothing was installed):",
        f"    - model 'oldtorch' needs torch<1 ({torch_before.split()[0]} is installed): --deps never replaces torch, lightning, hydra-core, xlm",
    ]
    xpm(project, "remove", "oldtorch")
    # tinydep 3.0 itself needs torch<1: the installer must fail on the pinned torch, not replace it.
    indirect = git_model(upstream, "tiny3", "tinydep>=3")
    xpm(project, "add", f"{indirect.url}@v1.0.0")
    failed = in_venv(venv, project, "install", "--deps", installer=installer)
    assert failed.returncode == 1
    error = failed.stderr.splitlines()[-2]  # the installer's output streamed above it
    assert error.startswith("error: `") and "'tinydep>=3'` failed (exit 1): " in error
    assert failed.stderr.splitlines()[-1].startswith("  fix: check the requirement names and versions")
    assert probe(venv, TORCH) == torch_before and probe(venv, TINYDEP) == "None"


# ----------------------------------------------------------------------------- scaffold and examples
@pytest.mark.parametrize("version, expected", [
    ("0.1.0", "xlm>=0.1,<0.2"),
    ("1.10.3", "xlm>=1.10,<1.11"),
    ("0.2.0rc1", "xlm>=0.2.0rc1,<0.3"),  # a pre-release is its own lower bound: >=0.2 would leave it out
    ("0.3.0.dev1", "xlm>=0.3.0.dev1,<0.4"),
    ("0.1.0+local", "xlm>=0.1,<0.2"),
])
def test_a_new_model_requires_the_running_xlms_minor_series(version, expected):
    from packaging.requirements import Requirement

    from xpm.templates import xlm_requirement

    assert xlm_requirement(version) == expected
    assert Requirement(expected).specifier.contains(version, prereleases=True)


def test_xpm_new_declares_its_requirements_and_they_hold(tmp_path):
    from xlm.requirements import read_declared
    from xlm.requirements_check import current_environment, unmet
    from xpm.new import create_model
    from xpm.templates import xlm_requirement

    made = create_model("fresh", tmp_path)
    declared = read_declared(made.root)
    assert declared.requires == (xlm_requirement(), "torch>=2.2") and declared.python == ">=3.11"
    assert unmet(declared, current_environment()) == []


def test_the_examples_declare_requirements_this_interpreter_meets():
    from xlm.requirements import read_declared
    from xlm.requirements_check import current_environment, unmet

    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("zlm", "mdlm"):
        declared = read_declared(examples / name)
        assert any(r.startswith("xlm>=") for r in declared.requires) and "torch>=2.2" in declared.requires, name
        assert unmet(declared, current_environment()) == [], name


def test_an_interpreter_without_pip_says_how_to_get_one(tmp_path, project, monkeypatch, git_env):
    """A venv without pip and without the base's packages: pip's own failure, with the fix for it."""
    from xpm.deps import install_missing
    from xpm.errors import XpmError
    from xpm.project import Project

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    _missing_one(project, monkeypatch)
    with pytest.raises(XpmError) as caught:
        install_missing(Project.find(project), python=str(bare / "bin" / "python"))
    assert caught.value.what.endswith(f"-m pip install {MISSING}` failed (exit 1): {bare / 'bin' / 'python'}: No module named pip")
    assert "python -m ensurepip" in caught.value.fix


def test_the_installer_runs_in_an_empty_folder(project, tmp_path, monkeypatch):
    """pip reads a requirement like `x-1.0-py3-none-any.whl` as a file of the folder it runs in:
    run from inside a model, `--deps` installed the wheel the model shipped."""
    from xpm.deps import install_missing
    from xpm.errors import XpmError
    from xpm.project import Project

    seen = tmp_path / "seen.txt"
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\npwd > {seen}\nls -A >> {seen}\n")
    fake.chmod(0o755)
    root = _missing_one(project, monkeypatch)
    monkeypatch.chdir(root)
    with pytest.raises(XpmError, match="succeeded, but requirements still do not hold"):
        install_missing(Project.find(project), python=str(fake))
    folder, *listed = seen.read_text().splitlines()
    assert folder != str(root) and listed == []


def _missing_one(project, monkeypatch):
    """A local model `mine` of `project` that needs MISSING; pip as the installer. Its root."""
    root = project / "mine"
    for rel, text in {**model_files("mine"), "requirements.txt": f"{MISSING}\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (project / ".xlm_models").write_text("./mine\n")
    monkeypatch.setenv("XPM_INSTALLER", "pip")
    return root
