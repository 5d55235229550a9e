"""list, verify, cache, and the error transcripts (one line of what, one of how to fix)."""

import shutil
import threading
import time

import pytest
from filelock import FileLock

from xpm.project import hold
from xpm_cli import golden, xpm
from xpm_repos import model_files

pytestmark = pytest.mark.slow


def test_list_states(lab, project):
    (project / "mine").mkdir()
    (project / ".xlm_models").write_text(f"./mine\n{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n{lab.models.url}#subdir=bbb\n")
    xpm(project, "lock")
    xpm(project, "install")
    with open(project / ".xlm_models", "a") as handle:
        handle.write(f"{lab.zlm.url}2@dev\n")  # listed, never locked
        handle.write("gone\n./nowhere/other\n")  # local models xlm cannot find: they showed as plain `local`
    (project / "xlm_models" / "aaa" / "aaa" / "model.py").write_text("edited")
    shutil.rmtree(project / "xlm_models" / "bbb")
    rows = [line.split() for line in xpm(project, "list").stdout.splitlines()]
    assert rows[0] == ["NAME", "SOURCE", "REQUESTED", "RESOLVED", "COMMIT", "STATE"]
    states = {row[0]: " ".join(row[5:]) for row in rows[1:]}
    missing = "local (not found: see `xlm models`)"
    assert states == {"mine": "local (xlm skips it: see `xlm models`)",  # an empty folder is no model
                      "zlm": "ok", "aaa": "modified", "bbb": "missing", "zlm2": "not installed", "gone": missing, "other": missing}
    zlm = next(row for row in rows if row[0] == "zlm")
    assert zlm[1:5] == [lab.zlm.url, "v1", "v1.1.0", lab.commits["1.1.0"][:7]]


def test_verify(lab, project):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n")
    xpm(project, "install")
    assert xpm(project, "verify").stdout == "zlm: ok\naaa: ok\n"
    root = project / "xlm_models" / "zlm"
    (root / "zlm" / "model.py").write_text("edited")
    (root / "zlm" / "extra.py").write_text("")
    (root / "configs" / "model_type" / "zlm.yaml").unlink()
    (project / "xlm_models" / "aaa" / "aaa" / "__pycache__").mkdir()
    (project / "xlm_models" / "aaa" / "aaa" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"x")
    out = xpm(project, "verify", code=1)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("zlm: modified (xlm.lock sha256-tree:")
    assert lines[1:] == ["    modified: zlm/model.py", "    added: zlm/extra.py", "    deleted: configs/model_type/zlm.yaml", "aaa: ok"]
    assert "1 model(s) differ from xlm.lock" in out.stderr
    xpm(project, "install")
    xpm(project, "verify")
    shutil.rmtree(project / "xlm_models" / "aaa")
    with open(project / ".xlm_models", "a") as handle:
        handle.write(f"{lab.models.url}#subdir=bbb\n")  # listed, never locked: not verified = not ok
    out = xpm(project, "verify", code=1)
    assert out.stdout == "zlm: ok\naaa: missing (run: xpm install)\nbbb: not locked (run: xpm install)\n"
    assert "2 model(s) differ from xlm.lock" in out.stderr
    (project / ".xlm_models").write_text("")
    assert xpm(project, "verify").stdout == "no git models in .xlm_models: nothing to verify\n"


def test_install_says_when_it_wrote_the_lock_and_installed_nothing(lab, project):
    """A local model's line added or removed changes xlm.lock: it said `up to date`."""
    xpm(project, "add", f"{lab.zlm.url}@v1")
    for rel, text in model_files("loc").items():
        (project / "loc" / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / "loc" / rel).write_text(text)
    models = project / ".xlm_models"
    models.write_text(models.read_text() + "./loc\n")
    assert xpm(project, "install").stdout == "up to date; wrote xlm.lock (+loc)\n"
    assert xpm(project, "install").stdout == "up to date\n"
    models.write_text(models.read_text().replace("./loc\n", ""))
    assert xpm(project, "install").stdout == "up to date; wrote xlm.lock (-loc)\n"


