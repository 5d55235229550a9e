"""A model's record from real folders and real git work trees: HEAD, dirty, the patch that gives
the used files back (same hash), what git ignores, repositories without commits, remotes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provenance_helpers import commit, env_for, git, new_repo, xpm
from xlm.provenance.collect import collect
from xlm.records.treehash import hash_dir, parse_tree_text, text_hash


def model_files(root: Path, name: str) -> Path:
    """A minimal model xlm's validation accepts (package, model + model_type configs)."""
    cls = name.title() + "Model"
    for rel, text in {f"{name}/__init__.py": "", f"{name}/model.py": f"class {cls}:\n    pass\n",
                      f"configs/model/{name}.yaml": f"_target_: {name}.model.{cls}\n",
                      f"configs/model_type/{name}.yaml": f"name: {name}\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    env = env_for(tmp_path / "home")
    for key in [k for k in os.environ if k.startswith(("GIT_", "XLM_", "XPM_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def record_of(project: Path, name: str, used=()):
    from xlm.external_models import find_external_models

    found = find_external_models(project)
    assert not [p for p in found.problems if p.model == name], found.problems
    return collect([m for m in found.models if m.name == name], set(used), project)[name]


def restored_hash(repo: Path, commit_id: str | None, patch: bytes, subdir: str, tmp: Path) -> str:
    """Check out `commit_id` of `repo` elsewhere (or start empty), `git apply` the patch, hash the model folder."""
    clone = tmp / "restored"
    if commit_id is None:
        new_repo(clone)
    else:
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        git(clone, "checkout", "-q", commit_id)
    (tmp / "p.patch").write_bytes(patch)
    git(clone, "apply", "--whitespace=nowarn", str(tmp / "p.patch"))
    shutil.rmtree(clone / ".git")  # git's own folder is no file of the model (a model at the top of its repository)
    return hash_dir(clone / subdir)


def test_a_plain_folder_is_hashed_whole(isolated):
    project = isolated / "project"
    model_files(project / "mine", "mine")
    (project / ".xlm_models").write_text("./mine\n")
    done = record_of(project, "mine", used={"mine"})
    assert (done.record.kind, done.record.source, done.record.used) == ("path", "./mine", True)
    assert done.record.hash == hash_dir(project / "mine") == text_hash(done.files)
    assert done.record.commit is None and done.record.repository is None and done.patch is None


def test_what_jobs_wrote_into_a_plain_model_folder_is_no_part_of_its_code(isolated):
    """`cd my_model && xlm train` (as the seed documents) writes outputs/ into the model's folder:
    its runs counted as changed code, and no checkpoint of it could be evaluated."""
    project = isolated / "project"
    model = model_files(project / "mine", "mine")
    (project / ".xlm_models").write_text("./mine\n")
    before = record_of(project, "mine").record.hash
    run = model / "outputs" / "train" / "mine_debug" / "2026-12-05_00-31-44"
    for rel in (".hydra/config.yaml", "checkpoints/last.ckpt", "train.log"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("written by a job\n")
    sweep = model / "multirun" / "2026-12-05" / "00-40-00"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    done = record_of(project, "mine")
    assert done.record.hash == before and "outputs/" not in done.files and "multirun" not in done.files
    (model / "outputs" / "notes.txt").write_text("not a job's\n")  # beside the runs: the model's, as before
    assert "outputs/notes.txt" in record_of(project, "mine").files


def test_a_recorded_folder_is_copied_without_what_jobs_wrote_into_it(tmp_path):
    """`cd mine && xlm train` puts outputs/ into the folder; the run's record leaves it out, and the
    copy hashed it in: the restore said the files differ (outputs/.../last.ckpt, ...)."""
    from xlm.records.runs import ModelRecord, RunInfo, RunRecord, write_folder
    from xlm.records.treehash import job_output, records, tree_hash

    env = env_for(tmp_path / "home")
    source, fresh = tmp_path / "src" / "mine", tmp_path / "fresh"
    fresh.mkdir()
    files = {"mine/__init__.py": "", "mine/model.py": "class MineModel:\n    pass\n",
             "configs/model/mine.yaml": "# @package _global_\nmodel:\n  _target_: mine.model.MineModel\n",
             "configs/model_type/mine.yaml": "# @package _global_\nloss: null\n",
             "outputs/train/mine_debug/t/.hydra/config.yaml": "job: 1\n", "outputs/train/mine_debug/t/checkpoints/last.ckpt": "x",
             "multirun/d/t/multirun.yaml": "sweep\n"}
    for rel, text in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(text)
    recorded = tree_hash(records(source, job_output))
    model = ModelRecord(name="mine", kind="path", source=str(source), path=str(source), hash=recorded, package="mine", used=True)
    write_folder(tmp_path / "run", RunRecord(RunInfo(job="train", xlm="0.1.0"), {"mine": model}))
    out = xpm(fresh, env, "install", "--from-run", str(tmp_path / "run")).stdout
    assert "content hash verified" in out and hash_dir(fresh / "xlm_restored" / "mine") == recorded
    restored = fresh / "xlm_restored" / "mine"
    assert sorted(p.relative_to(restored).as_posix() for p in restored.rglob("*") if p.is_file()) == sorted(files)[:4]


@pytest.mark.parametrize("where", ["mine/pipe", "configs/deep/pipe"])
def test_a_fifo_in_a_plain_folder_is_named_never_opened(isolated, where):
    project = isolated / "project"
    model_files(project / "mine", "mine")
    (project / "mine" / where).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(project / "mine" / where)  # opening it would wait for a writer forever
    (project / ".xlm_models").write_text("./mine\n")
    done = record_of(project, "mine", used={"mine"})
    assert done.record.hash is None
    assert "the folder cannot be hashed" in done.record.note and "a fifo, socket or device" in done.record.note
    assert done.record.note.startswith(f"the folder cannot be hashed: {project / 'mine' / where}: not a file")
    assert "Errno" not in done.record.note  # the note is for people


@pytest.mark.parametrize("name, why", [(b"new\nline.txt", "holds a line break"), (b"caf\xe9.txt", "is not valid UTF-8")])
def test_a_file_name_a_file_list_cannot_hold_is_a_note(isolated, name, why):
    """A newline split its line of `models/NAME.files`, and xlm refused its own record as damaged
    (every eval, resume and restore of the run then failed); a name that is not UTF-8 lost the
    whole record with a raw UnicodeEncodeError."""
    project = isolated / "project"
    model_files(project / "mine", "mine")
    (project / "mine").joinpath(os.fsdecode(name)).write_text("x")
    (project / ".xlm_models").write_text("./mine\n")
    done = record_of(project, "mine", used={"mine"})
    assert done.record.hash is None and done.files is None
    assert done.record.note.startswith("the file name '") and f"' {why}, so the file list cannot hold it" in done.record.note
    assert "\n" not in done.record.note


def test_a_clean_model_in_a_work_tree_records_head_and_the_files_git_sees(isolated):
    project = new_repo(isolated / "project")
    model_files(project / "models" / "mine", "mine")
    (project / ".gitignore").write_text("*.ckpt\n")
    (project / ".xlm_models").write_text("./models/mine\n")
    head = commit(project, "model")
    (project / "models" / "mine" / "weights.ckpt").write_bytes(b"\0" * 100)  # ignored: not the model's code
    pycache = project / "models" / "mine" / "mine" / "__pycache__"
    pycache.mkdir()
    (pycache / "model.cpython-311.pyc").write_bytes(b"bytecode")  # not ignored, but never counted
    done = record_of(project, "mine")
    r = done.record
    assert (r.repository, r.subdir, r.commit, r.dirty, r.patch) == (str(project), "models/mine", head, False, None)
    assert sorted(parse_tree_text(done.files)) == ["configs/model/mine.yaml", "configs/model_type/mine.yaml",
                                                  "mine/__init__.py", "mine/model.py"]
    (project / "models" / "mine" / "weights.ckpt").unlink()
    assert r.hash == hash_dir(project / "models" / "mine")


def test_a_dirty_model_records_a_patch_that_gives_its_files_back(isolated):
    project = new_repo(isolated / "project")
    root = model_files(project / "models" / "mine", "mine")
    (project / "README.md").write_text("outside the model\n")
    (project / ".xlm_models").write_text("./models/mine\n")
    head = commit(project, "model")
    (root / "mine" / "model.py").write_text("class MineModel:\n    edited = True\n")  # modified
    (root / "configs" / "model_type" / "mine.yaml").unlink()  # deleted ...
    (root / "configs" / "model_type" / "mine.yaml").write_text("name: mine\nagain: 1\n")  # ... and written anew
    (root / "mine" / "blob.bin").write_bytes(bytes(range(256)) * 3)  # untracked, binary
    (root / "mine" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "mine" / "run.sh", 0o755)  # untracked, executable
    os.symlink("model.py", root / "mine" / "alias.py")  # untracked link
    (project / "README.md").write_text("changed outside the model: not its patch\n")
    git(project, "add", "models/mine/mine/model.py")  # a staged change counts too
    done = record_of(project, "mine")
    r = done.record
    assert (r.commit, r.dirty, r.patch) == (head, True, "models/mine.patch")
    assert b"GIT binary patch" in done.patch and b"README" not in done.patch
    assert r.hash == hash_dir(root)
    assert restored_hash(project, head, done.patch, "models/mine", isolated) == r.hash


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_an_edit_the_index_hides_is_recorded_dirty_with_its_patch(isolated, flag):
    """git status and diff skip such files: the run was recorded clean, and what ran could never be restored."""
    project = new_repo(isolated / "project")
    root = model_files(project / "models" / "mine", "mine")
    (project / ".xlm_models").write_text("./models/mine\n")
    head = commit(project, "model")
    git(project, "update-index", flag, "models/mine/mine/model.py")
    (root / "mine" / "model.py").write_text("class MineModel:\n    hidden_edit = True\n")
    index = (project / ".git" / "index").read_bytes()
    done = record_of(project, "mine")
    r = done.record
    assert (r.commit, r.dirty, r.patch) == (head, True, "models/mine.patch") and b"hidden_edit" in done.patch
    assert restored_hash(project, head, done.patch, "models/mine", isolated) == r.hash == hash_dir(root)
    assert (project / ".git" / "index").read_bytes() == index  # the user's index, flags and all, is not touched


def test_a_repository_without_commits_is_dirty_and_its_patch_holds_every_file(isolated):
    project = new_repo(isolated / "project")
    model_files(project / "mine", "mine")
    (project / "mine" / "data.bin").write_bytes(b"\x00\xff" * 10)
    (project / ".xlm_models").write_text("./mine\n")
    done = record_of(project, "mine")
    assert (done.record.commit, done.record.dirty, done.record.subdir) == (None, True, "mine")
    assert restored_hash(project, None, done.patch, "mine", isolated) == done.record.hash == hash_dir(project / "mine")


def test_a_folder_git_ignores_is_hashed_as_a_plain_folder_and_says_so(isolated):
    project = new_repo(isolated / "project")
    (project / ".gitignore").write_text("vendor/\n")
    commit(project, "ignore vendor")
    model_files(project / "vendor" / "mine", "mine")
    (project / ".xlm_models").write_text("./vendor/mine\n")
    done = record_of(project, "mine")
    assert done.record.commit is None and done.record.hash == hash_dir(project / "vendor" / "mine")
    assert "git ignores the folder" in done.record.note


def test_the_environment_cannot_point_git_at_another_repository(isolated, monkeypatch):
    other = new_repo(isolated / "other")
    (other / "x").write_text("x")
    other_head = commit(other, "other")
    project = new_repo(isolated / "project")
    model_files(project / "mine", "mine")
    (project / ".xlm_models").write_text("./mine\n")
    head = commit(project, "model", tick=2)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    done = record_of(project, "mine")
    assert done.record.commit == head != other_head and done.record.dirty is False


@pytest.mark.parametrize("remote,expected,note", [
    ("https://github.com/me/proj.git", "https://github.com/me/proj.git", None),
    ("git@github.com:me/proj.git", "git@github.com:me/proj.git", None),
    ("../upstream.git", "file://{root}/upstream.git", None),
    # docs: "credentials removed"; it recorded no remote at all, so a restore could not fall back to it
    ("https://alice:s3cret@github.com/me/proj", "https://github.com/me/proj", None),
    ("https://ghp_t0ken@github.com/me/proj", "https://github.com/me/proj", None),
    ("ssh://git@github.com/me/proj.git", "ssh://git@github.com/me/proj.git", None),
])
def test_the_remote_is_recorded_as_a_source_xpm_can_fetch_never_with_a_secret(isolated, remote, expected, note):
    project = new_repo(isolated / "project")
    model_files(project / "mine", "mine")
    (project / ".xlm_models").write_text("./mine\n")
    commit(project, "model")
    git(project, "remote", "add", "origin", remote)
    done = record_of(project, "mine")
    assert done.record.remote == (expected.format(root=isolated) if expected else None)
    assert done.record.note == note


def test_an_override_records_its_working_copy_and_the_line_it_replaces(isolated):
    """`xpm develop zlm PATH` (xlm.overrides.toml): the run records kind override, the path as
    written, the `.xlm_models` line, and the working copy's own HEAD and dirty state."""
    from xlm.overrides import Override, overrides_text

    copy = new_repo(isolated / "src" / "mine")
    model_files(copy, "mine")
    head = commit(copy, "working copy")
    (copy / "mine" / "model.py").write_text("class MineModel:\n    wip = 1\n")
    project = isolated / "project"
    project.mkdir()
    (project / ".xlm_models").write_text("github.com/lab/mine@v1\n")
    (project / "xlm.overrides.toml").write_text(overrides_text([Override("mine", "../src/mine")]))
    done = record_of(project, "mine")
    r = done.record
    assert (r.kind, r.source, r.overrides) == ("override", "../src/mine", "github.com/lab/mine@v1")
    assert (r.repository, r.subdir, r.commit, r.dirty, r.patch) == (str(copy), None, head, True, "models/mine.patch")
    assert restored_hash(copy, head, done.patch, ".", isolated) == r.hash


def test_recording_is_rank_zeros_and_can_be_switched_off(isolated, monkeypatch):
    from omegaconf import OmegaConf

    from xlm.external_models import find_external_models
    from xlm.provenance.recorder import begin
    from xlm.records.runs import read_folder

    project = isolated / "project"
    model_files(project / "mine", "mine")
    (project / ".xlm_models").write_text("./mine\n")
    found = find_external_models(project)

    def job(out: Path, **keys):
        cfg = OmegaConf.create({"model": {"_target_": "mine.model.MineModel"}, "paths": {"output_dir": str(out)}, **keys})
        recording = begin(cfg, "train", None, found)
        recording.finish()
        return recording

    job(isolated / "zero")
    record = read_folder(isolated / "zero")
    assert record.run.recorded and record.models["mine"].used and not record.models["arlm"].used
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP process Lightning started: it writes nothing
    assert job(isolated / "one").callback() is None and not (isolated / "one").exists()
    monkeypatch.delenv("LOCAL_RANK")
    job(isolated / "off", record_models=False)
    assert read_folder(isolated / "off").run.recorded is False and read_folder(isolated / "off").models == {}


def test_a_model_whose_code_a_used_model_imports_is_used_too(isolated):
    """beta subclasses alpha: a run of beta recorded alpha `used = false`, and an eval of its
    checkpoint ran on a changed alpha without a word."""
    from xlm.external_models import find_external_models
    from xlm.provenance.recorder import imported_models

    project = isolated / "project"
    for name in ("alpha", "beta", "gamma", "delta", "alpha_extra"):
        model_files(project / name, name)
    (project / "beta" / "beta" / "model.py").write_text("from alpha.model import AlphaModel\n\nclass BetaModel(AlphaModel):\n    pass\n")
    (project / "alpha" / "alpha" / "model.py").write_text("import gamma.model as g  # and what alpha imports\n\nclass AlphaModel:\n    pass\n")
    (project / "delta" / "delta" / "model.py").write_text("# import beta: only a comment\nx = 'from alpha import y'\nclass DeltaModel:\n    pass\n")
    (project / "gamma" / "gamma" / "loss.py").write_text("import os, alpha_extra.model as m  # a list of modules\n")
    (project / ".xlm_models").write_text("alpha\nbeta\ngamma\ndelta\nalpha_extra\n")
    found = find_external_models(project)
    assert not found.problems, found.problems
    assert imported_models(found.models, {"beta"}) == {"alpha", "gamma", "alpha_extra"}
    assert imported_models(found.models, {"delta"}) == set()
    assert imported_models(found.models, {"alpha"}) == {"gamma", "alpha_extra"}


def test_a_core_models_record_carries_no_note_about_its_reserved_name(isolated):
    """Checked as `URL#subdir=arlm`, the remote of xlm's own checkout was refused for the name
    `arlm`: every run of a core model carried "'arlm' is reserved for a core model of xlm"."""
    project = isolated / "project"
    project.mkdir()
    (project / ".xlm_models").write_text("")
    done = record_of(project, "arlm")
    assert done.record.note is None or "reserved" not in done.record.note, done.record.note
