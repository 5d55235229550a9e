"""`xpm install --from-run`: a run's models put back, byte for byte, in a fresh project.

In subprocesses, as a user runs them: real repositories, real (tiny) training runs, `xlm eval`
of the checkpoint in the restored project. Two runs: a vendored model (restored from the run
folder, from the checkpoint next to it, and from a checkpoint alone, never importing torch), and a dirty local model
at a commit that is first unpublished, then pushed (restored from its work tree, refused once
that is gone, restored from its remote once pushed).
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from provenance_helpers import TINY, commit, copy_example, env_for, git, new_repo, run, runs_of, xlm, xpm
from xlm.records.treehash import hash_dir

pytestmark = pytest.mark.slow


def read_tree(root: Path) -> dict[str, bytes]:
    """{path: bytes} of the files under `root` (`__pycache__` left out, as the content hash does)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def git_tree(repo: Path, ref: str) -> dict[str, bytes]:
    import subprocess

    names = [n for n in git(repo, "ls-tree", "-r", "-z", "--name-only", ref).split("\0") if n]
    return {n: subprocess.run(["git", "cat-file", "blob", f"{ref}:{n}"], cwd=repo, capture_output=True, check=True).stdout
            for n in names}


def snapshot(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def vendored_run(tmp_path_factory):
    """A project with zlm v1.0.0 vendored from a served repository, trained once; then moved to v1.1.0."""
    tmp = tmp_path_factory.mktemp("vendored")
    env = env_for(tmp / "home")
    upstream = copy_example(new_repo(tmp / "served" / "lab" / "zlm"))
    v1 = commit(upstream, "zlm 1.0.0")
    git(upstream, "tag", "v1.0.0")
    model_py = upstream / "zlm" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# v1.1.0\n")
    commit(upstream, "zlm 1.1.0", tick=2)
    git(upstream, "tag", "v1.1.0")
    project = tmp / "project"
    project.mkdir()
    xpm(project, env, "add", f"{upstream.as_uri()}@v1.0.0")
    mine = project / "mine"  # a local model the run does not use, deleted after the run
    (mine / "mine").mkdir(parents=True)
    (mine / "mine" / "__init__.py").write_text("")
    for group in ("model", "model_type"):
        (mine / "configs" / group).mkdir(parents=True)
        (mine / "configs" / group / "mine.yaml").write_text("name: mine\n")
    (project / ".xlm_models").write_text((project / ".xlm_models").read_text() + "mine\n")
    xlm(project, env, "train", "experiment=star_easy_zlm", *TINY)
    (trained,) = runs_of(project, "train")
    shutil.rmtree(mine)
    xpm(project, env, "add", f"{upstream.as_uri()}@v1.1.0")
    return env, upstream, v1, trained, tmp


def test_a_fresh_project_gets_the_runs_vendored_model_back_byte_for_byte_and_eval_runs(vendored_run):
    env, upstream, v1, trained, tmp = vendored_run
    fresh = tmp / "fresh"
    fresh.mkdir()
    env = {**env, "XPM_CACHE_DIR": str(tmp / "another-cache")}  # another machine: fetched anew
    out = xpm(fresh, env, "install", "--from-run", str(trained))
    assert out.stdout.splitlines() == [f"restored the models of {trained}:",
                                       f"  zlm: restored v1.0.0 ({v1[:7]}), content hash verified"]
    assert "warning: model 'mine' (path, not used by the run) was not restored: it was a folder outside git" in out.stderr
    assert read_tree(fresh / "xlm_models" / "zlm") == git_tree(upstream, "v1.0.0")
    assert (fresh / ".xlm_models").read_text().splitlines()[-1] == f"{upstream.as_uri()}@v1.0.0"
    locked = tomllib.loads((fresh / "xlm.lock").read_text())["model"]
    assert [(m["name"], m["commit"], m["requested"]) for m in locked] == [("zlm", v1, "v1.0.0")]
    recorded = tomllib.loads((trained / "models.lock").read_text())
    assert locked[0]["hash"] == next(m["hash"] for m in recorded["model"] if m["name"] == "zlm")
    xpm(fresh, env, "verify")
    xlm(fresh, env, "eval", f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", "eval.split=val")
    assert (runs_of(fresh, "eval")[-1] / "eval.json").is_file()

    again = xpm(fresh, env, "install", "--from-run", str(trained)).stdout  # nothing to do: said, nothing written
    assert f"zlm: v1.0.0 ({v1[:7]}) already installed (content hash verified)" in again


def test_offline_says_which_commit_the_cache_lacks(vendored_run):
    env, upstream, v1, trained, tmp = vendored_run
    fresh = tmp / "fresh-offline"
    fresh.mkdir()
    env = {**env, "XPM_CACHE_DIR": str(tmp / "empty-cache")}
    refused = xpm(fresh, env, "install", "--offline", "--from-run", str(trained), code=1).stderr
    assert f"model 'zlm' (vendored): the cache has no commit {v1[:12]} of {upstream.as_uri()} (--offline)" in refused
    assert snapshot(fresh) == {}


def edited_run(trained: Path, tmp_path: Path, lock_text: str) -> tuple[Path, Path]:
    """A copy of the run folder `trained` (no checkpoints) whose models.lock reads `lock_text`,
    and an empty folder to restore it into."""
    copy, fresh = tmp_path / "run", tmp_path / "fresh"
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns("*.ckpt"))
    (copy / "models.lock").write_text(lock_text)
    fresh.mkdir()
    return copy, fresh


def test_a_used_folder_that_is_gone_is_named_and_nothing_is_written(vendored_run, tmp_path):
    env, upstream, v1, trained, tmp = vendored_run
    text = (trained / "models.lock").read_text()
    assert 'name = "mine"\nkind = "path"\n' in text and "used = true" in text
    copy, fresh = edited_run(trained, tmp_path, text.replace('name = "mine"\nkind = "path"\n',
                                                              'name = "mine"\nkind = "path"\nused = true\n'))  # as if it had used it
    refused = xpm(fresh, env, "install", "--from-run", str(copy), code=1).stderr
    assert (f"error: cannot restore 1 model(s) that {copy} used; nothing was changed:\n    - model 'mine' (path): it was a "
            f"folder outside git ({trained.parents[3] / 'mine'}), which no longer exists: nothing to restore it from\n") in refused
    assert snapshot(fresh) == {}


@pytest.mark.parametrize("shape", ["a fifo", "more files than the limit"])
def test_a_recorded_folder_is_copied_as_a_tree_is_exported(tmp_path, shape):
    """The record names the folder: a fifo (or a device) in it blocked the copy or filled the
    disk (2.3 GB in 3 s from a copy of /dev/zero); the model limits apply to it too."""
    from xlm.records.runs import ModelRecord, RunInfo, RunRecord, write_folder

    env = env_for(tmp_path / "home")
    source, fresh = tmp_path / "src", tmp_path / "fresh"
    (source / "mine").mkdir(parents=True)
    fresh.mkdir()
    (source / "mine" / "__init__.py").write_text("")
    if shape == "a fifo":
        os.mkfifo(source / "mine" / "pipe")
        what, fix = f"{source / 'mine' / 'pipe'} is not a regular file (a fifo, a device or a socket), which no model holds", f"remove it from {source}"
    else:
        (source / "mine" / "more.py").write_text("")
        env["XPM_MAX_MODEL_FILES"] = "1"
        what, fix = f"{source} holds more than 1 files", "a model is code and configs: move the data out, or raise XPM_MAX_MODEL_FILES"
    model = ModelRecord(name="mine", kind="path", source="mine", path=str(source), hash="sha256-tree:" + "0" * 64, package="mine", used=True)
    write_folder(tmp_path / "run", RunRecord(RunInfo(job="train", xlm="0.1.0"), {"mine": model}))
    refused = xpm(fresh, env, "install", "--from-run", str(tmp_path / "run"), code=1).stderr
    assert f"    - model 'mine' (path): {what}\n  fix: {fix}, then run the command again\n" in refused
    assert snapshot(fresh) == {}


def test_a_run_of_core_models_only_restores_nothing_and_creates_nothing(vendored_run, tmp_path):
    env, upstream, v1, trained, tmp = vendored_run
    head, *models = (trained / "models.lock").read_text().split("\n[[model]]\n")
    core = [m for m in models if 'kind = "core"' in m]
    assert core and len(core) < len(models)
    copy, fresh = edited_run(trained, tmp_path, "\n[[model]]\n".join([head, *core]))
    assert xpm(fresh, env, "install", "--from-run", str(copy)).stdout == f"{copy} used no model xpm restores\n"
    assert list(fresh.iterdir()) == []  # no .xlm_models, xlm.lock or xlm_models/ made for nothing


def test_a_failure_while_writing_leaves_the_project_as_it_was(vendored_run, tmp_path, monkeypatch):
    """A full disk when .xlm_models is written, after zlm was placed: every step is undone."""
    import errno

    from click.testing import CliRunner

    from xpm import transaction
    from xpm.cli import main

    env, upstream, v1, trained, tmp = vendored_run
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".xlm_models").write_text("# mine\n")
    real = transaction.write_temp

    def full_disk(path, text, *args):
        if Path(path).name == ".xlm_models":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text, *args)

    monkeypatch.setattr(transaction, "write_temp", full_disk)
    result = CliRunner().invoke(main, ["-C", str(fresh), "-q", "install", "--from-run", str(trained)])
    assert result.exit_code == 1 and f"error: {fresh / '.xlm_models'}: no space left on the device" in result.output
    assert snapshot(fresh) == {".xlm_models": b"# mine\n"}  # no lock, no xlm_models/ (this command made it: removed)
    assert not (fresh / "xlm_models").exists()