def test_cache_dir_and_clean(lab, project, git_env):
    assert xpm(project, "cache", "dir").stdout.strip() == str(git_env.cache)
    xpm(project, "add", f"{lab.zlm.url}@v1")
    assert any((git_env.cache / "git" / "db").iterdir())
    xpm(project, "cache", "clean")
    assert not (git_env.cache / "git").exists()
    xpm(project, "install")  # the vendored folder is intact: nothing to fetch


def test_a_cache_clean_that_cannot_delete_says_so(lab, project, git_env, monkeypatch):
    """It printed `cleaned` with the mirrors still there (`chattr +i`; EPERM is injected here,
    as the tests run as root, whom permissions do not stop)."""
    import errno
    import os

    xpm(project, "add", f"{lab.zlm.url}@v1")
    unlink = os.unlink

    def refuse_config(path, *args, **kwargs):
        if os.fspath(path) == "config":
            raise PermissionError(errno.EPERM, "Operation not permitted", path)
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse_config)
    out = xpm(project, "cache", "clean", code=1)
    assert out.stderr.splitlines() == [
        f"error: cannot delete all of {git_env.cache / 'git'}: Operation not permitted (at 'config'); "
        "what is left is still used (a mirror that lost files is fetched again)",
        "  fix: make it deletable (its permissions, `chattr -i`, a read-only mount), then run `xpm cache clean` again",
    ]
    monkeypatch.undo()
    lab.zlm.commit("new", {"zlm/extra.py": "X = 1\n"})
    lab.zlm.tag("v1.9.0")
    xpm(project, "update")  # the mirror that lost files is fetched again


