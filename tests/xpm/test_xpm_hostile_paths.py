"""Project and cache paths that are the wrong kind of thing: a stamp that is a fifo or a link to
/dev/zero, a `.xlm_models` that is a loop of links, a link to nothing or a socket, a models
file named by XLM_MODELS_FILE that is not `.xlm_models`, a cache that is a device. Each is a
two-line error or is repaired; none hangs, reads without end, or is read in place of another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from xpm_cli import xpm


def _xpm_process(project, *args: str) -> subprocess.CompletedProcess:
    """xpm in a process of its own with a deadline: a regression here hangs or eats memory."""
    return subprocess.run([sys.executable, "-m", "xpm.cli", "-C", str(project), "-q", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", ["a fifo", "a link to /dev/zero"])
def test_a_stamp_that_is_no_file_is_never_read_and_install_repairs_the_model(lab, project, kind):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1.0.0\n")
    xpm(project, "install")
    stamp = project / "xlm_models" / ".xpm" / "stamps" / "zlm.json"
    stamp.unlink()
    os.mkfifo(stamp) if kind == "a fifo" else stamp.symlink_to("/dev/zero")
    proc = _xpm_process(project, "install")
    assert proc.returncode == 0, proc.stderr
    assert "xlm_models/zlm has no install stamp xpm can trust" in proc.stderr  # its files are kept aside, not lost
    assert stamp.is_file() and not stamp.is_symlink()
    xpm(project, "verify")


def test_a_models_file_that_is_a_loop_of_links_is_an_error(project):
    (project / ".xlm_models").symlink_to(".xlm_models")
    for command in ("list", "install", "verify"):
        out = xpm(project, command, code=1)
        assert "too many levels of symbolic links" in out.output or "is a symbolic link" in out.output, (command, out.output)
        assert "internal error" not in out.output


def test_a_models_file_that_links_to_nothing_is_an_error_not_an_empty_project(lab, project, tmp_path):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1.0.0\n")
    xpm(project, "install")
    (project / ".xlm_models").unlink()
    (project / ".xlm_models").symlink_to(tmp_path / "missing")
    for command in ("list", "verify"):
        out = xpm(project, command, code=1)
        assert out.output == (f"error: {project / '.xlm_models'} is a symbolic link to {tmp_path / 'missing'}, which does not exist\n"
                              "  fix: point the link at your models file, or replace it with the file\n")


def test_a_models_file_that_is_a_socket_is_not_a_regular_file(project):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(project / ".xlm_models"))
        out = xpm(project, "list", code=1)
    assert out.output == (f"error: {project / '.xlm_models'} is not a regular file\n"
                          "  fix: replace it with a plain text file\n")


@pytest.mark.parametrize("target", ["custom_models.txt", "loop"])
def test_xlm_models_file_naming_another_file_is_refused_not_swapped_for_the_one_beside_it(lab, project, monkeypatch, target):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1.0.0\n")  # beside it: never read in its place
    named = project / target
    named.write_text("") if target != "loop" else named.symlink_to(target)
    monkeypatch.setenv("XLM_MODELS_FILE", str(named))
    out = xpm(project, "install", code=1)
    assert out.output == (f"error: XLM_MODELS_FILE names {named}, but xpm works on a project's .xlm_models\n"
                          "  fix: unset XLM_MODELS_FILE for xpm (it finds .xlm_models from the current folder, or -C DIR), "
                          "or point it at a file named .xlm_models\n")
    assert not (project / "xlm_models").exists()


def test_a_cache_that_is_a_device_is_not_a_folder(lab, project, monkeypatch):
    monkeypatch.setenv("XPM_CACHE_DIR", os.devnull)
    out = xpm(project, "add", f"{lab.zlm.url}@v1.0.0", code=1)
    assert out.output == (f"error: xpm's cache folder {os.devnull} is not a folder\n"
                          "  fix: set XPM_CACHE_DIR to a folder of your own\n")  # never "chmod o-w /dev/null"
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("command", [["new", "ma"], ["import-json"]])
def test_a_linked_models_file_is_refused_by_every_command_that_writes_it(project, tmp_path, command):
    """`xpm add` refused it; `xpm new` and `xpm import-json` replaced the link with a file."""
    shared = tmp_path / "shared_models"
    shared.write_text("# shared\n")
    (project / ".xlm_models").symlink_to(shared)
    (project / "xlm_models.json").write_text('{"ma": "ma"}\n')
    out = xpm(project, *command, code=1)
    assert out.output.startswith(f"error: {project / '.xlm_models'} is a symbolic link (to {shared}); xpm replaces the file")
    assert (project / ".xlm_models").is_symlink() and shared.read_text() == "# shared\n"


def test_import_json_through_a_linked_xlm_models_folder_writes_in_the_project(project, tmp_path):
    """The JSON file was resolved through the link: the link's target became the project."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "xlm_models.json").write_text('{"mdlm": "mdlm"}\n')
    (project / "xlm-models").symlink_to(elsewhere)
    xpm(project, "import-json")
    assert (project / ".xlm_models").read_text().endswith("./xlm-models/mdlm\n")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["xlm_models.json"]


