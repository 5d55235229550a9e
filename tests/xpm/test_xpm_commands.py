"""add, remove, install, update, lock against real repositories (file:// and a git daemon)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from click.testing import CliRunner

from xpm import ops, stamp
from xpm.cli import main as cli_main
from xpm.project import Project
from xpm.sync import Options
from xpm_cli import golden, xpm
from xpm_repos import git as git_cmd, model_files, read_tree
from test_xpm_git import RecordingGit

pytestmark = pytest.mark.slow  # each test builds repositories and runs git many times


def _copy_project(src, dst):
    dst.mkdir()
    for name in (".xlm_models", "xlm.lock"):
        shutil.copy(src / name, dst / name)
    return dst


def test_add_through_the_daemon_pins_the_newest_v1(lab, project, git_daemon):
    out = xpm(project, "add", "github.com/lab/zlm@v1")
    assert out.stdout == f"added zlm v1.1.0 ({lab.commits['1.1.0'][:7]})\n"
    assert (project / ".xlm_models").read_text().splitlines()[-1] == "github.com/lab/zlm@v1"
    golden("add_zlm_v1.lock", (project / "xlm.lock").read_text())
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")
    assert stamp.check_vendored(project, "zlm") == []
    assert (project / "xlm_models" / ".gitignore").read_text().endswith("\n*\n")  # vendored code stays out of git


@pytest.mark.parametrize("command", [["lock"], ["install"]])
def test_xlm_models_gets_its_gitignore_when_a_project_of_local_models_makes_it(project, command):
    """The project's lock (xlm_models/.xpm/lock) made the folder without one: `git add -A` took it."""
    for rel, text in model_files("mine").items():
        (project / "mine" / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / "mine" / rel).write_text(text)
    (project / ".xlm_models").write_text("mine\n")
    xpm(project, *command)
    assert (project / "xlm_models" / ".gitignore").read_text().endswith("\n*\n")


def test_verbose_shows_every_git_command_git_itself_traces(lab, project, tmp_path, monkeypatch):
    """`-v` showed the network commands only: not `git --version`, `git config`, or the
    cat-file processes of the export."""
    import re

    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    import xpm.git.command as command

    monkeypatch.setattr(command, "_versions", {})  # asked once per process: ask again here
    shown = CliRunner().invoke(cli_main, ["-C", str(project), "-v", "add", f"{lab.zlm.url}@v1"])
    assert shown.exit_code == 0, shown.output
    said = [line.removeprefix("+ git ").split(" ")[0].lstrip("-") for line in shown.stderr.splitlines()
            if line.startswith("+ git ")]
    helpers = {"index-pack", "pack-objects", "upload-pack", "rev-list", "unpack-objects", "fetch-pack"}  # git's own children
    traced = [c for c in re.findall(r"trace: built-in: git ([a-z-]+)", trace.read_text()) if c not in helpers]
    assert sorted(said) == sorted(traced) and {"version", "config", "ls-remote", "fetch", "cat-file"} <= set(said)


def test_add_keeps_comments_order_and_local_entries(lab, project):
    (project / "mine").mkdir()
    text = "# my models\nmine   # a local one\n\n# end\n"
    (project / ".xlm_models").write_text(text)
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    assert (project / ".xlm_models").read_text() == text + f"{lab.zlm.url}@v1.0.0\n"
    lock = Project(project).lock()
    assert lock.entries["mine"].kind == "local"
    assert lock.entries["zlm"].commit == lab.commits["1.0.0"]


def test_add_of_a_local_name_needs_a_folder_where_xlm_looks(project, tmp_path, monkeypatch):
    """A name xlm would never find is refused (it used to be listed, and skipped by every run)."""
    monkeypatch.delenv("XLM_MODELS_PATH", raising=False)
    out = xpm(project, "add", "mine", code=1)
    assert f"cannot add 'mine': no model folder 'mine' where xlm looks for one ({project}/mine, {project}/xlm_models/mine)" in out.stderr
    assert "`xpm new mine`" in out.stderr and not (project / ".xlm_models").exists()
    (tmp_path / "shelf" / "mine").mkdir(parents=True)
    monkeypatch.setenv("XLM_MODELS_PATH", str(tmp_path / "shelf"))
    assert xpm(project, "add", "mine").stdout == "added mine (local)\n"
    assert (project / ".xlm_models").read_text().endswith("\nmine\n")
    before = (project / ".xlm_models").read_text()
    # the same local model again: it was refused as "from another source than 'mine'"
    assert xpm(project, "add", "mine").stdout == "mine: unchanged (local)\n"
    assert (project / ".xlm_models").read_text() == before
    (project / "models" / "other").mkdir(parents=True)
    xpm(project, "add", "./models/other")
    assert xpm(project, "add", "./models/other").stdout == "other: unchanged ./models/other\n"
    for spelling in ("./models/other/", str(project / "models" / "other"), "./models/./other"):  # one folder
        assert xpm(project, "add", spelling).stdout == "other: unchanged ./models/other\n"
    out = xpm(project, "add", "other", code=1)  # another source under that name is still refused
    assert "from another source than 'other'" in out.stderr