def test_a_project_on_other_code_is_moved_back_to_the_runs(vendored_run):
    env, upstream, v1, trained, tmp = vendored_run
    project = trained.parents[3]
    assert "v1.1.0" in (project / ".xlm_models").read_text()
    ckpt = trained / "checkpoints" / "last.ckpt"
    xlm(project, env, "eval", f"ckpt_path={ckpt}", code=2)  # the drift check: v1.1.0 is not the code that trained
    out = xpm(project, env, "install", "--from-run", str(ckpt))  # the run folder around the checkpoint is read
    assert f"zlm: restored v1.0.0 ({v1[:7]})" in out.stdout
    assert "@v1.0.0" in (project / ".xlm_models").read_text() and "\nmine\n" in (project / ".xlm_models").read_text()
    xlm(project, env, "eval", f"ckpt_path={ckpt}")


def test_a_checkpoint_alone_is_read_and_xpm_never_imports_torch(vendored_run):
    env, upstream, v1, trained, tmp = vendored_run
    alone = tmp / "alone"
    alone.mkdir()
    shutil.copy(trained / "checkpoints" / "last.ckpt", alone / "model.ckpt")
    no_torch = "import sys; sys.modules['torch'] = None; from xpm.cli import main; main()"  # importing torch would fail
    for name, target in (("fresh-from-checkpoint", alone / "model.ckpt"), ("fresh-from-run-folder", trained)):
        fresh = tmp / name
        fresh.mkdir()
        out = run(fresh, env, sys.executable, "-c", no_torch, "-q", "install", "--from-run", str(target)).stdout
        assert f"zlm: restored v1.0.0 ({v1[:7]})" in out
        assert read_tree(fresh / "xlm_models" / "zlm") == git_tree(upstream, "v1.0.0")


