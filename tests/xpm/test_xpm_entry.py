"""The console script runs a plain `xpm install` without click; everything else goes to click."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xpm.cli import plain_install


@pytest.mark.parametrize("argv, plain", [
    (["install"], True), (["-q", "install"], True), (["-C", "p", "-j", "4", "-v", "install", "--frozen", "--offline"], True),
    (["install", "--deps"], False), (["install", "--from-run", "x"], False), (["install", "-q"], False),
    (["-j", "0", "install"], False), (["-j", "x", "install"], False), (["-C"], False), (["--project=p", "install"], False),
    (["install", "--help"], False), (["list"], False), ([], False), (["-h"], False), (["-C", "-q", "install"], False),
])
def test_which_command_lines_run_without_click(argv, plain):
    assert (plain_install(argv) is not None) == plain


def _run(*args: str):
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "xpm.cli", *args], capture_output=True, text=True, timeout=120)


def _imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_a_plain_install_never_imports_click_and_reports_like_click(tmp_path):
    (tmp_path / ".xlm_models").write_text("")
    out = _run("-C", str(tmp_path), "-q", "install")
    assert out.returncode == 0 and out.stdout == "up to date\n", out.stderr[-2000:]
    assert "click" not in _imported(out.stderr)
    (tmp_path / ".xlm_models").write_bytes(b"\xff\n")  # the same two-line error as through click
    plain, clicked = _run("-C", str(tmp_path), "install"), _run("-C", str(tmp_path), "install", "--deps")
    lines = [line for line in plain.stderr.splitlines() if not line.startswith("import time:")]
    assert plain.returncode == clicked.returncode == 1 and lines[0].startswith("error: ") and lines[1].startswith("  fix: ")
    assert lines == [line for line in clicked.stderr.splitlines() if not line.startswith("import time:")]
    assert "click" not in _imported(plain.stderr) and "click" in _imported(clicked.stderr)


def test_other_command_lines_get_clicks_answers(tmp_path):
    out = _run("-j", "0", "install")
    lines = [line for line in out.stderr.splitlines() if not line.startswith("import time:")]
    assert out.returncode == 2 and lines[0].startswith("error: invalid value for '-j'") and lines[1:] == [
        "  fix: run `python -m xpm.cli --help` for its usage"]  # click's usage error, in xpm's two lines
    out = _run("instal")
    assert out.returncode == 2 and "  fix: did you mean one of: 'install', 'list'? or run `python -m xpm.cli --help` for its usage" in out.stderr
    out = _run("remove")
    assert out.returncode == 2 and "error: missing argument 'NAME' (in `python -m xpm.cli remove`)" in out.stderr
    out = _run("install", "--help")
    assert out.returncode == 0 and "xpm.cli install [OPTIONS]" in out.stdout


def test_ctrl_c_while_click_is_imported_is_reported_not_a_traceback(monkeypatch, capsys):
    """Found by fuzzing: SIGINT ~80 ms into `xpm remove m1` gave a traceback and exit -2."""
    import gc

    from xpm import cli

    def importing():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_click_main", importing)
    monkeypatch.setattr(sys, "argv", ["xpm", "remove", "m1"])
    threshold = gc.get_threshold()
    try:
        assert cli.main() == 130
    finally:  # what the console script does to its process, undone in this one
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert capsys.readouterr().err == "interrupted: nothing half-written is left; run the command again to finish it\n"


def test_ctrl_c_that_python_wrapped_while_a_module_loads_is_an_interrupt_not_a_bug():
    """SIGTERM in a class body's `__set_name__` came out as `internal error: RuntimeError: Error
    calling __set_name__ ...` (fuzzing, 1 in 30 early signals)."""
    from xpm import cli
    from xpm.interrupt import Terminated

    said = []
    try:
        try:
            raise Terminated
        except Terminated as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'modified' in 'Changes'") from exc
    except RuntimeError as wrapped:
        code = cli.report(wrapped, False, lambda text, err=False: said.append(text))
    assert code == 143 and said == ["terminated: nothing half-written is left; run the command again to finish it"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_help_that_cannot_be_written_is_reported_not_a_traceback():
    """`xpm --help | true` ended 1 (click's own answer to a reader that left) and `xpm --help
    >/dev/full` with a traceback: a command's output ends 141 and two lines (fuzzing)."""
    reader_left = subprocess.run(f"{sys.executable} -m xpm.cli --help | true; exit ${{PIPESTATUS[0]}}", shell=True,
                                 executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert (reader_left.returncode, reader_left.stderr) == (141, "")
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "xpm.cli", "--help"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr.startswith("error: no space left on the device (while writing in the project, "), out.stderr
    assert "xpm's output)\n  fix: " in out.stderr and "Traceback" not in out.stderr