def test_add_refuses_a_name_already_listed(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    out = xpm(project, "add", "github.com/other/zlm", code=1)
    assert "model 'zlm' is already listed at" in out.stderr and "from another source than 'github.com/other/zlm'" in out.stderr
    assert f"`xpm add {lab.zlm.url}@REF`" in out.stderr and "`xpm remove zlm` first" in out.stderr


def test_second_clone_is_byte_identical_and_warm_install_contacts_nobody(lab, project, git_daemon, git_env, tmp_path, monkeypatch):
    xpm(project, "add", "github.com/lab/zlm@v1")
    xpm(project, "add", "https://github.com/lab/models@v1.0.0#subdir=aaa")
    xpm(project, "add", "https://github.com/lab/models#subdir=bbb")
    assert len(list((git_env.cache / "git" / "db").iterdir())) == 2  # one mirror for the monorepo
    clone = _copy_project(project, tmp_path / "clone")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "other-cache"))  # another machine: cold cache
    assert xpm(clone, "install").stdout.count("installed ") == 3
    for name in ("zlm", "aaa", "bbb"):
        assert read_tree(clone / "xlm_models" / name) == read_tree(project / "xlm_models" / name)
    assert read_tree(clone / "xlm_models" / "bbb") == lab.models.tree("v1.0.0", "bbb")
    assert (clone / "xlm.lock").read_bytes() == (project / "xlm.lock").read_bytes()
    git = RecordingGit()
    ops.install(Project(clone), Options(git=git))
    assert git.calls == []  # warm and matching: no git at all, so no remote either
    shutil.rmtree(clone / "xlm_models" / "aaa")
    ops.install(Project(clone), Options(git=git))
    assert {c[0] for c in git.calls} <= {"cat-file", "ls-tree"}  # restored from the cache only
    assert read_tree(clone / "xlm_models" / "aaa") == read_tree(project / "xlm_models" / "aaa")


def test_install_keeps_locked_commits_and_update_moves_them(lab, project, tmp_path):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    lab.zlm.commit("1.3", model_files("zlm", "1.3.0"))
    lab.zlm.tag("v1.3.0")
    clone = _copy_project(project, tmp_path / "clone")
    xpm(clone, "install")
    assert Project(clone).lock().entries["zlm"].commit == lab.commits["1.1.0"]
    out = xpm(project, "update", "zlm")
    new = lab.zlm.head("v1.3.0")
    assert out.stdout == f"zlm: v1.1.0 ({lab.commits['1.1.0'][:7]}) -> v1.3.0 ({new[:7]})\n"
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.3.0")
    assert xpm(project, "update").stdout == f"zlm: unchanged v1.3.0 ({new[:7]})\n"


def test_moved_tag_is_reproducible_until_updated(lab, project, tmp_path, monkeypatch):
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    lab.zlm.tag("v1.0.0", lab.commits["1.0.1-wip"], force=True)
    clone = _copy_project(project, tmp_path / "clone")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cold"))
    xpm(clone, "install")  # the old commit is still in upstream's history: fetched by id
    assert read_tree(clone / "xlm_models" / "zlm") == lab.zlm.tree(lab.commits["1.0.0"])
    out = xpm(clone, "update", "zlm")
    assert out.stdout == f"zlm: v1.0.0 ({lab.commits['1.0.0'][:7]}) -> v1.0.0 ({lab.commits['1.0.1-wip'][:7]})\n"