def test_what_is_not_a_run_is_refused_with_a_fix(vendored_run, tmp_path):
    env, *_ = vendored_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    for target, message in ((tmp_path / "empty", "has no models.lock"), (tmp_path / "nowhere", "no such run folder or checkpoint"),
                            (tmp_path / "junk.ckpt", "cannot be read as a checkpoint")):
        refused = xpm(tmp_path, env, "install", "--from-run", str(target), code=1)
        assert message in refused.stderr and "\n  fix: " in refused.stderr and "Traceback" not in refused.stderr
    assert "use one of them" in xpm(tmp_path, env, "install", "--frozen", "--from-run", str(tmp_path), code=2).stderr
    assert not (tmp_path / ".xlm_models").exists() and not (tmp_path / "xlm_models").exists()


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory):
    """A project (a git work tree with a remote) whose model ./src/zlm is at a commit not pushed yet,
    with uncommitted edits (a changed file, a deleted one, an untracked binary, an execute bit)."""
    tmp = tmp_path_factory.mktemp("dirty")
    env = env_for(tmp / "home")
    remote = tmp / "served" / "me" / "proj.git"
    git(tmp, "init", "-q", "--bare", str(remote))
    project = new_repo(tmp / "project")
    copy_example(project / "src" / "zlm")
    (project / ".gitignore").write_text("outputs/\n")
    (project / ".xlm_models").write_text("./src/zlm\n")
    commit(project, "project with its model")
    git(project, "remote", "add", "origin", remote.as_uri())
    git(project, "push", "-q", "origin", "main")
    model_py = project / "src" / "zlm" / "zlm" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# committed, not pushed\n")
    head = commit(project, "local work", tick=2)
    model_py.write_text(model_py.read_text() + "# an experiment, not committed\n")
    (project / "src" / "zlm" / "README.md").unlink()
    (project / "src" / "zlm" / "zlm" / "notes.bin").write_bytes(bytes(range(256)) * 4)
    (project / "src" / "zlm" / "zlm" / "types.py").chmod(0o755)
    xlm(project, env, "train", "experiment=star_easy_zlm", *TINY)
    (trained,) = runs_of(project, "train")
    return env, project, head, remote, trained, tmp