def test_where_the_cache_is_never_depends_on_a_relative_or_empty_variable(project, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XPM_CACHE_DIR", "rel/cache")  # read from the current folder, as uv and cargo do
    assert xpm(project, "cache", "dir").stdout.strip() == str(tmp_path / "rel" / "cache")
    monkeypatch.delenv("XPM_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "rel")  # the XDG rule: a relative one counts as unset
    assert xpm(project, "cache", "dir").stdout.strip() == str(tmp_path / "home" / ".cache" / "xpm")
    for home in ("", "rel"):  # was /.cache/xpm, or a .cache in the current folder
        monkeypatch.setenv("HOME", home)
        out = xpm(project, "cache", "dir", code=1).output
        assert f"error: no folder for xpm's cache: HOME is {home!r}, not an absolute path" in out
        assert "fix: set XPM_CACHE_DIR (or HOME) to an absolute folder" in out


def _transcript(out, project, **replace) -> str:
    text = out.stderr.replace(str(project), "<project>")
    for key, value in replace.items():
        text = text.replace(value, f"<{key}>")
    return text


def test_error_unknown_ref_transcript(lab, project, git_daemon):
    out = xpm(project, "add", "github.com/lab/zlm@v3", code=1)
    golden("error_unknown_ref.txt", _transcript(out, project))
    assert "Traceback" not in out.output
    assert list(project.iterdir()) == []  # a failed first add leaves the folder as it was
    out = xpm(project, "-v", "add", "github.com/lab/zlm@mian", code=1)
    assert "Traceback" in out.stderr and "main (branch)" in out.stderr


def test_error_not_a_model_keeps_everything(upstream, lab, project):
    bad = upstream("lab/broken")
    files = model_files("broken")
    files["configs/model/broken.yaml"] = "_target_: broken.model.Missing\n"  # a warning only: not listed
    files["configs/commands.yaml"] = "- not a mapping\n"
    del files["configs/model_type/broken.yaml"]
    bad.commit("c", files)
    xpm(project, "add", f"{lab.zlm.url}@v1")
    before = {n: (project / n).read_bytes() for n in (".xlm_models", "xlm.lock")}
    out = xpm(project, "add", bad.url, code=1)
    golden("error_not_a_model.txt", _transcript(out, project, url=bad.url, commit=bad.head()[:12], short=bad.head()[:7]))
    assert {n: (project / n).read_bytes() for n in before} == before
    assert not (project / "xlm_models" / "broken").exists()
    assert list((project / "xlm_models" / ".xpm" / "staging").iterdir()) == []


def test_error_unreachable(project, git_daemon, tmp_path):
    out = xpm(project, "add", "github.com/lab/nothere@v1", code=1)
    assert out.stderr.startswith("error: model 'nothere': cannot reach https://github.com/lab/nothere: ")
    assert "\n  fix: check the URL" in out.stderr
    out = xpm(project, "add", (tmp_path / "nope").as_uri(), code=1)
    assert out.stderr.startswith(f"error: model 'nope': cannot reach {(tmp_path / 'nope').as_uri()}")
    out = xpm(project, "add", "git://127.0.0.1:1/lab/zlm", code=1)
    assert "cannot reach git://127.0.0.1:1/lab/zlm" in out.stderr
    assert list((tmp_path / "cache" / "git" / "db").iterdir()) == []  # no empty mirror left for them


def test_a_mirror_is_kept_only_when_filled(lab, project, tmp_path):
    """A mirror a failed command made is removed; one that existed before stays."""
    mirrors = tmp_path / "cache" / "git" / "db"
    out = xpm(project, "add", f"{lab.zlm.url}@v9", code=1)
    assert "no tag matches the version query 'v9'" in out.stderr
    assert list(mirrors.iterdir()) == []
    xpm(project, "add", f"{lab.zlm.url}@v1")
    (mirror,) = mirrors.iterdir()
    out = xpm(project, "add", f"{lab.zlm.url}@v9", code=1)
    assert "no tag matches the version query 'v9'" in out.stderr
    assert list(mirrors.iterdir()) == [mirror] and (mirror / "HEAD").is_file()


def test_error_bad_lines(project):
    (project / ".xlm_models").write_text("# models\nzlm extra\n")
    out = xpm(project, "install", code=1)
    assert out.stderr == (
        f"error: {project}/.xlm_models:2: expected one model per line, found 'zlm extra'\n"
        "  fix: put each model on its own line; start comments with '#'\n"
    )
    (project / ".xlm_models").write_text("zlm\nzlm\n")
    assert "xlm_models:2: model 'zlm' is already listed at line 1" in xpm(project, "install", code=1).stderr
    (project / ".xlm_models").write_text("zlm\n")
    (project / "xlm.lock").write_text("version = 1\n\n[[model]]\nname = 'zlm'\nkind = 'git'\nsource = 'x'\n")
    out = xpm(project, "install", code=1)
    assert out.stderr.startswith(f"error: {project}/xlm.lock:3: git model 'zlm' lacks `commit` or `hash`")


def test_error_git_missing(lab, project, monkeypatch):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    monkeypatch.setenv("PATH", "")
    out = xpm(project, "install", code=1)
    assert out.stderr == "error: git was not found on PATH\n  fix: install git (2.25 or newer) and make sure `git --version` runs\n"


def test_no_project(tmp_path):
    out = xpm(tmp_path, "install", code=1)
    assert out.stderr.startswith(f"error: no .xlm_models in {tmp_path} or any folder above it")


def test_waiting_for_a_lock_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("XPM_LOCK_TIMEOUT", raising=False)  # the default, 900 s
    path = tmp_path / "lock"
    held = FileLock(str(path))
    held.acquire()
    said, got = [], []

    def other():
        with hold(path, "project X", said.append):
            got.append(True)

    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(0.3)
    assert said == ["waiting for the lock on project X, held by another xpm process (giving up after 900 s)"] and got == []
    held.release()
    thread.join(5)
    assert got == [True]


@pytest.mark.parametrize("command", [[], ["add"], ["remove"], ["install"], ["update"], ["lock"], ["list"], ["verify"], ["outdated"],
                                     ["cache"], ["cache", "dir"], ["cache", "clean"]])
def test_every_command_has_help_with_examples(command):
    from click.testing import CliRunner

    from xpm.cli import main

    out = CliRunner().invoke(main, [*command, "--help"])
    assert out.exit_code == 0 and ("Examples:" in out.output or "Example:" in out.output), out.output