def test_force_pushed_branch(lab, project, tmp_path, monkeypatch):
    lab.zlm.git("checkout", "-q", "dev")
    gone = lab.zlm.commit("only on dev", model_files("zlm", "3.0.0.dev0"))
    lab.zlm.git("checkout", "-q", "main")
    xpm(project, "add", f"{lab.zlm.url}@dev")
    assert Project(project).lock().entries["zlm"].commit == gone
    lab.zlm.branch("dev", "main", force=True)  # force-push: the locked commit leaves upstream
    lab.zlm.git("reflog", "expire", "--expire=now", "--all")
    lab.zlm.git("gc", "-q", "--prune=now")
    xpm(project, "install")  # the cache still has it: nothing to fetch
    clone = _copy_project(project, tmp_path / "clone")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cold"))
    out = xpm(clone, "install", code=1)
    assert f"model 'zlm': commit {gone[:12]} is no longer available" in out.stderr
    assert "run `xpm update zlm`" in out.stderr
    assert not (clone / "xlm_models" / "zlm").exists()
    assert xpm(clone, "update").stdout == f"zlm: dev ({gone[:7]}) -> dev ({lab.commits['main'][:7]})\n"


def test_short_commit_id_off_any_tip(lab, project):
    wip = lab.commits["1.0.1-wip"]
    xpm(project, "add", f"{lab.zlm.url}@{wip[:8]}")
    entry = Project(project).lock().entries["zlm"]
    assert (entry.commit, entry.resolved, entry.requested) == (wip, "", wip[:8])
    mirror = next((Path(os.environ["XPM_CACHE_DIR"]) / "git" / "db").iterdir())
    assert git_cmd(mirror, "rev-parse", f"refs/xpm/c/{wip}") == wip  # pinned: never pruned


def test_no_ref_means_newest_tag(lab, project):
    out = xpm(project, "add", lab.zlm.url)
    assert out.stdout == f"added zlm v2.0.0 ({lab.commits['2.0.0'][:7]})\n"