def test_a_dirty_local_model_is_restored_from_its_commit_and_patch_to_the_same_hash(dirty_run):
    env, project, head, remote, trained, tmp = dirty_run
    recorded = next(m for m in tomllib.loads((trained / "models.lock").read_text())["model"] if m["name"] == "zlm")
    assert (recorded["kind"], recorded["commit"], recorded["dirty"]) == ("path", head, True)
    fresh = new_repo(tmp / "fresh")  # a git work tree: git apply must still work inside the staging folder only
    out = xpm(fresh, env, "install", "--from-run", str(trained)).stdout
    dest = fresh / "xlm_restored" / "zlm"
    assert f"  zlm: restored into {dest} (commit {head[:12]} + models/zlm.patch applied), content hash verified" in out
    assert hash_dir(dest) == recorded["hash"] == hash_dir(project / "src" / "zlm")
    assert read_tree(dest) == read_tree(project / "src" / "zlm")
    assert (dest / "zlm" / "types.py").stat().st_mode & 0o111 and (dest / "zlm" / "notes.bin").is_file()
    assert not (dest / "README.md").exists()  # deleted in the work tree, so not restored either
    assert (fresh / ".xlm_models").read_text().splitlines()[-1] == "./xlm_restored/zlm"
    assert not list((fresh / "xlm_models" / ".xpm" / "staging").iterdir())
    xlm(fresh, env, "eval", f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}")
    assert "already holds the run's files" in xpm(fresh, env, "install", "--from-run", str(trained)).stdout


def test_a_folder_in_the_way_is_never_replaced(dirty_run, tmp_path):
    env, project, head, remote, trained, tmp = dirty_run
    mine = tmp_path / "xlm_restored" / "zlm" / "mine.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own work\n")
    refused = xpm(tmp_path, env, "install", "--from-run", str(trained), code=1).stderr
    assert f"model 'zlm' (path): {mine.parent} exists and holds other files than the run used (an earlier --from-run's, or edited)" in refused
    assert refused.endswith("  fix: move the folder in the way elsewhere, then run the command again\n")
    assert snapshot(tmp_path) == {"xlm_restored/zlm/mine.py": b"my own work\n"}


def test_a_tampered_patch_is_named_with_the_files_that_differ(dirty_run, tmp_path):
    env, project, head, remote, trained, tmp = dirty_run
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    patch = copy / "models" / "zlm.patch"
    patch.write_bytes(patch.read_bytes().replace(b"+# an experiment, not committed", b"+# an experiment, not commitTED"))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    refused = xpm(fresh, env, "install", "--from-run", str(copy), code=1).stderr
    assert f"error: cannot restore 1 model(s) that {copy} used; nothing was changed:" in refused
    assert "not to the recorded sha256-tree:" in refused and "files that differ: zlm/model.py" in refused
    assert "  fix: what the run recorded cannot be rebuilt byte for byte: get that code by hand" in refused  # not "bring it back"
    assert snapshot(fresh) == {}
    patch.write_bytes(b"No patch at all\n")  # damaged or hostile: nothing to push or put back
    refused = xpm(fresh, env, "install", "--from-run", str(copy), code=1).stderr
    assert "models/zlm.patch does not apply to commit" in refused
    assert "  fix: what the run recorded cannot be rebuilt byte for byte: get that code by hand" in refused
    patch.unlink()
    refused = xpm(fresh, env, "install", "--from-run", str(copy), code=1).stderr
    assert "model 'zlm' names models/zlm.patch, which is missing" in refused and snapshot(fresh) == {}


def test_an_unpublished_commit_without_its_work_tree_is_named_then_restored_once_pushed(dirty_run):
    env, project, head, remote, trained, tmp = dirty_run
    moved = tmp / "moved"
    project.rename(moved)  # the work tree the run saw is gone (the run folder moved with it)
    try:
        run_folder = moved / trained.relative_to(project)
        fresh = tmp / "fresh-unpublished"
        fresh.mkdir()
        (fresh / ".xlm_models").write_text("# mine\n")
        before = snapshot(fresh)
        refused = xpm(fresh, env, "install", "--from-run", str(run_folder), code=1).stderr
        assert (f"model 'zlm' (path): its work tree {project} no longer exists; commit {head} is not in "
                f"{remote.as_uri()} (never pushed, or history rewritten?)\n") in refused
        assert refused.endswith("  fix: bring back what is missing (push the commit, put the folder back), then run the command again\n")
        assert snapshot(fresh) == before
        git(moved, "push", "-q", "origin", "main")
        out = xpm(fresh, env, "install", "--from-run", str(run_folder)).stdout
        assert "content hash verified" in out
        assert read_tree(fresh / "xlm_restored" / "zlm") == read_tree(moved / "src" / "zlm")
        assert (fresh / ".xlm_models").read_text() == "# mine\n./xlm_restored/zlm\n"
    finally:
        moved.rename(project)


