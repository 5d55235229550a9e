"""Small things of the `xpm` / `xlm-scaffold` command line (issue 9, item 19)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from xpm.cli import main


def test_xlm_scaffold_answers_dash_h():
    proc = subprocess.run([sys.executable, "-c", "from xpm.cli import scaffold_main; scaffold_main(['-h'])"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: xlm-scaffold [OPTIONS] NAME"), proc.stderr
    assert CliRunner().invoke(main, ["new", "-h"]).output.startswith("Usage: main new [OPTIONS] NAME")


def test_new_dir_is_created_when_missing(project):
    result = CliRunner().invoke(main, ["new", "my_model", "--dir", "models/deep"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (project / "models" / "deep" / "my_model" / "my_model" / "model.py").is_file()


def test_a_refused_name_leaves_no_new_dir_behind(project):
    result = CliRunner().invoke(main, ["new", "1bad", "--dir", "models/deep"])
    assert result.exit_code == 1 and "is not a valid model name" in result.output
    assert not (project / "models").exists()


def test_new_dir_that_is_a_file_is_refused(project):
    import pytest

    from xpm.errors import XpmError
    from xpm.new import create_model

    (project / "models").write_text("")
    result = CliRunner().invoke(main, ["new", "my_model", "--dir", "models"])
    assert result.exit_code == 2 and "'models' is a file" in result.output  # click's own check of --dir
    with pytest.raises(XpmError, match="is not a folder"):
        create_model("my_model", project / "models")
    with pytest.raises(XpmError, match=f"cannot be created: {project / 'models'} is a file"):
        create_model("my_model", project / "models" / "sub")
    assert (project / "models").read_text() == ""


def test_list_with_no_models_says_so(project):
    (project / ".xlm_models").write_text("# nothing yet\n")
    result = CliRunner().invoke(main, ["list"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == f"no models in {project / '.xlm_models'}: add one with `xpm add SOURCE` or `xpm new NAME`\n"


def test_new_in_a_locked_project_locks_the_new_model(project):
    """`xpm new` left xlm.lock without the model: `xpm install --frozen` of the clone failed in CI."""
    runner = CliRunner()
    assert runner.invoke(main, ["new", "first"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["-q", "lock"], catch_exceptions=False).exit_code == 0
    result = runner.invoke(main, ["new", "second"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "updated ./xlm.lock: added second\n" in result.output
    assert 'name = "second"' in (project / "xlm.lock").read_text()
    assert runner.invoke(main, ["lock", "--check"], catch_exceptions=False).output == "xlm.lock is up to date\n"
    (project / ".xlm_models").write_text((project / ".xlm_models").read_text() + "ghost\n")  # listed, never locked
    result = runner.invoke(main, ["new", "third"], catch_exceptions=False)
    assert "updated ./xlm.lock: added ghost, third\n" in result.output  # every model the lock gained is named


def test_new_says_why_it_could_not_lock_the_new_model(project, tmp_path, monkeypatch):
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    assert runner.invoke(main, ["new", "first"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["-q", "lock"], catch_exceptions=False).exit_code == 0
    (project / "xlm.lock").write_text("not toml [")  # `xpm lock`, the step it used to give, fails on it
    result = runner.invoke(main, ["new", "second"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: ./xlm.lock was not updated: {project / 'xlm.lock'}:1: not valid TOML")
    assert "next:\n  restore it from version control, or delete it and run `xpm lock` to regenerate it\n" in result.stdout
    (project / "xlm.lock").unlink()
    assert runner.invoke(main, ["-q", "lock"], catch_exceptions=False).exit_code == 0
    (project / ".xlm_models").write_text((project / ".xlm_models").read_text() + "github.com/lab/notcached@v1\n")
    result = runner.invoke(main, ["new", "third"], catch_exceptions=False)  # offline, and the cache lacks that remote
    assert result.exit_code == 0 and "next:\n  xpm lock   (./xlm.lock does not list the new model yet)\n" in result.output