def test_remove(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    assert xpm(project, "remove", "zlm").stdout == "removed zlm\n"
    assert not (project / "xlm_models" / "zlm").exists()
    assert "zlm" not in (project / ".xlm_models").read_text()
    assert list(Project(project).lock().entries) == ["aaa"]
    out = xpm(project, "remove", "aab", code=1)
    assert "model 'aab' is not in .xlm_models" in out.stderr and "did you mean aaa?" in out.stderr


def test_install_syncs_edits_of_the_models_file(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    text = (project / ".xlm_models").read_text()
    text = text.replace(f"{lab.models.url}#subdir=aaa\n", f"{lab.models.url}#subdir=bbb\n")
    (project / ".xlm_models").write_text(text.replace("@v1\n", "@v2\n"))
    out = xpm(project, "install")
    assert "installed zlm v2.0.0" in out.stdout and "installed bbb" in out.stdout and "removed aaa" in out.stdout
    assert sorted(p.name for p in (project / "xlm_models").iterdir()) == [".gitignore", ".xpm", "bbb", "zlm"]
    assert sorted(Project(project).lock().entries) == ["bbb", "zlm"]


def test_install_replaces_modified_files_and_repairs_interrupted_runs(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    model = project / "xlm_models" / "zlm" / "zlm" / "model.py"
    model.write_text("edited")
    assert xpm(project, "install").stdout.startswith("installed zlm")
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")
    # a crash between "stamp deleted" and "stamp written", with staging left behind
    stamp.remove_stamp(project, "zlm")
    (project / "xlm_models" / ".xpm" / "staging" / "zlm-half").mkdir(parents=True)
    assert xpm(project, "install").stdout.startswith("installed zlm")
    assert stamp.check_vendored(project, "zlm") == []
    assert not (project / "xlm_models" / ".xpm" / "staging" / "zlm-half").exists()


def test_copied_project_is_restamped_without_export(lab, project, tmp_path):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, copy_function=shutil.copy)  # content, not mtimes
    before = stamp.stamp_path(copy, "zlm").read_bytes()
    git = RecordingGit()
    outcome = ops.install(Project(copy), Options(git=git))
    assert outcome.installed == [] and git.calls == []
    assert stamp.stamp_path(copy, "zlm").read_bytes() != before  # re-hashed once, its stat data refreshed
    recorded = stamp.load_stamp(copy, "zlm").files
    model = copy / "xlm_models" / "zlm" / "zlm" / "model.py"
    assert recorded["zlm/model.py"][2] == model.stat().st_mtime_ns
    assert stamp.check_vendored(copy, "zlm") == []


def test_frozen(lab, project):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    out = xpm(project, "install", "--frozen", code=1)
    assert "xlm.lock is missing" in out.stderr and not (project / "xlm.lock").exists()
    xpm(project, "lock")
    assert not (project / "xlm_models" / "zlm").exists()  # lock does not install
    xpm(project, "lock", "--check")
    with open(project / ".xlm_models", "a") as handle:
        handle.write(f"{lab.models.url}#subdir=aaa\n")
    before = (project / "xlm.lock").read_bytes()
    out = xpm(project, "install", "--frozen", code=1)
    assert f"+ aaa: '{lab.models.url}#subdir=aaa' is in .xlm_models" in out.stderr
    out = xpm(project, "lock", "--check", code=1)
    assert "+ aaa:" in out.stderr
    assert (project / "xlm.lock").read_bytes() == before
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v2\n")
    assert f"~ zlm: .xlm_models says '{lab.zlm.url}@v2', xlm.lock has '{lab.zlm.url}@v1'" in xpm(project, "install", "--frozen", code=1).stderr
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    assert xpm(project, "install", "--frozen").stdout.startswith("installed zlm v1.1.0")
    assert (project / "xlm.lock").read_bytes() == before


def test_offline(lab, project, tmp_path, monkeypatch):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    clone = _copy_project(project, tmp_path / "clone")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cold"))
    out = xpm(clone, "install", "--offline", code=1)
    assert f"model 'zlm': commit {lab.commits['1.1.0'][:12]} of {lab.zlm.url}" in out.stderr
    assert "without --offline" in out.stderr
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cache"))  # the cache `project` filled
    assert xpm(clone, "install", "--offline").stdout.startswith("installed zlm")
    # an entry never resolved: offline resolution uses the refs last seen
    with open(clone / ".xlm_models", "a") as handle:
        handle.write(f"{lab.models.url}#subdir=aaa\n")
    out = xpm(clone, "install", "--offline", code=1)
    assert f"the refs of {lab.models.url}" in out.stderr
    (clone / ".xlm_models").write_text((clone / ".xlm_models").read_text().replace("@v1", "@v1.0.0"))
    out = xpm(clone, "install", "--offline", code=1)  # v1.0.0 is known from the refs, its commit is not cached
    assert f"commit {lab.commits['1.0.0'][:12]}" in out.stderr


def test_many_remotes_in_parallel(upstream, project):
    lines = []
    for i in range(6):
        repo = upstream(f"lab/m{i}")
        repo.commit("c", model_files(f"m{i}"))
        repo.tag("v1.0.0")
        lines.append(f"{repo.url}@v1\n")
    (project / ".xlm_models").write_text("".join(lines))
    out = xpm(project, "-j", "4", "install")
    assert out.stdout.count("installed ") == 6
    assert all(stamp.check_vendored(project, f"m{i}") == [] for i in range(6))


def test_a_folder_xpm_did_not_install_is_never_replaced_or_removed(lab, project):
    own = project / "xlm_models" / "zlm"
    own.mkdir(parents=True)
    (own / "mine.py").write_text("my work")
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    assert "exists and was not installed by xpm" in out.stderr
    assert (own / "mine.py").read_text() == "my work"
    (project / ".xlm_models").write_text("zlm\n")  # a local model found in xlm_models/
    xpm(project, "remove", "zlm")
    assert (own / "mine.py").read_text() == "my work"


def test_a_folder_without_a_stamp_is_kept_even_when_the_lock_lists_its_name(lab, project):
    """A clone of a project with xlm.lock, where the user keeps a folder of that name: `xpm
    install` deleted it (the lock's name was taken as proof that xpm made it). Unstamped files
    that are the lock's own are replaced: nothing is lost."""
    xpm(project, "add", f"{lab.zlm.url}@v1")
    stamps = project / "xlm_models" / ".xpm" / "stamps"
    (stamps / "zlm.json").unlink()  # the locked files, unstamped: reinstalled
    assert xpm(project, "install").stdout.startswith("installed zlm v1.")
    (stamps / "zlm.json").unlink()
    shutil.rmtree(project / "xlm_models" / "zlm")
    own = project / "xlm_models" / "zlm"
    own.mkdir()
    (own / "notes.txt").write_text("my own precious work")
    out = xpm(project, "install", code=1)
    assert out.stderr.startswith(f"error: {own} exists and was not installed by xpm; installing")
    assert (own / "notes.txt").read_text() == "my own precious work"


def test_offline_names_every_model_that_lacks_a_commit(lab, project, tmp_path, monkeypatch):
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    xpm(project, "add", f"{lab.models.url}#subdir=bbb")
    clone = _copy_project(project, tmp_path / "clone")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cold"))
    out = xpm(clone, "install", "--offline", code=1)
    commit = Project(project).lock().entries["aaa"].commit
    assert f"model 'aaa': commit {commit[:12]}" in out.stderr and f"model 'bbb': commit {commit[:12]}" in out.stderr


def test_update_of_a_local_model_says_it_is_not_pinned(project):
    (project / "mine").mkdir()
    (project / ".xlm_models").write_text("./mine\n")
    assert xpm(project, "update", "mine").stdout == "mine: local (./mine), not pinned: nothing to update\n"
    assert xpm(project, "update").stdout == "no git models in .xlm_models: nothing to update\n"


def test_update_with_nothing_new_keeps_the_folders(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    git = RecordingGit()
    outcome = ops.update(Project(project), Options(git=git), [])
    assert outcome.installed == [] and outcome.lock == outcome.previous
    assert {c[0] for c in git.calls} == {"ls-remote"}  # resolved, nothing fetched or exported
    lab.zlm.tag("v1.1.1", lab.commits["1.1.0"])  # a new tag on the same commit: relocked, not exported
    outcome = ops.update(Project(project), Options(git=git), ["zlm"])
    assert outcome.installed == [] and outcome.lock.entries["zlm"].resolved == "refs/tags/v1.1.1"
    assert "ls-tree" not in {c[0] for c in git.calls}
    assert stamp.check_vendored(project, "zlm") == []
    lab.zlm.tag("v1.1.2", lab.commits["1.1.0"])  # what the command says: it said `unchanged v1.1.2` for a move
    short = lab.commits["1.1.0"][:7]
    assert xpm(project, "update", "zlm").stdout == f"zlm: v1.1.1 ({short}) -> v1.1.2 ({short})\n"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o755), (0o077, 0o700), (0o000, 0o755)])