@pytest.mark.parametrize("target, refused", [("/etc/passwd", "an absolute path"), ("../../outside", "leaves"),
                                             ("mine/model.py", None)])
def test_a_rebuilt_folder_keeps_the_link_rules_of_a_fetched_tree(tmp_path, target, refused):
    """A run's patch (or a copied folder) restored a link to /etc/passwd, which `xpm add` refuses."""
    from xpm.rebuild import Unrestorable, check_rebuilt_links

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model.py").write_text("")
    os.symlink(target, tmp_path / "data_link")
    if refused is None:
        check_rebuilt_links(tmp_path, ["data_link"], "mine")
        return
    with pytest.raises(Unrestorable) as info:
        check_rebuilt_links(tmp_path, ["data_link"], "mine")
    assert str(info.value).startswith("the run's files hold what xpm never installs: has symlink 'data_link' -> ")
    assert refused in str(info.value)


def test_a_model_whose_checkout_converts_line_endings_is_restored_to_the_recorded_bytes(tmp_path):
    """`.gitattributes` `eol=crlf`: the run hashed the work tree (CRLF), the export wrote git's
    blobs (LF), and a clean, committed model could never be restored. A file is converted only
    when the result has the recorded sha256 (a dirty edit, saved as a patch, included)."""
    env = env_for(tmp_path / "home")
    project = new_repo(tmp_path / "project")
    copy_example(project / "src" / "zlm")
    (project / "src" / "zlm" / ".gitattributes").write_text("*.yaml eol=crlf\n")
    (project / ".gitignore").write_text("outputs/\n")
    (project / ".xlm_models").write_text("./src/zlm\n")
    head = commit(project, "a model checked out with CRLF configs")
    configs = sorted((project / "src" / "zlm" / "configs").rglob("*.yaml"))
    for path in configs:  # checked out again, as a clone would be: CRLF
        path.unlink()
    git(project, "checkout", "--", ".")
    assert all(b"\r\n" in p.read_bytes() for p in configs) and git(project, "status", "--porcelain") == ""
    edited = project / "src" / "zlm" / "configs" / "model" / "zlm.yaml"
    edited.write_bytes(edited.read_bytes() + b"# tried, not committed\r\n")
    xlm(project, env, "train", "experiment=star_easy_zlm", *TINY)
    (trained,) = runs_of(project, "train")
    recorded = next(m for m in tomllib.loads((trained / "models.lock").read_text())["model"] if m["name"] == "zlm")
    assert (recorded["commit"], recorded["dirty"]) == (head, True)

    fresh = new_repo(tmp_path / "fresh")
    out = xpm(fresh, env, "install", "--from-run", str(trained)).stdout
    dest = fresh / "xlm_restored" / "zlm"
    assert f"(commit {head[:12]} + models/zlm.patch applied + line endings as checked out (configs/" in out
    assert read_tree(dest) == read_tree(project / "src" / "zlm") and hash_dir(dest) == recorded["hash"]


def test_a_restored_line_keeps_the_users_spelling_of_the_source():
    """`--from-run` rewrote `github.com/lab/zlm@v2` as `https://github.com/lab/zlm@v1`: noise in the diff."""
    from xlm.manifest import parse_line
    from xpm.restore import _as_listed

    listed = parse_line("github.com/lab/zlm.git@v2")
    assert _as_listed(listed, "https://github.com/lab/zlm@v1.0.0") == "github.com/lab/zlm.git@v1.0.0"
    mono = parse_line("github.com/lab/mono@v2#subdir=models/zlm")
    assert _as_listed(mono, "https://github.com/lab/mono@v1#subdir=models/zlm") == "github.com/lab/mono@v1#subdir=models/zlm"
    assert _as_listed(listed, "https://github.com/other/zlm@v1") == "https://github.com/other/zlm@v1"  # another repository
    assert _as_listed(parse_line("zlm"), "https://github.com/lab/zlm@v1") == "https://github.com/lab/zlm@v1"  # was local