def test_cleaning_a_cache_that_does_not_exist_creates_nothing(project, tmp_path, monkeypatch):
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "none" / "cache"))
    assert xpm(project, "cache", "clean").stdout == f"nothing to clean: {tmp_path / 'none' / 'cache'} does not exist\n"
    assert not (tmp_path / "none").exists()


def test_running_a_vendored_models_tests_is_no_edit(lab, project):
    """pytest writes .pytest_cache/ into the model's folder (its pyproject configures pytest):
    xlm refused every job and `xpm install` kept the cache as "your edits"."""
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1.0.0\n")
    xpm(project, "install")
    cache = project / "xlm_models" / "zlm" / ".pytest_cache" / "v" / "cache"
    cache.mkdir(parents=True)
    (cache / "nodeids").write_text("[]\n")
    xpm(project, "verify")
    assert "ok" in xpm(project, "list").output
    assert "warning" not in xpm(project, "install").stderr


@pytest.mark.parametrize("args, what", [
    (["install", "--from-run", ""], "--from-run needs a run folder or a checkpoint: it was given an empty path"),
    (["new", "x", "--from", ""], "--from needs a model to copy: it was given an empty name"),
])
def test_an_empty_path_or_name_is_a_usage_error_not_the_current_folder(project, args, what):
    """`--from-run ''` read the current folder; `--from ''` rendered the template instead."""
    out = xpm(project, *args, code=2)
    assert out.output.startswith(f"error: {what}") and list(project.iterdir()) == []


@pytest.mark.parametrize("args", [["import-json", "FIFO"], ["install", "--from-run", "FIFO"]])
def test_a_fifo_given_as_a_file_is_named_as_one_never_opened(project, args):
    os.mkfifo(project / "xlm_models.json")
    out = _xpm_process(project, *[str(project / "xlm_models.json") if arg == "FIFO" else arg for arg in args])
    assert out.returncode == 1 and "is not a regular file (a fifo, a device or a socket?)" in out.stderr, out.stderr


def test_non_ascii_file_names_are_written_and_checked_as_git_stores_them_in_any_locale(upstream, project):
    """Under a file system encoding that is not UTF-8 (`LC_ALL=C PYTHONUTF8=0`, a latin-1
    locale), `install` was `internal error: UnicodeEncodeError` and `verify` listed each such
    file as both added and deleted, with two equal hashes."""
    from xpm_repos import model_files

    repo = upstream("lab/ulm")
    files = model_files("ulm")
    files["ulm/données_漢.txt"] = "x\n"
    files["configs/model/ulm_é.yaml"] = "a: 1\n"
    repo.commit("c1", files)
    repo.tag("v1.0.0")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    ascii_names = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    probe = subprocess.run([sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"], env=ascii_names,
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "ascii"
    for args in (["verify"], ["install", "--frozen"]):
        out = subprocess.run([sys.executable, "-m", "xpm.cli", "-C", str(project), *args], env=ascii_names, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    subprocess.run(["rm", "-rf", str(project / "xlm_models")], check=True)
    out = subprocess.run([sys.executable, "-m", "xpm.cli", "-C", str(project), "install"], env=ascii_names, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "données_漢.txt".encode() in os.listdir(os.fsencode(project / "xlm_models" / "ulm" / "ulm"))  # git's bytes
    assert xpm(project, "verify").stdout == "ulm: ok\n"