def test_installed_folders_follow_the_umask(lab, project, umask, mode):
    """Under umask 000 the model's own folder was 0777 (world-writable), its folders 0755."""
    old = os.umask(umask)
    try:
        xpm(project, "add", f"{lab.zlm.url}@v1")
    finally:
        os.umask(old)
    root = project / "xlm_models" / "zlm"
    assert {p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")] if p.is_dir()} == {mode}


def test_update_remove_and_develop_take_a_model_in_pips_spelling_too(upstream, project):
    """`xpm add github.com/lab/awesome-lm` names the model `awesome_lm`, as pip names the project:
    `xpm update awesome-lm` was refused with "did you mean awesome_lm?"."""
    repo = upstream("lab/awesome-lm")
    repo.commit("model", model_files("awesome_lm"))
    repo.tag("v1")
    xpm(project, "add", f"{repo.url}@v1")
    assert xpm(project, "update", "awesome-lm").stdout.startswith("awesome_lm: pinned to v1 (")  # it said nothing
    out = xpm(project, "develop", "--off", "Awesome-LM", code=1)
    assert out.stderr.startswith("error: model 'Awesome-LM' is not overridden")
    out = xpm(project, "update", "awesome-l", code=1)
    assert out.stderr == "error: model 'awesome-l' is not in .xlm_models\n  fix: did you mean awesome_lm? models listed: awesome_lm\n"
    assert xpm(project, "remove", "Awesome.LM").stdout == "removed awesome_lm\n"
    assert "awesome" not in (project / ".xlm_models").read_text()
    assert not (project / "xlm_models" / "awesome_lm").exists()


def test_closed_stderr_and_a_reader_that_leaves_never_undo_or_fail_the_work(lab, project):
    """With stderr closed (`2>&-`: cron, a daemon) a progress line failed `xpm add`, which then
    said nothing and exited 1; a reader that leaves (`| true`) made a committed add exit 1."""
    run = f"{sys.executable} -m xpm.cli -C {project}"
    out = subprocess.run(["bash", "-c", f"{run} add {lab.zlm.url}@v1 2>&-"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "zlm" in (project / ".xlm_models").read_text()
    out = subprocess.run(["bash", "-c", f"{run} list | true; echo rc=${{PIPESTATUS[0]}}"], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() in ("rc=141", "rc=0")  # 0 when `true` ended only after the list was written
    big = subprocess.run(["bash", "-c", f"(sleep 0.3; {run} list; echo rc=$? >&2) | head -c 0"], capture_output=True, text=True, timeout=120)
    assert big.stderr.strip().endswith("rc=141"), big.stderr
